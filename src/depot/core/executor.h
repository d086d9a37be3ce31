// depot::Executor: a fixed pool of worker threads with a bounded task queue.
//
// Submit() hands a callable to the pool and returns a std::future for its result. When the queue
// already holds `queue_capacity` waiting tasks, Submit() blocks until one is taken: memory is
// bounded by the options, never by how fast a producer submits. The destructor runs every task
// already submitted, then joins the workers. All methods are thread-safe; a task must not wait on
// the future of another task of the same executor (with every worker waiting, nobody would run it).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "depot/core/mutex.h"

namespace depot {

class Executor {
 public:
  // `threads` >= 1 workers; `queue_capacity` waiting tasks at most (0 means 2 x threads).
  explicit Executor(size_t threads, size_t queue_capacity = 0);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  template <typename F>
  auto Submit(F&& fn) -> std::future<std::invoke_result_t<std::decay_t<F>>> {
    using R = std::invoke_result_t<std::decay_t<F>>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    std::future<R> future = task->get_future();
    Enqueue([task] { (*task)(); });
    return future;
  }

  size_t threads() const { return workers_.size(); }

 private:
  void Enqueue(std::function<void()> task);
  void WorkerLoop();

  const size_t queue_capacity_;
  Mutex mu_;
  CondVar not_empty_;
  CondVar not_full_;
  std::deque<std::function<void()>> queue_ DEPOT_GUARDED_BY(mu_);
  bool stopping_ DEPOT_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace depot
