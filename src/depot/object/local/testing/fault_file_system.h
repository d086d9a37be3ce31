// depot::object::testing::FaultInjectingFileSystem: a FileSystem that can lose power (LevelDB's
// FaultInjectionTestEnv, for the local store).
//
// It makes every change for real and remembers what a power loss could still take away:
//   - file data written since the file's last fsync (and a new file is empty until its first);
//   - an extended attribute set since the file's last fsync;
//   - every directory change (create, mkdir, rename, exchange, link, unlink, rmdir) until fsync
//     of its directory (of both directories, for a rename or exchange from one to another).
// CutPowerAfter(n) lets n more changing calls through; that call and every later one fail with
// EIO and change nothing, as if the machine had stopped. SimulatePowerLoss(seed) then leaves the
// tree as the disk could hold it after the cut: of the directory changes not yet durable, a prefix
// in call order survives and the rest are undone in reverse order (journals commit in order);
// each file with unsynced data keeps a random prefix of it beyond its synced size (a torn write),
// and each unsynced attribute randomly keeps its new or old value. Durable changes always stay.
//
// Lost renames and unlinks are undone from hard links kept in `backup_dir`, which must be an
// empty directory on the same file system as the store. Directories made through AT_FDCWD (the
// store's root) are not tracked: create the root before the store. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/core/status.h"
#include "depot/core/unique_fd.h"
#include "depot/object/local/file_system.h"

namespace depot::object::testing {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  explicit FaultInjectingFileSystem(const std::string& backup_dir);
  ~FaultInjectingFileSystem() override;

  // The power goes after `calls` more changing calls (0: the next one fails).
  void CutPowerAfter(uint64_t calls);
  bool power_cut() const;
  // Changing calls made so far (including those refused after the cut).
  uint64_t changing_calls() const;
  // Undoes what the power loss takes (see above), choosing with `seed`. An error means the tree
  // could not be put back as the model says (the test cannot trust what it then sees).
  Status SimulatePowerLoss(uint64_t seed);

  int OpenAt(int dirfd, const char* name, int flags, mode_t mode) override;
  ssize_t Write(int fd, const char* data, size_t size) override;
  ssize_t CopyFileRange(int in, uint64_t in_offset, int out, size_t size) override;
  int Truncate(int fd, uint64_t size) override;
  int Fsync(int fd) override;
  int MkdirAt(int dirfd, const char* name, mode_t mode) override;
  int RenameAt(int from_dir, const char* from, int to_dir, const char* to, unsigned flags) override;
  int LinkAt(int from_dir, const char* from, int to_dir, const char* to) override;
  int UnlinkAt(int dirfd, const char* name, int flags) override;
  int SetXattr(int fd, const char* name, const std::string& value) override;
  // Through the page cache only: Write sees every byte.
  int WriteNewFile(int fd, const char* data, size_t size) override;

 private:
  struct DirChange {
    enum class Kind { kCreate, kMkdir, kRename, kExchange, kLink, kUnlink, kRmdir };
    Kind kind;
    UniqueFd dir;  // where `name` is (the destination, for a rename or link)
    std::string name;
    UniqueFd from_dir;  // a rename's source
    std::string from;
    std::string backup;  // in backup_dir: the file a rename replaced or an unlink removed
    bool replaced_empty_dir = false;
    std::set<ino_t> unsynced;  // directories whose fsync makes the change durable
  };
  struct FileState {
    UniqueFd fd;  // a descriptor of our own, to cut the file back
    uint64_t synced_size = 0;
    bool data_dirty = false;
    std::map<std::string, std::optional<std::string>> synced_xattrs;  // name -> value at sync
  };

  // Counts a changing call; false (errno = EIO) once the power is cut.
  bool Admit() DEPOT_REQUIRES(mu_);
  FileState& Track(int fd) DEPOT_REQUIRES(mu_);
  void Record(DirChange change) DEPOT_REQUIRES(mu_);
  std::string KeepInBackup(int dirfd, const char* name) DEPOT_REQUIRES(mu_);
  Status Undo(DirChange& change);

  UniqueFd backup_dir_;
  mutable Mutex mu_;
  uint64_t calls_ DEPOT_GUARDED_BY(mu_) = 0;
  std::optional<uint64_t> cut_after_ DEPOT_GUARDED_BY(mu_);
  uint64_t backups_ DEPOT_GUARDED_BY(mu_) = 0;
  std::vector<DirChange> pending_ DEPOT_GUARDED_BY(mu_);  // in call order
  std::map<ino_t, FileState> files_ DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot::object::testing
