// depot::resource: a random-access byte resource that fills progressively, in any order, while
// readers read what has arrived and block, without polling, until the bytes they need have.
//
// A Resource is shared state behind three kinds of handle, all cheap to copy:
//   Resource        the owner's view: status, Cancel, observers, and the two handles below.
//   ResourceWriter  WriteAt (any order, from any number of threads), SetLength, Commit, Fail,
//                   Reactivate, Sync. Only a writer can change the resource.
//   ResourceReader  ReadAt, WaitRange, Read. A reader cannot write: it has no such method.
// Bytes live in a Driver (driver.h): memory (memory/memory_driver.h) or an mmap'd file
// (mmap/mmap_driver.h); Resource::Open takes any driver.
//
// The rules:
//   - Which bytes are present is a RangeSet. A byte once present never changes while the resource
//     lives (until Reactivate, present bytes are only ever read): a write over present bytes must
//     carry the same bytes (a re-fetch after a retry) and writes only the missing ones; different
//     bytes are kFailedPrecondition and change nothing, so a resource never mixes two versions.
//   - ReadAt reads only present bytes: reading a byte that was never written is
//     kFailedPrecondition, never zeros. It returns the bytes present from `offset` on (a short
//     read stops at the first missing byte or at the length), and 0 at or past the final length.
//   - WaitRange(begin, end, ctx) blocks until [begin, end) is present (kReady), or the final
//     length is known and `begin` is at or past it (kEof; a range reaching past the length is
//     ready once its part below the length is), or ctx's token is cancelled (kInterrupted: how a
//     reader abandons a wait, as on a seek). It fails with the resource's failure once failed,
//     kCancelled once the resource is cancelled, and kDeadlineExceeded when ctx's deadline passes.
//     Every change wakes the waiters it concerns at once: there is no polling and no periodic
//     timeout.
//   - Status: Active (being filled), Committed (complete, of its final length), Failed (with the
//     reason every reader gets), Cancelled. Commit, Fail and Cancel act on an active resource;
//     Reactivate makes any of them active again, keeping the present bytes.
//   - Commit(length) requires every byte of [0, length) present (the first missing range is named
//     otherwise); bytes past `length` are dropped. Without a length it takes the declared one
//     (SetLength), or else the end of the present bytes, which must then start at 0 unbroken.
//   - Observers (AvailabilityObserver) hear of every write, commit and failure, and of each wait
//     that blocks (OnDemand: how a fetcher learns which bytes a reader needs first). They run on
//     the thread that caused the event, after the resource's lock is released; keep them short.
//
// Every method is thread-safe. Errors name the resource and the offending range.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "depot/core/context.h"
#include "depot/core/range_set.h"
#include "depot/core/result.h"
#include "depot/resource/driver.h"

namespace depot::resource {

enum class WaitOutcome { kReady, kEof, kInterrupted };
std::string_view WaitOutcomeName(WaitOutcome outcome);

struct ResourceStatus {
  enum class State { kActive, kCommitted, kFailed, kCancelled };
  State state = State::kActive;
  // The final length: set once committed, and while active once SetLength declared it.
  std::optional<uint64_t> length;
  // Why it failed (kFailed only).
  Status failure;

  bool active() const { return state == State::kActive; }
  bool committed() const { return state == State::kCommitted; }
  // "active", "committed (1048576 bytes)", "failed: Unavailable: ...", "cancelled".
  std::string ToString() const;
};

// Told of what happens to a resource (see the header comment). Every method defaults to nothing.
class AvailabilityObserver {
 public:
  virtual ~AvailabilityObserver() = default;
  // [range) became present.
  virtual void OnWrite(Span64 /*range*/) {}
  // The resource was committed at `length` bytes.
  virtual void OnCommit(uint64_t /*length*/) {}
  // The resource failed or was cancelled; `reason` is what its readers get.
  virtual void OnFail(const Status& /*reason*/) {}
  // A reader started waiting for [range), which is not all present.
  virtual void OnDemand(Span64 /*range*/) {}
};

namespace internal {
struct ResourceState;
}

class ResourceReader {
 public:
  // Copies up to out.size() present bytes at `offset` into `out` (see the header comment).
  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) const;
  // Blocks until [begin, end) is present or will never be (see the header comment).
  Result<WaitOutcome> WaitRange(uint64_t begin, uint64_t end, const Context& ctx = {}) const;
  // WaitRange for [offset, offset + out.size()), then ReadAt: out.size() bytes, fewer only at the
  // final length, 0 past it. An interrupted wait is kCancelled here.
  Result<size_t> Read(uint64_t offset, std::span<char> out, const Context& ctx = {}) const;

  bool Contains(uint64_t begin, uint64_t end) const;
  ResourceStatus status() const;
  RangeSet present() const;

 private:
  friend class Resource;
  friend class ResourceWriter;
  explicit ResourceReader(std::shared_ptr<internal::ResourceState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<internal::ResourceState> state_;
};

class ResourceWriter {
 public:
  // Stores `data` at `offset` (see the header comment for overlaps). Fails once the resource is
  // not active, past a declared length (kOutOfRange), or when the driver fails.
  Status WriteAt(uint64_t offset, std::string_view data) const;
  // Declares the final length before the bytes are all there: waits past it answer kEof and
  // writes past it fail. Present bytes past it, or a different length declared before, are
  // kFailedPrecondition.
  Status SetLength(uint64_t length) const;
  // Completes the resource (see the header comment).
  Status Commit(std::optional<uint64_t> length = std::nullopt) const;
  // Fails an active resource: every waiting and later reader gets `reason` (non-OK).
  void Fail(Status reason) const;
  // Makes a committed, failed or cancelled resource active again, keeping its present bytes and
  // forgetting its length.
  Status Reactivate() const;
  // Makes what is present durable and recorded, for a driver that persists (a file).
  Status Sync() const;

  // The first missing stretch of [from, limit), clamped to the length when known.
  std::optional<Span64> NextGap(uint64_t from, uint64_t limit) const;
  ResourceStatus status() const;
  ResourceReader reader() const { return ResourceReader(state_); }

 private:
  friend class Resource;
  explicit ResourceWriter(std::shared_ptr<internal::ResourceState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<internal::ResourceState> state_;
};

class Resource {
 public:
  // A resource over `driver`, in the state the driver found.
  static Resource Open(std::unique_ptr<Driver> driver, DriverState found);

  ResourceWriter writer() const { return ResourceWriter(state_); }
  ResourceReader reader() const { return ResourceReader(state_); }

  ResourceStatus status() const;
  RangeSet present() const;
  std::optional<std::string> path() const;
  std::string name() const;
  // Cancels an active resource: writes fail, and every wait, now and later, ends with kCancelled.
  void Cancel() const;

  void AddObserver(std::shared_ptr<AvailabilityObserver> observer) const;
  // After this returns the observer is not called again, except by an event already under way.
  void RemoveObserver(const AvailabilityObserver* observer) const;

 private:
  explicit Resource(std::shared_ptr<internal::ResourceState> state) : state_(std::move(state)) {}
  std::shared_ptr<internal::ResourceState> state_;
};

}  // namespace depot::resource
