// depot::kv::Store: named state spaces of ordered byte keys, over memory, RocksDB, SQLite or
// LMDB (vprogs' storage layer, done right).
//
// A store holds a fixed set of state spaces (keyspaces: a column family in RocksDB, a table in
// SQLite, a named database in LMDB), listed when it is opened; CreateSpace adds one. Keys and
// values are byte strings; keys sort bytewise (memcmp, shorter first on a tie) in every backend.
//
// Contract, for every backend:
//   - Thread-safe: every method may be called from many threads at once. Calls block (on disk
//     I/O at most: every backend is local) and take a Context last; one that is cancelled or past
//     its deadline fails with kCancelled / kDeadlineExceeded before it starts and changes nothing.
//   - Limits: a space name is 1..64 bytes of [A-Za-z0-9_.-]; a key is 1..capabilities().
//     max_key_bytes bytes (LMDB: 511); a value at most kMaxValueBytes. Breaking one is
//     kInvalidArgument naming the space, the key (quoted, cut at 64 bytes) and the limit, and
//     changes nothing. A space the store does not have is kNotFound naming it.
//   - Commit applies a WriteBatch atomically across spaces: all of it or none of it is visible,
//     to readers and after a crash. With Durability::kSync it returns once the batch survives
//     power loss (fsync'd); with kBuffered it survives the process being killed (RocksDB, SQLite,
//     LMDB) but the last batches may be lost in a machine crash. The memory store keeps nothing.
//   - Reads see every batch committed before they start. A Scan iterates one consistent view
//     (the store as it was when the scan began); reads given a Snapshot see the store as it was
//     when the snapshot was taken, where capabilities().snapshots.
//   - Scans are ordered and bounded exactly: Scan(space, {begin, end}) yields the keys in
//     [begin, end) (end empty = no upper bound), ascending or descending; PrefixScan yields
//     exactly the keys that start with the prefix, also for prefixes such as "\xff\xff" that have
//     no successor, and the empty prefix (every key).
//   - Storage errors are a Status (kDataLoss for corruption, kUnavailable / kInternal for I/O),
//     never a crash; a store that cannot open its files fails Open with a message naming them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/core/status.h"
#include "depot/kv/write_batch.h"

namespace depot::kv {

inline constexpr size_t kMaxSpaceNameBytes = 64;
inline constexpr size_t kMaxValueBytes = size_t{256} << 20;  // 256 MiB

enum class Durability {
  kSync,      // fsync'd before Commit returns: survives power loss
  kBuffered,  // written to the OS before Commit returns: survives a killed process
};

// What a backend can do; callers branch on these, not on the backend's type.
struct Capabilities {
  size_t max_key_bytes = 0;
  bool snapshots = false;   // GetSnapshot works (else kUnimplemented)
  bool persistent = false;  // the data outlives the Store object
};

// A point-in-time view of the whole store (every space), for consistent reads. Released when the
// last reference goes; the store must outlive it.
class Snapshot {
 public:
  virtual ~Snapshot() = default;
};

struct ReadOptions {
  std::shared_ptr<const Snapshot> snapshot;  // null: the latest committed state
};

struct ScanOptions {
  std::string begin;     // the first key of the range (inclusive); empty: from the first key
  std::string end;       // the end of the range (exclusive); empty: to the last key
  bool reverse = false;  // descending order
  std::shared_ptr<const Snapshot> snapshot;
};

// Iterates (key, value) pairs in order. Not thread-safe; the store must outlive it.
//
//   DEPOT_ASSIGN_OR_RETURN(auto it, store.PrefixScan("accounts", "user/"));
//   for (; it->Valid(); it->Next()) use(it->key(), it->value());
//   DEPOT_RETURN_IF_ERROR(it->status());
class Iterator {
 public:
  virtual ~Iterator() = default;
  // True while positioned at a pair: false at the end, and after an error (see status()).
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  // The current pair; valid until the next call of Next().
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // OK, or the error that ended the iteration early.
  virtual Status status() const = 0;
};

struct SpaceStats {
  std::string space;
  uint64_t approximate_keys = 0;   // an estimate where the backend keeps one (RocksDB)
  uint64_t approximate_bytes = 0;  // keys and values, compressed where the backend compresses
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Capabilities capabilities() const = 0;
  // The URL that opens this store again.
  virtual std::string ToString() const = 0;
  // The state spaces, in name order.
  virtual std::vector<std::string> Spaces() const = 0;

