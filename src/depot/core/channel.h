// depot::BoundedChannel<T>: a blocking FIFO queue of at most `capacity` values between threads
// (the role tokio's bounded mpsc plays in the seeds), for producers that feed a consumer at its
// own pace without memory growing with the input.
//
//   BoundedChannel<Bytes> channel(4);
//   std::thread producer([&] {
//     for (Bytes chunk : source) if (!channel.Send(std::move(chunk)).ok()) return;
//     channel.Close();  // end of input
//   });
//   while (std::optional<Bytes> chunk = channel.Receive()) Consume(*chunk);
//
// Send blocks while the channel holds `capacity` values. Close() ends the stream: later Sends
// fail, and Receive hands out what is queued, then std::nullopt. Close(error) is an abnormal end,
// for either side to say it gave up: the queued values are dropped at once, Receive returns
// std::nullopt, later (and blocked) Sends return `error`, and close_status() tells the other side
// why. The first Close wins; later ones change nothing.
//
// Failures: Send on a closed channel returns the error it was closed with, or kFailedPrecondition
// after a normal Close; the value is dropped. Every method is thread-safe, for any number of
// producers and consumers. T must be movable.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "depot/core/mutex.h"
#include "depot/core/status.h"

namespace depot {

template <typename T>
class BoundedChannel {
 public:
  // A capacity of 0 is taken as 1 (every channel can hold one value in transit).
  explicit BoundedChannel(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}
  BoundedChannel(const BoundedChannel&) = delete;
  BoundedChannel& operator=(const BoundedChannel&) = delete;

  // Queues `value`, waiting while the channel is full. Fails once the channel is closed.
  Status Send(T value) {
    MutexLock lock(mu_);
    while (!(closed_ || queue_.size() < capacity_)) not_full_.Wait(lock);
    if (closed_) return SendAfterClose();
    queue_.push_back(std::move(value));
    not_empty_.NotifyOne();
    return Status::Ok();
  }

  // The oldest value, waiting while the channel is empty and open; std::nullopt once it is
  // closed and drained (at once after Close(error)).
  std::optional<T> Receive() {
    MutexLock lock(mu_);
    while (!(closed_ || !queue_.empty())) not_empty_.Wait(lock);
    if (queue_.empty()) return std::nullopt;
    std::optional<T> value(std::move(queue_.front()));
    queue_.pop_front();
    not_full_.NotifyOne();
    return value;
  }

  // Ends the stream normally (OK `reason`: queued values are still received) or abnormally
  // (an error: queued values are dropped). Wakes every waiting Send and Receive.
  void Close(Status reason = Status::Ok()) {
    std::deque<T> dropped;  // destroyed outside the lock
    {
      MutexLock lock(mu_);
      if (closed_) return;
      closed_ = true;
      close_status_ = std::move(reason);
      if (!close_status_.ok()) dropped.swap(queue_);
    }
    not_full_.NotifyAll();
    not_empty_.NotifyAll();
  }

  bool closed() const {
    MutexLock lock(mu_);
    return closed_;
  }
  // OK while open and after a normal Close; the error of Close(error).
  Status close_status() const {
    MutexLock lock(mu_);
    return close_status_;
  }
  // Values queued now.
  size_t size() const {
    MutexLock lock(mu_);
    return queue_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  Status SendAfterClose() const DEPOT_REQUIRES(mu_) {
    if (!close_status_.ok()) return close_status_;
    return FailedPreconditionError("send on a closed channel (the stream has ended)");
  }

  const size_t capacity_;
  mutable Mutex mu_;
  CondVar not_full_;
  CondVar not_empty_;
  std::deque<T> queue_ DEPOT_GUARDED_BY(mu_);
  bool closed_ DEPOT_GUARDED_BY(mu_) = false;
  Status close_status_ DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot
