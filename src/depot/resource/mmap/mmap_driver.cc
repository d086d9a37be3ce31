// The mmap driver's files and its crash protocol.
//
// Files: the data file at `path`, and while the resource is unfinished a record beside it,
// "<path>.present", text:
//     depot-resource-present 1
//     length <n>|-              (the declared final length, "-" when unknown)
//     <begin> <end>             (one line per present range, in order)
//     end <number of ranges>
// The record is replaced whole: written to "<path>.present.tmp", fsync'd, renamed over the old
// one, and the directory fsync'd.
//
// The invariants, and the order of steps that keeps them through a kill -9 or a power cut:
//   1. A data file without a record is complete. So a new file's (empty) record is made durable
//      before the data file is created, and the record is removed only after a commit has
//      truncated the data file to its final length and fsync'd it. Reactivate writes a record
//      (the whole file present) before it maps the file writable.
//   2. A record never names a byte that is not durable in the data file. Persist msyncs the
//      mapping (MS_SYNC) and fdatasyncs the file before it writes the record that names its
//      bytes. Bytes written after the last record are lost by a crash, and fetched again.
//   3. A commit that publishes under another name (commit_to, for AtomicFileWriter) makes the
//      file durable at its final length before the rename, then fsyncs the directory: the new
//      name shows the old file or the whole new one, never a part.
// A record that does not parse is kDataLoss naming it: depot never guesses which bytes are good.
//
// Concurrency: the Resource serialises writes, commits and persists; readers copy out of the
// mapping under a shared lock, which growth (ftruncate + mremap, which may move the mapping) and
// commit (remap read-only) take exclusively.
#include "depot/resource/mmap/mmap_driver.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <shared_mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/unique_fd.h"
#include "depot/resource/files.h"

namespace depot::resource {
namespace {

using internal::Errno;
using internal::SyncDirectoryOf;
using internal::WriteAll;

struct Record {
  RangeSet present;
  std::optional<uint64_t> length;
};

std::string FormatRecord(const RangeSet& present, std::optional<uint64_t> length) {
  std::string text = "depot-resource-present 1\n";
  text += length ? fmt::format("length {}\n", *length) : "length -\n";
  const std::vector<Span64> ranges = present.ranges();
  for (const Span64& range : ranges) text += fmt::format("{} {}\n", range.begin, range.end);
  text += fmt::format("end {}\n", ranges.size());
  return text;
}

bool ParseU64(std::string_view text, uint64_t& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

Result<Record> ParseRecord(std::string_view text, const std::string& record_path) {
  auto malformed = [&](std::string_view why) {
    return DataLossError(fmt::format(
        "resource record {}: {} (delete it and the file to start over)", record_path, why));
  };
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    if (newline == std::string_view::npos) return malformed("its last line is cut short");
    lines.push_back(text.substr(0, newline));
    text.remove_prefix(newline + 1);
  }
  if (lines.size() < 3 || lines[0] != "depot-resource-present 1") {
    return malformed("not a depot resource record");
  }
  Record record;
  if (!lines[1].starts_with("length ")) return malformed("no length line");
  const std::string_view length_text = lines[1].substr(7);
  if (length_text != "-") {
    uint64_t length = 0;
    if (!ParseU64(length_text, length)) return malformed("bad length");
    record.length = length;
  }
  uint64_t count = 0;
  if (!lines.back().starts_with("end ") || !ParseU64(lines.back().substr(4), count) ||
      count != lines.size() - 3) {
    return malformed("its end line does not match its ranges");
  }
  uint64_t previous_end = 0;
  for (size_t i = 2; i + 1 < lines.size(); ++i) {
    const size_t space = lines[i].find(' ');
    uint64_t begin = 0;
    uint64_t end = 0;
    if (space == std::string_view::npos || !ParseU64(lines[i].substr(0, space), begin) ||
        !ParseU64(lines[i].substr(space + 1), end) || begin >= end ||
        (i > 2 && begin <= previous_end)) {
      return malformed(fmt::format("bad range line \"{}\"", lines[i]));
    }
    previous_end = end;
    record.present.Insert(begin, end);
  }
  if (record.length && record.present.end() > *record.length) {
    return malformed("a range passes the length");
  }
  return record;
}

Result<std::optional<Record>> LoadRecord(const std::string& record_path) {
  UniqueFd fd(::open(record_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<Record>();
    return Errno("open {}", record_path);
  }
  std::string text;
  char buffer[16 * 1024];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read {}", record_path);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  DEPOT_ASSIGN_OR_RETURN(Record record, ParseRecord(text, record_path));
  return std::optional<Record>(std::move(record));
}

// Replaces the record whole (see the protocol).
Status StoreRecord(const std::string& record_path, const RangeSet& present,
                   std::optional<uint64_t> length) {
  const std::string temp = fmt::format("{}.tmp", record_path);
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return Errno("create {}", temp);
    DEPOT_RETURN_IF_ERROR(WriteAll(fd.get(), FormatRecord(present, length), temp));
    if (::fsync(fd.get()) != 0) return Errno("fsync {}", temp);
    DEPOT_RETURN_IF_ERROR(fd.Close(temp));
  }
  if (::rename(temp.c_str(), record_path.c_str()) != 0) return Errno("rename {}", temp);
  return SyncDirectoryOf(record_path);
}

class MmapDriver final : public Driver {
 public:
  MmapDriver(MmapOptions options, UniqueFd fd, bool writable)
      : options_(std::move(options)), path_(options_.path), fd_(std::move(fd)) {
    writable_ = writable;
  }

