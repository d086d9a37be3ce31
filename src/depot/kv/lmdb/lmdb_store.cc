// LmdbStore: the kv contract over LMDB 0.9 (Debian's 0.9.24).
//
// Crash consistency is LMDB's copy-on-write B+tree: a write transaction writes new pages, syncs
// them, then writes and syncs the meta page that points at them, so a crash at any point leaves
// the previous or the new state, never a mix. kBuffered commits turn the meta page's sync off
// (MDB_NOMETASYNC, switched per commit under write_mu_): the state stays intact, only the last
// commits may be undone by a power loss. The environment is opened MDB_NOTLS so that read
// transactions belong to scans and snapshots, not to threads.
//
// Growth: MDB_MAP_FULL aborts the write transaction; the writer then takes map_lock_ exclusively
// (every read transaction of this process holds it shared, as LMDB requires no transaction to be
// open while the map is resized), doubles the map and runs the batch again.
#include "depot/kv/lmdb/lmdb_store.h"

#include <fmt/format.h>
#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "depot/core/quote.h"

namespace depot::kv {
namespace {

Status FromLmdb(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return Status::Ok();
  const std::string message = fmt::format("{}: {}", what, mdb_strerror(rc));
  switch (rc) {
    case MDB_NOTFOUND:
      return NotFoundError(message);
    case MDB_MAP_FULL:
    case MDB_DBS_FULL:
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case ENOSPC:
      return ResourceExhaustedError(message);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return DataLossError(message);
    case MDB_BAD_VALSIZE:
      return InvalidArgumentError(message);
    case ENOENT:
      return NotFoundError(message);
    case EACCES:
      return PermissionDeniedError(message);
    case EIO:
    case EAGAIN:
      return UnavailableError(message);
    default:
      return InternalError(message);
  }
}

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

}  // namespace

class LmdbStore::ReadTxn {
 public:
  ReadTxn(std::shared_lock<std::shared_timed_mutex> map_lock, MDB_txn* txn)
      : map_lock_(std::move(map_lock)), txn_(txn) {}
  ~ReadTxn() { mdb_txn_abort(txn_); }
  MDB_txn* get() const { return txn_; }
  // LMDB transactions are single-threaded: every use of a shared one takes this.
  Mutex& mu() { return mu_; }

 private:
  std::shared_lock<std::shared_timed_mutex> map_lock_;  // released after the abort
  MDB_txn* const txn_;
  Mutex mu_;
};

namespace {

class LmdbSnapshot final : public Snapshot {
 public:
  explicit LmdbSnapshot(std::shared_ptr<LmdbStore::ReadTxn> txn) : txn(std::move(txn)) {}
  const std::shared_ptr<LmdbStore::ReadTxn> txn;
};

// A cursor over [begin, end) of one database, in one read transaction it holds.
class LmdbIterator final : public Iterator {
 public:
  LmdbIterator(std::shared_ptr<LmdbStore::ReadTxn> txn, MDB_cursor* cursor,
               const ScanOptions& options, std::string where)
      : txn_(std::move(txn)),
        cursor_(cursor),
        begin_(options.begin),
        end_(options.end),
        reverse_(options.reverse),
        where_(std::move(where)) {
    MutexLock lock(txn_->mu());
    int rc;
    if (!reverse_) {
      if (begin_.empty()) {
        rc = mdb_cursor_get(cursor_, &key_, &value_, MDB_FIRST);
      } else {
        key_ = Val(begin_);
        rc = mdb_cursor_get(cursor_, &key_, &value_, MDB_SET_RANGE);
      }
    } else if (end_.empty()) {
      rc = mdb_cursor_get(cursor_, &key_, &value_, MDB_LAST);
    } else {
      key_ = Val(end_);
      rc = mdb_cursor_get(cursor_, &key_, &value_, MDB_SET_RANGE);
      // At the first key >= end: the one before it is the last of the range.
      rc = rc == MDB_NOTFOUND
               ? mdb_cursor_get(cursor_, &key_, &value_, MDB_LAST)
               : (rc == MDB_SUCCESS ? mdb_cursor_get(cursor_, &key_, &value_, MDB_PREV) : rc);
    }
    Settle(rc);
  }
  ~LmdbIterator() override {
    MutexLock lock(txn_->mu());
    mdb_cursor_close(cursor_);
  }

