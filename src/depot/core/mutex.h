// depot::Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with clang's
// thread-safety annotations (core/thread_annotations.h), so that "guarded by mu_" is a checked
// DEPOT_GUARDED_BY(mu_) rather than a comment. Same semantics and cost as the std types.
//
//   Mutex mu_;
//   int count_ DEPOT_GUARDED_BY(mu_) = 0;
//   CondVar changed_;
//   ...
//   MutexLock lock(mu_);
//   while (count_ == 0) changed_.Wait(lock);   // waits in a loop, never with a predicate lambda
//
// Waits take the MutexLock that holds the mutex; like std::condition_variable they may wake
// spuriously, hence the loop (which clang can check, where a lambda's accesses it cannot).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "depot/core/thread_annotations.h"

namespace depot {

class DEPOT_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() DEPOT_ACQUIRE() { mu_.lock(); }
  void Unlock() DEPOT_RELEASE() { mu_.unlock(); }
  bool TryLock() DEPOT_TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for a scope; may release it early and take it again.
class DEPOT_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) DEPOT_ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() DEPOT_RELEASE() = default;
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() DEPOT_RELEASE() { lock_.unlock(); }
  void Lock() DEPOT_ACQUIRE() { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

class CondVar {
 public:
  // Releases the lock until notified (or woken spuriously), then takes it again.
  void Wait(MutexLock& lock) { cv_.wait(lock.lock_); }
  // As Wait, for at most `timeout`: false when it timed out.
  template <class Rep, class Period>
  bool WaitFor(MutexLock& lock, std::chrono::duration<Rep, Period> timeout) {
    return cv_.wait_for(lock.lock_, timeout) == std::cv_status::no_timeout;
  }
  // As Wait, until `deadline`: false when it passed.
  template <class Clock, class Duration>
  bool WaitUntil(MutexLock& lock, std::chrono::time_point<Clock, Duration> deadline) {
    return cv_.wait_until(lock.lock_, deadline) == std::cv_status::no_timeout;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace depot
