// depot::kv::BackupStore / RestoreStore: point-in-time copies of a kv store kept in any object
// store (a local directory, S3, depot serve), incremental and verified.
//
// A backup takes the store's Checkpoint (a consistent copy made while commits go on) into a
// directory beside the store, then uploads each of its files under `prefix`:
//   prefix/blobs/<sha256>          a file's bytes, named by their SHA-256: uploaded once, so
//                                  what an earlier backup holds (RocksDB's immutable table files,
//                                  an unchanged LMDB or SQLite file) is not sent again;
//   prefix/backups/<id>.json       the manifest: backend, files (name, size, SHA-256), the
//                                  copy's spaces with exact key counts, and its content digest.
// Ids are UTC times to the microsecond (20261205T123000.123456Z-1a2b3c4d), so the latest sorts
// last. The manifest is
// written after every blob it names: a backup that fails leaves no manifest, only blobs a later
// one may reuse. The local copy is removed in every case.
//
// A restore downloads the files of one backup (the latest by default) into a directory beside
// the target, checks every file against its SHA-256 (a mismatch is kDataLoss naming the blob),
// moves them into place, opens the store and checks its content digest against the manifest's
// (kDataLoss if they differ, and the restored files are removed). The target must not exist
// (kAlreadyExists naming it): a restore never overwrites a store.
//
// The content digest: SHA-256 over the spaces in name order, each as its name and then its
// pairs in key order, every field length-prefixed. Equal digests mean equal stores, whatever
// the backend's files look like. Thread-safe: a backup may run while the store is in use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/kv/store.h"
#include "depot/object/store.h"

namespace depot::kv {

struct BackupReport {
  std::string id;
  std::string backend;  // rocksdb, sqlite or lmdb
  uint64_t files = 0;   // in the backup
  uint64_t bytes = 0;
  uint64_t uploaded_files = 0;  // sent this time; the others were in the object store already
  uint64_t uploaded_bytes = 0;
  std::vector<SpaceStats> spaces;  // of the copy: exact keys and bytes
  std::string digest;              // hex SHA-256 of the copy's content
};

// Backs up `store` (a rocksdb://, sqlite:// or lmdb:// store) into `target` under `prefix`
// ("" or ending in '/').
Result<BackupReport> BackupStore(Store& store, object::ObjectStore& target, std::string_view prefix,
                                 const Context& ctx = {});

// Restores backup `id` (empty: the latest) found under `prefix` of `source` as a new store at
// `store_url`, of the backup's backend.
Result<BackupReport> RestoreStore(object::ObjectStore& source, std::string_view prefix,
                                  std::string_view id, std::string_view store_url,
                                  const Context& ctx = {});

// The content digest of a store (see above), read in one snapshot where the store has them.
Result<std::string> ContentDigest(Store& store, std::vector<SpaceStats>* spaces = nullptr);

}  // namespace depot::kv
