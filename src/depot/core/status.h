// depot::Status: the outcome of an operation that returns no value.
//
// A Status is either OK or carries one code from a closed set plus a message. The message names
// the offending value ("key \"a/../b\": '..' segment not allowed"), so that a user reading it
// knows what to fix without a debugger. Codes are chosen by what the caller can do about them:
//
//   kNotFound            the key, upload or object does not exist.
//   kAlreadyExists       a create-only write found the key present.
//   kFailedPrecondition  a condition did not hold (If-Match ETag, compare-and-swap).
//   kInvalidArgument     a bad key, range, URL or option; nothing was changed.
//   kOutOfRange          a byte range lies outside the object.
//   kPermissionDenied    the backend refused access.
//   kUnauthenticated     credentials were missing or wrong.
//   kUnavailable         a transient failure; retrying the same call may succeed.
//   kDeadlineExceeded    the operation ran out of time.
//   kCancelled           the caller cancelled the operation.
//   kDataLoss            stored or transferred bytes failed a length or checksum check.
//   kResourceExhausted   a quota, a limit or the disk is full.
//   kUnimplemented       the backend does not support the operation (see Capabilities).
//   kInternal            an invariant of depot itself broke; a bug.
//
// Status is a small value type, cheap to copy when OK (no allocation) and safe to share between
// threads as any const value is. It is [[nodiscard]]: ignoring a Status is a compile warning.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace depot {

enum class StatusCode : int {
  kOk = 0,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kInvalidArgument,
  kOutOfRange,
  kPermissionDenied,
  kUnauthenticated,
  kUnavailable,
  kDeadlineExceeded,
  kCancelled,
  kDataLoss,
  kResourceExhausted,
  kUnimplemented,
  kInternal,
};

// "NotFound", "InvalidArgument", ... for logs and messages.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  // OK.
  Status() = default;
  // A non-OK status. Passing kOk yields OK and drops the message.
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  // Empty for OK.
  const std::string& message() const;

  // "OK" or "NotFound: key \"x\" does not exist".
  std::string ToString() const;

  // A copy whose message is `context` + ": " + message (WithContext("put") on "disk full" gives
  // "put: disk full"). OK stays OK.
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const State> state_;
};

std::ostream& operator<<(std::ostream& os, const Status& status);
std::ostream& operator<<(std::ostream& os, StatusCode code);

// Constructors named after the codes.
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status FailedPreconditionError(std::string message);
Status InvalidArgumentError(std::string message);
Status OutOfRangeError(std::string message);
Status PermissionDeniedError(std::string message);
Status UnauthenticatedError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status CancelledError(std::string message);
Status DataLossError(std::string message);
Status ResourceExhaustedError(std::string message);
Status UnimplementedError(std::string message);
Status InternalError(std::string message);

// Maps an errno value from a failed system call to a Status: ENOENT -> kNotFound, EEXIST ->
// kAlreadyExists, EACCES/EPERM -> kPermissionDenied, ENOSPC/EDQUOT -> kResourceExhausted,
// EINTR/EAGAIN/EIO-free transient errors -> kUnavailable, EINVAL/ENAMETOOLONG -> kInvalidArgument,
// EIO -> kDataLoss, anything else -> kInternal. The message is "<what>: <strerror>".
Status ErrnoToStatus(int errno_value, std::string_view what);

}  // namespace depot

// Returns from the enclosing function if `expr` (a Status or Result) is not OK.
#define DEPOT_RETURN_IF_ERROR(expr)                                                      \
  do {                                                                                   \
    if (auto depot_status_ = ::depot::internal::ToStatus((expr)); !depot_status_.ok()) { \
      return depot_status_;                                                              \
    }                                                                                    \
  } while (false)

namespace depot::internal {
inline Status ToStatus(Status s) { return s; }
}  // namespace depot::internal
