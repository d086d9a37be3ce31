// RocksDbStore: a thin, strict layer over RocksDB.
//
// Every call maps one-to-one onto RocksDB: Commit is one rocksdb::WriteBatch written with
// WriteOptions::sync = (durability == kSync), so atomicity and crash recovery are RocksDB's (WAL
// replay on open). What this layer adds is what RocksDB leaves to its users: spaces checked by
// name, scans bounded by explicit iterate_lower_bound / iterate_upper_bound (and each key checked
// against the range again, so a scan can never run past it), and RocksDB's Status mapped to
// depot's with the directory named.
#include "depot/kv/rocksdb/rocksdb_store.h"

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table_properties.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "depot/core/quote.h"

namespace depot::kv {
namespace {

constexpr std::string_view kDefaultFamily = "default";

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

Status FromRocks(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return Status::Ok();
  std::string message = fmt::format("{}: {}", what, status.ToString());
  if (status.IsNotFound()) return NotFoundError(std::move(message));
  if (status.IsCorruption()) return DataLossError(std::move(message));
  if (status.IsInvalidArgument()) return InvalidArgumentError(std::move(message));
  if (status.IsNotSupported()) return UnimplementedError(std::move(message));
  if (status.IsIOError() || status.IsBusy() || status.IsTryAgain() || status.IsTimedOut()) {
    return UnavailableError(std::move(message));
  }
  if (status.IsShutdownInProgress()) return CancelledError(std::move(message));
  return InternalError(std::move(message));
}

rocksdb::CompressionType ToRocks(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return rocksdb::kNoCompression;
    case Compression::kSnappy:
      return rocksdb::kSnappyCompression;
    case Compression::kLz4:
      return rocksdb::kLZ4Compression;
    case Compression::kZstd:
      return rocksdb::kZSTD;
    case Compression::kZlib:
      return rocksdb::kZlibCompression;
    case Compression::kBzip2:
      return rocksdb::kBZip2Compression;
  }
  return rocksdb::kNoCompression;
}

class RocksSnapshot final : public Snapshot {
 public:
  RocksSnapshot(rocksdb::DB* db, const rocksdb::Snapshot* snapshot) : db(db), snapshot(snapshot) {}
  ~RocksSnapshot() override { db->ReleaseSnapshot(snapshot); }
  rocksdb::DB* const db;
  const rocksdb::Snapshot* const snapshot;
};

const rocksdb::Snapshot* RawSnapshot(const std::shared_ptr<const Snapshot>& snapshot) {
  const auto* taken = dynamic_cast<const RocksSnapshot*>(snapshot.get());
  return taken == nullptr ? nullptr : taken->snapshot;
}

// A bounded iterator: RocksDB stops at the bounds it is given, and every key is checked against
// them again before it is shown.
class RocksIterator final : public Iterator {
 public:
  // `where` names the scan in an error; it is called only then (a scan is a hot path).
  RocksIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, const ScanOptions& options,
                std::function<std::string()> where)
      : begin_(options.begin),
        end_(options.end),
        reverse_(options.reverse),
        snapshot_(options.snapshot),
        where_(std::move(where)) {
    lower_ = ToSlice(begin_);
    upper_ = ToSlice(end_);
    rocksdb::ReadOptions read;
    read.snapshot = RawSnapshot(snapshot_);
    read.iterate_lower_bound = &lower_;
    if (!end_.empty()) read.iterate_upper_bound = &upper_;
    read.total_order_seek = true;
    it_.reset(db->NewIterator(read, family));
    if (reverse_) {
      it_->SeekToLast();
    } else {
      it_->Seek(lower_);
    }
    Settle();
  }

  bool Valid() const override { return valid_; }
  void Next() override {
    if (reverse_) {
      it_->Prev();
    } else {
      it_->Next();
    }
    Settle();
  }
  std::string_view key() const override {
    const rocksdb::Slice k = it_->key();
    return std::string_view(k.data(), k.size());
  }
  std::string_view value() const override {
    const rocksdb::Slice v = it_->value();
    return std::string_view(v.data(), v.size());
  }
  Status status() const override {
    const rocksdb::Status status = it_->status();
    return status.ok() ? Status::Ok() : FromRocks(status, where_());
  }

 private:
  void Settle() {
    valid_ = it_->Valid();
    if (!valid_) return;
    const std::string_view k = key();
    if (k < begin_ || (!end_.empty() && k >= end_)) valid_ = false;
  }

  const std::string begin_;
  const std::string end_;
  const bool reverse_;
  const std::shared_ptr<const Snapshot> snapshot_;  // held while the iterator reads it
  const std::function<std::string()> where_;
  rocksdb::Slice lower_;
  rocksdb::Slice upper_;
  std::unique_ptr<rocksdb::Iterator> it_;
  bool valid_ = false;
};

}  // namespace

std::string_view CompressionName(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return "none";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
    case Compression::kZlib:
      return "zlib";
    case Compression::kBzip2:
      return "bzip2";
  }
  return "none";
}

