#include "transfer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>

#include "depot/core/byte_buffer.h"
#include "depot/object/forwarding_store.h"
#include "depot/object/helpers.h"
#include "depot/object/key.h"

namespace depot::cli {
namespace {

namespace fs = std::filesystem;
using object::ObjectStore;

// Read buffer for downloads and local copies: big enough that syscalls do not dominate, small
// enough not to matter next to the reader's own window.
constexpr size_t kCopyBuffer = 4 << 20;

// Forwards every call to `inner` and counts the bytes of successful puts and parts into a
// Progress: how a store-to-store copy, which runs inside object::CopyBetween, reports progress.
// Its writers are ObjectStore's default (parts through this store, so they are counted).
class CountingStore final : public object::ForwardingStore {
 public:
  CountingStore(ObjectStore& inner, Progress* progress)
      : ForwardingStore(inner), progress_(progress) {}

 protected:
  Result<object::PutResult> DoPut(std::string_view key, Bytes data,
                                  const object::PutOptions& options, const Context& ctx) override {
    const uint64_t size = data.size();
    Result<object::PutResult> result = ForwardingStore::DoPut(key, std::move(data), options, ctx);
    if (result.ok()) Count(size);
    return result;
  }
  Result<object::PartInfo> DoPutPart(std::string_view key, std::string_view upload_id,
                                     int part_number, Bytes data, const Context& ctx) override {
    const uint64_t size = data.size();
    Result<object::PartInfo> result =
        ForwardingStore::DoPutPart(key, upload_id, part_number, std::move(data), ctx);
    if (result.ok()) Count(size);
    return result;
  }
  Result<std::unique_ptr<object::ObjectWriter>> DoOpenWriter(std::string_view key,
                                                             const object::WriteOptions& options,
                                                             const Context& ctx) override {
    return ObjectStore::DoOpenWriter(key, options, ctx);
  }

 private:
  void Count(uint64_t bytes) {
    if (progress_ != nullptr) progress_->Add(bytes);
  }

  Progress* progress_;
};

// The permission bits a newly created file would get: 0666 less the umask.
mode_t NewFileMode() {
  const mode_t mask = umask(0);
  umask(mask);
  return 0666 & ~mask;
}

Status SyncDirectory(const fs::path& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, fmt::format("open directory {}", dir.string()));
  Status status;
  if (fsync(fd) != 0) status = ErrnoToStatus(errno, fmt::format("fsync {}", dir.string()));
  close(fd);
  return status;
}

class FileCloser {
 public:
  explicit FileCloser(int fd) : fd_(fd) {}
  ~FileCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FileCloser(const FileCloser&) = delete;
  FileCloser& operator=(const FileCloser&) = delete;

 private:
  int fd_;
};

Result<int> OpenForReading(const fs::path& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, fmt::format("open {}", path.string()));
  return fd;
}

}  // namespace

object::BufferedUploadOptions UploadOptionsFor(const TransferOptions& options) {
  object::BufferedUploadOptions upload;
  if (options.part_size) upload.part_size = object::PartSizePolicy::Fixed(*options.part_size);
  upload.max_in_flight = options.parallel;
  upload.put_options.content_type = options.content_type;
  upload.checksum = options.checksum;
  return upload;
}

object::ObjectReaderOptions ReaderOptionsFor(const TransferOptions& options) {
  object::ObjectReaderOptions reader;
  if (options.part_size) reader.chunk_size = *options.part_size;
  reader.read_ahead = options.parallel;
  reader.max_concurrency = options.parallel;
  return reader;
}

