#include "depot/resource/resource.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/mutex.h"

namespace depot::resource {

namespace internal {

struct ResourceState {
  ResourceState(std::unique_ptr<Driver> driver_in, DriverState found)
      : driver(std::move(driver_in)),
        name(driver->name()),
        read_only(found.read_only),
        present(std::move(found.present)),
        length(found.length),
        state(found.committed ? ResourceStatus::State::kCommitted
                              : ResourceStatus::State::kActive) {}

  // An unfinished resource that persists records how far it got, so that a reopen resumes there
  // (a failed or cancelled one too: its bytes are good, and another fetch may finish it).
  ~ResourceState() {
    if (driver->persist_interval() == 0 || state == ResourceStatus::State::kCommitted) return;
    static_cast<void>(driver->Persist(present, length));  // nobody is left to tell of a failure
  }

  const std::unique_ptr<Driver> driver;
  const std::string name;
  const bool read_only;

  // Serialises the driver's writes, commits and persists (taken before mu, never after).
  Mutex write_mu;
  uint64_t unpersisted DEPOT_GUARDED_BY(write_mu) = 0;

  mutable Mutex mu;
  CondVar changed;  // every change a waiter may be waiting for
  RangeSet present DEPOT_GUARDED_BY(mu);
  std::optional<uint64_t> length DEPOT_GUARDED_BY(mu);
  ResourceStatus::State state DEPOT_GUARDED_BY(mu);
  Status failure DEPOT_GUARDED_BY(mu);
  std::vector<std::shared_ptr<AvailabilityObserver>> observers DEPOT_GUARDED_BY(mu);

  ResourceStatus StatusLocked() const DEPOT_REQUIRES(mu) {
    return {.state = state, .length = length, .failure = failure};
  }

  // Why a reader cannot read (the failure, a cancel), or OK.
  Status ReadableLocked() const DEPOT_REQUIRES(mu) {
    if (state == ResourceStatus::State::kFailed) return failure;
    if (state == ResourceStatus::State::kCancelled) return CancelledError(name + ": cancelled");
    return Status::Ok();
  }

  // Why a writer cannot `what`, or OK.
  Status WritableLocked(std::string_view what) const DEPOT_REQUIRES(mu) {
    if (read_only)
      return FailedPreconditionError(fmt::format("{}: {}: opened read-only", name, what));
    switch (state) {
      case ResourceStatus::State::kActive:
        return Status::Ok();
      case ResourceStatus::State::kCommitted:
        return FailedPreconditionError(
            fmt::format("{}: {}: the resource is committed (Reactivate it to write)", name, what));
      case ResourceStatus::State::kFailed:
        return failure.WithContext(what);
      case ResourceStatus::State::kCancelled:
        return CancelledError(fmt::format("{}: {}: the resource was cancelled", name, what));
    }
    return InternalError(name + ": unknown state");
  }

