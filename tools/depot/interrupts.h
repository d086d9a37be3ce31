// depot::cli::Interrupts: Ctrl-C (SIGINT) and SIGTERM turned into a cancellation, for commands
// that must clean up before they exit (cp aborts the multipart upload it started, so that nothing
// is left behind on the store, then exits 130).
//
// Made before the command starts any thread: it blocks both signals in the calling thread (the
// threads started after it inherit the mask) and takes them synchronously on a thread of its own,
// which cancels token() and records interrupted(). Destroying it stops that thread and restores
// the mask; a signal that came in between is then handled as usual (the process ends). One per
// process at a time.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "depot/core/cancellation.h"

namespace depot::cli {

inline constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells report it

class Interrupts {
 public:
  Interrupts();
  ~Interrupts();
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;

  const CancellationToken& token() const { return token_; }
  bool interrupted() const { return interrupted_.load(); }

 private:
  sigset_t signals_;
  sigset_t previous_;
  CancellationSource source_;
  CancellationToken token_;
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

}  // namespace depot::cli
