// SqliteStore: the kv contract over SQLite 3 (Debian's 3.40).
//
// Crash consistency is SQLite's: WAL mode, one transaction per WriteBatch (BEGIN IMMEDIATE ...
// COMMIT), synchronous=FULL for kSync commits (the WAL is fsync'd before COMMIT returns) and
// NORMAL for kBuffered ones (written to the WAL, fsync'd at the next checkpoint). A killed
// process leaves the WAL, which the next open replays; a torn last frame is discarded by its
// checksum, so a batch is there whole or not at all.
//
// Connections: one writer (write_mu_ serializes commits), and a pool of readers. A scan holds a
// reader for its lifetime inside one read transaction (BEGIN; the first step starts it), so it
// iterates one state while commits go on in WAL mode; a Snapshot does the same with a reader it
// keeps. Every connection is opened FULLMUTEX, so a snapshot's connection may serve several
// threads' reads at once.
#include "depot/kv/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

#include "depot/core/quote.h"

namespace depot::kv {
namespace {

constexpr std::string_view kTablePrefix = "space_";

std::string Table(std::string_view space) { return fmt::format("\"space_{}\"", space); }

Status FromSqlite(int rc, sqlite3* db, std::string_view what) {
  const std::string message = fmt::format(
      "{}: {} (SQLite {})", what, db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
  switch (rc & 0xFF) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Ok();
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
      return UnavailableError(message);
    case SQLITE_FULL:
      return ResourceExhaustedError(message);
    case SQLITE_CANTOPEN:
      return NotFoundError(message);
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return InvalidArgumentError(message);
    default:
      return InternalError(message);
  }
}

// A prepared statement, finalized at destruction.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    std::swap(stmt_, other.stmt_);
    return *this;
  }
  ~Statement() {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
  }
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql, std::string_view what) {
    Statement statement;
    const int rc =
        sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement.stmt_, nullptr);
    DEPOT_RETURN_IF_ERROR(FromSqlite(rc, db, what));
    return statement;
  }
  // Binds bytes as a BLOB (never NULL, also when empty: the order is memcmp's).
  void Bind(int index, std::string_view bytes) {
    static const char kEmpty = 0;
    sqlite3_bind_blob64(stmt_, index, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(),
                        SQLITE_TRANSIENT);
  }
  int Step() { return sqlite3_step(stmt_); }
  std::string_view Column(int index) const {
    const void* data = sqlite3_column_blob(stmt_, index);
    const int size = sqlite3_column_bytes(stmt_, index);
    if (data == nullptr || size == 0) return {};
    return std::string_view(static_cast<const char*>(data), static_cast<size_t>(size));
  }
  int64_t ColumnInt(int index) const { return sqlite3_column_int64(stmt_, index); }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

Status Exec(sqlite3* db, const std::string& sql, std::string_view what) {
  return FromSqlite(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), db, what);
}

// SELECT of the pairs in [begin, end) (end empty: no upper bound), in order.
std::string RangeQuery(std::string_view space, bool has_end, bool reverse) {
  return fmt::format("SELECT k, v FROM {} WHERE k >= ?1{} ORDER BY k{}", Table(space),
                     has_end ? " AND k < ?2" : "", reverse ? " DESC" : "");
}

}  // namespace

class SqliteStore::Connection {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection() { sqlite3_close_v2(db_); }
  sqlite3* get() const { return db_; }

  static Result<std::unique_ptr<Connection>> Open(const std::string& path, bool create) {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
    if (create) flags |= SQLITE_OPEN_CREATE;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    auto connection = std::make_unique<Connection>(db);  // closes db on any failure below
    const std::string what = fmt::format("opening sqlite store {}", Quote(path));
    DEPOT_RETURN_IF_ERROR(FromSqlite(rc, db, what));
    sqlite3_extended_result_codes(db, 1);
    DEPOT_RETURN_IF_ERROR(FromSqlite(sqlite3_busy_timeout(db, 5000), db, what));
    // Reading the schema finds a file that is not a database (SQLITE_NOTADB) now, not later.
    DEPOT_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=WAL", what));
    return connection;
  }

 private:
  sqlite3* db_;
};