  bool Valid() const override { return valid_; }
  void Next() override {
    MutexLock lock(txn_->mu());
    Settle(mdb_cursor_get(cursor_, &key_, &value_, reverse_ ? MDB_PREV : MDB_NEXT));
  }
  std::string_view key() const override { return View(key_); }
  std::string_view value() const override { return View(value_); }
  Status status() const override { return status_; }

 private:
  void Settle(int rc) {
    valid_ = rc == MDB_SUCCESS;
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) status_ = FromLmdb(rc, where_);
    if (!valid_) return;
    const std::string_view k = View(key_);
    if (k < begin_ || (!end_.empty() && k >= end_)) valid_ = false;
  }

  const std::shared_ptr<LmdbStore::ReadTxn> txn_;
  MDB_cursor* const cursor_;
  const std::string begin_;
  const std::string end_;
  const bool reverse_;
  const std::string where_;
  MDB_val key_{};
  MDB_val value_{};
  bool valid_ = false;
  Status status_;
};

}  // namespace

LmdbStore::LmdbStore(LmdbStoreOptions options) : options_(std::move(options)) {}

LmdbStore::~LmdbStore() {
  if (env_ != nullptr) mdb_env_close(env_);
}

Result<std::shared_ptr<LmdbStore>> LmdbStore::Open(LmdbStoreOptions options) {
  if (options.path.empty()) return InvalidArgumentError("lmdb store: no path given");
  for (const std::string& space : options.spaces) DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
  const std::string where = fmt::format("opening lmdb store {}", Quote(options.path));
  if (options.create_if_missing && ::mkdir(options.path.c_str(), 0775) != 0 && errno != EEXIST) {
    return FromLmdb(errno, where);
  }
  if (!options.create_if_missing && !std::filesystem::exists(options.path)) {
    return NotFoundError(fmt::format("lmdb store {} does not exist", Quote(options.path)));
  }
  std::shared_ptr<LmdbStore> store(new LmdbStore(options));
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_env_create(&store->env_), where));
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_env_set_maxdbs(store->env_, options.max_spaces), where));
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_env_set_maxreaders(store->env_, 1024), where));
  DEPOT_RETURN_IF_ERROR(
      FromLmdb(mdb_env_set_mapsize(store->env_, options.initial_map_bytes), where));
  DEPOT_RETURN_IF_ERROR(
      FromLmdb(mdb_env_open(store->env_, options.path.c_str(), MDB_NOTLS, 0664), where));

  // The spaces it has (the names in the main database) and the ones asked for.
  MDB_txn* txn = nullptr;
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_txn_begin(store->env_, nullptr, 0, &txn), where));
  Status opened = [&]() -> Status {
    MDB_dbi main = 0;
    DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_dbi_open(txn, nullptr, 0, &main), where));
    std::vector<std::string> names(options.spaces.begin(), options.spaces.end());
    MDB_cursor* cursor = nullptr;
    DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_cursor_open(txn, main, &cursor), where));
    MDB_val key, value;
    int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
      if (ValidateSpaceName(View(key)).ok()) names.emplace_back(View(key));
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND) return FromLmdb(rc, where);
    MutexLock lock(store->mu_);
    for (const std::string& name : names) {
      MDB_dbi dbi = 0;
      DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_dbi_open(txn, name.c_str(), MDB_CREATE, &dbi),
                                     fmt::format("{}: state space {}", where, Quote(name))));
      store->dbis_.emplace(name, dbi);
    }
    return Status::Ok();
  }();
  if (!opened.ok()) {
    mdb_txn_abort(txn);
    return opened;
  }
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_txn_commit(txn), where));  // frees txn either way
  return store;
}

Capabilities LmdbStore::capabilities() const {
  return {.max_key_bytes = static_cast<size_t>(mdb_env_get_maxkeysize(env_)),
          .snapshots = true,
          .persistent = true};
}

std::string LmdbStore::ToString() const { return fmt::format("lmdb://{}", options_.path); }

std::vector<std::string> LmdbStore::Spaces() const {
  MutexLock lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, dbi] : dbis_) names.push_back(name);
  return names;
}

