#include "depot/core/context.h"

#include <algorithm>
#include <string>

namespace depot {

Context Context::WithDeadline(Clock::time_point deadline) const {
  Context narrower = *this;
  narrower.deadline_ = deadline_ ? std::min(*deadline_, deadline) : deadline;
  return narrower;
}

Context Context::WithToken(CancellationToken token) const {
  Context other = *this;
  other.token_ = std::move(token);
  return other;
}

std::optional<Context::Clock::duration> Context::Remaining() const {
  if (!deadline_) return std::nullopt;
  return std::max(Clock::duration::zero(), *deadline_ - Clock::now());
}

Status Context::Check(std::string_view what) const {
  if (token_.IsCancelled()) return CancelledError(std::string(what) + ": cancelled");
  if (Expired()) return DeadlineExceededError(std::string(what) + ": deadline exceeded");
  return Status::Ok();
}

Status Context::SleepFor(Clock::duration delay, std::string_view what) const {
  const Clock::time_point wake = Clock::now() + delay;
  if (deadline_ && wake > *deadline_) {
    if (Status cancelled = token_.Check(what); !cancelled.ok()) return cancelled;
    return DeadlineExceededError(std::string(what) +
                                 ": deadline exceeded (no time left for another attempt)");
  }
  token_.SleepUntil(wake);
  return Check(what);
}

}  // namespace depot
