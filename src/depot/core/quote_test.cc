#include "depot/core/quote.h"

#include <gmock/gmock.h>

#include <string>

namespace depot {
namespace {

using ::testing::HasSubstr;

TEST(QuoteTest, EscapesWhatCannotBePrinted) {
  EXPECT_EQ(Quote("plain"), "\"plain\"");
  EXPECT_EQ(Quote(std::string("a\0\xff", 3)), "\"a\\x00\\xff\"");
  EXPECT_EQ(Quote("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(Quote("日本"), "\"日本\"");
  EXPECT_THAT(Quote(std::string(500, 'k')), HasSubstr("(500 bytes)"));
}

TEST(Utf8SequenceLengthTest, AcceptsOnlyWellFormedSequences) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xc3\xa9", 0), 2u);          // é
  EXPECT_EQ(Utf8SequenceLength("\xf0\x9f\x98\x80", 0), 4u);  // U+1F600
  EXPECT_EQ(Utf8SequenceLength("\xc0\xaf", 0), 0u);          // overlong '/'
  EXPECT_EQ(Utf8SequenceLength("\xed\xa0\x80", 0), 0u);      // a UTF-16 surrogate
  EXPECT_EQ(Utf8SequenceLength("\xf4\x90\x80\x80", 0), 0u);  // past U+10FFFF
  EXPECT_EQ(Utf8SequenceLength("\xe2\x82", 0), 0u);          // cut short
}

}  // namespace
}  // namespace depot
