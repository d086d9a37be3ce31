#include "depot/core/hex.h"

#include <gtest/gtest.h>

#include <array>

namespace depot {
namespace {

TEST(HexTest, EncodesLowerCaseAndDecodesEitherCase) {
  EXPECT_EQ(HexEncode(std::string_view("\x00\x7f\xab\xff", 4)), "007fabff");
  std::array<uint8_t, 4> out{};
  ASSERT_TRUE(HexDecode("007FabfF", out));
  EXPECT_EQ(out, (std::array<uint8_t, 4>{0x00, 0x7f, 0xab, 0xff}));
}

TEST(HexTest, RefusesOtherLengthsAndNonDigits) {
  std::array<uint8_t, 2> out{};
  EXPECT_FALSE(HexDecode("abc", out));
  EXPECT_FALSE(HexDecode("abcdef", out));
  EXPECT_FALSE(HexDecode("abcg", out));
  EXPECT_FALSE(HexDecode("ab c", out));
  EXPECT_TRUE(HexDecode("", std::span<uint8_t>()));
}

}  // namespace
}  // namespace depot