uint64_t LmdbStore::map_bytes() const {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

Result<unsigned> LmdbStore::Dbi(std::string_view space) const {
  {
    MutexLock lock(mu_);
    auto it = dbis_.find(space);
    if (it != dbis_.end()) return it->second;
  }
  return UnknownSpaceError(space, Spaces());
}

Result<std::shared_ptr<LmdbStore::ReadTxn>> LmdbStore::BeginRead() {
  std::shared_lock<std::shared_timed_mutex> map_lock(map_lock_);
  MDB_txn* txn = nullptr;
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn),
                                 fmt::format("reading {}", ToString())));
  return std::make_shared<ReadTxn>(std::move(map_lock), txn);
}

Result<std::shared_ptr<LmdbStore::ReadTxn>> LmdbStore::ReadTxnFor(
    const std::shared_ptr<const Snapshot>& snapshot) {
  if (const auto* taken = dynamic_cast<const LmdbSnapshot*>(snapshot.get())) return taken->txn;
  return BeginRead();
}

Status LmdbStore::DoCreateSpace(std::string_view space) {
  MutexLock write(write_mu_);
  {
    MutexLock lock(mu_);
    if (dbis_.contains(space)) return Status::Ok();
  }
  const std::string where = fmt::format("creating state space {} in {}", Quote(space), ToString());
  MDB_txn* txn = nullptr;
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_txn_begin(env_, nullptr, 0, &txn), where));
  MDB_dbi dbi = 0;
  const std::string name(space);
  if (int rc = mdb_dbi_open(txn, name.c_str(), MDB_CREATE, &dbi); rc != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    return FromLmdb(rc, where);
  }
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_txn_commit(txn), where));
  MutexLock lock(mu_);
  dbis_.emplace(name, dbi);
  return Status::Ok();
}

Result<std::optional<std::string>> LmdbStore::DoGet(std::string_view space, std::string_view key,
                                                    const ReadOptions& options) {
  DEPOT_ASSIGN_OR_RETURN(unsigned dbi, Dbi(space));
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<ReadTxn> txn, ReadTxnFor(options.snapshot));
  MutexLock lock(txn->mu());
  MDB_val k = Val(key);
  MDB_val v;
  const int rc = mdb_get(txn->get(), dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>();
  DEPOT_RETURN_IF_ERROR(FromLmdb(
      rc, fmt::format("get of key {} in space {} of {}", Quote(key), Quote(space), ToString())));
  return std::optional<std::string>(std::string(View(v)));
}

int LmdbStore::TryCommit(const WriteBatch& batch, Durability durability, std::string* error_where) {
  mdb_env_set_flags(env_, MDB_NOMETASYNC, durability == Durability::kBuffered ? 1 : 0);
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) {
    *error_where = "beginning the write transaction";
    return rc;
  }
  for (size_t i = 0; i < batch.ops().size() && rc == MDB_SUCCESS; ++i) {
    const WriteBatch::Op& op = batch.ops()[i];
    MDB_dbi dbi = *Dbi(op.space);  // checked by DoCommit
    MDB_val key = Val(op.key);
    switch (op.kind) {
      case WriteBatch::Kind::kPut: {
        MDB_val value = Val(op.value);
        rc = mdb_put(txn, dbi, &key, &value, 0);
        break;
      }
      case WriteBatch::Kind::kDelete:
        rc = mdb_del(txn, dbi, &key, nullptr);
        if (rc == MDB_NOTFOUND) rc = MDB_SUCCESS;
        break;
      case WriteBatch::Kind::kDeleteRange: {
        if (!(op.key < op.value)) break;
        MDB_cursor* cursor = nullptr;
        rc = mdb_cursor_open(txn, dbi, &cursor);
        if (rc != MDB_SUCCESS) break;
        MDB_val value;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
        while (rc == MDB_SUCCESS && View(key) < op.value) {
          rc = mdb_cursor_del(cursor, 0);
          if (rc == MDB_SUCCESS) rc = mdb_cursor_get(cursor, &key, &value, MDB_GET_CURRENT);
        }
        if (rc == MDB_NOTFOUND || rc == EINVAL) rc = MDB_SUCCESS;  // ran off the end
        mdb_cursor_close(cursor);
        break;
      }
    }
    if (rc != MDB_SUCCESS) *error_where = fmt::format("operation {} of the batch", i);
  }
  if (rc != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    return rc;
  }
  rc = mdb_txn_commit(txn);  // frees the transaction either way
  if (rc != MDB_SUCCESS) *error_where = "committing";
  return rc;
}

