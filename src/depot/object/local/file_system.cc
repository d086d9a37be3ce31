#include "depot/object/local/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <memory>

#include "depot/core/unique_fd.h"

namespace depot::object {
namespace {

// Linux transfers at most this many bytes per read/write/copy_file_range call.
constexpr size_t kMaxIo = 0x7ffff000;

// Chunk of the read/write fallback of CopyRange.
constexpr size_t kCopyChunk = 1 << 20;

int64_t CopyWithReadWrite(FileSystem& fs, int in, uint64_t in_offset, int out, uint64_t size) {
  std::unique_ptr<char[]> buffer(new (std::nothrow) char[kCopyChunk]);
  if (buffer == nullptr) {
    errno = ENOMEM;
    return -1;
  }
  uint64_t done = 0;
  while (done < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kCopyChunk, size - done));
    int64_t got = FileSystem::ReadAt(in, buffer.get(), want, in_offset + done);
    if (got < 0) return -1;
    if (int err = fs.WriteAll(out, buffer.get(), static_cast<size_t>(got)); err != 0) {
      errno = err;
      return -1;
    }
    done += static_cast<uint64_t>(got);
    if (static_cast<size_t>(got) < want) break;  // `in` ended early
  }
  return static_cast<int64_t>(done);
}

}  // namespace

FileSystem& FileSystem::Posix() {
  static FileSystem posix;
  return posix;
}