namespace {

class SqliteSnapshot final : public Snapshot {
 public:
  explicit SqliteSnapshot(std::shared_ptr<SqliteStore::Connection> connection)
      : connection(std::move(connection)) {}
  ~SqliteSnapshot() override { (void)Exec(connection->get(), "COMMIT", "ending a snapshot"); }
  const std::shared_ptr<SqliteStore::Connection> connection;
};

// Steps a range query; holds the connection (and so the read transaction) while it lives.
class SqliteIterator final : public Iterator {
 public:
  SqliteIterator(std::shared_ptr<SqliteStore::Connection> connection, Statement statement,
                 bool own_transaction, std::string where)
      : connection_(std::move(connection)),
        statement_(std::move(statement)),
        own_transaction_(own_transaction),
        where_(std::move(where)) {
    Next();
  }
  ~SqliteIterator() override {
    statement_ = Statement();  // finalized before the transaction ends
    if (own_transaction_) (void)Exec(connection_->get(), "COMMIT", where_);
  }

  bool Valid() const override { return valid_; }
  void Next() override {
    const int rc = statement_.Step();
    valid_ = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) status_ = FromSqlite(rc, connection_->get(), where_);
  }
  std::string_view key() const override { return statement_.Column(0); }
  std::string_view value() const override { return statement_.Column(1); }
  Status status() const override { return status_; }

 private:
  const std::shared_ptr<SqliteStore::Connection> connection_;
  Statement statement_;
  const bool own_transaction_;
  const std::string where_;
  bool valid_ = false;
  Status status_;
};

}  // namespace

SqliteStore::SqliteStore(SqliteStoreOptions options) : options_(std::move(options)) {}
SqliteStore::~SqliteStore() = default;

Result<std::shared_ptr<SqliteStore>> SqliteStore::Open(SqliteStoreOptions options) {
  if (options.path.empty()) return InvalidArgumentError("sqlite store: no path given");
  for (const std::string& space : options.spaces) DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
  if (!options.create_if_missing && !std::filesystem::exists(options.path)) {
    return NotFoundError(fmt::format("sqlite store {} does not exist", Quote(options.path)));
  }
  std::shared_ptr<SqliteStore> store(new SqliteStore(options));
  DEPOT_ASSIGN_OR_RETURN(store->writer_, Connection::Open(options.path, options.create_if_missing));
  sqlite3* db = store->writer_->get();
  const std::string where = store->ToString();
  DEPOT_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous=FULL", where));
  for (const std::string& space : options.spaces) {
    DEPOT_RETURN_IF_ERROR(
        Exec(db,
             fmt::format("CREATE TABLE IF NOT EXISTS {} (k BLOB PRIMARY KEY, v BLOB NOT NULL) "
                         "WITHOUT ROWID",
                         Table(space)),
             fmt::format("creating state space {} in {}", Quote(space), where)));
  }
  DEPOT_ASSIGN_OR_RETURN(
      Statement tables,
      Statement::Prepare(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                         where));
  std::vector<std::string> spaces;
  int rc;
  while ((rc = tables.Step()) == SQLITE_ROW) {
    const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(tables.get(), 0));
    std::string_view table = name == nullptr ? std::string_view() : std::string_view(name);
    if (table.starts_with(kTablePrefix)) spaces.emplace_back(table.substr(kTablePrefix.size()));
  }
  DEPOT_RETURN_IF_ERROR(FromSqlite(rc, db, fmt::format("listing the spaces of {}", where)));
  MutexLock lock(store->mu_);
  store->spaces_ = std::move(spaces);
  return store;
}

Capabilities SqliteStore::capabilities() const {
  return {.max_key_bytes = 64 << 10, .snapshots = true, .persistent = true};
}

std::string SqliteStore::ToString() const { return fmt::format("sqlite://{}", options_.path); }

std::vector<std::string> SqliteStore::Spaces() const {
  MutexLock lock(mu_);
  return spaces_;
}

Status SqliteStore::CheckSpace(std::string_view space) const {
  MutexLock lock(mu_);
  if (std::binary_search(spaces_.begin(), spaces_.end(), space)) return Status::Ok();
  return UnknownSpaceError(space, spaces_);
}

Result<std::shared_ptr<SqliteStore::Connection>> SqliteStore::Reader() {
  std::unique_ptr<Connection> connection;
  {
    MutexLock lock(mu_);
    if (!idle_readers_.empty()) {
      connection = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    }
  }
  if (connection == nullptr) {
    DEPOT_ASSIGN_OR_RETURN(connection, Connection::Open(options_.path, false));
  }
  return std::shared_ptr<Connection>(connection.release(), [this](Connection* done) {
    MutexLock lock(mu_);
    if (idle_readers_.size() < 16) {
      idle_readers_.emplace_back(done);
    } else {
      delete done;
    }
  });
}

Result<std::shared_ptr<SqliteStore::Connection>> SqliteStore::ReadConnection(
    const std::shared_ptr<const Snapshot>& snapshot) {
  if (const auto* taken = dynamic_cast<const SqliteSnapshot*>(snapshot.get())) {
    return taken->connection;
  }
  return Reader();
}

Status SqliteStore::DoCreateSpace(std::string_view space) {
  MutexLock write(write_mu_);
  DEPOT_RETURN_IF_ERROR(
      Exec(writer_->get(),
           fmt::format("CREATE TABLE IF NOT EXISTS {} (k BLOB PRIMARY KEY, v BLOB NOT NULL) "
                       "WITHOUT ROWID",
                       Table(space)),
           fmt::format("creating state space {} in {}", Quote(space), ToString())));
  MutexLock lock(mu_);
  auto at = std::lower_bound(spaces_.begin(), spaces_.end(), space);
  if (at == spaces_.end() || *at != space) spaces_.insert(at, std::string(space));
  return Status::Ok();
}

Result<std::optional<std::string>> SqliteStore::DoGet(std::string_view space, std::string_view key,
                                                      const ReadOptions& options) {
  DEPOT_RETURN_IF_ERROR(CheckSpace(space));
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Connection> connection, ReadConnection(options.snapshot));
  const std::string where =
      fmt::format("get of key {} in space {} of {}", Quote(key), Quote(space), ToString());
  DEPOT_ASSIGN_OR_RETURN(
      Statement get,
      Statement::Prepare(connection->get(),
                         fmt::format("SELECT v FROM {} WHERE k = ?1", Table(space)), where));
  get.Bind(1, key);
  const int rc = get.Step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return FromSqlite(rc, connection->get(), where);
  return std::optional<std::string>(std::string(get.Column(0)));
}

Status SqliteStore::DoCommit(const WriteBatch& batch, Durability durability) {
  for (const WriteBatch::Op& op : batch.ops()) DEPOT_RETURN_IF_ERROR(CheckSpace(op.space));
  MutexLock write(write_mu_);
  sqlite3* db = writer_->get();
  const std::string where = fmt::format("commit of {} operations to {}", batch.size(), ToString());
  if (durability != writer_mode_) {
    DEPOT_RETURN_IF_ERROR(Exec(
        db,
        durability == Durability::kSync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
        where));
    writer_mode_ = durability;
  }
  DEPOT_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE", where));
  Status applied = [&]() -> Status {
    for (const WriteBatch::Op& op : batch.ops()) {
      Statement statement;
      switch (op.kind) {
        case WriteBatch::Kind::kPut: {
          DEPOT_ASSIGN_OR_RETURN(
              statement,
              Statement::Prepare(
                  db,
                  fmt::format("INSERT OR REPLACE INTO {} (k, v) VALUES (?1, ?2)", Table(op.space)),
                  where));
          statement.Bind(1, op.key);
          statement.Bind(2, op.value);
          break;
        }
        case WriteBatch::Kind::kDelete: {
          DEPOT_ASSIGN_OR_RETURN(
              statement,
              Statement::Prepare(db, fmt::format("DELETE FROM {} WHERE k = ?1", Table(op.space)),
                                 where));
          statement.Bind(1, op.key);
          break;
        }
        case WriteBatch::Kind::kDeleteRange: {
          if (!(op.key < op.value)) continue;
          DEPOT_ASSIGN_OR_RETURN(
              statement,
              Statement::Prepare(
                  db, fmt::format("DELETE FROM {} WHERE k >= ?1 AND k < ?2", Table(op.space)),
                  where));
          statement.Bind(1, op.key);
          statement.Bind(2, op.value);
          break;
        }
      }
      DEPOT_RETURN_IF_ERROR(FromSqlite(statement.Step(), db, where));
    }
    return Exec(db, "COMMIT", where);
  }();
  if (!applied.ok()) (void)Exec(db, "ROLLBACK", where);
  return applied;
}

Result<std::unique_ptr<Iterator>> SqliteStore::DoScan(std::string_view space,
                                                      const ScanOptions& options) {
  DEPOT_RETURN_IF_ERROR(CheckSpace(space));
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Connection> connection, ReadConnection(options.snapshot));
  const bool own_transaction = options.snapshot == nullptr;
  const std::string where = fmt::format("scan of space {} of {}", Quote(space), ToString());
  DEPOT_ASSIGN_OR_RETURN(
      Statement scan,
      Statement::Prepare(connection->get(),
                         RangeQuery(space, !options.end.empty(), options.reverse), where));
  scan.Bind(1, options.begin);
  if (!options.end.empty()) scan.Bind(2, options.end);
  if (own_transaction) DEPOT_RETURN_IF_ERROR(Exec(connection->get(), "BEGIN", where));
  return std::unique_ptr<Iterator>(std::make_unique<SqliteIterator>(
      std::move(connection), std::move(scan), own_transaction, where));
}

Result<std::shared_ptr<const Snapshot>> SqliteStore::DoGetSnapshot() {
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Connection> connection, Reader());
  const std::string where = fmt::format("snapshot of {}", ToString());
  DEPOT_RETURN_IF_ERROR(Exec(connection->get(), "BEGIN", where));
  // A deferred transaction takes its read mark at its first read: take it now.
  DEPOT_RETURN_IF_ERROR(Exec(connection->get(), "SELECT count(*) FROM sqlite_master", where));
  return std::shared_ptr<const Snapshot>(std::make_shared<SqliteSnapshot>(std::move(connection)));
}

Result<uint64_t> SqliteStore::DoApproximateSize(std::string_view space, std::string_view begin,
                                                std::string_view end) {
  DEPOT_RETURN_IF_ERROR(CheckSpace(space));
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Connection> connection, Reader());
  const std::string where = fmt::format("size of space {} of {}", Quote(space), ToString());
  DEPOT_ASSIGN_OR_RETURN(
      Statement sum,
      Statement::Prepare(connection->get(),
                         fmt::format("SELECT coalesce(sum(length(k) + length(v)), 0) FROM {} "
                                     "WHERE k >= ?1{}",
                                     Table(space), end.empty() ? "" : " AND k < ?2"),
                         where));
  sum.Bind(1, begin);
  if (!end.empty()) sum.Bind(2, end);
  const int rc = sum.Step();
  if (rc != SQLITE_ROW) return FromSqlite(rc, connection->get(), where);
  return static_cast<uint64_t>(sum.ColumnInt(0));
}

Result<std::vector<SpaceStats>> SqliteStore::DoStats() {
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Connection> connection, Reader());
  std::vector<SpaceStats> stats;
  for (const std::string& space : Spaces()) {
    const std::string where = fmt::format("stats of space {} of {}", Quote(space), ToString());
    DEPOT_ASSIGN_OR_RETURN(
        Statement count,
        Statement::Prepare(connection->get(),
                           fmt::format("SELECT count(*), coalesce(sum(length(k) + length(v)), 0) "
                                       "FROM {}",
                                       Table(space)),
                           where));
    const int rc = count.Step();
    if (rc != SQLITE_ROW) return FromSqlite(rc, connection->get(), where);
    stats.push_back({.space = space,
                     .approximate_keys = static_cast<uint64_t>(count.ColumnInt(0)),
                     .approximate_bytes = static_cast<uint64_t>(count.ColumnInt(1))});
  }
  return stats;
}

}  // namespace depot::kv

namespace depot::kv {

Result<std::vector<std::string>> SqliteStore::DoCheckpoint(const std::string& directory) {
  const std::string where = fmt::format("checkpoint of {} into {}", ToString(), Quote(directory));
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return InternalError(fmt::format("{}: {}", where, ec.message()));
  const std::string copy_path = (std::filesystem::path(directory) / "kv.db").string();
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<Connection> copy, Connection::Open(copy_path, true));
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Connection> source, Reader());
  // The online backup copies pages of one read transaction's state; -1: all in one step.
  sqlite3_backup* backup = sqlite3_backup_init(copy->get(), "main", source->get(), "main");
  if (backup == nullptr) return FromSqlite(sqlite3_errcode(copy->get()), copy->get(), where);
  const int stepped = sqlite3_backup_step(backup, -1);
  const int finished = sqlite3_backup_finish(backup);
  if (stepped != SQLITE_DONE) return FromSqlite(stepped, copy->get(), where);
  DEPOT_RETURN_IF_ERROR(FromSqlite(finished, copy->get(), where));
  // One self-contained file: the copy's WAL folded back in.
  DEPOT_RETURN_IF_ERROR(Exec(copy->get(), "PRAGMA journal_mode=DELETE", where));
  copy.reset();
  return std::vector<std::string>{"kv.db"};
}

}  // namespace depot::kv
