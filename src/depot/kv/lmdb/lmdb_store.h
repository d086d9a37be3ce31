// depot::kv::LmdbStore: state spaces as named databases of one LMDB environment (a directory).
//
// One memory map; each state space is a named database, so one write transaction (a WriteBatch)
// spans spaces atomically. Keys are at most 511 bytes (LMDB's MDB_MAXKEYSIZE in Debian's build):
// longer ones are kInvalidArgument, as the contract says. The map grows by itself: a commit that
// fills it (MDB_MAP_FULL) is undone, the map doubled, and the commit run again. Growing needs no
// read transaction of this process open, so it waits (up to `grow_wait`) for scans and snapshots
// to end, and fails with kResourceExhausted naming the map size if they do not.
//
// Durability: every commit keeps the database intact through power loss (LMDB writes data pages,
// syncs, then the meta page). kSync also syncs the meta page before returning; kBuffered leaves
// that to the next commit (MDB_NOMETASYNC): a power loss may undo the last buffered commits,
// never tear one. Reads run in read transactions (MDB_NOTLS, so iterators and snapshots may move
// between threads): a scan iterates one state; a Snapshot is a read transaction kept open (reads
// through it take its lock, as LMDB transactions are single-threaded). Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/kv/store.h"

struct MDB_env;

namespace depot::kv {

struct LmdbStoreOptions {
  std::string path;                 // the environment's directory (data.mdb, lock.mdb)
  std::vector<std::string> spaces;  // created when missing; the others it has are opened too
  bool create_if_missing = true;
  uint64_t initial_map_bytes = uint64_t{1} << 30;  // address space, not disk: grows as needed
  int max_spaces = 256;
  std::chrono::milliseconds grow_wait{10'000};
};

class LmdbStore final : public Store {
 public:
  static Result<std::shared_ptr<LmdbStore>> Open(LmdbStoreOptions options);
  ~LmdbStore() override;

  Capabilities capabilities() const override;
  std::string ToString() const override;
  std::vector<std::string> Spaces() const override;
  // The current map size in bytes (grows as the store fills).
  uint64_t map_bytes() const;

  // A read transaction of this store, and the lock that keeps the map from moving under it.
  class ReadTxn;

 protected:
  Status DoCreateSpace(std::string_view space) override;
  Result<std::optional<std::string>> DoGet(std::string_view space, std::string_view key,
                                           const ReadOptions& options) override;
  Status DoCommit(const WriteBatch& batch, Durability durability) override;
  Result<std::unique_ptr<Iterator>> DoScan(std::string_view space,
                                           const ScanOptions& options) override;
  Result<std::shared_ptr<const Snapshot>> DoGetSnapshot() override;
  Result<uint64_t> DoApproximateSize(std::string_view space, std::string_view begin,
                                     std::string_view end) override;
  Result<std::vector<SpaceStats>> DoStats() override;
  Result<std::vector<std::string>> DoCheckpoint(const std::string& directory) override;

 private:
  explicit LmdbStore(LmdbStoreOptions options);
  Result<unsigned> Dbi(std::string_view space) const;
  Result<std::shared_ptr<ReadTxn>> BeginRead();
  // The read transaction a read uses: the snapshot's, or a new one.
  Result<std::shared_ptr<ReadTxn>> ReadTxnFor(const std::shared_ptr<const Snapshot>& snapshot);
  // One attempt at the batch in one write transaction; MDB_MAP_FULL comes back as itself.
  int TryCommit(const WriteBatch& batch, Durability durability, std::string* error_where);
  Status Grow();

  const LmdbStoreOptions options_;
  MDB_env* env_ = nullptr;
  // Shared by every open read transaction, exclusive while the map is resized.
  std::shared_timed_mutex map_lock_;
  mutable Mutex mu_;
  std::map<std::string, unsigned, std::less<>> dbis_ DEPOT_GUARDED_BY(mu_);
  Mutex write_mu_;  // one write transaction at a time (LMDB's rule, kept here without blocking)
};

}  // namespace depot::kv
