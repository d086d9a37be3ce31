// depot::kv::StorageManager: reader threads and a group-committing writer over one kv Store
// (vprogs' StorageManager, with bounded queues, errors as Status and a shutdown that keeps
// every accepted write).
//
//   DEPOT_ASSIGN_OR_RETURN(auto manager, StorageManager::Start(store, {}));
//   std::future<Status> done = manager->SubmitWrite(std::move(batch));   // durable when ready
//   auto value = manager->SubmitRead<std::optional<std::string>>(
//       [](Store& s) { return s.Get("accounts", "alice"); });
//
// Writes: one writer thread takes the queued write commands in order and commits them together
// as one WriteBatch (one Store::Commit, with the manager's durability) once the group holds
// `group_commands` commands, or `group_delay` after its first command arrived, or at once when a
// command asks to flush now. Each command's completion (its future, or its callback, called on
// the writer thread) fires after its group is committed, in submission order. If a group commit
// fails, its commands are committed one by one, so a bad command (an unknown space, an oversized
// key) fails alone with its own error and the others land.
//
// Reads: `reader_threads` threads run read commands from one queue, in any order.
//
// Back-pressure: both queues are bounded; a submission waits while its queue is full, until its
// Context ends (then it fails with kCancelled / kDeadlineExceeded and nothing is queued).
// Shutdown() refuses new commands (kFailedPrecondition, "shut down") and returns once every
// command accepted before it has run and every accepted write is committed; the destructor calls
// it. A storage error reaches the command's caller as its Status; nothing crashes. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "depot/core/context.h"
#include "depot/core/mutex.h"
#include "depot/core/result.h"
#include "depot/kv/store.h"

namespace depot::kv {

struct StorageManagerOptions {
  int reader_threads = 4;
  size_t read_queue = 1024;      // read commands waiting at most
  size_t write_queue = 4096;     // write commands waiting at most
  size_t group_commands = 1000;  // a group is committed when it holds this many commands,
  std::chrono::milliseconds group_delay{10};  // or this long after its first one arrived
  Durability durability = Durability::kSync;
};

struct WriteCommandOptions {
  bool flush_now = false;  // commit this command's group at once
};

class StorageManager {
 public:
  static Result<std::unique_ptr<StorageManager>> Start(std::shared_ptr<Store> store,
                                                       StorageManagerOptions options = {});
  ~StorageManager();  // Shutdown()
  StorageManager(const StorageManager&) = delete;
  StorageManager& operator=(const StorageManager&) = delete;

  // Queues a write; `done` is called on the writer thread with the command's outcome once its
  // group is committed (or at once, on this thread, if the command is refused).
  void SubmitWrite(WriteBatch batch, WriteCommandOptions options, std::function<void(Status)> done,
                   const Context& ctx = {});
  std::future<Status> SubmitWrite(WriteBatch batch, WriteCommandOptions options = {},
                                  const Context& ctx = {});

  // Queues `read` to run on a reader thread against the store.
  template <class T>
  std::future<Result<T>> SubmitRead(std::function<Result<T>(Store&)> read,
                                    const Context& ctx = {}) {
    auto task = std::make_shared<std::packaged_task<Result<T>()>>(
        [this, read = std::move(read)] { return read(*store_); });
    std::future<Result<T>> future = task->get_future();
    if (Status queued = EnqueueRead([task] { (*task)(); }, ctx); !queued.ok()) {
      std::promise<Result<T>> refused;
      refused.set_value(std::move(queued));
      return refused.get_future();
    }
    return future;
  }

  // Commits every write accepted so far and waits for it.
  Status Flush(const Context& ctx = {});
  // See the header comment. Idempotent; returns OK once everything accepted is done.
  Status Shutdown();

  Store& store() const { return *store_; }

 private:
  struct WriteCommand {
    WriteBatch batch;
    bool flush_now = false;
    std::function<void(Status)> done;
  };

  StorageManager(std::shared_ptr<Store> store, StorageManagerOptions options);
  Status EnqueueRead(std::function<void()> task, const Context& ctx);
  // Waits on `cv` while `queue` holds `capacity` commands and the manager is open, until `ctx`
  // ends (a cancel is seen within 50 ms).
  template <class Queue>
  Status WaitForRoom(CondVar& cv, const Queue& queue, size_t capacity, MutexLock& lock,
                     const Context& ctx, std::string_view what) DEPOT_REQUIRES(mu_);
  void ReaderLoop();
  void WriterLoop();
  // Commits one group and completes its commands, in order.
  void CommitGroup(std::vector<WriteCommand>& group);

  const std::shared_ptr<Store> store_;
  const StorageManagerOptions options_;

  Mutex mu_;
  CondVar reads_changed_;   // a read queued, taken, or shutdown
  CondVar writes_changed_;  // a write queued, taken, or shutdown
  CondVar writes_done_;     // a group completed
  std::deque<std::function<void()>> reads_ DEPOT_GUARDED_BY(mu_);
  std::deque<WriteCommand> writes_ DEPOT_GUARDED_BY(mu_);
  bool flush_requested_ DEPOT_GUARDED_BY(mu_) = false;
  uint64_t writes_accepted_ DEPOT_GUARDED_BY(mu_) = 0;
  uint64_t writes_completed_ DEPOT_GUARDED_BY(mu_) = 0;
  bool shut_down_ DEPOT_GUARDED_BY(mu_) = false;

  Mutex shutdown_mu_;  // held by Shutdown while it joins
  std::vector<std::thread> readers_;
  std::thread writer_;
};

}  // namespace depot::kv
