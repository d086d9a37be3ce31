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
    // Under the lock, so that a callback's destructor (which takes it) waits for its run.
    for (const std::function<void()>* callback : state->callbacks) (*callback)();
    state->callbacks.clear();
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

CancellationCallback::CancellationCallback(const CancellationToken& token,
                                           std::function<void()> on_cancel)
    : on_cancel_(std::move(on_cancel)) {
  if (!token.state_) return;
  {
    MutexLock lock(token.state_->mu);
    if (!token.state_->cancelled.load(std::memory_order_acquire)) {
      token.state_->callbacks.push_back(&on_cancel_);
      state_ = token.state_;
      return;
    }
  }
  on_cancel_();  // already cancelled
}

CancellationCallback::~CancellationCallback() {
  if (!state_) return;
  MutexLock lock(state_->mu);
  std::erase(state_->callbacks, &on_cancel_);
}

}  // namespace depot