Status WriteAll(int fd, const char* data, size_t size, std::string_view what) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, fmt::format("write {}", what));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<size_t> ReadFull(int fd, char* data, size_t size, std::string_view what,
                        const CancellationToken& stop) {
  size_t total = 0;
  while (total < size) {
    // A pipe or terminal may give nothing for long: wait in slices, so that a cancellation
    // (Ctrl-C) is seen (a regular file is always ready).
    for (pollfd ready{fd, POLLIN, 0};;) {
      DEPOT_RETURN_IF_ERROR(stop.Check(fmt::format("read {}", what)));
      const int polled = ::poll(&ready, 1, 200);
      if (polled > 0 || (polled < 0 && errno != EINTR)) break;  // a poll error: read reports it
    }
    const ssize_t n = read(fd, data + total, size - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, fmt::format("read {}", what));
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  return total;
}

Result<size_t> PreadFull(int fd, char* data, size_t size, uint64_t offset, std::string_view what) {
  size_t total = 0;
  while (total < size) {
    const ssize_t n = pread(fd, data + total, size - total, static_cast<off_t>(offset + total));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, fmt::format("read {}", what));
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  return total;
}

Result<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(fs::path path) {
  std::string pattern = path.string() + ".depot-tmp-XXXXXX";
  const int fd = mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      // A plain path (outside every store) into a directory that is not there: the user most
      // likely meant a store, or a directory still to be made.
      return NotFoundError(fmt::format(
          "{}: directory {} does not exist, and the path is not inside a depot store; make it "
          "a store with `depot init {}` (then copy into it), or create the directory",
          path.string(), path.parent_path().string(), path.parent_path().string()));
    }
    return ErrnoToStatus(error, fmt::format("create a temporary file for {}", path.string()));
  }
  // mkostemp makes the file private (0600); give it the mode a plain create would have.
  if (fchmod(fd, NewFileMode()) != 0) {
    const int error = errno;
    close(fd);
    unlink(pattern.c_str());
    return ErrnoToStatus(error, fmt::format("chmod {}", pattern));
  }
  // Direct I/O where the file system takes it: aligned pieces then skip the page cache (see
  // Append).
  const int flags = fcntl(fd, F_GETFL);
  const bool direct = flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
  return std::unique_ptr<AtomicFileWriter>(
      new AtomicFileWriter(std::move(path), fs::path(pattern), fd, direct));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) close(fd_);
  if (!committed_) unlink(temp_.c_str());
}

Status AtomicFileWriter::Append(const char* data, size_t size) {
  if (direct_ && reinterpret_cast<uintptr_t>(data) % kDirectAlignment == 0 &&
      size % kDirectAlignment == 0) {
    while (size > 0) {
      const ssize_t n = write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      // EINVAL: a file system that took O_DIRECT but refuses the write, or the unaligned rest of
      // a short write; the rest goes through the page cache.
      if (n < 0 && errno == EINVAL) break;
      if (n < 0) return ErrnoToStatus(errno, fmt::format("write {}", temp_.string()));
      data += n;
      size -= static_cast<size_t>(n);
      written_ += static_cast<uint64_t>(n);
    }
    if (size == 0) return Status::Ok();
  }
  if (direct_) DEPOT_RETURN_IF_ERROR(EndDirect());
  DEPOT_RETURN_IF_ERROR(WriteAll(fd_, data, size, temp_.string()));
  written_ += size;
  // Write-back starts as the file grows, so that the disk works while the bytes still arrive and
  // Commit's fsync finds little left: each complete window is handed to the kernel, and the one
  // before it waited for, which also bounds the file's dirty pages to two windows. Errors show
  // at Commit's fsync.
  while (written_ - started_ >= kWritebackWindow) {
    (void)sync_file_range(fd_, static_cast<off_t>(started_), kWritebackWindow,
                          SYNC_FILE_RANGE_WRITE);
    if (started_ >= kWritebackWindow) {
      (void)sync_file_range(
          fd_, static_cast<off_t>(started_ - kWritebackWindow), kWritebackWindow,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    }
    started_ += kWritebackWindow;
  }
  return Status::Ok();
}

Status AtomicFileWriter::EndDirect() {
  const int flags = fcntl(fd_, F_GETFL);
  if (flags < 0 || fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0) {
    return ErrnoToStatus(errno, fmt::format("turning off direct I/O on {}", temp_.string()));
  }
  direct_ = false;
  started_ = written_ / kWritebackWindow * kWritebackWindow;  // written directly: nothing to flush
  return Status::Ok();
}

Status AtomicFileWriter::Commit() {
  if (fsync(fd_) != 0) return ErrnoToStatus(errno, fmt::format("fsync {}", temp_.string()));
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) return ErrnoToStatus(errno, fmt::format("close {}", temp_.string()));
  if (rename(temp_.c_str(), path_.c_str()) != 0) {
    return ErrnoToStatus(errno, fmt::format("rename {} to {}", temp_.string(), path_.string()));
  }
  committed_ = true;
  fs::path dir = path_.parent_path();
  return SyncDirectory(dir.empty() ? fs::path(".") : dir);
}

Result<UploadResult> UploadFile(ObjectStore& store, std::string_view key, const fs::path& source,
                                const TransferOptions& options, Progress* progress,
                                const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(const int fd, OpenForReading(source));
  FileCloser closer(fd);
  return UploadFd(store, key, fd, source.string(), options, progress, ctx);
}

