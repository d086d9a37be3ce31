#include "depot/core/status.h"

#include <gmock/gmock.h>

#include <cerrno>

#include "depot/core/result.h"
#include "depot/core/testing/status_matchers.h"

namespace depot {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_EQ(Status(StatusCode::kOk, "ignored"), Status::Ok());
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = NotFoundError("key \"x\" does not exist");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: key \"x\" does not exist");
  EXPECT_EQ(s.WithContext("get").message(), "get: key \"x\" does not exist");
  EXPECT_THAT(s, StatusIs(StatusCode::kNotFound, HasSubstr("\"x\"")));
}

TEST(StatusTest, ErrnoMapping) {
  EXPECT_THAT(ErrnoToStatus(ENOENT, "open /x"),
              StatusIs(StatusCode::kNotFound, HasSubstr("open /x: ")));
  EXPECT_THAT(ErrnoToStatus(ENOSPC, "w"), StatusIs(StatusCode::kResourceExhausted));
  EXPECT_THAT(ErrnoToStatus(EACCES, "w"), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(ErrnoToStatus(EEXIST, "w"), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(ErrnoToStatus(EIO, "w"), StatusIs(StatusCode::kDataLoss));
}

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  DEPOT_ASSIGN_OR_RETURN(int half, Half(x));
  DEPOT_ASSIGN_OR_RETURN(half, Half(half));
  return half;
}

Status CheckEven(int x) {
  DEPOT_RETURN_IF_ERROR(Half(x));
  return Status::Ok();
}

TEST(ResultTest, MacrosPropagate) {
  EXPECT_THAT(Quarter(8), ::testing::Optional(2));
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument, "odd: 3"));
  EXPECT_THAT(CheckEven(4), IsOk());
  EXPECT_THAT(CheckEven(5), StatusIs(StatusCode::kInvalidArgument));
}

TEST(ResultTest, OkStatusIsABug) {
  Result<int> r{Status::Ok()};
  EXPECT_THAT(r, StatusIs(StatusCode::kInternal));
  EXPECT_EQ(r.value_or(7), 7);
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(3);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 3);
}

TEST(ResultDeathTest, ValueOfFailureAborts) {
  Result<int> r = NotFoundError("gone");
  EXPECT_DEATH((void)r.value(), "NotFound: gone");
}

}  // namespace
}  // namespace depot
