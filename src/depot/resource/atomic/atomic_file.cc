// The claim on "<path>.tmp": open (creating it), flock(LOCK_EX | LOCK_NB), then check that the
// name still leads to the locked inode. The check closes a race with a writer that finished
// between our open and our lock: it renamed the inode to `path` (publishing) or unlinked it
// (aborting), and our lock would then hold a file that is no longer the temp file; we retry with
// a fresh open. A claimed temp file is truncated: what it held was an earlier writer's, killed
// before it published.
#include "depot/resource/atomic/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "depot/resource/files.h"
#include "depot/resource/mmap/mmap_driver.h"

namespace depot::resource {
namespace {

using internal::Errno;
using internal::SyncDirectoryOf;

Status CreateParentDirectories(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return Status::Ok();
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (error) return ErrnoToStatus(error.value(), fmt::format("create the directories of {}", path));
  return Status::Ok();
}

// Claims the temp file of `path`: a descriptor of it, locked and empty.
Result<UniqueFd> Claim(const std::string& path) {
  DEPOT_RETURN_IF_ERROR(CreateParentDirectories(path));
  const std::string temp = AtomicTempPath(path);
  // Each retry follows a writer that finished meanwhile; a handful cannot all lose the race
  // unless writers of this path finish faster than we open a file.
  for (int attempt = 0; attempt < 16; ++attempt) {
    UniqueFd fd(::open(temp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid()) return Errno("create {}", temp);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return UnavailableError(
            fmt::format("{}: another writer is writing it (it holds the lock on {})", path, temp));
      }
      return Errno("lock {}", temp);
    }
    struct stat held;
    struct stat named;
    if (::fstat(fd.get(), &held) != 0) return Errno("stat {}", temp);
    if (::stat(temp.c_str(), &named) != 0) {
      if (errno == ENOENT) continue;
      return Errno("stat {}", temp);
    }
    if (held.st_dev != named.st_dev || held.st_ino != named.st_ino) continue;
    if (::ftruncate(fd.get(), 0) != 0) return Errno("truncate {}", temp);
    return fd;
  }
  return UnavailableError(
      fmt::format("{}: could not claim {}: other writers kept replacing it", path, temp));
}

}  // namespace

std::string AtomicTempPath(const std::string& path) { return fmt::format("{}.tmp", path); }

Status WriteFileAtomically(const std::string& path, std::string_view data) {
  DEPOT_ASSIGN_OR_RETURN(UniqueFd claim, Claim(path));
  const std::string temp = AtomicTempPath(path);
  Status written = internal::WriteAll(claim.get(), data, temp);
  if (written.ok() && ::fsync(claim.get()) != 0) written = Errno("fsync {}", temp);
  if (written.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    written = Errno("rename {} to {}", temp, path);
  }
  if (!written.ok()) {
    ::unlink(temp.c_str());  // still ours: the claim is held until `claim` closes
    return written;
  }
  return SyncDirectoryOf(path);
}

Result<AtomicFileWriter> AtomicFileWriter::Create(const std::string& path, uint64_t initial_size) {
  if (path.empty()) return InvalidArgumentError("atomic file: the path is empty");
  DEPOT_ASSIGN_OR_RETURN(UniqueFd claim, Claim(path));
  // The claimed temp file is empty, so the mmap driver starts it afresh (no record: it is never
  // resumed, and never left behind under a name that could be taken for complete).
  Result<Resource> resource = OpenMmapResource({.path = AtomicTempPath(path),
                                                .mode = OpenMode::kAuto,
                                                .initial_size = initial_size,
                                                .record_progress = false,
                                                .commit_to = path});
  if (!resource.ok()) {
    ::unlink(AtomicTempPath(path).c_str());
    return resource.status();
  }
  return AtomicFileWriter(path, std::move(claim), *std::move(resource));
}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
  if (this != &other) {
    Abort();
    path_ = std::move(other.path_);
    claim_ = std::move(other.claim_);
    resource_ = std::move(other.resource_);
    other.resource_.reset();
  }
  return *this;
}

AtomicFileWriter::~AtomicFileWriter() { Abort(); }

Status AtomicFileWriter::Commit(std::optional<uint64_t> length) {
  if (!claim_.valid()) {
    return FailedPreconditionError(fmt::format("{}: commit: the writer is done", path_));
  }
  const Status committed = resource_->writer().Commit(length);
  if (!committed.ok()) return committed;  // still claimed: the caller may write more, or Abort
  claim_.Reset();
  return Status::Ok();
}

void AtomicFileWriter::Abort() {
  if (!claim_.valid() || !resource_) return;
  resource_->Cancel();
  ::unlink(AtomicTempPath(path_).c_str());  // before the claim is released: it is still ours
  claim_.Reset();
}

}  // namespace depot::resource