Result<UploadResult> UploadFd(ObjectStore& store, std::string_view key, int fd,
                              std::string_view name, const TransferOptions& options,
                              Progress* progress, const Context& ctx,
                              const std::function<bool()>& ended_by_signal) {
  object::BufferedUploadOptions upload_options = UploadOptionsFor(options);
  struct stat info {};
  const bool regular = fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
  if (regular) {
    const uint64_t size = static_cast<uint64_t>(info.st_size);
    upload_options.size_hint = size;
    if (!options.part_size) {
      // A file of known size goes in equal parts of the policy's minimum (at least the store's,
      // and raised so the file fits 90% of the store's part limit, leaving room for a file that
      // grows while it is read): every chunk read is a whole part, shipped without a copy, and
      // memory stays at (in flight + 1) parts whatever the file's size.
      const object::Capabilities caps = store.capabilities();
      uint64_t part = std::max(upload_options.part_size.min(), caps.min_part_size);
      if (caps.max_parts > 0) {
        const uint64_t usable =
            std::max<uint64_t>(static_cast<uint64_t>(caps.max_parts) * 9 / 10, 1);
        part = std::max(part, (size + usable - 1) / usable);
      }
      if (caps.max_part_size > 0 && part > caps.max_part_size) {
        return InvalidArgumentError(
            fmt::format("{} has {} bytes, more than {} takes ({} parts of at most {} bytes)", name,
                        size, store.ToString(), caps.max_parts, caps.max_part_size));
      }
      upload_options.part_size = object::PartSizePolicy::Fixed(part);
    }
  }
  // Chunks of the policy's minimum part size: with fixed parts every chunk is a whole part and
  // ships without a copy; with the geometric policy (a pipe, say), the later, larger parts are
  // assembled from several chunks in BufferedUpload's buffer (one copy).
  const size_t chunk = static_cast<size_t>(upload_options.part_size.min());
  DEPOT_ASSIGN_OR_RETURN(
      auto upload, object::BufferedUpload::Start(store, std::string(key), upload_options, ctx));
  for (;;) {
    ByteBuffer buffer(chunk, ByteBuffer::Fill::kWhole);
    Result<size_t> got = ReadFull(fd, buffer.data(), chunk, name, ctx.token());
    // Checked after every read, the last (end of input) included: an interrupted pipe ends too,
    // and what it gave must not be stored as the whole.
    Status stop = ctx.token().Check(fmt::format("upload of {}", name));
    if (stop.ok() && !regular && got.ok() && *got < chunk && ended_by_signal && ended_by_signal()) {
      stop = CancelledError(fmt::format("upload of {}: its writer was interrupted", name));
    }
    if (!stop.ok()) {
      if (Status aborted = upload->Abort();
          !aborted.ok() && aborted.code() != StatusCode::kCancelled) {
        return aborted.WithContext(fmt::format("{}; aborting the upload", stop.message()));
      }
      return stop;
    }
    if (!got.ok()) {
      (void)upload->Abort();  // the read error is the one worth reporting
      return got.status();
    }
    if (*got == 0) break;
    buffer.Commit(*got);
    DEPOT_RETURN_IF_ERROR(upload->Write(std::move(buffer).Freeze()));
    if (progress != nullptr) progress->Add(*got);
    if (*got < chunk) break;
  }
  UploadResult result;
  DEPOT_ASSIGN_OR_RETURN(result.put, upload->Finish());
  result.part_sizes = upload->part_sizes();
  result.digest = upload->content_digest();
  return result;
}

Status StreamObject(ObjectStore& store, std::string_view key, const TransferOptions& options,
                    Progress* progress, const std::function<Status(const char*, size_t)>& sink) {
  DEPOT_ASSIGN_OR_RETURN(
      auto reader, object::ObjectReader::Open(store, std::string(key), ReaderOptionsFor(options)));
  const size_t buffer_size =
      static_cast<size_t>(std::clamp<uint64_t>(reader->size(), 1, kCopyBuffer));
  // Aligned, so that whole pieces can go to a file with direct I/O (AtomicFileWriter).
  constexpr size_t kAlign = AtomicFileWriter::kDirectAlignment;
  std::unique_ptr<char, decltype(&std::free)> buffer(
      static_cast<char*>(std::aligned_alloc(kAlign, (buffer_size + kAlign - 1) / kAlign * kAlign)),
      &std::free);
  if (buffer == nullptr) return ResourceExhaustedError("no memory for a copy buffer");
  for (;;) {
    DEPOT_ASSIGN_OR_RETURN(const size_t n, reader->Read(buffer.get(), buffer_size));
    if (n == 0) break;
    DEPOT_RETURN_IF_ERROR(sink(buffer.get(), n));
    if (progress != nullptr) progress->Add(n);
  }
  if (reader->Tell() != reader->size()) {
    return DataLossError(fmt::format("read {} of {} bytes of {}", reader->Tell(), reader->size(),
                                     object::QuoteKey(key)));
  }
  return Status::Ok();
}

