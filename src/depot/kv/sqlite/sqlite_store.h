// depot::kv::SqliteStore: state spaces as tables of one SQLite database file (WAL mode).
//
// Each state space is a table "space_<name>" (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT
// ROWID; keys are always bound as BLOBs, which SQLite compares with memcmp, so the order is the
// kv contract's bytewise order. A WriteBatch is one IMMEDIATE transaction. Durability: kSync
// commits run with synchronous=FULL (the WAL is fsync'd at commit: survives power loss),
// kBuffered ones with synchronous=NORMAL (survives a killed process; a power loss may undo the
// last ones).
//
// Reads and scans run on reader connections of their own, each scan inside one read
// transaction, so a scan sees one consistent state; a Snapshot is a reader connection holding
// its read transaction open (WAL keeps the pages it sees). One writer connection serializes
// commits; other processes may open the file too (busy_timeout 5 s). A file that is not a
// SQLite database, or is corrupt, is kDataLoss naming it. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/kv/store.h"

struct sqlite3;

namespace depot::kv {

struct SqliteStoreOptions {
  std::string path;                 // the database file (its -wal and -shm files live beside it)
  std::vector<std::string> spaces;  // created when missing; the others it has are opened too
  bool create_if_missing = true;
};

class SqliteStore final : public Store {
 public:
  static Result<std::shared_ptr<SqliteStore>> Open(SqliteStoreOptions options);
  ~SqliteStore() override;

  Capabilities capabilities() const override;
  std::string ToString() const override;
  std::vector<std::string> Spaces() const override;
  const SqliteStoreOptions& options() const { return options_; }

  // A connection of the store's file; closed when the last holder lets go.
  class Connection;

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
  explicit SqliteStore(SqliteStoreOptions options);
  // A reader connection from the pool (a new one when the pool is empty), given back when the
  // returned pointer is released.
  Result<std::shared_ptr<Connection>> Reader();
  // The connection a read uses: the snapshot's, or one from the pool.
  Result<std::shared_ptr<Connection>> ReadConnection(
      const std::shared_ptr<const Snapshot>& snapshot);
  Status CheckSpace(std::string_view space) const;

  const SqliteStoreOptions options_;
  mutable Mutex mu_;
  std::vector<std::string> spaces_ DEPOT_GUARDED_BY(mu_);  // sorted
  std::vector<std::unique_ptr<Connection>> idle_readers_ DEPOT_GUARDED_BY(mu_);
  Mutex write_mu_;  // one commit at a time on writer_
  std::unique_ptr<Connection> writer_;
  Durability writer_mode_ DEPOT_GUARDED_BY(write_mu_) = Durability::kSync;
};

}  // namespace depot::kv
