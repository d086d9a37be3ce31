// depot::kv::RocksDbStore: state spaces as RocksDB column families (RocksDB 7.8, Debian's).
//
// One database directory; each state space is a column family, so one WriteBatch spans spaces
// atomically (they share one WAL). RocksDB's "default" column family is not a state space, and
// the name is refused. Open opens every column family the database has, adds the spaces asked for
// that it lacks, and sets the store's compression on all of them (RocksDB applies it to the
// tables it writes from then on; TableCompressions shows what the tables on disk use).
//
// Durability (RocksDB's WriteOptions::sync): kSync commits fsync the WAL before they return;
// kBuffered commits are in the WAL in the OS, so a killed process loses nothing and a machine
// crash may lose the last ones. Reads are snapshot-consistent (scans iterate an implicit
// snapshot, GetSnapshot takes an explicit one). Prefix and range scans set RocksDB's iterator
// bounds explicitly; no prefix extractor is configured or relied on.
//
// A database held by another process (RocksDB's LOCK) fails Open with kUnavailable naming the
// directory; corruption found by RocksDB is kDataLoss. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/kv/store.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace depot::kv {

enum class Compression { kNone, kSnappy, kLz4, kZstd, kZlib, kBzip2 };

// "none", "snappy", "lz4", "zstd", "zlib", "bzip2".
std::string_view CompressionName(Compression compression);
Result<Compression> ParseCompression(std::string_view name);

struct RocksDbStoreOptions {
  std::string path;                 // the database directory
  std::vector<std::string> spaces;  // created when missing; the others it has are opened too
  bool create_if_missing = true;
  Compression compression = Compression::kLz4;
};

class RocksDbStore final : public Store {
 public:
  static Result<std::shared_ptr<RocksDbStore>> Open(RocksDbStoreOptions options);
  ~RocksDbStore() override;  // flushes nothing: the WAL already holds every commit

  Capabilities capabilities() const override;
  std::string ToString() const override;
  std::vector<std::string> Spaces() const override;

  // Writes the memtables of every space to table files (so that what was committed is in SST
  // files, for tests and backups).
  Status Flush();
  // The compression names RocksDB recorded in the table files of `space` ("NoCompression",
  // "LZ4", ...), one per file.
  Result<std::vector<std::string>> TableCompressions(std::string_view space);
  const RocksDbStoreOptions& options() const { return options_; }

 protected:
  Status DoCreateSpace(std::string_view space) override;
  Result<std::optional<std::string>> DoGet(std::string_view space, std::string_view key,
                                           const ReadOptions& options) override;
  Result<std::vector<std::optional<std::string>>> DoMultiGet(std::string_view space,
                                                             std::span<const std::string> keys,
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
  explicit RocksDbStore(RocksDbStoreOptions options);
  // The column family of `space` (kNotFound naming it when the store has none).
  Result<rocksdb::ColumnFamilyHandle*> Family(std::string_view space) const;

  const RocksDbStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  mutable Mutex mu_;
  // Handles live as long as the store (column families are never dropped here).
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> families_ DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot::kv