int FileSystem::OpenAt(int dirfd, const char* name, int flags, mode_t mode) {
  for (;;) {
    int fd = ::openat(dirfd, name, flags | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

ssize_t FileSystem::Write(int fd, const char* data, size_t size) { return ::write(fd, data, size); }

ssize_t FileSystem::CopyFileRange(int in, uint64_t in_offset, int out, size_t size) {
  loff_t from = static_cast<loff_t>(in_offset);
  return ::copy_file_range(in, &from, out, nullptr, size, 0);
}

int FileSystem::Truncate(int fd, uint64_t size) {
  while (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int FileSystem::MkdirAt(int dirfd, const char* name, mode_t mode) {
  return ::mkdirat(dirfd, name, mode) == 0 ? 0 : errno;
}

int FileSystem::RenameAt(int from_dir, const char* from, int to_dir, const char* to,
                         unsigned flags) {
  const int rc = flags == 0 ? ::renameat(from_dir, from, to_dir, to)
                            : ::renameat2(from_dir, from, to_dir, to, flags);
  return rc == 0 ? 0 : errno;
}

int FileSystem::LinkAt(int from_dir, const char* from, int to_dir, const char* to) {
  return ::linkat(from_dir, from, to_dir, to, 0) == 0 ? 0 : errno;
}

int FileSystem::UnlinkAt(int dirfd, const char* name, int flags) {
  return ::unlinkat(dirfd, name, flags) == 0 ? 0 : errno;
}

int FileSystem::SetXattr(int fd, const char* name, const std::string& value) {
  return ::fsetxattr(fd, name, value.data(), value.size(), 0) == 0 ? 0 : errno;
}

int FileSystem::OpenBeneath(int dirfd, const char* path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    // EAGAIN: the kernel saw a concurrent rename and could not prove the lookup stayed beneath
    // dirfd; it asks the caller to retry.
    if (errno == EINTR || (errno == EAGAIN && attempt < 16)) continue;
    return -1;
  }
}

int FileSystem::WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = Write(fd, data, std::min(size, kMaxIo));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // a regular file never accepts zero bytes without an error
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

int FileSystem::WriteNewFile(int fd, const char* data, size_t size) {
  constexpr size_t kBlock = 4096;
  constexpr size_t kDirectFrom = size_t{32} << 20;
  const size_t bulk = size / kBlock * kBlock;
  const int flags = ::fcntl(fd, F_GETFL);
  if (size < kDirectFrom || reinterpret_cast<uintptr_t>(data) % kBlock != 0 || flags < 0 ||
      ::lseek(fd, 0, SEEK_CUR) != 0 || ::fcntl(fd, F_SETFL, flags | O_DIRECT) != 0) {
    return WriteAll(fd, data, size);
  }
  int err = WriteAll(fd, data, bulk);
  if (::fcntl(fd, F_SETFL, flags) != 0 && err == 0) err = errno;
  if (err == EINVAL) {
    // Direct I/O was taken but a write refused: start again through the page cache.
    if (::lseek(fd, 0, SEEK_SET) != 0) return errno;
    if (int truncated = Truncate(fd, 0); truncated != 0) return truncated;
    return WriteAll(fd, data, size);
  }
  if (err != 0) return err;
  return WriteAll(fd, data + bulk, size - bulk);
}

int64_t FileSystem::ReadAt(int fd, char* buffer, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buffer + done, std::min(size - done, kMaxIo),
                        static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;  // end of file
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

int64_t FileSystem::CopyRange(int in, uint64_t in_offset, int out, uint64_t size) {
  uint64_t done = 0;
  while (done < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kMaxIo, size - done));
    ssize_t n = CopyFileRange(in, in_offset + done, out, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL ||
          errno == ETXTBSY) {
        int64_t rest = CopyWithReadWrite(*this, in, in_offset + done, out, size - done);
        if (rest < 0) return -1;
        return static_cast<int64_t>(done) + rest;
      }
      return -1;
    }
    if (n == 0) break;  // `in` ended early
    done += static_cast<uint64_t>(n);
  }
  return static_cast<int64_t>(done);
}

int FileSystem::GetXattr(int fd, const char* name, std::string* value) {
  // Most metadata fits the first guess; a larger attribute is sized and read again (it may grow
  // in between, hence the loop).
  size_t capacity = 4096;
  for (int attempt = 0; attempt < 8; ++attempt) {
    value->resize(capacity);
    ssize_t n = ::fgetxattr(fd, name, value->data(), value->size());
    if (n >= 0) {
      value->resize(static_cast<size_t>(n));
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != ERANGE) return errno;
    ssize_t needed = ::fgetxattr(fd, name, nullptr, 0);
    if (needed < 0) return errno;
    capacity = static_cast<size_t>(needed) + 1;
  }
  return ERANGE;
}

int FileSystem::Fsync(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int FileSystem::Flock(int fd, int operation) {
  while (::flock(fd, operation) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int FileSystem::ReadDirectory(int dirfd, std::vector<DirEntry>* entries) {
  // A descriptor of our own: readdir() moves the file offset, which a dup() would share with
  // `dirfd`.
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return err;
  }
  entries->clear();
  for (;;) {
    errno = 0;
    struct dirent* entry = ::readdir(dir);
    if (entry == nullptr) break;
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    DirEntry out;
    out.name = std::string(name);
    unsigned char type = entry->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
      type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_LNK;
    }
    out.type = type == DT_REG   ? DirEntry::Type::kFile
               : type == DT_DIR ? DirEntry::Type::kDirectory
                                : DirEntry::Type::kOther;
    entries->push_back(std::move(out));
  }
  int err = errno;
  ::closedir(dir);
  return err;
}

int FileSystem::RemoveTree(int dirfd, const char* name) {
  if (int err = UnlinkAt(dirfd, name, 0); err == 0 || err == ENOENT) {
    return 0;
  } else if (err != EISDIR && err != EPERM) {
    return err;
  }
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : errno;
  UniqueFd dir(fd);
  std::vector<DirEntry> entries;
  if (int err = ReadDirectory(dir.get(), &entries); err != 0) return err;
  for (const DirEntry& entry : entries) {
    if (int err = RemoveTree(dir.get(), entry.name.c_str()); err != 0) return err;
  }
  if (int err = UnlinkAt(dirfd, name, AT_REMOVEDIR); err != 0 && err != ENOENT) return err;
  return 0;
}

}  // namespace depot::object
