// depot::cli::Interrupts: Ctrl-C (SIGINT) and SIGTERM turned into a cancellation, for commands
// that must clean up before they exit (cp aborts the multipart upload it started, so that nothing
// is left behind on the store, then exits 128 + the signal: 130 for Ctrl-C).
//
// Made before the command starts any thread: it blocks both signals in the calling thread (the
// threads started after it inherit the mask; threads of their own, such as Progress's, block
// them too) and takes them synchronously on a thread of its own. The first signal cancels token()
// and sets signal(); with ExitOnSignal() (work that cannot be cancelled), or on a second signal
// (a cleanup that hangs), the process exits at once with 128 + the signal, as it would by default.
// Destroying it stops that thread and restores the mask. One per process at a time.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "depot/core/cancellation.h"

namespace depot::cli {

class Interrupts {
 public:
  Interrupts();
  ~Interrupts();
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;

  const CancellationToken& token() const { return token_; }
  // The signal taken (SIGINT, SIGTERM), 0 while none.
  int signal() const { return signal_.load(); }
  // 128 + signal(): the exit status a shell reports for it.
  int exit_code() const { return 128 + signal(); }
  // Whether a signal was taken or is on its way: for a pipe that has just ended, which an
  // interrupted writer also does (its end is then not the data's end). May wait 20 ms for the
  // watcher to take a signal it was sent.
  bool Arrived() const;
  // From now on a signal ends the process at once.
  void ExitOnSignal() { exit_on_signal_ = true; }

 private:
  sigset_t signals_;
  sigset_t previous_;
  CancellationSource source_;
  CancellationToken token_;
  std::atomic<int> signal_{0};
  std::atomic<bool> exit_on_signal_{false};
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

}  // namespace depot::cli
