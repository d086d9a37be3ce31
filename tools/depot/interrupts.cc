#include "interrupts.h"

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
      interrupted_ = true;
      source_.Cancel();
      return;
    }
  });
}

Interrupts::~Interrupts() {
  done_ = true;
  if (!interrupted_.load()) pthread_kill(watcher_.native_handle(), SIGTERM);
  watcher_.join();
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

}  // namespace depot::cli