Status LmdbStore::Grow() {
  std::unique_lock<std::shared_timed_mutex> resize(map_lock_, std::defer_lock);
  const uint64_t now = map_bytes();
  if (!resize.try_lock_for(options_.grow_wait)) {
    return ResourceExhaustedError(fmt::format(
        "{}: the map of {} bytes is full, and growing it needs every scan and snapshot of this "
        "process closed; some stayed open for {} ms",
        ToString(), now, options_.grow_wait.count()));
  }
  return FromLmdb(mdb_env_set_mapsize(env_, now * 2),
                  fmt::format("growing the map of {} to {} bytes", ToString(), now * 2));
}

Status LmdbStore::DoCommit(const WriteBatch& batch, Durability durability) {
  for (const WriteBatch::Op& op : batch.ops()) DEPOT_RETURN_IF_ERROR(Dbi(op.space).status());
  MutexLock write(write_mu_);
  for (;;) {
    std::string error_where;
    const int rc = TryCommit(batch, durability, &error_where);
    if (rc == MDB_MAP_FULL) {
      DEPOT_RETURN_IF_ERROR(Grow());
      continue;
    }
    return FromLmdb(rc, fmt::format("commit of {} operations to {}: {}", batch.size(), ToString(),
                                    error_where));
  }
}

Result<std::unique_ptr<Iterator>> LmdbStore::DoScan(std::string_view space,
                                                    const ScanOptions& options) {
  DEPOT_ASSIGN_OR_RETURN(unsigned dbi, Dbi(space));
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<ReadTxn> txn, ReadTxnFor(options.snapshot));
  const std::string where = fmt::format("scan of space {} of {}", Quote(space), ToString());
  MDB_cursor* cursor = nullptr;
  {
    MutexLock lock(txn->mu());
    DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_cursor_open(txn->get(), dbi, &cursor), where));
  }
  return std::unique_ptr<Iterator>(
      std::make_unique<LmdbIterator>(std::move(txn), cursor, options, where));
}

Result<std::shared_ptr<const Snapshot>> LmdbStore::DoGetSnapshot() {
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<ReadTxn> txn, BeginRead());
  return std::shared_ptr<const Snapshot>(std::make_shared<LmdbSnapshot>(std::move(txn)));
}

Result<uint64_t> LmdbStore::DoApproximateSize(std::string_view space, std::string_view begin,
                                              std::string_view end) {
  ScanOptions range{.begin = std::string(begin), .end = std::string(end)};
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<Iterator> it, DoScan(space, range));
  uint64_t bytes = 0;
  for (; it->Valid(); it->Next()) bytes += it->key().size() + it->value().size();
  DEPOT_RETURN_IF_ERROR(it->status());
  return bytes;
}

Result<std::vector<SpaceStats>> LmdbStore::DoStats() {
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<ReadTxn> txn, BeginRead());
  std::vector<SpaceStats> stats;
  for (const std::string& space : Spaces()) {
    DEPOT_ASSIGN_OR_RETURN(unsigned dbi, Dbi(space));
    MDB_stat st{};
    DEPOT_RETURN_IF_ERROR(
        FromLmdb(mdb_stat(txn->get(), dbi, &st),
                 fmt::format("stats of space {} of {}", Quote(space), ToString())));
    stats.push_back(
        {.space = space,
         .approximate_keys = st.ms_entries,
         .approximate_bytes = (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
                              static_cast<uint64_t>(st.ms_psize)});
  }
  return stats;
}

}  // namespace depot::kv

namespace depot::kv {

Result<std::vector<std::string>> LmdbStore::DoCheckpoint(const std::string& directory) {
  const std::string where = fmt::format("checkpoint of {} into {}", ToString(), Quote(directory));
  if (::mkdir(directory.c_str(), 0775) != 0) return FromLmdb(errno, where);
  // A copy of one read transaction's state, compacted (free pages left out); the map lock keeps
  // the map from being resized while it reads.
  std::shared_lock<std::shared_timed_mutex> map_lock(map_lock_);
  DEPOT_RETURN_IF_ERROR(FromLmdb(mdb_env_copy2(env_, directory.c_str(), MDB_CP_COMPACT), where));
  return std::vector<std::string>{"data.mdb"};
}

}  // namespace depot::kv
