#include "depot/core/range_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace depot {
namespace {

using ::testing::ElementsAre;

TEST(RangeSetTest, InsertMergesOverlappingAndTouchingRanges) {
  RangeSet set;
  set.Insert(10, 20);
  set.Insert(30, 40);
  EXPECT_EQ(set.ToString(), "[10, 20) [30, 40)");
  set.Insert(20, 30);  // touches both
  EXPECT_EQ(set.ToString(), "[10, 40)");
  set.Insert(0, 5);
  set.Insert(3, 12);
  EXPECT_EQ(set.ToString(), "[0, 40)");
  set.Insert(50, 60);
  set.Insert(45, 70);  // swallows [50, 60)
  EXPECT_EQ(set.ToString(), "[0, 40) [45, 70)");
  set.Insert(1, 2);  // inside
  EXPECT_EQ(set.range_count(), 2u);
  EXPECT_EQ(set.covered(), 65u);
  EXPECT_EQ(set.end(), 70u);
}

TEST(RangeSetTest, EmptyAndBackwardRangesChangeNothing) {
  RangeSet set;
  set.Insert(5, 5);
  set.Insert(9, 3);
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(set.ToString(), "{}");
  EXPECT_TRUE(set.Contains(7, 7));
}

TEST(RangeSetTest, ContainsNeedsEveryByte) {
  RangeSet set;
  set.Insert(0, 100);
  set.Insert(200, 300);
  EXPECT_TRUE(set.Contains(0, 100));
  EXPECT_TRUE(set.Contains(250, 300));
  EXPECT_FALSE(set.Contains(50, 150));
  EXPECT_FALSE(set.Contains(99, 201));
  EXPECT_FALSE(set.Contains(300, 301));
  EXPECT_EQ(set.RangeAt(99), (Span64{0, 100}));
  EXPECT_EQ(set.RangeAt(100), std::nullopt);
}

TEST(RangeSetTest, GapsListTheAbsentStretches) {
  RangeSet set;
  set.Insert(10, 20);
  set.Insert(30, 40);
  EXPECT_EQ(set.FirstGap(0, 100), (Span64{0, 10}));
  EXPECT_EQ(set.FirstGap(10, 100), (Span64{20, 30}));
  EXPECT_EQ(set.FirstGap(35, 38), std::nullopt);
  EXPECT_EQ(set.FirstGap(35, 45), (Span64{40, 45}));
  EXPECT_THAT(set.Gaps(5, 50), ElementsAre(Span64{5, 10}, Span64{20, 30}, Span64{40, 50}));
}

TEST(RangeSetTest, EraseSplitsAndTrims) {
  RangeSet set;
  set.Insert(0, 100);
  set.Erase(40, 60);
  EXPECT_EQ(set.ToString(), "[0, 40) [60, 100)");
  set.Erase(30, 70);
  EXPECT_EQ(set.ToString(), "[0, 30) [70, 100)");
  set.Erase(0, 1000);
  EXPECT_TRUE(set.empty());
}

TEST(RangeSetTest, TheTopOfTheRangeWorks) {
  RangeSet set;
  const uint64_t top = UINT64_MAX;
  set.Insert(top - 10, top);
  EXPECT_TRUE(set.Contains(top - 1, top));
  EXPECT_EQ(set.FirstGap(top - 20, top), (Span64{top - 20, top - 10}));
}

// A random stream of inserts and erases against a bitmap of 512 bytes.
TEST(RangeSetTest, MatchesABitmapModel) {
  std::mt19937_64 random(7);
  RangeSet set;
  std::vector<bool> model(512, false);
  for (int step = 0; step < 5000; ++step) {
    const uint64_t a = random() % 512;
    const uint64_t b = random() % 512;
    const uint64_t begin = std::min(a, b);
    const uint64_t end = std::max(a, b);
    const bool insert = random() % 3 != 0;
    if (insert) {
      set.Insert(begin, end);
    } else {
      set.Erase(begin, end);
    }
    for (uint64_t i = begin; i < end; ++i) model[i] = insert;
    uint64_t covered = 0;
    for (uint64_t i = 0; i < 512; ++i) {
      covered += model[i] ? 1 : 0;
      ASSERT_EQ(set.Contains(i, i + 1), model[i]) << "byte " << i << " after step " << step;
    }
    ASSERT_EQ(set.covered(), covered);
    // Ranges stay disjoint and never touch.
    std::vector<Span64> ranges = set.ranges();
    for (size_t i = 1; i < ranges.size(); ++i) ASSERT_LT(ranges[i - 1].end, ranges[i].begin);
  }
}

}  // namespace
}  // namespace depot
