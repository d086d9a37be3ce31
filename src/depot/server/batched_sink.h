// depot::server::BatchedSink: an spdlog sink that writes its lines to a descriptor in batches, so
// that a server logging every request does not pay a write(2), and a lock held across it, per
// request.
//
// The contract: lines come out whole and in the order they were logged. A line at warn or above
// goes out at once, with every line before it; others wait at most `delay` (a background thread
// writes them) or until 64 KiB have gathered. flush() and the destructor write everything
// pending. What a kill -9 loses is at most the last `delay` of info lines; a crash's own warning
// is never held back. Write errors are ignored, as a full disk must not stop the server (the
// descriptor is not closed: it belongs to the caller). Thread-safe.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/sinks/sink.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "depot/core/mutex.h"

namespace depot::server {

class BatchedSink final : public spdlog::sinks::sink {
 public:
  explicit BatchedSink(int fd, std::chrono::milliseconds delay = std::chrono::milliseconds(5));
  ~BatchedSink() override;
  BatchedSink(const BatchedSink&) = delete;
  BatchedSink& operator=(const BatchedSink&) = delete;

  void log(const spdlog::details::log_msg& msg) override;
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

 private:
  void WriteOut();  // writes what is pending, in order with every other WriteOut
  void Run();

  const int fd_;
  const std::chrono::milliseconds delay_;
  Mutex write_mu_;  // taken before mu_: one batch is written at a time, in the order taken
  Mutex mu_;
  std::unique_ptr<spdlog::formatter> formatter_ DEPOT_GUARDED_BY(mu_);
  std::string pending_ DEPOT_GUARDED_BY(mu_);
  bool stop_ DEPOT_GUARDED_BY(mu_) = false;
  CondVar wake_;
  std::thread writer_;
};

}  // namespace depot::server
