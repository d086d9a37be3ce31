// depot::Executor: a fixed pool of worker threads with a bounded task queue.
//
// Submit() hands a callable to the pool and returns a std::future for its result. When the queue
// already holds `queue_capacity` waiting tasks, Submit() blocks until one is taken: memory is
// bounded by the options, never by how fast a producer submits. The destructor runs every task
// already submitted, then joins the workers. All methods are thread-safe; a task must not wait on
// the future of another task of the same executor (with every worker waiting, nobody would run it).
//
// depot::TaskGroup: the tasks one object runs, on an executor it was given (shared with other
// objects: a server's one bounded pool) or on a private one it owns. Its destructor waits for
// every task submitted through it, so an object whose tasks touch its members keeps its TaskGroup
// as its last member and is safe on a shared executor: no task outlives the object. BufferedUpload,
// ObjectReader, StreamUpload and StreamReader run their parts and fetches through one.
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

// Runs `fn` when destroyed (a scope guard).
template <typename F>
class [[nodiscard]] ScopeExit {
 public:
  explicit ScopeExit(F fn) : fn_(std::move(fn)) {}
  ~ScopeExit() { fn_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F fn_;
};

class TaskGroup {
 public:
  // Tasks run on `executor`, which must outlive the group.
  explicit TaskGroup(Executor& executor) : executor_(&executor) {}
  // Tasks run on a private executor of `threads` workers and `queue_capacity` waiting tasks.
  TaskGroup(size_t threads, size_t queue_capacity)
      : owned_(std::make_unique<Executor>(threads, queue_capacity)), executor_(owned_.get()) {}
  // The shared `executor` when there is one, else a private one as above.
  TaskGroup(Executor* executor, size_t threads, size_t queue_capacity)
      : owned_(executor ? nullptr : std::make_unique<Executor>(threads, queue_capacity)),
        executor_(executor ? executor : owned_.get()) {}
  ~TaskGroup() { Wait(); }
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Executor::Submit, counted: the task and everything it captured are destroyed before the
  // group learns that it ended.
  template <typename F>
  auto Submit(F&& fn) -> std::future<std::invoke_result_t<std::decay_t<F>>> {
    {
      MutexLock lock(mu_);
      ++running_;
    }
    return executor_->Submit([this, fn = std::forward<F>(fn)]() mutable {
      ScopeExit ended([this] { Ended(); });
      auto task = std::move(fn);
      return task();
    });
  }

  // Blocks until every task submitted so far has ended.
  void Wait() {
    MutexLock lock(mu_);
    while (running_ != 0) idle_.Wait(lock);
  }

  Executor& executor() { return *executor_; }

 private:
  void Ended() {
    MutexLock lock(mu_);
    --running_;
    if (running_ == 0) idle_.NotifyAll();
  }

  std::unique_ptr<Executor> owned_;  // first: destroyed (joined) after Wait()
  Executor* const executor_;
  Mutex mu_;
  CondVar idle_;
  size_t running_ DEPOT_GUARDED_BY(mu_) = 0;
};

}  // namespace depot
