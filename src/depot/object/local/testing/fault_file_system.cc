#include "depot/object/local/testing/fault_file_system.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <random>

namespace depot::object::testing {
namespace {

ino_t InodeOf(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

UniqueFd Dup(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

std::optional<std::string> XattrOf(int fd, const char* name) {
  std::string value;
  if (FileSystem::GetXattr(fd, name, &value) != 0) return std::nullopt;
  return value;
}

}  // namespace

FaultInjectingFileSystem::FaultInjectingFileSystem(const std::string& backup_dir)
    : backup_dir_(::open(backup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}

FaultInjectingFileSystem::~FaultInjectingFileSystem() = default;

void FaultInjectingFileSystem::CutPowerAfter(uint64_t calls) {
  MutexLock lock(mu_);
  cut_after_ = calls_ + calls;
}

bool FaultInjectingFileSystem::power_cut() const {
  MutexLock lock(mu_);
  return cut_after_.has_value() && calls_ > *cut_after_;
}

uint64_t FaultInjectingFileSystem::changing_calls() const {
  MutexLock lock(mu_);
  return calls_;
}

bool FaultInjectingFileSystem::Admit() {
  ++calls_;
  if (cut_after_.has_value() && calls_ > *cut_after_) {
    errno = EIO;
    return false;
  }
  return true;
}

FaultInjectingFileSystem::FileState& FaultInjectingFileSystem::Track(int fd) {
  const ino_t inode = InodeOf(fd);
  auto [it, added] = files_.try_emplace(inode);
  if (added) {
    // First seen now: what it holds already is durable.
    struct stat st;
    it->second.fd = Dup(fd);
    it->second.synced_size = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }
  return it->second;
}

void FaultInjectingFileSystem::Record(DirChange change) { pending_.push_back(std::move(change)); }

std::string FaultInjectingFileSystem::KeepInBackup(int dirfd, const char* name) {
  std::string backup = fmt::format("b{}", backups_++);
  if (::linkat(dirfd, name, backup_dir_.get(), backup.c_str(), 0) != 0) return "";
  return backup;
}

int FaultInjectingFileSystem::OpenAt(int dirfd, const char* name, int flags, mode_t mode) {
  MutexLock lock(mu_);
  if (!Admit()) return -1;
  struct stat st;
  const bool existed = ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  const int fd = FileSystem::OpenAt(dirfd, name, flags, mode);
  if (fd < 0 || existed || (flags & O_CREAT) == 0) return fd;
  FileState& file = Track(fd);
  file.synced_size = 0;
  Record({.kind = DirChange::Kind::kCreate,
          .dir = Dup(dirfd),
          .name = name,
          .unsynced = {InodeOf(dirfd)}});
  return fd;
}

ssize_t FaultInjectingFileSystem::Write(int fd, const char* data, size_t size) {
  MutexLock lock(mu_);
  if (!Admit()) return -1;
  Track(fd).data_dirty = true;
  return FileSystem::Write(fd, data, size);
}

ssize_t FaultInjectingFileSystem::CopyFileRange(int in, uint64_t in_offset, int out, size_t size) {
  MutexLock lock(mu_);
  if (!Admit()) return -1;
  Track(out).data_dirty = true;
  return FileSystem::CopyFileRange(in, in_offset, out, size);
}

int FaultInjectingFileSystem::Truncate(int fd, uint64_t size) {
  MutexLock lock(mu_);
  if (!Admit()) return EIO;
  Track(fd).data_dirty = true;
  return FileSystem::Truncate(fd, size);
}

int FaultInjectingFileSystem::WriteNewFile(int fd, const char* data, size_t size) {
  return WriteAll(fd, data, size);
}

int FaultInjectingFileSystem::SetXattr(int fd, const char* name, const std::string& value) {
  MutexLock lock(mu_);
  if (!Admit()) return EIO;
  FileState& file = Track(fd);
  file.synced_xattrs.try_emplace(name, XattrOf(fd, name));
  return FileSystem::SetXattr(fd, name, value);
}

int FaultInjectingFileSystem::Fsync(int fd) {
  MutexLock lock(mu_);
  if (!Admit()) return EIO;
  if (int err = FileSystem::Fsync(fd); err != 0) return err;
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) {
    std::vector<DirChange> still;
    for (DirChange& change : pending_) {
      change.unsynced.erase(st.st_ino);
      if (!change.unsynced.empty()) still.push_back(std::move(change));
    }
    pending_ = std::move(still);
  }
  auto it = files_.find(st.st_ino);
  if (it != files_.end()) {
    it->second.synced_size = static_cast<uint64_t>(st.st_size);
    it->second.data_dirty = false;
    it->second.synced_xattrs.clear();  // what is set now is durable
  }
  return 0;
}

int FaultInjectingFileSystem::MkdirAt(int dirfd, const char* name, mode_t mode) {
  MutexLock lock(mu_);
  if (!Admit()) return EIO;
  if (int err = FileSystem::MkdirAt(dirfd, name, mode); err != 0) return err;
  if (dirfd != AT_FDCWD) {
    Record({.kind = DirChange::Kind::kMkdir,
            .dir = Dup(dirfd),
            .name = name,
            .unsynced = {InodeOf(dirfd)}});
  }
  return 0;
}

int FaultInjectingFileSystem::RenameAt(int from_dir, const char* from, int to_dir, const char* to,
                                       unsigned flags) {
  MutexLock lock(mu_);
  if (!Admit()) return EIO;
  struct stat st;
  std::string backup;
  bool empty_dir = false;
  if ((flags & RENAME_EXCHANGE) != 0) {
    if (int err = FileSystem::RenameAt(from_dir, from, to_dir, to, flags); err != 0) return err;
    Record({.kind = DirChange::Kind::kExchange,
            .dir = Dup(to_dir),
            .name = to,
            .from_dir = Dup(from_dir),
            .from = from,
            .unsynced = {InodeOf(from_dir), InodeOf(to_dir)}});
    return 0;
  }
  if (::fstatat(to_dir, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) {
      empty_dir = true;  // a rename replaces a directory only when it is empty
    } else {
      backup = KeepInBackup(to_dir, to);
    }
  }
  if (int err = FileSystem::RenameAt(from_dir, from, to_dir, to, flags); err != 0) {
    if (!backup.empty()) (void)::unlinkat(backup_dir_.get(), backup.c_str(), 0);
    return err;
  }
  Record({.kind = DirChange::Kind::kRename,
          .dir = Dup(to_dir),
          .name = to,
          .from_dir = Dup(from_dir),
          .from = from,
          .backup = backup,
          .replaced_empty_dir = empty_dir,
          .unsynced = {InodeOf(from_dir), InodeOf(to_dir)}});
  return 0;
}

int FaultInjectingFileSystem::LinkAt(int from_dir, const char* from, int to_dir, const char* to) {
  MutexLock lock(mu_);
  if (!Admit()) return EIO;
  if (int err = FileSystem::LinkAt(from_dir, from, to_dir, to); err != 0) return err;
  Record({.kind = DirChange::Kind::kLink,
          .dir = Dup(to_dir),
          .name = to,
          .unsynced = {InodeOf(to_dir)}});
  return 0;
}

int FaultInjectingFileSystem::UnlinkAt(int dirfd, const char* name, int flags) {
  MutexLock lock(mu_);
  if (!Admit()) return EIO;
  const bool rmdir = (flags & AT_REMOVEDIR) != 0;
  std::string backup;
  if (rmdir) {
    // The directory is moved aside rather than removed, so that undoing its removal brings back
    // the same directory: later changes inside it were recorded against its descriptor.
    UniqueFd dir(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) return errno;
    std::vector<DirEntry> entries;
    if (int err = ReadDirectory(dir.get(), &entries); err != 0) return err;
    if (!entries.empty()) return ENOTEMPTY;
    backup = fmt::format("b{}", backups_++);
    if (::renameat(dirfd, name, backup_dir_.get(), backup.c_str()) != 0) return errno;
  } else {
    backup = KeepInBackup(dirfd, name);
    if (int err = FileSystem::UnlinkAt(dirfd, name, flags); err != 0) {
      if (!backup.empty()) (void)::unlinkat(backup_dir_.get(), backup.c_str(), 0);
      return err;
    }
  }
  Record({.kind = rmdir ? DirChange::Kind::kRmdir : DirChange::Kind::kUnlink,
          .dir = Dup(dirfd),
          .name = name,
          .backup = backup,
          .unsynced = {InodeOf(dirfd)}});
  return 0;
}

Status FaultInjectingFileSystem::Undo(DirChange& change) {
  using Kind = DirChange::Kind;
  const char* name = change.name.c_str();
  int rc = 0;
  switch (change.kind) {
    case Kind::kCreate:
    case Kind::kLink:
      rc = ::unlinkat(change.dir.get(), name, 0);
      break;
    case Kind::kMkdir:
      rc = FileSystem::Posix().RemoveTree(change.dir.get(), name) == 0 ? 0 : -1;
      break;
    case Kind::kRename:
      rc = ::renameat(change.dir.get(), name, change.from_dir.get(), change.from.c_str());
      if (rc == 0 && !change.backup.empty()) {
        rc = ::linkat(backup_dir_.get(), change.backup.c_str(), change.dir.get(), name, 0);
      } else if (rc == 0 && change.replaced_empty_dir) {
        rc = ::mkdirat(change.dir.get(), name, 0777);
      }
      break;
    case Kind::kExchange:
      rc = ::renameat2(change.dir.get(), name, change.from_dir.get(), change.from.c_str(),
                       RENAME_EXCHANGE);
      break;
    case Kind::kUnlink:
      rc = change.backup.empty()
               ? -1
               : ::linkat(backup_dir_.get(), change.backup.c_str(), change.dir.get(), name, 0);
      break;
    case Kind::kRmdir:
      rc = ::renameat(backup_dir_.get(), change.backup.c_str(), change.dir.get(), name);
      break;
  }
  if (rc != 0) {
    return InternalError(fmt::format("power loss: cannot undo change {} of \"{}\" (errno {})",
                                     static_cast<int>(change.kind), change.name, errno));
  }
  return Status::Ok();
}

Status FaultInjectingFileSystem::SimulatePowerLoss(uint64_t seed) {
  MutexLock lock(mu_);
  std::mt19937_64 rng(seed);
  // A prefix of the pending directory changes reached the disk; the rest are undone, newest first.
  const size_t kept = static_cast<size_t>(rng() % (pending_.size() + 1));
  Status first;
  for (size_t i = pending_.size(); i > kept; --i) {
    Status undone = Undo(pending_[i - 1]);
    if (first.ok() && !undone.ok()) first = undone;
  }
  pending_.clear();
  for (auto& [inode, file] : files_) {
    if (file.data_dirty) {
      struct stat st;
      if (::fstat(file.fd.get(), &st) == 0 &&
          static_cast<uint64_t>(st.st_size) > file.synced_size) {
        const uint64_t unsynced = static_cast<uint64_t>(st.st_size) - file.synced_size;
        const uint64_t keep = file.synced_size + rng() % (unsynced + 1);
        if (::ftruncate(file.fd.get(), static_cast<off_t>(keep)) != 0 && first.ok()) {
          first = InternalError(fmt::format("power loss: cannot cut inode {} back", inode));
        }
      }
    }
    for (const auto& [name, value] : file.synced_xattrs) {
      if (rng() % 2 == 0) continue;  // the new value made it
      const int fd = file.fd.get();
      const int rc = value ? ::fsetxattr(fd, name.c_str(), value->data(), value->size(), 0)
                           : ::fremovexattr(fd, name.c_str());
      if (rc != 0 && errno != ENODATA && first.ok()) {
        first = InternalError(fmt::format(
            "power loss: cannot restore xattr {} of inode {}: errno {}", name, inode, errno));
      }
    }
  }
  files_.clear();
  return first;
}

}  // namespace depot::object::testing
