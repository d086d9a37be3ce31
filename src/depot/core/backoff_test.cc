#include "depot/core/backoff.h"

#include <gtest/gtest.h>

namespace depot {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, GrowsWithJitterWithinBounds) {
  BackoffOptions options;
  options.initial = milliseconds(10);
  options.max = milliseconds(200);
  options.max_attempts = 20;
  options.max_total = milliseconds(100'000);
  Backoff backoff(options, 42);
  auto first = backoff.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, milliseconds(10));
  milliseconds previous = *first;
  bool varied = false;
  for (int i = 1; i < 20; ++i) {
    auto next = backoff.Next();
    ASSERT_TRUE(next.has_value());
    EXPECT_GE(*next, milliseconds(10));
    EXPECT_LE(*next, milliseconds(200));
    EXPECT_LE(next->count(), std::max<int64_t>(10, previous.count() * 2));
    varied |= *next != previous;
    previous = *next;
  }
  EXPECT_TRUE(varied);
  EXPECT_FALSE(backoff.Next().has_value());
  EXPECT_EQ(backoff.attempts(), 20);
}

TEST(BackoffTest, StopsAtTheTotalBudget) {
  BackoffOptions options;
  options.initial = milliseconds(40);
  options.max = milliseconds(40);
  options.max_attempts = 100;
  options.max_total = milliseconds(100);
  Backoff backoff(options, 1);
  EXPECT_TRUE(backoff.Next().has_value());
  EXPECT_TRUE(backoff.Next().has_value());
  EXPECT_FALSE(backoff.Next().has_value());
  EXPECT_EQ(backoff.total(), milliseconds(80));
}

TEST(BackoffTest, SameSeedSameDelays) {
  Backoff a({}, 7);
  Backoff b({}, 7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.Next(), b.Next());
}

}  // namespace
}  // namespace depot