Result<Compression> ParseCompression(std::string_view name) {
  for (Compression c : {Compression::kNone, Compression::kSnappy, Compression::kLz4,
                        Compression::kZstd, Compression::kZlib, Compression::kBzip2}) {
    if (CompressionName(c) == name) return c;
  }
  return InvalidArgumentError(fmt::format(
      "compression {} is not one of none, snappy, lz4, zstd, zlib, bzip2", Quote(name)));
}

RocksDbStore::RocksDbStore(RocksDbStoreOptions options) : options_(std::move(options)) {}

RocksDbStore::~RocksDbStore() {
  if (db_ == nullptr) return;
  MutexLock lock(mu_);
  for (auto& [name, family] : families_) (void)db_->DestroyColumnFamilyHandle(family);
  families_.clear();
  (void)db_->Close();
}

Result<std::shared_ptr<RocksDbStore>> RocksDbStore::Open(RocksDbStoreOptions options) {
  if (options.path.empty()) return InvalidArgumentError("rocksdb store: no path given");
  for (const std::string& space : options.spaces) {
    DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
    if (space == kDefaultFamily) {
      return InvalidArgumentError(
          "state space \"default\" is reserved by RocksDB (its default column family); choose "
          "another name");
    }
  }
  std::shared_ptr<RocksDbStore> store(new RocksDbStore(options));
  const std::string where = fmt::format("rocksdb store {}", Quote(options.path));
  if (!options.create_if_missing && !std::filesystem::exists(options.path)) {
    return NotFoundError(fmt::format("{} does not exist", where));
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  rocksdb::ColumnFamilyOptions family_options;
  family_options.compression = ToRocks(options.compression);

  std::vector<std::string> names;
  rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(db_options, options.path, &names);
  if (!listed.ok()) names.clear();  // a new database: only the spaces asked for
  if (std::find(names.begin(), names.end(), kDefaultFamily) == names.end()) {
    names.insert(names.begin(), std::string(kDefaultFamily));
  }
  for (const std::string& space : options.spaces) {
    if (std::find(names.begin(), names.end(), space) == names.end()) names.push_back(space);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) descriptors.emplace_back(name, family_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status opened = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &db);
  if (!opened.ok()) return FromRocks(opened, fmt::format("opening {}", where));
  store->db_.reset(db);
  MutexLock lock(store->mu_);
  for (size_t i = 0; i < handles.size(); ++i) store->families_.emplace(names[i], handles[i]);
  return store;
}

Capabilities RocksDbStore::capabilities() const {
  return {.max_key_bytes = 64 << 10, .snapshots = true, .persistent = true};
}

std::string RocksDbStore::ToString() const {
  return fmt::format("rocksdb://{}?compression={}", options_.path,
                     CompressionName(options_.compression));
}

std::vector<std::string> RocksDbStore::Spaces() const {
  MutexLock lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, family] : families_) {
    if (name != kDefaultFamily) names.push_back(name);
  }
  return names;
}

Result<rocksdb::ColumnFamilyHandle*> RocksDbStore::Family(std::string_view space) const {
  {
    MutexLock lock(mu_);
    auto it = families_.find(space);
    if (it != families_.end() && space != kDefaultFamily) return it->second;
  }
  return UnknownSpaceError(space, Spaces());
}

Status RocksDbStore::DoCreateSpace(std::string_view space) {
  if (space == kDefaultFamily) {
    return InvalidArgumentError("state space \"default\" is reserved by RocksDB");
  }
  MutexLock lock(mu_);
  if (families_.contains(space)) return Status::Ok();
  rocksdb::ColumnFamilyOptions family_options;
  family_options.compression = ToRocks(options_.compression);
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  DEPOT_RETURN_IF_ERROR(
      FromRocks(db_->CreateColumnFamily(family_options, std::string(space), &handle),
                fmt::format("creating state space {} in {}", Quote(space), ToString())));
  families_.emplace(std::string(space), handle);
  return Status::Ok();
}

Result<std::optional<std::string>> RocksDbStore::DoGet(std::string_view space, std::string_view key,
                                                       const ReadOptions& options) {
  DEPOT_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * family, Family(space));
  rocksdb::ReadOptions read;
  read.snapshot = RawSnapshot(options.snapshot);
  std::string value;
  rocksdb::Status got = db_->Get(read, family, ToSlice(key), &value);
  if (got.IsNotFound()) return std::optional<std::string>();
  if (!got.ok()) {  // the message is built only for an error: Get is the hot path
    return FromRocks(
        got, fmt::format("get of key {} in space {} of {}", Quote(key), Quote(space), ToString()));
  }
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::optional<std::string>>> RocksDbStore::DoMultiGet(
    std::string_view space, std::span<const std::string> keys, const ReadOptions& options) {
  DEPOT_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * family, Family(space));
  rocksdb::ReadOptions read;
  read.snapshot = RawSnapshot(options.snapshot);
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (const std::string& key : keys) slices.push_back(ToSlice(key));
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet(read, family, keys.size(), slices.data(), values.data(), statuses.data());
  std::vector<std::optional<std::string>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) {
      return FromRocks(statuses[i], fmt::format("get of key {} in space {} of {}", Quote(keys[i]),
                                                Quote(space), ToString()));
    }
    out[i] = values[i].ToString();
  }
  return out;
}

