// depot::CancellationSource / CancellationToken: cooperative cancellation.
//
// A long operation takes a CancellationToken and checks it between steps, and sleeps (a retry's
// backoff) through it so that a cancellation cuts the sleep short; whoever holds the matching
// CancellationSource calls Cancel() from any thread. A default-constructed token is never
// cancelled. Cancellation is sticky. All methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "depot/core/mutex.h"
#include "depot/core/status.h"

namespace depot {

namespace internal {
struct CancellationState {
  std::atomic<bool> cancelled{false};
  Mutex mu;
  CondVar changed;  // notified by Cancel
};
}  // namespace internal

class CancellationToken {
 public:
  CancellationToken() = default;  // never cancelled

  bool IsCancelled() const { return state_ && state_->cancelled.load(std::memory_order_acquire); }
  // kCancelled naming `what` once cancelled, OK before.
  Status Check(std::string_view what) const {
    if (!IsCancelled()) return Status::Ok();
    return CancelledError(std::string(what) + ": cancelled");
  }
  // Sleeps for `delay`, or until a cancellation: false if cancelled before or during the sleep.
  template <class Rep, class Period>
  bool SleepFor(std::chrono::duration<Rep, Period> delay) const {
    if (!state_) {
      std::this_thread::sleep_for(delay);
      return true;
    }
    const auto deadline = std::chrono::steady_clock::now() + delay;
    MutexLock lock(state_->mu);
    while (!IsCancelled() && state_->changed.WaitUntil(lock, deadline)) {
    }
    return !IsCancelled();
  }

 private:
  friend class CancellationSource;
  explicit CancellationToken(std::shared_ptr<internal::CancellationState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<internal::CancellationState> state_;
};

class CancellationSource {
 public:
  CancellationSource() : state_(std::make_shared<internal::CancellationState>()) {}
  void Cancel() {
    state_->cancelled.store(true, std::memory_order_release);
    MutexLock lock(state_->mu);  // a sleeper between its check and its wait has the lock
    state_->changed.NotifyAll();
  }
  CancellationToken token() const { return CancellationToken(state_); }

 private:
  std::shared_ptr<internal::CancellationState> state_;
};

}  // namespace depot
