#include "depot/core/channel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "depot/core/testing/status_matchers.h"

namespace depot {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

// Waits (bounded) until `condition` holds; false if it never did.
template <typename F>
bool Eventually(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(BoundedChannelTest, DeliversInOrder) {
  BoundedChannel<int> channel(3);
  ASSERT_THAT(channel.Send(1), IsOk());
  ASSERT_THAT(channel.Send(2), IsOk());
  ASSERT_THAT(channel.Send(3), IsOk());
  EXPECT_EQ(channel.size(), 3u);
  EXPECT_EQ(channel.Receive(), 1);
  EXPECT_EQ(channel.Receive(), 2);
  ASSERT_THAT(channel.Send(4), IsOk());
  EXPECT_EQ(channel.Receive(), 3);
  EXPECT_EQ(channel.Receive(), 4);
  EXPECT_EQ(channel.size(), 0u);
}

TEST(BoundedChannelTest, ZeroCapacityHoldsOneValue) {
  BoundedChannel<int> channel(0);
  EXPECT_EQ(channel.capacity(), 1u);
  ASSERT_THAT(channel.Send(7), IsOk());
  EXPECT_EQ(channel.Receive(), 7);
}

TEST(BoundedChannelTest, SendBlocksWhileFull) {
  BoundedChannel<int> channel(2);
  std::atomic<int> sent{0};
  std::thread producer([&] {
    for (int i = 0; i < 5; ++i) {
      ASSERT_THAT(channel.Send(i), IsOk());
      ++sent;
    }
  });
  ASSERT_TRUE(Eventually([&] { return channel.size() == 2; }));
  // Give a producer that ignored the bound time to overrun it; a correct one stays blocked.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LE(sent.load(), 2);
  EXPECT_EQ(channel.size(), 2u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(channel.Receive(), i);
    EXPECT_LE(channel.size(), 2u);
  }
  producer.join();
  EXPECT_EQ(sent.load(), 5);
}

TEST(BoundedChannelTest, CloseDrainsThenEnds) {
  BoundedChannel<int> channel(4);
  ASSERT_THAT(channel.Send(1), IsOk());
  ASSERT_THAT(channel.Send(2), IsOk());
  channel.Close();
  EXPECT_TRUE(channel.closed());
  EXPECT_THAT(channel.close_status(), IsOk());
  EXPECT_THAT(channel.Send(3), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_EQ(channel.Receive(), 1);
  EXPECT_EQ(channel.Receive(), 2);
  EXPECT_EQ(channel.Receive(), std::nullopt);
  EXPECT_EQ(channel.Receive(), std::nullopt);
}

TEST(BoundedChannelTest, CloseWithErrorDropsQueuedValuesAndFailsSends) {
  BoundedChannel<std::shared_ptr<int>> channel(4);
  auto value = std::make_shared<int>(1);
  ASSERT_THAT(channel.Send(value), IsOk());
  EXPECT_EQ(value.use_count(), 2);
  channel.Close(UnavailableError("consumer lost its store"));
  EXPECT_EQ(value.use_count(), 1);  // the queued copy is gone
  EXPECT_EQ(channel.Receive(), std::nullopt);
  EXPECT_THAT(channel.Send(value), StatusIs(StatusCode::kUnavailable, "consumer lost its store"));
  EXPECT_THAT(channel.close_status(), StatusIs(StatusCode::kUnavailable));
}

TEST(BoundedChannelTest, FirstCloseWins) {
  BoundedChannel<int> channel(1);
  channel.Close(CancelledError("first"));
  channel.Close();
  channel.Close(InternalError("third"));
  EXPECT_THAT(channel.close_status(), StatusIs(StatusCode::kCancelled, "first"));
}

TEST(BoundedChannelTest, CloseWakesABlockedSender) {
  BoundedChannel<int> channel(1);
  ASSERT_THAT(channel.Send(1), IsOk());
  std::atomic<bool> entered{false};
  Status blocked_send;
  std::thread producer([&] {
    entered = true;
    blocked_send = channel.Send(2);
  });
  ASSERT_TRUE(Eventually([&] { return entered.load(); }));
  channel.Close(CancelledError("upload failed"));
  producer.join();
  EXPECT_THAT(blocked_send, StatusIs(StatusCode::kCancelled, "upload failed"));
}

TEST(BoundedChannelTest, CloseWakesABlockedReceiver) {
  BoundedChannel<int> channel(1);
  std::optional<int> received = 42;
  std::atomic<bool> entered{false};
  std::thread consumer([&] {
    entered = true;
    received = channel.Receive();
  });
  ASSERT_TRUE(Eventually([&] { return entered.load(); }));
  channel.Close();
  consumer.join();
  EXPECT_EQ(received, std::nullopt);
}

TEST(BoundedChannelTest, CarriesMoveOnlyValues) {
  BoundedChannel<std::unique_ptr<int>> channel(2);
  ASSERT_THAT(channel.Send(std::make_unique<int>(5)), IsOk());
  std::optional<std::unique_ptr<int>> got = channel.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(**got, 5);
}

TEST(BoundedChannelTest, ManyProducersAndConsumersLoseNothingAndKeepEachProducersOrder) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 3;
  constexpr int kPerProducer = 2000;
  BoundedChannel<std::pair<int, int>> channel(8);  // (producer, sequence)
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) ASSERT_THAT(channel.Send({p, i}), IsOk());
    });
  }
  std::vector<std::vector<int>> counts(kConsumers, std::vector<int>(kProducers, 0));
  std::atomic<bool> ordered{true};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      std::vector<int> last(kProducers, -1);
      while (std::optional<std::pair<int, int>> item = channel.Receive()) {
        if (item->second <= last[item->first]) ordered = false;
        last[item->first] = item->second;
        ++counts[c][item->first];
      }
    });
  }
  for (auto& t : producers) t.join();
  channel.Close();
  for (auto& t : consumers) t.join();
  EXPECT_TRUE(ordered.load());
  for (int p = 0; p < kProducers; ++p) {
    int total = 0;
    for (int c = 0; c < kConsumers; ++c) total += counts[c][p];
    EXPECT_EQ(total, kPerProducer) << "producer " << p;
  }
}

}  // namespace
}  // namespace depot
