#include "depot/core/cancellation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "depot/core/testing/status_matchers.h"

namespace depot {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(CancellationTest, ADefaultTokenIsNeverCancelledAndSleepsItsTime) {
  CancellationToken token;
  EXPECT_FALSE(token.IsCancelled());
  EXPECT_THAT(token.Check("read"), IsOk());
  const auto start = Clock::now();
  EXPECT_TRUE(token.SleepFor(milliseconds(20)));
  EXPECT_GE(Clock::now() - start, milliseconds(20));
}

TEST(CancellationTest, CancelIsStickyAndSeenByEveryToken) {
  CancellationSource source;
  CancellationToken a = source.token();
  CancellationToken b = a;
  EXPECT_TRUE(a.SleepFor(milliseconds(1)));
  source.Cancel();
  EXPECT_TRUE(a.IsCancelled());
  EXPECT_TRUE(b.IsCancelled());
  EXPECT_THAT(b.Check("read of key \"k\""),
              StatusIs(StatusCode::kCancelled, ::testing::HasSubstr("read of key \"k\"")));
  EXPECT_FALSE(a.SleepFor(milliseconds(1)));  // cancelled before: no sleep
}

TEST(CancellationTest, CancelCutsASleepShort) {
  CancellationSource source;
  CancellationToken token = source.token();
  const auto start = Clock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(20));
    source.Cancel();
  });
  EXPECT_FALSE(token.SleepFor(std::chrono::seconds(30)));
  canceller.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace depot
