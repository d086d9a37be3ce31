// The byte-moving parts of `depot cp`, shared with `depot demo` so that the demo measures exactly
// the path a user's copy takes: files are uploaded through a parallel BufferedUpload, objects are
// downloaded through an ObjectReader into a temporary file that is fsync'd and renamed into place,
// and objects move between stores through object::CopyBetween (or a server-side Copy within one
// store). Each reports the bytes it has moved to an optional Progress.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/checksum.h"
#include "depot/core/result.h"
#include "depot/object/buffered_upload.h"
#include "depot/object/object_reader.h"
#include "depot/object/store.h"
#include "progress.h"

namespace depot::cli {

struct TransferOptions {
  // Every upload part (but the last) exactly this big; unset: BufferedUpload's growing default.
  std::optional<uint64_t> part_size;
  // Parts uploading at once, and chunks fetched ahead when reading.
  int parallel = 4;
  // For the new object; empty: none (a store-to-store copy keeps the source's).
  std::string content_type;
  // Uploads compute this checksum of the content as they send it, and a store that keeps
  // checksums keeps it (BufferedUpload says how); none by default.
  std::optional<PayloadChecksum::Algorithm> checksum;
};

object::BufferedUploadOptions UploadOptionsFor(const TransferOptions& options);
object::ObjectReaderOptions ReaderOptionsFor(const TransferOptions& options);

struct UploadResult {
  object::PutResult put;
  std::vector<uint64_t> part_sizes;  // empty when the object went up in a single Put
  std::string digest;  // of the whole content, under TransferOptions::checksum; else empty
};

// Streams the local file `source` into `key`. A cancellation of `ctx` (Ctrl-C, see Interrupts)
// aborts the upload, leaving nothing on the store, and is kCancelled.
Result<UploadResult> UploadFile(object::ObjectStore& store, std::string_view key,
                                const std::filesystem::path& source, const TransferOptions& options,
                                Progress* progress, const Context& ctx = {});
// Streams what the descriptor `fd` (a pipe too; named `name` in errors) gives until its end into
// `key`: memory stays at the parts in flight.
// `ended_by_signal`, when given, is asked once input that is not a regular file has ended, before
// the upload is finished: true (the writer of a pipe was interrupted, so its end is not the
// data's) aborts it, as a cancellation of `ctx` does.
Result<UploadResult> UploadFd(object::ObjectStore& store, std::string_view key, int fd,
                              std::string_view name, const TransferOptions& options,
                              Progress* progress, const Context& ctx = {},
                              const std::function<bool()>& ended_by_signal = {});
// Reads `key` to its end, handing each piece to `sink` as it comes (and counting it in
// `progress`); a read that ends short is kDataLoss.
Status StreamObject(object::ObjectStore& store, std::string_view key,
                    const TransferOptions& options, Progress* progress,
                    const std::function<Status(const char*, size_t)>& sink);
// Reads the local file `path` to its end, handing each piece to `sink` as it comes.
Status StreamFile(const std::filesystem::path& path,
                  const std::function<Status(const char*, size_t)>& sink);
// Streams `key` to the descriptor `fd` (standard output, say), as it is read.
Status DownloadToFd(object::ObjectStore& store, std::string_view key, int fd, std::string_view name,
                    const TransferOptions& options, Progress* progress);
// Streams `key` into the local file `destination`, replacing it atomically.
Status DownloadFile(object::ObjectStore& store, std::string_view key,
                    const std::filesystem::path& destination, const TransferOptions& options,
                    Progress* progress);
// Copies `from_key` (whose metadata is `source`) into `to_key`; a server-side Copy when both
// are the same store object and it supports copy.
Result<object::PutResult> CopyObject(object::ObjectStore& from, std::string_view from_key,
                                     const object::ObjectMeta& source, object::ObjectStore& to,
                                     std::string_view to_key, const TransferOptions& options,
                                     Progress* progress);
// Copies a local file, replacing `destination` atomically.
Status CopyLocalFile(const std::filesystem::path& source, const std::filesystem::path& destination,
                     Progress* progress);
// The same from a descriptor (standard input, say; named `name` in errors), read to its end; a
// cancellation of `stop` leaves `destination` as it was.
Status CopyFdToFile(int fd, std::string_view name, const std::filesystem::path& destination,
                    Progress* progress, const CancellationToken& stop = {});

// Low-level file helpers, EINTR-safe.
Status WriteAll(int fd, const char* data, size_t size, std::string_view what);
// Reads until `size` bytes or the end of the file; returns how many were read.
// A cancellation of `stop` while it waits for input is kCancelled.
Result<size_t> ReadFull(int fd, char* data, size_t size, std::string_view what,
                        const CancellationToken& stop = {});
Result<size_t> PreadFull(int fd, char* data, size_t size, uint64_t offset, std::string_view what);

// A file written under a temporary name beside `path` and renamed over it by Commit() (after
// fsync of the file and of its directory). Pieces at addresses and of sizes aligned to
// kDirectAlignment go to the disk with direct I/O (no copy into the page cache, nothing left for
// the fsync), where the file system takes it, until the first piece that is not; the write-back of
// the rest starts while it is being written.
// Destroying an uncommitted writer removes the temporary file, leaving `path` as it was.
class AtomicFileWriter {
 public:
  static Result<std::unique_ptr<AtomicFileWriter>> Create(std::filesystem::path path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  static constexpr size_t kDirectAlignment = 4096;

  Status Append(const char* data, size_t size);
  Status Commit();

 private:
  AtomicFileWriter(std::filesystem::path path, std::filesystem::path temp, int fd, bool direct)
      : path_(std::move(path)), temp_(std::move(temp)), fd_(fd), direct_(direct) {}
  // From now on every piece goes through the page cache (the kernel keeps both kinds coherent).
  Status EndDirect();

  static constexpr uint64_t kWritebackWindow = 8 << 20;

  std::filesystem::path path_;
  std::filesystem::path temp_;
  int fd_;
  bool direct_;  // the descriptor has O_DIRECT: every piece so far was aligned
  uint64_t written_ = 0;
  uint64_t started_ = 0;  // bytes handed to write-back so far, whole windows
  bool committed_ = false;
};

}  // namespace depot::cli
