#include "depot/server/batched_sink.h"

#include <errno.h>
#include <signal.h>
#include <spdlog/pattern_formatter.h>
#include <unistd.h>

#include <utility>

namespace depot::server {
namespace {

constexpr size_t kBatch = 64 << 10;

}  // namespace

BatchedSink::BatchedSink(int fd, std::chrono::milliseconds delay)
    : fd_(fd), delay_(delay), formatter_(std::make_unique<spdlog::pattern_formatter>()) {
  writer_ = std::thread([this] { Run(); });
}

BatchedSink::~BatchedSink() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  wake_.NotifyAll();
  writer_.join();
  WriteOut();
}

void BatchedSink::log(const spdlog::details::log_msg& msg) {
  if (!should_log(msg.level)) return;
  bool now = msg.level >= spdlog::level::warn;
  {
    MutexLock lock(mu_);
    const bool was_empty = pending_.empty();
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    pending_.append(line.data(), line.size());
    now = now || pending_.size() >= kBatch;
    if (!now && was_empty) wake_.NotifyOne();
  }
  if (now) WriteOut();
}

void BatchedSink::flush() { WriteOut(); }

void BatchedSink::set_pattern(const std::string& pattern) {
  set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
}

void BatchedSink::set_formatter(std::unique_ptr<spdlog::formatter> formatter) {
  MutexLock lock(mu_);
  formatter_ = std::move(formatter);
}

void BatchedSink::WriteOut() {
  MutexLock writing(write_mu_);
  std::string batch;
  {
    MutexLock lock(mu_);
    batch.swap(pending_);
  }
  for (size_t done = 0; done < batch.size();) {
    const ssize_t n = ::write(fd_, batch.data() + done, batch.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void BatchedSink::Run() {
  // Signals are for the threads that wait for them (depot serve's sigwait), never this one.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  MutexLock lock(mu_);
  while (!stop_) {
    if (pending_.empty()) {
      wake_.Wait(lock);
      continue;
    }
    // Lines are waiting: give others `delay_` to join them, then write the lot.
    lock.Unlock();
    std::this_thread::sleep_for(delay_);
    WriteOut();
    lock.Lock();
  }
}

}  // namespace depot::server
