// depot::object::ObjectReader: a seekable reader over one object (Convex's StorageObjectReader,
// done right).
//
// Opening reads the object's metadata once; every later fetch is a ranged Get guarded by the
// ETag seen then (If-Match), so a reader never mixes bytes of two versions: if the object changes
// under it, reads fail with kFailedPrecondition. Reads go through a window of `read_ahead` chunks
// of `chunk_size` bytes, fetched in parallel (at most `max_concurrency` at once) ahead of the
// cursor. A seek within the window costs nothing; a seek elsewhere drops the window and refetches.
// A fetch that fails with a retryable error (kUnavailable, kDeadlineExceeded, kDataLoss) is retried
// from the offset where it failed, with jittered backoff, bounded by `retry`.
//
// Memory: the window holds at most read_ahead chunks; chunks dropped by a seek while their fetch
// is still running keep their bytes until it ends, so the bound is (read_ahead + max_concurrency)
// x chunk_size. chunk_size is at most 4 GiB. Not thread-safe: one reader thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "depot/core/backoff.h"
#include "depot/core/context.h"
#include "depot/core/executor.h"
#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object {

struct ObjectReaderOptions {
  uint64_t chunk_size = 8 << 20;
  int read_ahead = 4;       // chunks buffered ahead of the cursor, including the current one
  int max_concurrency = 4;  // chunk fetches in flight (threads of the reader's own executor)
  // Where fetches run: a shared executor (a server's one pool; it must outlive the reader), or
  // nullptr for max_concurrency threads of the reader's own. On a shared one, the pool's size
  // bounds the fetches in flight, and the window still bounds what this reader submits.
  Executor* executor = nullptr;
  // Retries of transient failures and short reads, unless the store retries transient failures
  // itself (Capabilities::retries_transient): then only short reads are resumed here.
  BackoffOptions retry;
};

class ObjectReader {
 public:
  enum class Whence { kSet, kCurrent, kEnd };

  // kNotFound if the key does not exist. `store` must outlive the reader. Every fetch runs under
  // `ctx` (a dropped chunk's fetch under a child token of it, cancelled on the drop), so a cancel
  // or a passed deadline ends the reader's fetches and its reads fail with that status.
  static Result<std::unique_ptr<ObjectReader>> Open(ObjectStore& store, std::string key,
                                                    ObjectReaderOptions options = {},
                                                    const Context& ctx = {});
  ~ObjectReader();
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  // Reads up to `n` bytes at the cursor into `out`; 0 at the end of the object. Returns fewer
  // than `n` only at the end, or when a fetch failed after some bytes were copied (those bytes
  // are returned; the next call fetches again from the cursor, with a fresh retry budget).
  Result<size_t> Read(char* out, size_t n);
  // Reads exactly [offset, offset + n), without moving the cursor; kOutOfRange past the end.
  Result<Bytes> ReadAt(uint64_t offset, size_t n);
  // Moves the cursor; a position before 0 is kInvalidArgument, past the end is allowed (reads
  // return 0). Returns the new position.
  Result<uint64_t> Seek(int64_t offset, Whence whence = Whence::kSet);
  uint64_t Tell() const;
  uint64_t size() const;
  const ObjectMeta& meta() const;

 private:
  class Impl;
  explicit ObjectReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot::object
