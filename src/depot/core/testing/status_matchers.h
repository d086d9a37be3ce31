// gMock matchers for Status and Result<T>, for depot's tests.
//
//   EXPECT_THAT(store->Put(...), IsOk());
//   EXPECT_THAT(store->Get("x"), StatusIs(StatusCode::kNotFound, HasSubstr("\"x\"")));
//   EXPECT_THAT(reader.ReadAt(0, buffer), IsOkAndHolds(4u));
//
// Both accept a Status or any Result<T>; StatusIs' second argument is a matcher on the message
// and may be omitted.
#pragma once

#include <gmock/gmock.h>

#include <ostream>

#include "depot/core/result.h"
#include "depot/core/status.h"

namespace depot::testing {

namespace internal {
inline const Status& GetStatus(const Status& s) { return s; }
template <typename T>
const Status& GetStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

MATCHER(IsOk, "is OK") {
  const Status& status = ::depot::testing::internal::GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P2(StatusIsImpl, code, message_matcher, "") {
  const Status& status = ::depot::testing::internal::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code && ::testing::Matches(::testing::Matcher<const std::string&>(
                                      message_matcher))(status.message());
}

template <typename MessageMatcher>
auto StatusIs(StatusCode code, MessageMatcher message_matcher) {
  return StatusIsImpl(code, ::testing::Matcher<const std::string&>(message_matcher));
}
inline auto StatusIs(StatusCode code) { return StatusIs(code, ::testing::_); }

// A Result<T> that is OK and whose value matches `value_matcher` (a value or a matcher).
MATCHER_P(IsOkAndHolds, value_matcher, "") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace depot::testing

#define DEPOT_ASSERT_OK_AND_ASSIGN(lhs, expr)                   \
  auto DEPOT_CONCAT_(depot_test_result_, __LINE__) = (expr);    \
  ASSERT_TRUE(DEPOT_CONCAT_(depot_test_result_, __LINE__).ok()) \
      << DEPOT_CONCAT_(depot_test_result_, __LINE__).status();  \
  lhs = std::move(DEPOT_CONCAT_(depot_test_result_, __LINE__)).value()