Status RocksDbStore::DoCommit(const WriteBatch& batch, Durability durability) {
  rocksdb::WriteBatch rocks;
  for (const WriteBatch::Op& op : batch.ops()) {
    DEPOT_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * family, Family(op.space));
    rocksdb::Status added;
    switch (op.kind) {
      case WriteBatch::Kind::kPut:
        added = rocks.Put(family, ToSlice(op.key), ToSlice(op.value));
        break;
      case WriteBatch::Kind::kDelete:
        added = rocks.Delete(family, ToSlice(op.key));
        break;
      case WriteBatch::Kind::kDeleteRange:
        if (op.key < op.value)
          added = rocks.DeleteRange(family, ToSlice(op.key), ToSlice(op.value));
        break;
    }
    if (!added.ok()) return FromRocks(added, fmt::format("building a batch for {}", ToString()));
  }
  rocksdb::WriteOptions write;
  write.sync = durability == Durability::kSync;
  const rocksdb::Status written = db_->Write(write, &rocks);
  if (written.ok()) return Status::Ok();
  return FromRocks(written, fmt::format("commit of {} operations to {}", batch.size(), ToString()));
}

Result<std::unique_ptr<Iterator>> RocksDbStore::DoScan(std::string_view space,
                                                       const ScanOptions& options) {
  DEPOT_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * family, Family(space));
  return std::unique_ptr<Iterator>(std::make_unique<RocksIterator>(
      db_.get(), family, options, [this, name = std::string(space)] {
        return fmt::format("scan of space {} of {}", Quote(name), ToString());
      }));
}

Result<std::shared_ptr<const Snapshot>> RocksDbStore::DoGetSnapshot() {
  return std::shared_ptr<const Snapshot>(
      std::make_shared<RocksSnapshot>(db_.get(), db_->GetSnapshot()));
}

Result<uint64_t> RocksDbStore::DoApproximateSize(std::string_view space, std::string_view begin,
                                                 std::string_view end) {
  DEPOT_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * family, Family(space));
  // No upper bound: past the largest possible key of the store's limit.
  const std::string last(capabilities().max_key_bytes + 1, '\xff');
  const rocksdb::Range range(ToSlice(begin), ToSlice(end.empty() ? std::string_view(last) : end));
  rocksdb::SizeApproximationOptions approximation;
  approximation.include_memtables = true;
  approximation.include_files = true;
  uint64_t size = 0;
  DEPOT_RETURN_IF_ERROR(FromRocks(db_->GetApproximateSizes(approximation, family, &range, 1, &size),
                                  fmt::format("size of space {} of {}", Quote(space), ToString())));
  return size;
}

Result<std::vector<SpaceStats>> RocksDbStore::DoStats() {
  std::vector<SpaceStats> stats;
  for (const std::string& space : Spaces()) {
    DEPOT_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * family, Family(space));
    SpaceStats one{.space = space};
    (void)db_->GetIntProperty(family, "rocksdb.estimate-num-keys", &one.approximate_keys);
    DEPOT_ASSIGN_OR_RETURN(one.approximate_bytes, DoApproximateSize(space, "", ""));
    stats.push_back(std::move(one));
  }
  return stats;
}

namespace {

// Names of the regular files under `directory`, relative to it, in order.
std::vector<std::string> FilesUnder(const std::string& directory) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory)) {
    if (entry.is_regular_file()) {
      files.push_back(std::filesystem::relative(entry.path(), directory).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Result<std::vector<std::string>> RocksDbStore::DoCheckpoint(const std::string& directory) {
  rocksdb::Checkpoint* raw = nullptr;
  const std::string where = fmt::format("checkpoint of {} into {}", ToString(), Quote(directory));
  DEPOT_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), where));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // 0: always flush the memtables, so the copy is table files and no log to replay.
  DEPOT_RETURN_IF_ERROR(FromRocks(checkpoint->CreateCheckpoint(directory, 0), where));
  return FilesUnder(directory);
}

Status RocksDbStore::Flush() {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  {
    MutexLock lock(mu_);
    for (const auto& [name, family] : families_) handles.push_back(family);
  }
  return FromRocks(db_->Flush(rocksdb::FlushOptions(), handles),
                   fmt::format("flushing {}", ToString()));
}

Result<std::vector<std::string>> RocksDbStore::TableCompressions(std::string_view space) {
  DEPOT_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * family, Family(space));
  rocksdb::TablePropertiesCollection tables;
  DEPOT_RETURN_IF_ERROR(
      FromRocks(db_->GetPropertiesOfAllTables(family, &tables),
                fmt::format("table properties of space {} of {}", Quote(space), ToString())));
  std::vector<std::string> names;
  for (const auto& [file, properties] : tables) names.push_back(properties->compression_name);
  return names;
}

}  // namespace depot::kv
