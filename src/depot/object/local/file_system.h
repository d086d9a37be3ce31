// depot::object::FileSystem: the seam between the local store and the kernel (LevelDB's Env).
//
// The local store makes every system call that changes a file or a directory through one of
// these, so a test can put another file system underneath it: testing/fault_file_system.h keeps
// what was not yet fsync'd and, on a simulated power loss, throws it away. FileSystem::Posix() is
// the real one, and the default.
//
// The primitives are the POSIX calls of the same names, relative to a directory descriptor, and
// report failure the POSIX way (-1 with errno set, or an errno value returned) so that the caller,
// who knows which key it is working on, turns it into a Status naming the key. Every call is
// retried on EINTR. The helpers below them (WriteAll, CopyRange, RemoveTree, ...) are built on
// the primitives only, so a file system that overrides the primitives sees every change they
// make. Reads that change nothing (pread, stat, getxattr, readdir) go straight to the kernel.
// Implementations must be thread-safe: the store calls them from many threads.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace depot::object {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The kernel's own file system.
  static FileSystem& Posix();

  // --- Primitives that change something.
  // openat(dirfd, name, flags | O_CLOEXEC, mode) creating a file (O_CREAT): the descriptor, or
  // -1 with errno set. (Opening what exists, to read it, goes straight to the kernel.)
  virtual int OpenAt(int dirfd, const char* name, int flags, mode_t mode = 0);
  // write(fd, data, size): the bytes written, or -1 with errno set.
  virtual ssize_t Write(int fd, const char* data, size_t size);
  // copy_file_range(in, &in_offset, out, nullptr, size, 0).
  virtual ssize_t CopyFileRange(int in, uint64_t in_offset, int out, size_t size);
  // ftruncate(fd, size). 0 or an errno value.
  virtual int Truncate(int fd, uint64_t size);
  // fsync(fd). 0 or an errno value.
  virtual int Fsync(int fd);
  // mkdirat(dirfd, name, mode). 0 or an errno value.
  virtual int MkdirAt(int dirfd, const char* name, mode_t mode);
  // renameat2(from_dir, from, to_dir, to, flags) (flags 0 is renameat). 0 or an errno value.
  virtual int RenameAt(int from_dir, const char* from, int to_dir, const char* to,
                       unsigned flags = 0);
  // linkat(from_dir, from, to_dir, to, 0). 0 or an errno value.
  virtual int LinkAt(int from_dir, const char* from, int to_dir, const char* to);
  // unlinkat(dirfd, name, flags). 0 or an errno value.
  virtual int UnlinkAt(int dirfd, const char* name, int flags);
  // fsetxattr(fd, name, value, size, 0). 0 or an errno value.
  virtual int SetXattr(int fd, const char* name, const std::string& value);
  // Writes all of `data` to a new, empty file at offset 0, bypassing the page cache (O_DIRECT)
  // for the block-aligned bulk of a large buffer that starts at a 4 KiB-aligned address; the
  // tail, small or unaligned buffers, and file systems without direct I/O go through the page
  // cache. The caller's fsync makes either durable. A large write through the page cache costs a
  // kernel copy that direct I/O avoids (on this project's test machine a 1 GiB write + fsync took
  // 0.65-0.7 s direct and 0.8-3.8 s buffered). 0 or an errno value.
  virtual int WriteNewFile(int fd, const char* data, size_t size);

  // --- Helpers, built on the primitives.
  // Writes all `size` bytes at the file offset, continuing after short writes. 0 or an errno.
  int WriteAll(int fd, const char* data, size_t size);
  // Appends `size` bytes of `in`, starting at `in_offset`, to `out` at its file offset: with
  // copy_file_range, or with a read/write loop where the kernel cannot (EXDEV, ENOSYS, ...).
  // The number of bytes copied (fewer than `size` only if `in` ended early), or -1 with errno.
  int64_t CopyRange(int in, uint64_t in_offset, int out, uint64_t size);
  // Removes `name` in `dirfd`: a file, a symbolic link, or a directory with everything in it,
  // never following a symbolic link. 0 (also when `name` is already gone) or an errno value.
  int RemoveTree(int dirfd, const char* name);

  // --- Reads and locks, straight to the kernel.
  // openat2(dirfd, path, flags | O_CLOEXEC) resolved strictly beneath `dirfd`, refusing symbolic
  // links on every component (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): the descriptor, or -1 with
  // errno set (ELOOP for a symbolic link, EXDEV for an attempt to leave `dirfd`).
  static int OpenBeneath(int dirfd, const char* path, int flags);
  // flock(fd, operation). 0 or an errno value.
  static int Flock(int fd, int operation);
  // Reads `size` bytes at `offset`, stopping early only at end of file. The number of bytes read,
  // or -1 with errno set.
  static int64_t ReadAt(int fd, char* buffer, size_t size, uint64_t offset);
  // Reads the whole extended attribute `name` of `fd` into `value`. 0 or an errno value (ENODATA
  // when the file has no such attribute).
  static int GetXattr(int fd, const char* name, std::string* value);
  struct DirEntry {
    enum class Type { kFile, kDirectory, kOther };
    std::string name;
    Type type = Type::kOther;
  };
  // The entries of the directory `dirfd` other than "." and "..", in no particular order, with
  // their types as lstat() sees them (symbolic links are kOther). 0 or an errno value.
  static int ReadDirectory(int dirfd, std::vector<DirEntry>* entries);
};

}  // namespace depot::object
