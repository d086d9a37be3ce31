#include "depot/core/executor.h"

#include <algorithm>

#include "depot/core/mutex.h"

namespace depot {

Executor::Executor(size_t threads, size_t queue_capacity)
    : queue_capacity_(queue_capacity == 0 ? 2 * std::max<size_t>(threads, 1) : queue_capacity) {
  threads = std::max<size_t>(threads, 1);
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

Executor::~Executor() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  not_empty_.NotifyAll();
  for (auto& worker : workers_) worker.join();
}

void Executor::Enqueue(std::function<void()> task) {
  MutexLock lock(mu_);
  while (!(queue_.size() < queue_capacity_)) not_full_.Wait(lock);
  queue_.push_back(std::move(task));
  lock.Unlock();
  not_empty_.NotifyOne();
}

void Executor::WorkerLoop() {
  for (;;) {
    MutexLock lock(mu_);
    while (!(stopping_ || !queue_.empty())) not_empty_.Wait(lock);
    if (queue_.empty()) return;  // stopping, and every submitted task has run
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.Unlock();
    not_full_.NotifyOne();
    task();
  }
}

}  // namespace depot
