#include "depot/core/byte_range.h"

#include <gmock/gmock.h>

#include "depot/core/testing/status_matchers.h"

namespace depot {
namespace {

using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ByteRangeTest, ValidateRules) {
  EXPECT_EQ(*ByteRange::Full().Validate(10), (ResolvedRange{0, 10}));
  EXPECT_EQ(*ByteRange::Bounded(2, 5).Validate(10), (ResolvedRange{2, 5}));
  EXPECT_EQ(*ByteRange::Bounded(8, 50).Validate(10), (ResolvedRange{8, 10}));
  EXPECT_EQ(*ByteRange::Bounded(10, 10).Validate(10), (ResolvedRange{10, 10}));
  EXPECT_EQ(*ByteRange::From(10).Validate(10), (ResolvedRange{10, 10}));
  EXPECT_EQ(*ByteRange::Suffix(3).Validate(10), (ResolvedRange{7, 10}));
  EXPECT_EQ(*ByteRange::Suffix(30).Validate(10), (ResolvedRange{0, 10}));
  EXPECT_EQ(*ByteRange::Suffix(0).Validate(10), (ResolvedRange{10, 10}));
  EXPECT_THAT(ByteRange::Bounded(11, 12).Validate(10),
              StatusIs(StatusCode::kOutOfRange, HasSubstr("[11, 12)")));
  EXPECT_THAT(ByteRange::From(11).Validate(10), StatusIs(StatusCode::kOutOfRange));
  EXPECT_THAT(ByteRange::Bounded(5, 3).Validate(10), StatusIs(StatusCode::kInvalidArgument));
}

TEST(ByteRangeTest, ParseHttp) {
  EXPECT_EQ(*ByteRange::ParseHttp("bytes=0-99"), ByteRange::Bounded(0, 100));
  EXPECT_EQ(*ByteRange::ParseHttp("bytes=100-"), ByteRange::From(100));
  EXPECT_EQ(*ByteRange::ParseHttp("bytes=-50"), ByteRange::Suffix(50));
  for (const char* bad :
       {"bytes=", "bytes=5", "bytes=a-b", "bytes=9-3", "items=0-1", "bytes=0-1,5-6", "bytes=--5",
        "bytes=99999999999999999999999-", "bytes=0-18446744073709551615"}) {
    EXPECT_THAT(ByteRange::ParseHttp(bad), StatusIs(StatusCode::kInvalidArgument, HasSubstr(bad)))
        << bad;
  }
}

TEST(ByteRangeTest, HttpRoundTrip) {
  for (ByteRange r : {ByteRange::Bounded(0, 1), ByteRange::Bounded(5, 1000), ByteRange::From(7),
                      ByteRange::Suffix(9)}) {
    EXPECT_EQ(*ByteRange::ParseHttp(r.ToHttpHeader()), r) << r.ToString();
  }
  EXPECT_EQ(ByteRange::Full().ToHttpHeader(), "");
}

// As curl -r and HTTP: A-B is bytes A to B, both included; "bytes=" may be written too.
TEST(ByteRangeTest, ParseCliFormIncludesTheLastByte) {
  EXPECT_EQ(*ByteRange::Parse("0-99"), ByteRange::Bounded(0, 100));
  EXPECT_EQ(*ByteRange::Parse("5-5"), ByteRange::Bounded(5, 6));
  EXPECT_EQ(*ByteRange::Parse("bytes=0-99"), ByteRange::Bounded(0, 100));
  EXPECT_EQ(*ByteRange::Parse("5-"), ByteRange::From(5));
  EXPECT_EQ(*ByteRange::Parse("bytes=-5"), ByteRange::Suffix(5));
  EXPECT_EQ(*ByteRange::Parse("-5"), ByteRange::Suffix(5));
  EXPECT_THAT(ByteRange::Parse("7-3"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("7-3")));
  EXPECT_THAT(ByteRange::Parse("x"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ByteRange::Parse("bits=1-2"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ByteRange::Parse("0-18446744073709551615"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too large")));
}

}  // namespace
}  // namespace depot