  // Adds a state space; OK if it exists already.
  Status CreateSpace(std::string_view space, const Context& ctx = {});
  // The value, or nullopt when the key is absent.
  Result<std::optional<std::string>> Get(std::string_view space, std::string_view key,
                                         const ReadOptions& options = {}, const Context& ctx = {});
  // One answer per key, in order, from one consistent view of the store.
  Result<std::vector<std::optional<std::string>>> MultiGet(std::string_view space,
                                                           std::span<const std::string> keys,
                                                           const ReadOptions& options = {},
                                                           const Context& ctx = {});
  // Applies the batch atomically (see the contract). An invalid batch (unknown space, a limit)
  // is refused whole, naming the first bad operation.
  Status Commit(const WriteBatch& batch, Durability durability = Durability::kSync,
                const Context& ctx = {});
  // The pairs in [options.begin, options.end), in order (kInvalidArgument if begin > end).
  Result<std::unique_ptr<Iterator>> Scan(std::string_view space, const ScanOptions& options = {},
                                         const Context& ctx = {});
  // The pairs whose key starts with `prefix`, ascending (or descending), bounded by an explicit
  // upper bound: the prefix's successor (see PrefixSuccessor), or none for 0xFF... prefixes.
  Result<std::unique_ptr<Iterator>> PrefixScan(std::string_view space, std::string_view prefix,
                                               bool reverse = false,
                                               const ReadOptions& options = {},
                                               const Context& ctx = {});
  // A view of the store as it is now (kUnimplemented without capabilities().snapshots).
  Result<std::shared_ptr<const Snapshot>> GetSnapshot(const Context& ctx = {});
  // The approximate size in bytes of the pairs in [begin, end) (end empty: to the last key).
  Result<uint64_t> ApproximateSize(std::string_view space, std::string_view begin,
                                   std::string_view end, const Context& ctx = {});
  Result<std::vector<SpaceStats>> Stats(const Context& ctx = {});
  // Writes a consistent copy of the whole store into `directory` (which must not exist), while
  // commits go on: RocksDB's checkpoint (table files hard-linked), SQLite's online backup,
  // LMDB's compacting copy. The copy opens as a store of the same backend: the directory itself
  // for RocksDB and LMDB, `directory`/kv.db for SQLite. Returns the files written, relative to
  // `directory`. kUnimplemented where the store keeps nothing (memory).
  Result<std::vector<std::string>> Checkpoint(const std::string& directory,
                                              const Context& ctx = {});

 protected:
  // What backends implement. The public calls have checked the context, the names, the key and
  // value limits and the ranges before they call these; a backend answers a space it does not
  // have with UnknownSpaceError.
  virtual Status DoCreateSpace(std::string_view space) = 0;
  virtual Result<std::optional<std::string>> DoGet(std::string_view space, std::string_view key,
                                                   const ReadOptions& options) = 0;
  // The default calls DoGet for each key under one snapshot where the store has them.
  virtual Result<std::vector<std::optional<std::string>>> DoMultiGet(
      std::string_view space, std::span<const std::string> keys, const ReadOptions& options);
  virtual Status DoCommit(const WriteBatch& batch, Durability durability) = 0;
  virtual Result<std::unique_ptr<Iterator>> DoScan(std::string_view space,
                                                   const ScanOptions& options) = 0;
  virtual Result<std::shared_ptr<const Snapshot>> DoGetSnapshot();
  virtual Result<uint64_t> DoApproximateSize(std::string_view space, std::string_view begin,
                                             std::string_view end) = 0;
  virtual Result<std::vector<SpaceStats>> DoStats() = 0;
  virtual Result<std::vector<std::string>> DoCheckpoint(const std::string& directory);
};

// The smallest key greater than every key that starts with `prefix`: the prefix with its
// trailing 0xFF bytes dropped and its last other byte incremented; nullopt when the prefix is
// empty or all 0xFF (no such key: scan to the end).
std::optional<std::string> PrefixSuccessor(std::string_view prefix);

// Checks a space name (kInvalidArgument naming it).
Status ValidateSpaceName(std::string_view space);
// kNotFound naming `space` and the spaces the store has.
Status UnknownSpaceError(std::string_view space, const std::vector<std::string>& spaces);

}  // namespace depot::kv
