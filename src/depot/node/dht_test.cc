#include "depot/node/dht.h"

#include <gmock/gmock.h>

#include <functional>
#include <random>
#include <thread>

#include "depot/core/cancellation.h"
#include "depot/core/testing/eventually.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/node/testing/stop_all.h"

namespace depot::node {
namespace {

using ::depot::testing::Eventually;
using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Runs fn(0..n-1), each on a thread of its own.
void ParallelFor(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(fn, i);
  for (std::thread& thread : threads) thread.join();
}

TEST(DhtTest, TwoNodesOnLoopbackUdpPutAndGet) {
  auto a =
      Dht::Start(*OpenUdpTransport(*Address::Parse("127.0.0.1:0")), {.unlimited_requests = true});
  ASSERT_THAT(a.status(), IsOk());
  auto b = Dht::Start(*OpenUdpTransport(*Address::Parse("127.0.0.1:0")),
                      {.bootstrap = {(*a)->address()}, .unlimited_requests = true});
  ASSERT_THAT(b.status(), IsOk());
  ASSERT_TRUE(Eventually([&] { return (*a)->stats().good_nodes >= 1; }));

  ASSERT_THAT((*b)->Put("key", "value from b"), IsOk());
  ASSERT_THAT((*b)->Put("key", "another value"), IsOk());
  // A lookup made the moment a put returns may reach nodes the put has not reached yet (about 1 %
  // of lookups in bench/node_bench.cc): readers look again.
  EXPECT_TRUE(Eventually([&] {
    auto got = (*a)->Get("key");
    return got.ok() && *got == std::vector<std::string>{"another value", "value from b"};
  }));
  EXPECT_THAT((*a)->Get("no such key"), ::depot::testing::IsOkAndHolds(::testing::IsEmpty()));

  // The largest value OpenDHT carries goes through; one byte more is refused before the put.
  const std::string largest(kMaxDhtValue, 'v');
  ASSERT_THAT((*a)->Put("large", largest), IsOk());
  EXPECT_TRUE(Eventually([&] {
    auto got = (*b)->Get("large");
    return got.ok() && *got == std::vector<std::string>{largest};
  }));
  EXPECT_THAT((*a)->Put("large", largest + "v"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("65529")));

  CancellationSource cancel;
  cancel.Cancel();
  EXPECT_THAT((*a)->Get("key", Context().WithToken(cancel.token())).status(),
              StatusIs(StatusCode::kCancelled));
}

TEST(DhtTest, ValuesLiveTheirTtlAndNoLonger) {
  SimNetwork net;
  DhtOptions options{.record_ttl = kMinRecordTtl, .unlimited_requests = true};
  auto a = Dht::Start(net.Attach(), options);
  options.bootstrap = {(*a)->address()};
  auto b = Dht::Start(net.Attach(), options);
  auto c = Dht::Start(net.Attach(), options);
  ASSERT_TRUE(
      Eventually([&] { return (*b)->stats().good_nodes >= 1 && (*c)->stats().good_nodes >= 1; }));
  ASSERT_THAT((*b)->Put("short-lived", "v"), IsOk());
  EXPECT_TRUE(Eventually([&] {
    auto got = (*c)->Get("short-lived");
    return got.ok() && *got == std::vector<std::string>{"v"};
  }));
  ASSERT_TRUE(Eventually(
      [&] {
        auto got = (*c)->Get("short-lived");
        return got.ok() && got->empty();
      },
      kMinRecordTtl + 10s));
  EXPECT_THAT(Dht::Start(net.Attach(), {.record_ttl = 10s}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("10 s")));
}

// A hundred nodes in one process on the simulated network, 1 % of datagrams lost: every lookup
// finds what was put, and, cut in two, each side still finds what was put on it.
TEST(DhtSimulationTest, HundredNodesWithLossAndAPartition) {
  SimNetwork net({.min_latency = 200us, .max_latency = 3ms, .loss = 0.01});
  constexpr int kNodes = 100;
  std::vector<std::unique_ptr<Dht>> nodes;
  // A search that waits on nodes beyond the cut gives up after 10 s and is tried again, rather
  // than spend the default 30 s of the test's window on one attempt.
  DhtOptions options{.request_timeout = 10s, .unlimited_requests = true};

  for (int i = 0; i < kNodes; ++i) {
    auto node = Dht::Start(net.Attach(), options);
    ASSERT_THAT(node.status(), IsOk());
    nodes.push_back(std::move(*node));
    // Each joins through one of the first few: no node knows everyone to begin with.
    if (i == 0) options.bootstrap = {nodes[0]->address()};
    if (i == 4) options.bootstrap = {nodes[1]->address(), nodes[3]->address()};
  }
  // 90 s: under make check's other tests (crash and power-loss loops beside it on two cores) the
  // hundred nodes took more than the default 30 s to find their first eight peers each.
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& node : nodes) {
          if (node->stats().good_nodes < 8) return false;
        }
        return true;
      },
      90s))
      << "the nodes did not find each other";

  std::mt19937 random(7);
  std::uniform_int_distribution<int> pick(0, kNodes - 1);
  std::vector<std::pair<int, int>> writer_reader;
  for (int k = 0; k < 20; ++k) writer_reader.emplace_back(pick(random), pick(random));
  std::vector<Status> puts(20), gets(20);
  ParallelFor(20, [&](int k) {
    const std::string key = "content-" + std::to_string(k);
    puts[k] = nodes[writer_reader[k].first]->Put(key, "held by " + std::to_string(k));
    if (!puts[k].ok()) return;
    // A lookup right after the put may miss (readers look again): within 40 s it must not. One
    // lookup that waits on a lost reply takes up to the 10 s request timeout, so the window
    // holds several. With 1% of datagrams lost, a put can also reach only nodes that the
    // reader's lookups do not: once 15 s have passed, the writer puts again, as a depot node
    // re-announces what it holds (seen once under load: one key of 20 missed for 40 s).
    gets[k] = NotFoundError(key);
    const auto put_at = std::chrono::steady_clock::now();
    bool put_again = false;
    Eventually(
        [&] {
          if (!put_again && std::chrono::steady_clock::now() - put_at > 15s) {
            put_again = true;
            (void)nodes[writer_reader[k].first]->Put(key, "held by " + std::to_string(k));
          }
          auto got = nodes[writer_reader[k].second]->Get(key);
          if (got.ok() && *got == std::vector<std::string>{"held by " + std::to_string(k)}) {
            gets[k] = Status::Ok();
          }
          return gets[k].ok();
        },
        40s);
  });
  for (int k = 0; k < 20; ++k) {
    EXPECT_THAT(puts[k], IsOk()) << k;
    EXPECT_THAT(gets[k], IsOk()) << k;
  }

  // Nodes 0..59 and 60..99 cannot reach each other. Routing tables still name nodes across the
  // cut until they stop answering, so a put may land on nodes a later lookup does not reach: as a
  // depot node re-announces its records, the writer puts again until the reader finds it.
  std::vector<Address> left, right;
  for (int i = 0; i < kNodes; ++i) (i < 60 ? left : right).push_back(nodes[i]->address());
  net.Partition({left, right});
  ParallelFor(10, [&](int k) {
    const std::string key = "after-" + std::to_string(k);
    const int writer = k % 2 == 0 ? k : 60 + k, reader = k % 2 == 0 ? 59 - k : 99 - k;
    puts[k] = nodes[writer]->Put(key, "v");
    if (!puts[k].ok()) return;
    gets[k] = NotFoundError(key);
    Eventually(
        [&] {
          auto got = nodes[reader]->Get(key);
          if (got.ok() && *got == std::vector<std::string>{"v"}) gets[k] = Status::Ok();
          if (!gets[k].ok()) puts[k] = nodes[writer]->Put(key, "v");
          return gets[k].ok() || !puts[k].ok();
        },
        // Each put adds a value: putting every 50 ms under load piled up enough of them that
        // OpenDHT's answers outgrew the datagram size. A node re-announces far less often.
        90s, 1s);
  });
  for (int k = 0; k < 10; ++k) {
    EXPECT_THAT(puts[k], IsOk()) << k;
    EXPECT_THAT(gets[k], IsOk()) << k;
  }
  net.Heal();
  testing::StopAll(nodes, [](auto& node) { node->Stop(); });
  const SimNetworkStats stats = net.stats();
  EXPECT_GT(stats.lost, 0u);
  EXPECT_GT(stats.partitioned, 0u);
  EXPECT_EQ(stats.oversized, 0u);
}

}  // namespace
}  // namespace depot::node
