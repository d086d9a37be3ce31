// depot::resource::Driver: where the bytes of a Resource live (memory, an mmap'd file, ...).
//
// A driver stores bytes and nothing else: which bytes are present, the status and the waiting are
// the Resource's (resource.h), which calls its driver under these rules, so that a driver needs
// no locking of its own beyond what growth needs:
//   - WriteAt, Commit, Reactivate and Persist are called one at a time (the Resource serialises
//     them), never over bytes a reader may be reading: a byte, once present, is never written
//     again.
//   - ReadAt may run on any number of threads at once, concurrently with a write (of other bytes)
//     and with growth; it is only asked for bytes that were written, but must still check its own
//     bounds (a commit may have shortened the storage) and answer kOutOfRange past them.
// A driver reports errors as Status (I/O errors name the file); it never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "depot/core/range_set.h"
#include "depot/core/status.h"

namespace depot::resource {

// What a driver found when it opened: a new resource is empty and active.
struct DriverState {
  RangeSet present;                // the bytes already there
  std::optional<uint64_t> length;  // the final length, if known
  bool committed = false;          // all of [0, *length) present, nothing more to come
  bool read_only = false;          // writes are refused
};

class Driver {
 public:
  virtual ~Driver() = default;

  // Stores `data` at `offset`, growing the storage as needed.
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Fills all of `out` with the bytes at `offset` (all of them written before).
  virtual Status ReadAt(uint64_t offset, std::span<char> out) const = 0;
  // The resource is complete at `length` bytes: drop the storage past it; a file is made durable
  // and reopened read-only.
  virtual Status Commit(uint64_t length) = 0;
  // Writable again after a commit (a file reopens read-write).
  virtual Status Reactivate() = 0;
  // Makes the bytes in `present` durable, then records `present` and `length` so that a reopen
  // finds them (a file driver); a driver without persistence does nothing.
  virtual Status Persist(const RangeSet& present, std::optional<uint64_t> length) = 0;
  // Bytes written after which the Resource calls Persist by itself (0: never).
  virtual uint64_t persist_interval() const { return 0; }
  // The file behind the resource, if any.
  virtual std::optional<std::string> path() const { return std::nullopt; }
  // For messages: "memory resource", "file /x/y".
  virtual std::string name() const = 0;
};

}  // namespace depot::resource
