#include "depot/kv/keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "depot/kv/store.h"

namespace depot::kv {
namespace {

TEST(KeysTest, ConcatBytesJoinsPartsExactly) {
  const std::string a("\x00\x01", 2);
  EXPECT_EQ(ConcatBytes(a, std::string_view("xy"), EncodeU32(7)),
            std::string("\x00\x01xy\x00\x00\x00\x07", 8));
  EXPECT_EQ(ConcatBytes(), "");
}

TEST(KeysTest, EncodingsSortAsTheNumbersDo) {
  const std::vector<uint64_t> unsigned_values = {
      0, 1, 255, 256, 65535, uint64_t{1} << 32, std::numeric_limits<uint64_t>::max()};
  for (size_t i = 1; i < unsigned_values.size(); ++i) {
    EXPECT_LT(EncodeU64(unsigned_values[i - 1]), EncodeU64(unsigned_values[i]));
  }
  const std::vector<int64_t> signed_values = {
      std::numeric_limits<int64_t>::min(), -256, -1, 0, 1, 255,
      std::numeric_limits<int64_t>::max()};
  for (size_t i = 1; i < signed_values.size(); ++i) {
    EXPECT_LT(EncodeI64(signed_values[i - 1]), EncodeI64(signed_values[i]));
  }
  for (int64_t v : signed_values) EXPECT_EQ(DecodeI64(EncodeI64(v)), v);
  for (uint64_t v : unsigned_values) EXPECT_EQ(DecodeU64(EncodeU64(v)), v);
  EXPECT_EQ(DecodeU32(EncodeU32(0xDEADBEEF)), 0xDEADBEEFu);
  EXPECT_EQ(EncodeU32(0x01020304), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(DecodeU64("short"), std::nullopt);
}

TEST(KeysTest, PrefixSuccessorSkipsTrailingFfBytes) {
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("\x01\xfe", 2)), std::string("\x01\xff", 2));
  EXPECT_EQ(PrefixSuccessor(std::string("\xff\xff", 2)), std::nullopt);
  EXPECT_EQ(PrefixSuccessor(""), std::nullopt);
}

TEST(KeysTest, SpaceNames) {
  EXPECT_TRUE(ValidateSpaceName("accounts_v2.idx-1").ok());
  EXPECT_FALSE(ValidateSpaceName("").ok());
  EXPECT_FALSE(ValidateSpaceName("a b").ok());
  EXPECT_FALSE(ValidateSpaceName("a/b").ok());
  EXPECT_FALSE(ValidateSpaceName(std::string(65, 'a')).ok());
  EXPECT_TRUE(ValidateSpaceName(std::string(64, 'a')).ok());
}

}  // namespace
}  // namespace depot::kv
