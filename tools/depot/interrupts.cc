#include "interrupts.h"

#include <unistd.h>

#include <chrono>

namespace depot::cli {

Interrupts::Interrupts() : token_(source_.token()) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
  watcher_ = std::thread([this] {
    int received = 0;
    while (sigwait(&signals_, &received) == 0) {
      if (done_.load()) return;  // the wake-up the destructor sends
      if (exit_on_signal_.load() || signal_.load() != 0) _exit(128 + received);
      signal_ = received;
      source_.Cancel();
    }
  });
}

Interrupts::~Interrupts() {
  done_ = true;
  pthread_kill(watcher_.native_handle(), SIGTERM);
  watcher_.join();
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

bool Interrupts::Arrived() const {
  const auto pending = [this] {
    if (signal_.load() != 0) return true;
    sigset_t now;
    sigpending(&now);
    return sigismember(&now, SIGINT) == 1 || sigismember(&now, SIGTERM) == 1;
  };
  if (pending()) return true;
  // Taken by the watcher a moment ago, and not recorded yet.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return signal_.load() != 0;
}

}  // namespace depot::cli
