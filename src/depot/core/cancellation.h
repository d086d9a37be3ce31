// depot::CancellationSource / CancellationToken: cooperative cancellation.
//
// A long operation takes a CancellationToken (usually inside a depot::Context) and checks it
// between steps, and sleeps (a retry's backoff) through it so that a cancellation cuts the sleep
// short; whoever holds the matching CancellationSource calls Cancel() from any thread. A
// default-constructed token is never cancelled. Cancellation is sticky.
//
// Sources form a tree: a source made from a parent token is cancelled when the parent is (at once,
// if the parent already was), and can be cancelled on its own without touching the parent. This
// is how a reader cancels its own fetches while still obeying its caller's token.
//
// A CancellationCallback runs a function when a token is cancelled: how a wait on something other
// than the token (a condition variable of a resource, a queue) is woken by a cancel at once,
// without polling.
//
// All methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/core/status.h"

namespace depot {

namespace internal {
struct CancellationState {
  std::atomic<bool> cancelled{false};
  Mutex mu;
  CondVar changed;  // notified by Cancel
  std::vector<std::weak_ptr<CancellationState>> children DEPOT_GUARDED_BY(mu);
  std::vector<const std::function<void()>*> callbacks
      DEPOT_GUARDED_BY(mu);  // of CancellationCallbacks
};
}  // namespace internal

class CancellationToken {
 public:
  CancellationToken() = default;  // never cancelled

  bool IsCancelled() const { return state_ && state_->cancelled.load(std::memory_order_acquire); }
  // kCancelled naming `what` once cancelled, OK before.
  Status Check(std::string_view what) const;
  // Sleeps until `wake`, or until a cancellation: false if cancelled before or during the sleep.
  template <class Clock, class Duration>
  bool SleepUntil(std::chrono::time_point<Clock, Duration> wake) const {
    if (!state_) {
      std::this_thread::sleep_until(wake);
      return true;
    }
    MutexLock lock(state_->mu);
    while (!IsCancelled() && state_->changed.WaitUntil(lock, wake)) {
    }
    return !IsCancelled();
  }
  template <class Rep, class Period>
  bool SleepFor(std::chrono::duration<Rep, Period> delay) const {
    return SleepUntil(std::chrono::steady_clock::now() + delay);
  }

 private:
  friend class CancellationSource;
  friend class CancellationCallback;
  explicit CancellationToken(std::shared_ptr<internal::CancellationState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<internal::CancellationState> state_;
};

class CancellationSource {
 public:
  CancellationSource();
  // A source cancelled whenever `parent` is (and already cancelled if it is).
  explicit CancellationSource(const CancellationToken& parent);

  void Cancel();
  CancellationToken token() const { return CancellationToken(state_); }

 private:
  std::shared_ptr<internal::CancellationState> state_;
};

// Runs `on_cancel` once when `token` is cancelled: in the constructor (on the calling thread) if
// it already is, otherwise on the thread that calls Cancel. The destructor unregisters it; if
// `on_cancel` is running on another thread at that moment, the destructor waits for it to end,
// so what `on_cancel` touches may be destroyed right after. `on_cancel` runs under the token's
// lock: keep it short (take a lock, notify), and never create, destroy or cancel anything of the
// same token from it. A never-cancelled token registers nothing.
class CancellationCallback {
 public:
  CancellationCallback(const CancellationToken& token, std::function<void()> on_cancel);
  ~CancellationCallback();
  CancellationCallback(const CancellationCallback&) = delete;
  CancellationCallback& operator=(const CancellationCallback&) = delete;

 private:
  std::shared_ptr<internal::CancellationState> state_;
  std::function<void()> on_cancel_;
};

}  // namespace depot
