#include "depot/core/cancellation.h"

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

TEST(CancellationTest, AChildIsCancelledWithItsParentButNotTheOtherWayRound) {
  CancellationSource parent;
  CancellationSource child(parent.token());
  CancellationSource grandchild(child.token());
  CancellationSource sibling(parent.token());
  sibling.Cancel();
  EXPECT_TRUE(sibling.token().IsCancelled());
  EXPECT_FALSE(parent.token().IsCancelled());
  EXPECT_FALSE(child.token().IsCancelled());
  parent.Cancel();
  EXPECT_TRUE(child.token().IsCancelled());
  EXPECT_TRUE(grandchild.token().IsCancelled());
}

TEST(CancellationTest, AChildOfACancelledParentStartsCancelled) {
  CancellationSource parent;
  parent.Cancel();
  CancellationSource child(parent.token());
  EXPECT_TRUE(child.token().IsCancelled());
  CancellationSource of_default{CancellationToken()};
  EXPECT_FALSE(of_default.token().IsCancelled());
}

TEST(CancellationTest, ACancelWakesASleeperOnAChild) {
  CancellationSource parent;
  CancellationSource child(parent.token());
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(20));
    parent.Cancel();
  });
  const auto start = Clock::now();
  EXPECT_FALSE(child.token().SleepFor(std::chrono::seconds(30)));
  canceller.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
}

TEST(CancellationTest, ChildrenThatAreGoneDoNotPileUpOnTheParent) {
  CancellationSource parent;
  for (int i = 0; i < 10'000; ++i) CancellationSource child(parent.token());
  CancellationSource last(parent.token());
  parent.Cancel();
  EXPECT_TRUE(last.token().IsCancelled());
}

TEST(CancellationTest, ConcurrentChildrenAndCancelNeverMissACancel) {
  for (int round = 0; round < 50; ++round) {
    CancellationSource parent;
    std::vector<std::unique_ptr<CancellationSource>> children(64);
    std::thread maker([&] {
      for (auto& child : children) child = std::make_unique<CancellationSource>(parent.token());
    });
    parent.Cancel();
    maker.join();
    for (const auto& child : children) ASSERT_TRUE(child->token().IsCancelled());
  }
}

TEST(CancellationTest, ACallbackRunsOnceWhenTheTokenIsCancelled) {
  CancellationSource source;
  std::atomic<int> runs{0};
  CancellationCallback callback(source.token(), [&] { ++runs; });
  EXPECT_EQ(runs.load(), 0);
  source.Cancel();
  source.Cancel();
  EXPECT_EQ(runs.load(), 1);
}

TEST(CancellationTest, ACallbackOnACancelledTokenRunsAtOnce) {
  CancellationSource source;
  source.Cancel();
  bool ran = false;
  CancellationCallback callback(source.token(), [&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(CancellationTest, ACallbackGoneBeforeTheCancelNeverRuns) {
  CancellationSource source;
  bool ran = false;
  {
    CancellationCallback callback(source.token(), [&] { ran = true; });
  }
  source.Cancel();
  EXPECT_FALSE(ran);
  CancellationCallback on_default(CancellationToken(), [&] { ran = true; });
  EXPECT_FALSE(ran);
}

TEST(CancellationTest, ACallbackRunsWhenItsParentIsCancelled) {
  CancellationSource parent;
  CancellationSource child(parent.token());
  std::atomic<bool> ran{false};
  CancellationCallback callback(child.token(), [&] { ran = true; });
  parent.Cancel();
  EXPECT_TRUE(ran.load());
}

// Registrations and cancels racing: every callback registered runs exactly once, whichever wins.
TEST(CancellationTest, CallbacksRacingACancelEachRunOnce) {
  for (int round = 0; round < 50; ++round) {
    CancellationSource source;
    std::vector<std::atomic<int>> runs(32);
    std::vector<std::unique_ptr<CancellationCallback>> callbacks(32);
    std::thread maker([&] {
      for (size_t i = 0; i < callbacks.size(); ++i) {
        callbacks[i] =
            std::make_unique<CancellationCallback>(source.token(), [&runs, i] { ++runs[i]; });
      }
    });
    source.Cancel();
    maker.join();
    for (const auto& count : runs) ASSERT_EQ(count.load(), 1);
  }
}

}  // namespace
}  // namespace depot
