// depot::Result<T>: a value of type T or the non-OK Status that explains its absence.
//
// Shaped like std::expected (which g++ 12 lacks in C++20 mode). A Result built from an OK Status
// is a bug and becomes kInternal. Accessing value() of a failed Result aborts the process with the
// status printed: check ok() first, or use DEPOT_ASSIGN_OR_RETURN. Thread-safety is that of T.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>

#include "depot/core/status.h"

namespace depot {

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "use Status, not Result<Status>");

 public:
  using value_type = T;

  // NOLINTBEGIN(google-explicit-constructor): implicit on purpose, like std::expected.
  Result(T value) : value_(std::move(value)) {}
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok()) status_ = InternalError("Result constructed from an OK Status");
  }
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, Status> &&
                                                    !std::is_same_v<std::decay_t<U>, Result<T>>>>
  Result(U&& value) : value_(std::forward<U>(value)) {}
  // NOLINTEND(google-explicit-constructor)

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  // OK when a value is present.
  const Status& status() const { return status_; }

  T& value() & {
    CheckOk();
    return *value_;
  }
  const T& value() const& {
    CheckOk();
    return *value_;
  }
  T&& value() && {
    CheckOk();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void CheckOk() const {
    if (!ok()) {
      std::fprintf(stderr, "depot: value() of a failed Result: %s\n", status_.ToString().c_str());
      std::abort();
    }
  }

  Status status_;
  std::optional<T> value_;
};

namespace internal {
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace depot

#define DEPOT_CONCAT_INNER_(a, b) a##b
#define DEPOT_CONCAT_(a, b) DEPOT_CONCAT_INNER_(a, b)

// DEPOT_ASSIGN_OR_RETURN(auto x, MakeX()); declares or assigns `lhs` from a Result, returning its
// Status from the enclosing function when it failed.
#define DEPOT_ASSIGN_OR_RETURN(lhs, expr) \
  DEPOT_ASSIGN_OR_RETURN_IMPL_(DEPOT_CONCAT_(depot_result_, __LINE__), lhs, expr)

#define DEPOT_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                 \
  if (!result.ok()) return result.status();             \
  lhs = std::move(result).value()
