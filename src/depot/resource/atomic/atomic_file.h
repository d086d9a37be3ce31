// depot::resource atomic files: a file at `path` shows its old contents or the whole new ones,
// never a part, whatever kills the writer.
//
// Both ways write "<path>.tmp" and publish it by rename(2) once it is durable:
//   WriteFileAtomically   the whole contents at once: write, fsync, rename, fsync the directory.
//   AtomicFileWriter      a resource (resource.h) over the temp file, written in chunks in any
//                         order (a download), read while it fills, published by Commit.
// The temp file is claimed with an OS lock (flock, LOCK_EX), held until the writer publishes or
// gives up: a second writer of the same path is kUnavailable while the first lives, and a temp
// file left by a killed process (whose lock died with it) is truncated and reused by the next
// writer, never taken for a live one. A writer that gives up (Abort, or destroyed uncommitted)
// removes its temp file; the file at `path` is untouched until a commit.
// Errors name the file. An AtomicFileWriter is thread-safe as its Resource is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "depot/core/result.h"
#include "depot/core/unique_fd.h"
#include "depot/resource/resource.h"

namespace depot::resource {

// Replaces the file at `path` (creating it and its directories) with `data`, atomically.
Status WriteFileAtomically(const std::string& path, std::string_view data);

// "<path>.tmp": where the new contents of `path` are written until they are published.
std::string AtomicTempPath(const std::string& path);

class AtomicFileWriter {
 public:
  // Claims "<path>.tmp" (kUnavailable if another writer holds it) and opens an empty resource
  // over it. `initial_size` is where the temp file starts (it doubles from there).
  static Result<AtomicFileWriter> Create(const std::string& path,
                                         uint64_t initial_size = 64 * 1024);

  AtomicFileWriter(AtomicFileWriter&&) noexcept = default;
  AtomicFileWriter& operator=(AtomicFileWriter&&) noexcept;
  // Abort, unless committed.
  ~AtomicFileWriter();

  // The resource's handles: write chunks through writer(), read what has landed through reader().
  ResourceWriter writer() const { return resource_->writer(); }
  ResourceReader reader() const { return resource_->reader(); }
  Status WriteAt(uint64_t offset, std::string_view data) const {
    return resource_->writer().WriteAt(offset, data);
  }

  // Commits the resource (every byte of [0, length) present; see ResourceWriter::Commit) and
  // publishes it at `path`: durable first, then renamed, then the directory made durable.
  Status Commit(std::optional<uint64_t> length = std::nullopt);
  // Gives up: the resource fails with kCancelled, the temp file is removed, the claim released.
  void Abort();

  const std::string& path() const { return path_; }

 private:
  AtomicFileWriter(std::string path, UniqueFd claim, Resource resource)
      : path_(std::move(path)), claim_(std::move(claim)), resource_(std::move(resource)) {}

  std::string path_;
  UniqueFd claim_;                    // the lock on the temp file; invalid once done
  std::optional<Resource> resource_;  // empty only after a move
};

}  // namespace depot::resource
