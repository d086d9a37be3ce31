// depot::Context: the deadline and the cancellation token of one call.
//
// Every depot call that can wait on I/O or on a peer takes a `const Context&` (last, defaulting to
// a Context without deadline that is never cancelled). The call checks it before it starts and
// between steps (each attempt, each piece of a transfer), sleeps through it (a retry's backoff
// ends early on a cancel, and a retry that could not start before the deadline is not waited
// for), and bounds its waits on the network by what is left of the deadline. It then fails with
// kCancelled or kDeadlineExceeded naming what it was doing, and leaves what is stored as the
// contract of the call says a failure does. Work a call hands to other threads carries the same
// Context.
//
//   CancellationSource stop;                                     // Cancel() from any thread
//   Context ctx = Context(stop.token()).WithTimeout(std::chrono::seconds(30));
//   Result<GetResult> got = store.Get("key", {}, ctx);
//
// A Context is a value: cheap to copy (a shared pointer and a time point) and immutable, so the
// With... methods return a new one. Thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "depot/core/cancellation.h"
#include "depot/core/status.h"

namespace depot {

class Context {
 public:
  using Clock = std::chrono::steady_clock;

  Context() = default;  // no deadline, never cancelled
  explicit Context(CancellationToken token) : token_(std::move(token)) {}

  // The same token, with the earlier of this deadline and `deadline`.
  Context WithDeadline(Clock::time_point deadline) const;
  Context WithTimeout(Clock::duration timeout) const { return WithDeadline(Clock::now() + timeout); }
  // The same deadline, with `token` instead (make `token`'s source from token() to keep both).
  Context WithToken(CancellationToken token) const;

  const CancellationToken& token() const { return token_; }
  const std::optional<Clock::time_point>& deadline() const { return deadline_; }
  // Time left before the deadline (zero once it passed), or nullopt without one.
  std::optional<Clock::duration> Remaining() const;

  bool IsCancelled() const { return token_.IsCancelled(); }
  bool Expired() const { return deadline_ && Clock::now() >= *deadline_; }
  // kCancelled or kDeadlineExceeded naming `what`, or OK while the call may go on.
  Status Check(std::string_view what) const;
  // Sleeps for `delay` (a retry's backoff) and returns Check(what). A cancel cuts the sleep short;
  // a delay that would end past the deadline fails with kDeadlineExceeded at once, without sleeping.
  Status SleepFor(Clock::duration delay, std::string_view what) const;

 private:
  CancellationToken token_;
  std::optional<Clock::time_point> deadline_;
};

}  // namespace depot
