#include "depot/core/context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "depot/core/testing/status_matchers.h"

namespace depot {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = Context::Clock;

TEST(ContextTest, TheDefaultNeverEnds) {
  Context ctx;
  EXPECT_FALSE(ctx.deadline().has_value());
  EXPECT_FALSE(ctx.Remaining().has_value());
  EXPECT_THAT(ctx.Check("get of key \"k\""), IsOk());
  EXPECT_THAT(ctx.SleepFor(milliseconds(5), "retry"), IsOk());
}

TEST(ContextTest, ADeadlineInThePastIsDeadlineExceededNamingTheCall) {
  Context ctx = Context().WithDeadline(Clock::now() - milliseconds(1));
  EXPECT_TRUE(ctx.Expired());
  EXPECT_EQ(ctx.Remaining(), Clock::duration::zero());
  EXPECT_THAT(ctx.Check("get of key \"k\""),
              StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("get of key \"k\"")));
}

TEST(ContextTest, WithDeadlineKeepsTheEarlierOne) {
  const Clock::time_point soon = Clock::now() + seconds(5);
  Context ctx = Context().WithDeadline(soon);
  EXPECT_EQ(ctx.WithDeadline(soon + seconds(60)).deadline(), soon);
  EXPECT_EQ(ctx.WithDeadline(soon - seconds(1)).deadline(), soon - seconds(1));
  EXPECT_LE(*ctx.Remaining(), seconds(5));
  EXPECT_GT(*ctx.Remaining(), seconds(3));
}

TEST(ContextTest, CancellationWinsOverTheDeadline) {
  CancellationSource stop;
  Context ctx = Context(stop.token()).WithDeadline(Clock::now() - seconds(1));
  stop.Cancel();
  EXPECT_THAT(ctx.Check("put"), StatusIs(StatusCode::kCancelled, HasSubstr("put: cancelled")));
}

TEST(ContextTest, WithTokenKeepsTheDeadline) {
  CancellationSource stop;
  Context ctx = Context().WithTimeout(seconds(30)).WithToken(stop.token());
  EXPECT_TRUE(ctx.deadline().has_value());
  stop.Cancel();
  EXPECT_TRUE(ctx.IsCancelled());
}

TEST(ContextTest, ASleepPastTheDeadlineFailsAtOnce) {
  Context ctx = Context().WithTimeout(milliseconds(200));
  const auto start = Clock::now();
  EXPECT_THAT(ctx.SleepFor(seconds(30), "retry of get"),
              StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("retry of get")));
  EXPECT_LT(Clock::now() - start, milliseconds(150));
}

TEST(ContextTest, ASleepWithinTheDeadlineSleepsItsTime) {
  Context ctx = Context().WithTimeout(seconds(30));
  const auto start = Clock::now();
  EXPECT_THAT(ctx.SleepFor(milliseconds(20), "retry"), IsOk());
  EXPECT_GE(Clock::now() - start, milliseconds(20));
}

TEST(ContextTest, ACancelCutsTheSleepShort) {
  CancellationSource stop;
  Context ctx(stop.token());
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(20));
    stop.Cancel();
  });
  const auto start = Clock::now();
  EXPECT_THAT(ctx.SleepFor(seconds(30), "retry"), StatusIs(StatusCode::kCancelled));
  canceller.join();
  EXPECT_LT(Clock::now() - start, seconds(10));
}

}  // namespace
}  // namespace depot
