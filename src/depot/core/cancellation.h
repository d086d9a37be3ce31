// depot::CancellationSource / CancellationToken: cooperative cancellation.
//
// A long operation takes a CancellationToken and checks it between steps; whoever holds the
// matching CancellationSource calls Cancel() from any thread. A default-constructed token is never
// cancelled. Cancellation is sticky. All methods are thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "depot/core/status.h"

namespace depot {

class CancellationToken {
 public:
  CancellationToken() = default;  // never cancelled

  bool IsCancelled() const { return flag_ && flag_->load(std::memory_order_acquire); }
  // kCancelled naming `what` once cancelled, OK before.
  Status Check(std::string_view what) const {
    if (!IsCancelled()) return Status::Ok();
    return CancelledError(std::string(what) + ": cancelled");
  }

 private:
  friend class CancellationSource;
  explicit CancellationToken(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  std::shared_ptr<std::atomic<bool>> flag_;
};

class CancellationSource {
 public:
  CancellationSource() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void Cancel() { flag_->store(true, std::memory_order_release); }
  CancellationToken token() const { return CancellationToken(flag_); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace depot
