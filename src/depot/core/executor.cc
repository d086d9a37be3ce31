#include "depot/core/executor.h"

#include <algorithm>

namespace depot {

Executor::Executor(size_t threads, size_t queue_capacity)
    : queue_capacity_(queue_capacity == 0 ? 2 * std::max<size_t>(threads, 1) : queue_capacity) {
  threads = std::max<size_t>(threads, 1);
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

Executor::~Executor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void Executor::Enqueue(std::function<void()> task) {
  std::unique_lock lock(mu_);
  not_full_.wait(lock, [&] { return queue_.size() < queue_capacity_; });
  queue_.push_back(std::move(task));
  lock.unlock();
  not_empty_.notify_one();
}

void Executor::WorkerLoop() {
  for (;;) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every submitted task has run
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    task();
  }
}

}  // namespace depot