  std::vector<std::shared_ptr<AvailabilityObserver>> ObserversLocked() const DEPOT_REQUIRES(mu) {
    return observers;
  }
};

}  // namespace internal

namespace {

using internal::ResourceState;
using State = ResourceStatus::State;

// offset + size, or kInvalidArgument naming the range when it passes 2^64.
Result<uint64_t> EndOf(const ResourceState& state, uint64_t offset, uint64_t size) {
  if (size > std::numeric_limits<uint64_t>::max() - offset) {
    return InvalidArgumentError(
        fmt::format("{}: {} bytes at offset {} run past 2^64", state.name, size, offset));
  }
  return offset + size;
}

// Whether `data` equals the bytes the driver holds at `offset` (all present).
Result<bool> SameAsStored(const Driver& driver, uint64_t offset, std::string_view data) {
  std::array<char, 64 * 1024> stored;
  while (!data.empty()) {
    const size_t n = std::min(data.size(), stored.size());
    DEPOT_RETURN_IF_ERROR(driver.ReadAt(offset, std::span<char>(stored.data(), n)));
    if (std::memcmp(stored.data(), data.data(), n) != 0) return false;
    offset += n;
    data.remove_prefix(n);
  }
  return true;
}

}  // namespace

std::string_view WaitOutcomeName(WaitOutcome outcome) {
  switch (outcome) {
    case WaitOutcome::kReady:
      return "ready";
    case WaitOutcome::kEof:
      return "eof";
    case WaitOutcome::kInterrupted:
      return "interrupted";
  }
  return "?";
}

std::string ResourceStatus::ToString() const {
  switch (state) {
    case State::kActive:
      return length ? fmt::format("active ({} bytes expected)", *length) : "active";
    case State::kCommitted:
      return fmt::format("committed ({} bytes)", length.value_or(0));
    case State::kFailed:
      return "failed: " + failure.ToString();
    case State::kCancelled:
      return "cancelled";
  }
  return "?";
}

// ---- ResourceReader ----

Result<size_t> ResourceReader::ReadAt(uint64_t offset, std::span<char> out) const {
  if (out.empty()) return size_t{0};
  size_t n = 0;
  {
    MutexLock lock(state_->mu);
    DEPOT_RETURN_IF_ERROR(state_->ReadableLocked());
    if (state_->length && offset >= *state_->length) return size_t{0};
    std::optional<Span64> range = state_->present.RangeAt(offset);
    if (!range) {
      return FailedPreconditionError(fmt::format(
          "{}: byte {} is not present yet (WaitRange waits for it)", state_->name, offset));
    }
    uint64_t limit = range->end;
    if (state_->length) limit = std::min(limit, *state_->length);
    n = static_cast<size_t>(std::min<uint64_t>(out.size(), limit - offset));
  }
  DEPOT_RETURN_IF_ERROR(state_->driver->ReadAt(offset, out.first(n)));
  return n;
}

Result<WaitOutcome> ResourceReader::WaitRange(uint64_t begin, uint64_t end,
                                              const Context& ctx) const {
  if (begin > end) {
    return InvalidArgumentError(fmt::format(
        "{}: wait for [{}, {}): the range ends before it begins", state_->name, begin, end));
  }
  ResourceState& state = *state_;
  // A cancel of this wait's token wakes it at once. Registered before the resource's lock is
  // taken and destroyed after it is released: the callback takes the resource's lock under the
  // token's, so the other order could deadlock.
  CancellationCallback wake_on_cancel(ctx.token(), [&state] {
    MutexLock lock(state.mu);
    state.changed.NotifyAll();
  });
  bool demanded = false;
  MutexLock lock(state.mu);
  while (true) {
    DEPOT_RETURN_IF_ERROR(state.ReadableLocked());
    if (state.length && begin >= *state.length) return WaitOutcome::kEof;
    const uint64_t until = state.length ? std::min(end, *state.length) : end;
    if (state.present.Contains(begin, until)) return WaitOutcome::kReady;
    if (ctx.IsCancelled()) return WaitOutcome::kInterrupted;
    if (ctx.Expired()) {
      return DeadlineExceededError(fmt::format("{}: wait for [{}, {}): deadline passed with {}",
                                               state.name, begin, end, state.present.ToString()));
    }
    if (!demanded) {
      // Tell the fetchers (outside the lock), then look again: the bytes may have come meanwhile.
      demanded = true;
      std::vector<std::shared_ptr<AvailabilityObserver>> observers = state.ObserversLocked();
      if (!observers.empty()) {
        const std::optional<Span64> gap = state.present.FirstGap(begin, until);
        lock.Unlock();
        for (const auto& observer : observers) observer->OnDemand({gap->begin, until});
        lock.Lock();
        continue;
      }
    }
    if (ctx.deadline()) {
      state.changed.WaitUntil(lock, *ctx.deadline());
    } else {
      state.changed.Wait(lock);
    }
  }
}

Result<size_t> ResourceReader::Read(uint64_t offset, std::span<char> out,
                                    const Context& ctx) const {
  DEPOT_ASSIGN_OR_RETURN(const uint64_t end, EndOf(*state_, offset, out.size()));
  DEPOT_ASSIGN_OR_RETURN(const WaitOutcome outcome, WaitRange(offset, end, ctx));
  switch (outcome) {
    case WaitOutcome::kEof:
      return size_t{0};
    case WaitOutcome::kInterrupted:
      return CancelledError(
          fmt::format("{}: read of [{}, {}) interrupted", state_->name, offset, end));
    case WaitOutcome::kReady:
      break;
  }
  return ReadAt(offset, out);
}

bool ResourceReader::Contains(uint64_t begin, uint64_t end) const {
  MutexLock lock(state_->mu);
  return state_->present.Contains(begin, end);
}

ResourceStatus ResourceReader::status() const {
  MutexLock lock(state_->mu);
  return state_->StatusLocked();
}

RangeSet ResourceReader::present() const {
  MutexLock lock(state_->mu);
  return state_->present;
}

// ---- ResourceWriter ----

Status ResourceWriter::WriteAt(uint64_t offset, std::string_view data) const {
  if (data.empty()) return Status::Ok();
  ResourceState& state = *state_;
  DEPOT_ASSIGN_OR_RETURN(const uint64_t end, EndOf(state, offset, data.size()));
  MutexLock write_lock(state.write_mu);
  std::vector<Span64> gaps;
  {
    MutexLock lock(state.mu);
    DEPOT_RETURN_IF_ERROR(state.WritableLocked(fmt::format("write [{}, {})", offset, end)));
    if (state.length && end > *state.length) {
      return OutOfRangeError(fmt::format("{}: write [{}, {}) runs past the length, {}", state.name,
                                         offset, end, *state.length));
    }
    gaps = state.present.Gaps(offset, end);
  }
  // The present parts must hold the same bytes: a resource never mixes two versions.
  uint64_t at = offset;
  for (size_t i = 0; i <= gaps.size(); ++i) {
    const uint64_t same_until = i < gaps.size() ? gaps[i].begin : end;
    if (same_until > at) {
      DEPOT_ASSIGN_OR_RETURN(
          const bool same,
          SameAsStored(*state.driver, at, data.substr(at - offset, same_until - at)));
      if (!same) {
        return FailedPreconditionError(
            fmt::format("{}: write [{}, {}) differs from the bytes already present in [{}, {})",
                        state.name, offset, end, at, same_until));
      }
    }
    if (i < gaps.size()) at = gaps[i].end;
  }
  uint64_t written = 0;
  for (const Span64& gap : gaps) {
    DEPOT_RETURN_IF_ERROR(
        state.driver->WriteAt(gap.begin, data.substr(gap.begin - offset, gap.length())));
    written += gap.length();
  }
  std::vector<std::shared_ptr<AvailabilityObserver>> observers;
  {
    MutexLock lock(state.mu);
    for (const Span64& gap : gaps) state.present.Insert(gap.begin, gap.end);
    state.changed.NotifyAll();
    observers = state.ObserversLocked();
  }
  state.unpersisted += written;
  const uint64_t interval = state.driver->persist_interval();
  if (interval != 0 && state.unpersisted >= interval) {
    RangeSet present;
    std::optional<uint64_t> length;
    {
      MutexLock lock(state.mu);
      present = state.present;
      length = state.length;
    }
    DEPOT_RETURN_IF_ERROR(state.driver->Persist(present, length));
    state.unpersisted = 0;
  }
  write_lock.Unlock();
  if (!gaps.empty()) {
    for (const auto& observer : observers) observer->OnWrite({offset, end});
  }
  return Status::Ok();
}

Status ResourceWriter::SetLength(uint64_t length) const {
  MutexLock lock(state_->mu);
  DEPOT_RETURN_IF_ERROR(state_->WritableLocked(fmt::format("set the length to {}", length)));
  if (state_->length && *state_->length != length) {
    return FailedPreconditionError(fmt::format("{}: set the length to {}: it is already {}",
                                               state_->name, length, *state_->length));
  }
  if (state_->present.end() > length) {
    return FailedPreconditionError(
        fmt::format("{}: set the length to {}: bytes up to {} are present", state_->name, length,
                    state_->present.end()));
  }
  state_->length = length;
  state_->changed.NotifyAll();  // waits past the length end now
  return Status::Ok();
}

Status ResourceWriter::Commit(std::optional<uint64_t> length) const {
  ResourceState& state = *state_;
  MutexLock write_lock(state.write_mu);
  uint64_t final_length = 0;
  {
    MutexLock lock(state.mu);
    DEPOT_RETURN_IF_ERROR(state.WritableLocked("commit"));
    if (length && state.length && *length != *state.length) {
      return InvalidArgumentError(fmt::format("{}: commit at {} bytes: the declared length is {}",
                                              state.name, *length, *state.length));
    }
    if (length) {
      final_length = *length;
    } else if (state.length) {
      final_length = *state.length;
    } else {
      final_length = state.present.end();
    }
    if (std::optional<Span64> gap = state.present.FirstGap(0, final_length)) {
      return FailedPreconditionError(fmt::format("{}: commit at {} bytes: [{}, {}) is missing",
                                                 state.name, final_length, gap->begin, gap->end));
    }
  }
  DEPOT_RETURN_IF_ERROR(state.driver->Commit(final_length));
  std::vector<std::shared_ptr<AvailabilityObserver>> observers;
  {
    MutexLock lock(state.mu);
    state.present.Erase(final_length, std::numeric_limits<uint64_t>::max());
    state.length = final_length;
    state.state = State::kCommitted;
    state.changed.NotifyAll();
    observers = state.ObserversLocked();
  }
  state.unpersisted = 0;
  write_lock.Unlock();
  for (const auto& observer : observers) observer->OnCommit(final_length);
  return Status::Ok();
}

void ResourceWriter::Fail(Status reason) const {
  if (reason.ok()) reason = InternalError("Fail called with an OK status");
  reason = reason.WithContext(state_->name);
  std::vector<std::shared_ptr<AvailabilityObserver>> observers;
  {
    MutexLock lock(state_->mu);
    if (state_->state != State::kActive) return;
    state_->state = State::kFailed;
    state_->failure = reason;
    state_->changed.NotifyAll();
    observers = state_->ObserversLocked();
  }
  for (const auto& observer : observers) observer->OnFail(reason);
}

Status ResourceWriter::Reactivate() const {
  ResourceState& state = *state_;
  MutexLock write_lock(state.write_mu);
  bool was_committed = false;
  {
    MutexLock lock(state.mu);
    if (state.read_only) {
      return FailedPreconditionError(state.name + ": reactivate: opened read-only");
    }
    if (state.state == State::kActive) return Status::Ok();
    was_committed = state.state == State::kCommitted;
  }
  if (was_committed) DEPOT_RETURN_IF_ERROR(state.driver->Reactivate());
  MutexLock lock(state.mu);
  state.state = State::kActive;
  state.failure = Status::Ok();
  state.length.reset();
  return Status::Ok();
}

Status ResourceWriter::Sync() const {
  ResourceState& state = *state_;
  MutexLock write_lock(state.write_mu);
  RangeSet present;
  std::optional<uint64_t> length;
  {
    MutexLock lock(state.mu);
    if (state.state != State::kActive) return Status::Ok();  // committed: durable already
    present = state.present;
    length = state.length;
  }
  DEPOT_RETURN_IF_ERROR(state.driver->Persist(present, length));
  state.unpersisted = 0;
  return Status::Ok();
}

std::optional<Span64> ResourceWriter::NextGap(uint64_t from, uint64_t limit) const {
  MutexLock lock(state_->mu);
  if (state_->length) limit = std::min(limit, *state_->length);
  return state_->present.FirstGap(from, limit);
}

ResourceStatus ResourceWriter::status() const {
  MutexLock lock(state_->mu);
  return state_->StatusLocked();
}

// ---- Resource ----

Resource Resource::Open(std::unique_ptr<Driver> driver, DriverState found) {
  return Resource(std::make_shared<ResourceState>(std::move(driver), std::move(found)));
}

ResourceStatus Resource::status() const {
  MutexLock lock(state_->mu);
  return state_->StatusLocked();
}

RangeSet Resource::present() const {
  MutexLock lock(state_->mu);
  return state_->present;
}

std::optional<std::string> Resource::path() const { return state_->driver->path(); }

std::string Resource::name() const { return state_->name; }

void Resource::Cancel() const {
  const Status reason = CancelledError(state_->name + ": cancelled");
  std::vector<std::shared_ptr<AvailabilityObserver>> observers;
  {
    MutexLock lock(state_->mu);
    if (state_->state != State::kActive) return;
    state_->state = State::kCancelled;
    state_->changed.NotifyAll();
    observers = state_->ObserversLocked();
  }
  for (const auto& observer : observers) observer->OnFail(reason);
}

void Resource::AddObserver(std::shared_ptr<AvailabilityObserver> observer) const {
  MutexLock lock(state_->mu);
  state_->observers.push_back(std::move(observer));
}

void Resource::RemoveObserver(const AvailabilityObserver* observer) const {
  MutexLock lock(state_->mu);
  std::erase_if(state_->observers, [&](const auto& held) { return held.get() == observer; });
}

}  // namespace depot::resource
