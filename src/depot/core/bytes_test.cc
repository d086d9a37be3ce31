#include "depot/core/bytes.h"

#include <gtest/gtest.h>

namespace depot {
namespace {

TEST(BytesTest, CopyAndSliceShareStorage) {
  Bytes b = Bytes::Copy("hello world");
  EXPECT_EQ(b.size(), 11u);
  Bytes world = b.Slice(6);
  EXPECT_EQ(world.view(), "world");
  EXPECT_EQ(world.data(), b.data() + 6);
  Bytes lo = b.Slice(3, 2);
  EXPECT_EQ(lo.ToString(), "lo");
  EXPECT_TRUE(b.Slice(11).empty());
  EXPECT_TRUE(b.Slice(4, 0).empty());
}

TEST(BytesTest, OutlivesItsSource) {
  Bytes slice;
  {
    Bytes whole = Bytes::FromString(std::string(1000, 'z'));
    slice = whole.Slice(10, 5);
  }
  EXPECT_EQ(slice.view(), "zzzzz");
}

TEST(BytesTest, EqualityComparesContents) {
  EXPECT_EQ(Bytes::Copy("abc"), Bytes::FromString("abc"));
  EXPECT_NE(Bytes::Copy("abc"), Bytes::Copy("abd"));
  EXPECT_EQ(Bytes(), Bytes::Copy(""));
  std::unique_ptr<char[]> raw(new char[3]{'x', 'y', 'z'});
  EXPECT_EQ(Bytes::Adopt(std::move(raw), 3).view(), "xyz");
}

TEST(BytesDeathTest, SliceOutsideAborts) {
  Bytes b = Bytes::Copy("abc");
  EXPECT_DEATH((void)b.Slice(2, 5), "outside a buffer of 3 bytes");
}

}  // namespace
}  // namespace depot
