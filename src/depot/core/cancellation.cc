#include "depot/core/cancellation.h"

#include <algorithm>
#include <string>
#include <utility>

namespace depot {
namespace {

void CancelState(const std::shared_ptr<internal::CancellationState>& state) {
  if (state->cancelled.exchange(true, std::memory_order_acq_rel)) return;  // already cancelled
  std::vector<std::weak_ptr<internal::CancellationState>> children;
  {
    MutexLock lock(state->mu);  // a sleeper between its check and its wait holds the lock
    state->changed.NotifyAll();
    children.swap(state->children);
  }
  for (const auto& weak : children) {
    if (auto child = weak.lock()) CancelState(child);
  }
}

}  // namespace

Status CancellationToken::Check(std::string_view what) const {
  if (!IsCancelled()) return Status::Ok();
  return CancelledError(std::string(what) + ": cancelled");
}

CancellationSource::CancellationSource()
    : state_(std::make_shared<internal::CancellationState>()) {}

CancellationSource::CancellationSource(const CancellationToken& parent) : CancellationSource() {
  const auto& up = parent.state_;
  if (!up) return;  // a parent that is never cancelled
  {
    MutexLock lock(up->mu);
    if (!up->cancelled.load(std::memory_order_acquire)) {
      // Drop children that are gone before growing, so a long-lived parent stays small.
      std::erase_if(up->children, [](const auto& weak) { return weak.expired(); });
      up->children.push_back(state_);
      return;
    }
  }
  CancelState(state_);
}

void CancellationSource::Cancel() { CancelState(state_); }

}  // namespace depot