Status StreamFile(const fs::path& path, const std::function<Status(const char*, size_t)>& sink) {
  DEPOT_ASSIGN_OR_RETURN(const int fd, OpenForReading(path));
  FileCloser closer(fd);
  std::unique_ptr<char[]> buffer(new char[kCopyBuffer]);
  for (;;) {
    DEPOT_ASSIGN_OR_RETURN(const size_t n, ReadFull(fd, buffer.get(), kCopyBuffer, path.string()));
    if (n == 0) return Status::Ok();
    DEPOT_RETURN_IF_ERROR(sink(buffer.get(), n));
  }
}

Status DownloadToFd(ObjectStore& store, std::string_view key, int fd, std::string_view name,
                    const TransferOptions& options, Progress* progress) {
  return StreamObject(store, key, options, progress, [&](const char* data, size_t size) {
    return WriteAll(fd, data, size, name);
  });
}

Status DownloadFile(ObjectStore& store, std::string_view key, const fs::path& destination,
                    const TransferOptions& options, Progress* progress) {
  // Made at the first byte: a missing object leaves no temporary file behind, even briefly.
  std::unique_ptr<AtomicFileWriter> out;
  const auto open = [&]() -> Status {
    if (out != nullptr) return Status::Ok();
    DEPOT_ASSIGN_OR_RETURN(out, AtomicFileWriter::Create(destination));
    return Status::Ok();
  };
  DEPOT_RETURN_IF_ERROR(
      StreamObject(store, key, options, progress, [&](const char* data, size_t size) -> Status {
        DEPOT_RETURN_IF_ERROR(open());
        return out->Append(data, size);
      }));
  DEPOT_RETURN_IF_ERROR(open());
  return out->Commit();
}

Result<object::PutResult> CopyObject(ObjectStore& from, std::string_view from_key,
                                     const object::ObjectMeta& source, ObjectStore& to,
                                     std::string_view to_key, const TransferOptions& options,
                                     Progress* progress) {
  if (&from == &to && from.capabilities().copy && options.content_type.empty()) {
    DEPOT_ASSIGN_OR_RETURN(object::PutResult put,
                           from.Copy(from_key, to_key, object::CopyMode::kOverwrite));
    if (progress != nullptr) progress->Add(source.size);
    return put;
  }
  object::BufferedUploadOptions write_options = UploadOptionsFor(options);
  if (write_options.put_options.content_type.empty()) {
    write_options.put_options.content_type = source.content_type;
  }
  write_options.put_options.user_metadata = source.user_metadata;
  write_options.size_hint = source.size;
  CountingStore counting(to, progress);
  return object::CopyBetween(from, from_key, counting, to_key, ReaderOptionsFor(options),
                             write_options);
}

Status CopyLocalFile(const fs::path& source, const fs::path& destination, Progress* progress) {
  DEPOT_ASSIGN_OR_RETURN(const int fd, OpenForReading(source));
  FileCloser closer(fd);
  return CopyFdToFile(fd, source.string(), destination, progress);
}

Status CopyFdToFile(int fd, std::string_view name, const fs::path& destination, Progress* progress,
                    const CancellationToken& stop) {
  DEPOT_ASSIGN_OR_RETURN(auto out, AtomicFileWriter::Create(destination));
  std::unique_ptr<char[]> buffer(new char[kCopyBuffer]);
  for (;;) {
    DEPOT_ASSIGN_OR_RETURN(const size_t n, ReadFull(fd, buffer.get(), kCopyBuffer, name, stop));
    DEPOT_RETURN_IF_ERROR(stop.Check(fmt::format("copy of {}", name)));
    if (n == 0) break;
    DEPOT_RETURN_IF_ERROR(out->Append(buffer.get(), n));
    if (progress != nullptr) progress->Add(n);
  }
  return out->Commit();
}

}  // namespace depot::cli
