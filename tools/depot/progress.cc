#include "progress.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "depot/core/mutex.h"
#include "location.h"

namespace depot::cli {

std::string FormatRate(uint64_t bytes, double seconds) {
  if (seconds <= 0) return "-";
  return fmt::format("{:.1f} MiB/s", static_cast<double>(bytes) / (1024.0 * 1024.0) / seconds);
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled) {
  if (enabled_) drawer_ = std::thread([this] { Loop(); });
}

Progress::~Progress() { Finish(); }

void Progress::Finish() {
  {
    MutexLock lock(mu_);
    if (finished_) return;
    finished_ = true;
  }
  wake_.NotifyAll();
  if (drawer_.joinable()) drawer_.join();
  if (enabled_) {
    Draw();
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
}

void Progress::Loop() {
  // Signals are for the threads that wait for them (Interrupts), never this one.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  MutexLock lock(mu_);
  while (!finished_) {
    wake_.WaitFor(lock, std::chrono::milliseconds(200));
    if (finished_) break;
    lock.Unlock();
    Draw();
    lock.Lock();
  }
}

void Progress::Draw() {
  constexpr int kWidth = 30;
  const uint64_t done = this->done();
  std::string line = fmt::format("\r{} ", label_);
  if (total_ > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    const int filled = static_cast<int>(fraction * kWidth);
    line += '[';
    line.append(static_cast<size_t>(filled), '#');
    line.append(static_cast<size_t>(kWidth - filled), '.');
    line += fmt::format("] {:3.0f}%  {} / {}", fraction * 100.0, FormatBytes(done),
                        FormatBytes(total_));
  } else {
    line += FormatBytes(done);
  }
  line += fmt::format("  {}\x1b[K", FormatRate(done, seconds()));
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace depot::cli
