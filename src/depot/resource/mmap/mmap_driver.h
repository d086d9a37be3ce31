// depot::resource mmap driver: a resource whose bytes live in a file, mapped into memory.
//
// A new file starts at MmapOptions::initial_size and doubles as writes reach past it; Commit
// truncates it to the final length, makes it durable and maps it read-only. Which bytes of an
// unfinished file are present is recorded beside it, in "<path>.present" (every
// persist_interval bytes written, on ResourceWriter::Sync, and when the last handle goes), so a
// half-downloaded file reopens with what it had and resumes there. The crash protocol is at the
// top of mmap_driver.cc: a file without a record is complete, and a record never names a byte
// that is not durable in the file.
//
// OpenMode says what an existing file means:
//   kAuto       a file with a record resumes (active, its recorded bytes present); a file without
//               one is complete (committed, read-only until Reactivate); a missing file is
//               created, empty and active.
//   kReadWrite  as kAuto, except that a complete file opens active with all its bytes present,
//               so that more can be appended.
//   kReadOnly   an existing complete file, committed and read-only; a missing file is kNotFound,
//               an unfinished one (with a record) kFailedPrecondition.
// Errors name the file. Thread-safety is the Resource's (resource.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "depot/core/result.h"
#include "depot/resource/resource.h"

namespace depot::resource {

enum class OpenMode { kAuto, kReadWrite, kReadOnly };

struct MmapOptions {
  std::string path;
  OpenMode mode = OpenMode::kAuto;
  // The size a new file starts at; it doubles from there.
  uint64_t initial_size = 64 * 1024;
  // Record which bytes are present every this many bytes written (each record costs an fsync
  // of the file and of the record).
  uint64_t persist_interval = 8 * 1024 * 1024;
  // Keep the "<path>.present" record at all. Off for files that are never resumed (the temp file
  // of an AtomicFileWriter): nothing then says a file is unfinished, so its owner must never
  // leave one where it would be taken for complete.
  bool record_progress = true;
  // Commit renames the file (durable first) to this path: how AtomicFileWriter publishes.
  std::optional<std::string> commit_to;
};

Result<Resource> OpenMmapResource(const MmapOptions& options);

// The record of an unfinished file's present bytes: "<path>.present".
std::string PresentRecordPath(const std::string& path);

}  // namespace depot::resource
