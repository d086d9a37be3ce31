// Progress reporting for long transfers: a one-line bar on stderr with the percentage done, the
// bytes moved and the rate in MiB/s, redrawn a few times a second by a thread of its own.
//
// The bar is drawn only when enabled, which commands decide with StderrIsTerminal(): piped or
// redirected output stays silent. Add() may be called from any thread (uploads count bytes from
// their worker threads); Finish() (or the destructor) draws the last state and ends the line.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "depot/core/mutex.h"

namespace depot::cli {

// Wall-clock time since construction (or Restart()).
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void Restart() { start_ = std::chrono::steady_clock::now(); }
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// "312.4 MiB/s"; "-" when no time has passed.
std::string FormatRate(uint64_t bytes, double seconds);

bool StderrIsTerminal();

class Progress {
 public:
  // `total` 0 means unknown (no percentage). Nothing is drawn unless `enabled`.
  Progress(std::string label, uint64_t total, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Add(uint64_t bytes) { done_.fetch_add(bytes, std::memory_order_relaxed); }
  void Finish();

  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  double seconds() const { return stopwatch_.Seconds(); }

 private:
  void Draw();
  void Loop();

  const std::string label_;
  const uint64_t total_;
  const bool enabled_;
  Stopwatch stopwatch_;
  std::atomic<uint64_t> done_{0};

  Mutex mu_;
  CondVar wake_;
  bool finished_ DEPOT_GUARDED_BY(mu_) = false;
  std::thread drawer_;
};

}  // namespace depot::cli
