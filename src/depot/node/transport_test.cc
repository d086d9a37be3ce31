#include "depot/node/transport.h"

#include <gmock/gmock.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "depot/core/testing/status_matchers.h"

namespace depot::node {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Collects what a transport receives.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<Address, std::string>> got;

  DhtTransport::Receiver receiver() {
    return [this](const Address& from, std::string_view data) {
      std::lock_guard lock(mu);
      got.emplace_back(from, std::string(data));
      cv.notify_all();
    };
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return got.size() >= n; });
  }
  size_t size() {
    std::lock_guard lock(mu);
    return got.size();
  }
};

TEST(AddressTest, ParsesIpv4AndPortOnly) {
  auto address = Address::Parse("127.0.0.1:4222");
  ASSERT_THAT(address.status(), IsOk());
  EXPECT_EQ(address->ToString(), "127.0.0.1:4222");
  for (const char* bad : {"127.0.0.1", "127.0.0:1", "256.0.0.1:1", "1.2.3.4:", "1.2.3.4:70000",
                          "a.b.c.d:1", "1..2.3:4", "[::1]:4222"}) {
    EXPECT_THAT(Address::Parse(bad).status(),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(bad)));
  }
}

TEST(UdpTransportTest, CarriesDatagramsOnLoopbackUpToItsMtu) {
  auto a = OpenUdpTransport(*Address::Parse("127.0.0.1:0"));
  auto b = OpenUdpTransport(*Address::Parse("127.0.0.1:0"));
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  EXPECT_NE((*b)->local().port, 0);
  Inbox inbox;
  (*b)->SetReceiver(inbox.receiver());
  ASSERT_THAT((*a)->Send((*b)->local(), "hello"), IsOk());
  ASSERT_THAT((*a)->Send((*b)->local(), std::string(kUdpMtu, 'x')), IsOk());
  EXPECT_THAT((*a)->Send((*b)->local(), std::string(kUdpMtu + 1, 'x')),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("1401")));
  ASSERT_TRUE(inbox.WaitFor(2));
  EXPECT_EQ(inbox.got[0].first, (*a)->local());
  EXPECT_EQ(inbox.got[0].second, "hello");
  EXPECT_EQ(inbox.got[1].second.size(), kUdpMtu);

  (*a)->Close();
  EXPECT_THAT((*a)->Send((*b)->local(), "late"), StatusIs(StatusCode::kUnavailable));
  // A taken port is refused, naming it.
  EXPECT_THAT(OpenUdpTransport((*b)->local()).status(),
              StatusIs(StatusCode::kUnavailable, HasSubstr((*b)->local().ToString())));
}

TEST(SimNetworkTest, DeliversAfterItsLatencyAndLosesWhatItIsTold) {
  SimNetwork net({.min_latency = 20ms, .max_latency = 30ms});
  auto a = net.Attach(), b = net.Attach();
  EXPECT_NE(a->local(), b->local());
  Inbox inbox;
  b->SetReceiver(inbox.receiver());
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_THAT(a->Send(b->local(), "ping"), IsOk());
  ASSERT_TRUE(inbox.WaitFor(1));
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 20ms);
  EXPECT_EQ(inbox.got[0].first, a->local());

  net.SetLoss(0.5);
  for (int i = 0; i < 400; ++i) ASSERT_THAT(a->Send(b->local(), "x"), IsOk());
  std::this_thread::sleep_for(100ms);
  const SimNetworkStats stats = net.stats();
  EXPECT_EQ(stats.delivered + stats.lost, 401u);
  EXPECT_GT(stats.lost, 140u);  // 200 expected; far outside chance below 140 or above 260
  EXPECT_LT(stats.lost, 260u);
  EXPECT_EQ(inbox.size(), stats.delivered);
  EXPECT_THAT(a->Send(b->local(), std::string(kUdpMtu + 1, 'x')),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(net.stats().oversized, 1u);
}

TEST(SimNetworkTest, PartitionsKeepGroupsApartUntilHealed) {
  SimNetwork net({.min_latency = 100us, .max_latency = 200us});
  auto a = net.Attach(), b = net.Attach(), c = net.Attach();
  Inbox at_b, at_c;
  b->SetReceiver(at_b.receiver());
  c->SetReceiver(at_c.receiver());
  net.Partition({{a->local(), b->local()}, {c->local()}});
  ASSERT_THAT(a->Send(b->local(), "same side"), IsOk());
  ASSERT_THAT(a->Send(c->local(), "other side"), IsOk());
  ASSERT_TRUE(at_b.WaitFor(1));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(at_c.size(), 0u);
  EXPECT_EQ(net.stats().partitioned, 1u);
  net.Heal();
  ASSERT_THAT(a->Send(c->local(), "healed"), IsOk());
  ASSERT_TRUE(at_c.WaitFor(1));
  EXPECT_EQ(at_c.got[0].second, "healed");

  // A closed transport receives nothing more and sends nothing.
  c->Close();
  ASSERT_THAT(a->Send(c->local(), "gone"), IsOk());
  EXPECT_THAT(c->Send(a->local(), "x"), StatusIs(StatusCode::kUnavailable));
}

}  // namespace
}  // namespace depot::node