  ~MmapDriver() override { Unmap(); }

  // Maps the whole file as it is now.
  Status MapFile() {
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) return Errno("stat {}", path_);
    return Map(static_cast<uint64_t>(st.st_size));
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    const uint64_t end = offset + data.size();
    if (end > mapped_) {
      std::unique_lock grow(mu_);
      const uint64_t size = std::max({end, mapped_ * 2, options_.initial_size});
      if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
        return Errno("grow {} to {} bytes", path_, size);
      }
      DEPOT_RETURN_IF_ERROR(Remap(size));
    }
    std::shared_lock lock(mu_);
    std::memcpy(map_ + offset, data.data(), data.size());
    return Status::Ok();
  }

  Status ReadAt(uint64_t offset, std::span<char> out) const override {
    std::shared_lock lock(mu_);
    if (offset > mapped_ || out.size() > mapped_ - offset) {
      return OutOfRangeError(fmt::format("{}: read of {} bytes at {} passes its {} bytes", path_,
                                         out.size(), offset, mapped_));
    }
    std::memcpy(out.data(), map_ + offset, out.size());
    return Status::Ok();
  }

  Status Commit(uint64_t length) override {
    {
      std::unique_lock lock(mu_);
      if (map_ != nullptr && ::msync(map_, mapped_, MS_SYNC) != 0) return Errno("msync {}", path_);
      if (::ftruncate(fd_.get(), static_cast<off_t>(length)) != 0) {
        return Errno("truncate {} to {} bytes", path_, length);
      }
      if (::fdatasync(fd_.get()) != 0) return Errno("fdatasync {}", path_);
      UniqueFd read_only(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
      if (!read_only.valid()) return Errno("reopen {} read-only", path_);
      Unmap();
      fd_ = std::move(read_only);
      writable_ = false;
      DEPOT_RETURN_IF_ERROR(Map(length));
    }
    if (options_.commit_to) {
      if (::rename(path_.c_str(), options_.commit_to->c_str()) != 0) {
        return Errno("rename {} to {}", path_, *options_.commit_to);
      }
      DEPOT_RETURN_IF_ERROR(SyncDirectoryOf(*options_.commit_to));
      path_ = *options_.commit_to;
      options_.commit_to.reset();
    }
    if (options_.record_progress) {
      const std::string record = PresentRecordPath(options_.path);
      if (::unlink(record.c_str()) != 0 && errno != ENOENT) return Errno("remove {}", record);
      DEPOT_RETURN_IF_ERROR(SyncDirectoryOf(record));
    }
    return Status::Ok();
  }

  Status Reactivate() override {
    const uint64_t size = mapped_;
    if (options_.record_progress) {
      RangeSet all;
      all.Insert(0, size);
      DEPOT_RETURN_IF_ERROR(StoreRecord(PresentRecordPath(path_), all, std::nullopt));
    }
    std::unique_lock lock(mu_);
    UniqueFd read_write(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
    if (!read_write.valid()) return Errno("reopen {} read-write", path_);
    Unmap();
    fd_ = std::move(read_write);
    writable_ = true;
    return Map(size);
  }

  Status Persist(const RangeSet& present, std::optional<uint64_t> length) override {
    if (map_ != nullptr && ::msync(map_, mapped_, MS_SYNC) != 0) return Errno("msync {}", path_);
    if (::fdatasync(fd_.get()) != 0) return Errno("fdatasync {}", path_);
    if (!options_.record_progress) return Status::Ok();
    return StoreRecord(PresentRecordPath(path_), present, length);
  }

  uint64_t persist_interval() const override {
    return options_.record_progress ? options_.persist_interval : 0;
  }
  std::optional<std::string> path() const override { return path_; }
  std::string name() const override { return fmt::format("resource {}", path_); }

 private:
  Status Map(uint64_t size) {
    mapped_ = size;
    if (size == 0) return Status::Ok();
    void* map = ::mmap(nullptr, size, writable_ ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
                       fd_.get(), 0);
    if (map == MAP_FAILED) {
      mapped_ = 0;
      return Errno("mmap {} bytes of {}", size, path_);
    }
    map_ = static_cast<char*>(map);
    return Status::Ok();
  }

  Status Remap(uint64_t size) {
    if (map_ == nullptr) return Map(size);
    void* map = ::mremap(map_, mapped_, size, MREMAP_MAYMOVE);
    if (map == MAP_FAILED) return Errno("mremap {} to {} bytes", path_, size);
    map_ = static_cast<char*>(map);
    mapped_ = size;
    return Status::Ok();
  }

  void Unmap() {
    if (map_ != nullptr) ::munmap(map_, mapped_);
    map_ = nullptr;
    mapped_ = 0;
  }

  MmapOptions options_;
  std::string path_;
  UniqueFd fd_;
  bool writable_ = false;
  // The mapping: moved only under the exclusive lock; bytes copied in and out under the shared.
  mutable std::shared_mutex mu_;
  char* map_ = nullptr;
  uint64_t mapped_ = 0;
};

Result<Resource> OpenExisting(const MmapOptions& options, std::optional<Record> record,
                              uint64_t file_size) {
  const bool writable = record.has_value() || options.mode == OpenMode::kReadWrite;
  UniqueFd fd(::open(options.path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
  if (!fd.valid()) return Errno("open {}", options.path);
  auto driver = std::make_unique<MmapDriver>(options, std::move(fd), writable);
  DEPOT_RETURN_IF_ERROR(driver->MapFile());
  DriverState state;
  if (record) {
    if (record->present.end() > file_size) {
      return DataLossError(fmt::format(
          "resource record {} names bytes up to {}, but {} has {} (delete both to start over)",
          PresentRecordPath(options.path), record->present.end(), options.path, file_size));
    }
    state.present = std::move(record->present);
    state.length = record->length;
  } else {
    state.present.Insert(0, file_size);
    if (options.mode == OpenMode::kReadWrite) {
      // Appendable: record the whole file first (invariant 1), as Reactivate does.
      if (options.record_progress) {
        DEPOT_RETURN_IF_ERROR(
            StoreRecord(PresentRecordPath(options.path), state.present, std::nullopt));
      }
    } else {
      state.length = file_size;
      state.committed = true;
      state.read_only = options.mode == OpenMode::kReadOnly;
    }
  }
  return Resource::Open(std::move(driver), std::move(state));
}

Result<Resource> CreateNew(const MmapOptions& options) {
  std::error_code error;
  const std::filesystem::path parent = std::filesystem::path(options.path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  if (error) {
    return ErrnoToStatus(error.value(), fmt::format("create the directories of {}", options.path));
  }
  if (options.record_progress) {  // invariant 1: the record comes first
    DEPOT_RETURN_IF_ERROR(StoreRecord(PresentRecordPath(options.path), RangeSet(), std::nullopt));
  }
  UniqueFd fd(::open(options.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return Errno("create {}", options.path);
  if (::ftruncate(fd.get(), static_cast<off_t>(options.initial_size)) != 0) {
    return Errno("size {} to {} bytes", options.path, options.initial_size);
  }
  auto driver = std::make_unique<MmapDriver>(options, std::move(fd), true);
  DEPOT_RETURN_IF_ERROR(driver->MapFile());
  return Resource::Open(std::move(driver), DriverState{});
}

}  // namespace

std::string PresentRecordPath(const std::string& path) { return fmt::format("{}.present", path); }

Result<Resource> OpenMmapResource(const MmapOptions& options) {
  if (options.path.empty()) return InvalidArgumentError("mmap resource: the path is empty");
  std::optional<Record> record;
  if (options.record_progress) {
    DEPOT_ASSIGN_OR_RETURN(record, LoadRecord(PresentRecordPath(options.path)));
  }
  struct stat st;
  const bool exists = ::stat(options.path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) return Errno("stat {}", options.path);
  if (exists && !S_ISREG(st.st_mode)) {
    return InvalidArgumentError(fmt::format("mmap resource {}: not a regular file", options.path));
  }
  if (options.mode == OpenMode::kReadOnly) {
    if (!exists) return NotFoundError(fmt::format("mmap resource {}: no such file", options.path));
    if (record) {
      return FailedPreconditionError(
          fmt::format("mmap resource {}: unfinished ({} present); open it kAuto to resume",
                      options.path, record->present.ToString()));
    }
  }
  if (exists && (record || options.mode != OpenMode::kAuto || st.st_size > 0)) {
    return OpenExisting(options, std::move(record), static_cast<uint64_t>(st.st_size));
  }
  return CreateNew(options);
}

}  // namespace depot::resource
