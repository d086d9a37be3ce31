// StorageManager: one mutex over both queues; the writer thread owns the group being built.
//
// Writer loop: wait for a first command (or shutdown); note when it arrived; keep taking commands
// while the group is under group_commands and no command asked to flush, waiting for more until
// first + group_delay (a shutdown or a Flush() ends the wait at once: everything queued is taken
// and committed). The group is committed outside the lock; its callbacks run in submission
// order; writes_completed_ then tells Flush() how far the writes are durable.
#include "depot/kv/manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>

namespace depot::kv {
namespace {

// How often a submission waiting for room looks at its cancellation token.
constexpr auto kCancelCheck = std::chrono::milliseconds(50);

}  // namespace

StorageManager::StorageManager(std::shared_ptr<Store> store, StorageManagerOptions options)
    : store_(std::move(store)), options_(options) {}

Result<std::unique_ptr<StorageManager>> StorageManager::Start(std::shared_ptr<Store> store,
                                                              StorageManagerOptions options) {
  if (store == nullptr) return InvalidArgumentError("storage manager: no store");
  if (options.reader_threads < 1) {
    return InvalidArgumentError(fmt::format(
        "storage manager: reader_threads is {}; it must be at least 1", options.reader_threads));
  }
  if (options.read_queue == 0 || options.write_queue == 0 || options.group_commands == 0) {
    return InvalidArgumentError(
        "storage manager: read_queue, write_queue and group_commands must be at least 1");
  }
  std::unique_ptr<StorageManager> manager(new StorageManager(std::move(store), options));
  for (int i = 0; i < options.reader_threads; ++i) {
    manager->readers_.emplace_back([m = manager.get()] { m->ReaderLoop(); });
  }
  manager->writer_ = std::thread([m = manager.get()] { m->WriterLoop(); });
  return manager;
}

StorageManager::~StorageManager() { (void)Shutdown(); }

template <class Queue>
Status StorageManager::WaitForRoom(CondVar& cv, const Queue& queue, size_t capacity,
                                   MutexLock& lock, const Context& ctx, std::string_view what) {
  while (!shut_down_ && queue.size() >= capacity) {
    DEPOT_RETURN_IF_ERROR(ctx.Check(what));
    auto wake = Context::Clock::now() + kCancelCheck;
    if (ctx.deadline()) wake = std::min(wake, *ctx.deadline());
    cv.WaitUntil(lock, wake);
  }
  if (shut_down_) {
    return FailedPreconditionError(fmt::format("{}: the storage manager is shut down", what));
  }
  return Status::Ok();
}

Status StorageManager::EnqueueRead(std::function<void()> task, const Context& ctx) {
  MutexLock lock(mu_);
  DEPOT_RETURN_IF_ERROR(ctx.Check("kv read command"));
  DEPOT_RETURN_IF_ERROR(
      WaitForRoom(reads_changed_, reads_, options_.read_queue, lock, ctx, "kv read command"));
  reads_.push_back(std::move(task));
  reads_changed_.NotifyAll();
  return Status::Ok();
}

void StorageManager::SubmitWrite(WriteBatch batch, WriteCommandOptions options,
                                 std::function<void(Status)> done, const Context& ctx) {
  Status queued = [&] {
    MutexLock lock(mu_);
    DEPOT_RETURN_IF_ERROR(ctx.Check("kv write command"));
    DEPOT_RETURN_IF_ERROR(
        WaitForRoom(writes_changed_, writes_, options_.write_queue, lock, ctx, "kv write command"));
    writes_.push_back({std::move(batch), options.flush_now, std::move(done)});
    ++writes_accepted_;
    writes_changed_.NotifyAll();
    return Status::Ok();
  }();
  if (!queued.ok()) done(std::move(queued));
}

std::future<Status> StorageManager::SubmitWrite(WriteBatch batch, WriteCommandOptions options,
                                                const Context& ctx) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> future = promise->get_future();
  SubmitWrite(
      std::move(batch), options,
      [promise](Status status) { promise->set_value(std::move(status)); }, ctx);
  return future;
}

Status StorageManager::Flush(const Context& ctx) {
  MutexLock lock(mu_);
  const uint64_t target = writes_accepted_;
  flush_requested_ = true;
  writes_changed_.NotifyAll();
  while (writes_completed_ < target) {
    DEPOT_RETURN_IF_ERROR(ctx.Check("kv flush"));
    auto wake = Context::Clock::now() + kCancelCheck;
    if (ctx.deadline()) wake = std::min(wake, *ctx.deadline());
    writes_done_.WaitUntil(lock, wake);
  }
  return Status::Ok();
}

Status StorageManager::Shutdown() {
  MutexLock joining(shutdown_mu_);  // one caller joins; the others wait for it
  {
    MutexLock lock(mu_);
    shut_down_ = true;
    reads_changed_.NotifyAll();
    writes_changed_.NotifyAll();
  }
  for (std::thread& reader : readers_) {
    if (reader.joinable()) reader.join();
  }
  readers_.clear();
  if (writer_.joinable()) writer_.join();
  return Status::Ok();
}

void StorageManager::ReaderLoop() {
  for (;;) {
    std::function<void()> task;
    {
      MutexLock lock(mu_);
      while (reads_.empty() && !shut_down_) reads_changed_.Wait(lock);
      if (reads_.empty()) return;  // shut down and drained
      task = std::move(reads_.front());
      reads_.pop_front();
      reads_changed_.NotifyAll();  // room for a waiting submission
    }
    task();  // a packaged_task: what the read returns or throws goes to its future
  }
}

void StorageManager::WriterLoop() {
  for (;;) {
    std::vector<WriteCommand> group;
    {
      MutexLock lock(mu_);
      while (writes_.empty() && !shut_down_) writes_changed_.Wait(lock);
      if (writes_.empty()) return;  // shut down and drained
      const auto due = Context::Clock::now() + options_.group_delay;
      bool flush = false;
      for (;;) {
        while (!writes_.empty() && group.size() < options_.group_commands && !flush) {
          flush = writes_.front().flush_now;
          group.push_back(std::move(writes_.front()));
          writes_.pop_front();
        }
        writes_changed_.NotifyAll();  // room for waiting submissions
        if (flush || group.size() >= options_.group_commands || shut_down_ || flush_requested_) {
          break;
        }
        if (!writes_changed_.WaitUntil(lock, due) && writes_.empty()) break;  // due
      }
      if (writes_.empty()) flush_requested_ = false;
    }
    CommitGroup(group);
  }
}

void StorageManager::CommitGroup(std::vector<WriteCommand>& group) {
  std::vector<Status> outcomes(group.size());
  WriteBatch merged;
  for (const WriteCommand& command : group) merged.Append(command.batch);
  Status committed = store_->Commit(merged, options_.durability);
  if (committed.ok() || group.size() == 1) {
    std::fill(outcomes.begin(), outcomes.end(), committed);
  } else {
    // One bad command must not sink the others: each alone, in order.
    for (size_t i = 0; i < group.size(); ++i) {
      outcomes[i] = store_->Commit(group[i].batch, options_.durability);
    }
  }
  for (size_t i = 0; i < group.size(); ++i) group[i].done(std::move(outcomes[i]));
  MutexLock lock(mu_);
  writes_completed_ += group.size();
  writes_done_.NotifyAll();
}

}  // namespace depot::kv
