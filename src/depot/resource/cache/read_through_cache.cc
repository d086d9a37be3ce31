// The read-through cache's bookkeeping.
//
// Entries live in `lru_` (most recently used first) and are found by key through `index_`; both
// are under `mu_`, as are each entry's reader count and validation time. The files of an entry
// are made, opened and closed under the entry's own mutex, outside `mu_`, so a miss that writes a
// file or a reopen never stalls the hits of other keys. An entry leaves the index when it is
// evicted, replaced by a newer ETag, or dropped by a write or a failure; it is then "doomed" and
// its files are deleted by its destructor, which runs when the last reader lets go (never under
// `mu_`: entries are released outside it, since the destructor stops a fetch and joins it).
//
// Crash protocol: an entry's meta file is written (atomically, durably) before its data file is
// made, and deleted before it. So on restart a meta without its data file, a data file without
// its meta, and the atomic writer's temp files are leftovers of an entry made or deleted halfway,
// and are deleted; a data file with a meta is an entry, complete or resumable (mmap_driver.cc's
// protocol says which). Files are named by a random id, never by key, so a new entry for a key
// never meets the files of an old one still being read.
#include "depot/resource/cache/read_through_cache.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <list>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/mutex.h"
#include "depot/core/unique_fd.h"
#include "depot/object/key.h"
#include "depot/object/preconditions.h"
#include "depot/resource/atomic/atomic_file.h"
#include "depot/resource/files.h"
#include "depot/resource/mmap/mmap_driver.h"

namespace depot::resource {

using object::ObjectMeta;
namespace fs = std::filesystem;

namespace {

using SteadyClock = std::chrono::steady_clock;

// Bytes copied out of a resource per on_data call.
constexpr uint64_t kPiece = 1 << 20;
// Recent HEAD answers kept (ReadThroughCache::Impl::heads_).
constexpr size_t kMaxHeads = 4096;

constexpr std::string_view kMetaSuffix = ".meta";
constexpr std::string_view kDataSuffix = ".data";
constexpr std::string_view kLockFile = "LOCK";

std::string EncodeMeta(const ObjectMeta& meta) {
  nlohmann::json json = nlohmann::json::object();
  json["key"] = meta.key;
  json["etag"] = meta.etag;
  json["size"] = meta.size;
  json["last_modified_ns"] =
      std::chrono::duration_cast<std::chrono::nanoseconds>(meta.last_modified.time_since_epoch())
          .count();
  if (meta.version) json["version"] = *meta.version;
  json["content_type"] = meta.content_type;
  for (const auto& [name, member] : object::kObjectHeaderFields) {
    if (!(meta.headers.*member).empty()) json["headers"][name] = meta.headers.*member;
  }
  json["user_metadata"] = meta.user_metadata;
  if (!meta.checksum.empty()) {
    json["checksum"] = {meta.checksum.algorithm, meta.checksum.value, meta.checksum.composite};
  }
  for (const object::ObjectPart& part : meta.parts) {
    json["parts"].push_back({part.size, part.checksum});
  }
  return json.dump();  // throws for text that is not UTF-8
}

std::optional<ObjectMeta> DecodeMeta(std::string_view text) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::nullopt;
  ObjectMeta meta;
  try {
    meta.key = json.at("key").get<std::string>();
    meta.etag = json.at("etag").get<std::string>();
    meta.size = json.at("size").get<uint64_t>();
    meta.last_modified =
        object::Clock::time_point(std::chrono::duration_cast<object::Clock::duration>(
            std::chrono::nanoseconds(json.at("last_modified_ns").get<int64_t>())));
    if (json.contains("version")) meta.version = json.at("version").get<std::string>();
    meta.content_type = json.at("content_type").get<std::string>();
    if (json.contains("headers")) {
      const nlohmann::json& headers = json.at("headers");
      for (const auto& [name, member] : object::kObjectHeaderFields) {
        if (headers.contains(name)) meta.headers.*member = headers.at(name).get<std::string>();
      }
    }
    meta.user_metadata = json.at("user_metadata").get<std::map<std::string, std::string>>();
    if (json.contains("checksum")) {
      const nlohmann::json& checksum = json.at("checksum");
      meta.checksum = {checksum.at(0).get<std::string>(), checksum.at(1).get<std::string>(),
                       checksum.at(2).get<bool>()};
    }
    if (json.contains("parts")) {
      for (const nlohmann::json& part : json.at("parts")) {
        meta.parts.push_back({part.at(0).get<uint64_t>(), part.at(1).get<std::string>()});
      }
    }
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return meta;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(fmt::format("cannot read \"{}\"", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// 128 random bits in hex: an entry's file name, never reused.
std::string NewEntryId() {
  uint8_t bytes[16];
  arc4random_buf(bytes, sizeof(bytes));
  std::string hex;
  for (uint8_t byte : bytes) hex += fmt::format("{:02x}", byte);
  return hex;
}

// Deletes `path` if it is there; errors are ignored (a leftover is deleted at the next Open).
void RemoveQuietly(const std::string& path) { ::unlink(path.c_str()); }

bool IsCallerStop(const Status& status, const Context& ctx) {
  return (ctx.IsCancelled() || ctx.Expired()) && (status.code() == StatusCode::kCancelled ||
                                                  status.code() == StatusCode::kDeadlineExceeded);
}

}  // namespace

// ---- Entry ----

// One object at one ETag, and its files.
class CacheEntry {
 public:
  CacheEntry(std::string dir, std::string id, ObjectMeta meta, bool on_disk)
      : dir_(std::move(dir)),
        id_(std::move(id)),
        meta_(std::move(meta)),
        on_disk_(on_disk),
        meta_written_(on_disk) {}
  ~CacheEntry() {
    Close();
    if (doomed_) {
      // The meta first, made durable, so that a data file is never left with its meta and
      // without its record (which would say "complete"); the record last. A meta that cannot be
      // removed keeps the rest: the entry then comes back at restart, as it is.
      if (::unlink(MetaPath().c_str()) != 0 && errno != ENOENT) return;
      (void)internal::SyncDirectoryOf(MetaPath());
      RemoveQuietly(DataPath());
      RemoveQuietly(PresentRecordPath(DataPath()));
    }
  }
  CacheEntry(const CacheEntry&) = delete;
  CacheEntry& operator=(const CacheEntry&) = delete;

  const ObjectMeta& meta() const { return meta_; }
  std::string MetaPath() const { return fmt::format("{}/{}{}", dir_, id_, kMetaSuffix); }
  std::string DataPath() const { return fmt::format("{}/{}{}", dir_, id_, kDataSuffix); }

  // A reader of the entry's resource, opening it first (writing the meta file of a new entry,
  // resuming an unfinished fetch) if it is not open.
  Result<ResourceReader> Open(object::ObjectStore& backing, const FetchOptions& fetch,
                              const Context& fetch_ctx) {
    MutexLock lock(mu_);
    if (resource_) return resource_->reader();
    if (!meta_written_) {
      std::string text;
      try {
        text = EncodeMeta(meta_);
      } catch (const nlohmann::json::exception&) {
        return InvalidArgumentError(fmt::format(
            "{}: its metadata is not UTF-8 text, which the cache's files keep", Name()));
      }
      std::error_code made;
      fs::create_directories(dir_, made);  // again, in case it was deleted under us
      DEPOT_RETURN_IF_ERROR(WriteFileAtomically(MetaPath(), text));
      meta_written_ = true;
    } else if (::access(DataPath().c_str(), F_OK) != 0) {
      return NotFoundError(fmt::format("{}: its file \"{}\" is gone", Name(), DataPath()));
    }
    MmapOptions options;
    options.path = DataPath();
    options.initial_size = std::max<uint64_t>(meta_.size, 1);
    DEPOT_ASSIGN_OR_RETURN(Resource resource, OpenMmapResource(options));
    on_disk_ = true;
    const ResourceStatus status = resource.status();
    if (status.committed()) {
      if (status.length != meta_.size) {
        return DataLossError(fmt::format("{}: its file holds {}, not {} bytes", Name(),
                                         status.ToString(), meta_.size));
      }
    } else {
      FetchOptions pinned = fetch;
      pinned.etag = meta_.etag;
      DEPOT_ASSIGN_OR_RETURN(fetcher_, Fetcher::Start(backing, meta_, resource, pinned, fetch_ctx));
    }
    resource_ = resource;
    open_ = true;
    return resource.reader();
  }

  // Closes the file once its fetch is over (an unfinished fetch keeps it). True if closed.
  bool CloseIfComplete() {
    MutexLock lock(mu_);
    if (!resource_ || !resource_->status().committed()) return false;
    fetcher_.reset();
    resource_.reset();
    open_ = false;
    return true;
  }

  // Stops the fetch (what was fetched stays recorded) and closes the file.
  void Close() {
    std::unique_ptr<Fetcher> fetcher;
    {
      MutexLock lock(mu_);
      fetcher = std::move(fetcher_);
      resource_.reset();
      open_ = false;
    }
    fetcher.reset();
  }

  void Doom() { doomed_ = true; }
  // Without the entry's lock (so the cache's lock never waits for a file being made).
  bool IsOpen() const { return open_; }
  // Whether the entry had files and they are gone (its directory deleted, say).
  bool FilesGone() const { return on_disk_ && ::access(DataPath().c_str(), F_OK) != 0; }

  std::string Name() const {
    return fmt::format("cache entry {} (ETag \"{}\")", object::QuoteKey(meta_.key), meta_.etag);
  }

  // Under the cache's mutex.
  int readers = 0;
  bool indexed = false;
  std::optional<SteadyClock::time_point> validated;  // never, after a restart
  std::list<std::shared_ptr<CacheEntry>>::iterator lru;

 private:
  const std::string dir_;
  const std::string id_;
  const ObjectMeta meta_;
  std::atomic<bool> doomed_ = false;
  std::atomic<bool> open_ = false;
  std::atomic<bool> on_disk_;  // its data file was made (or found at Open)

  Mutex mu_;
  bool meta_written_ DEPOT_GUARDED_BY(mu_);
  std::optional<Resource> resource_ DEPOT_GUARDED_BY(mu_);
  std::unique_ptr<Fetcher> fetcher_ DEPOT_GUARDED_BY(mu_);
};

// ---- Impl ----

class ReadThroughCache::Impl {
 public:
  Impl(object::ObjectStore& backing, CacheOptions options)
      : backing_(backing),
        options_(std::move(options)),
        fetch_ctx_(Context().WithToken(stop_.token())) {}
  ~Impl() {
    stop_.Cancel();
    std::vector<std::shared_ptr<CacheEntry>> all;
    {
      MutexLock lock(mu_);
      all.assign(lru_.begin(), lru_.end());
      lru_.clear();
      index_.clear();
    }
    for (auto& entry : all) entry->Close();
  }

  Status Load();

  // A reader's hold on an entry; lets go on destruction.
  class Lease {
   public:
    Lease() = default;
    Lease(Impl* impl, std::shared_ptr<CacheEntry> entry) : impl_(impl), entry_(std::move(entry)) {}
    Lease(Lease&& other) noexcept
        : impl_(std::exchange(other.impl_, nullptr)), entry_(std::move(other.entry_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (impl_ != nullptr) impl_->Release(std::move(entry_));
    }
    CacheEntry* operator->() const { return entry_.get(); }
    explicit operator bool() const { return entry_ != nullptr; }
    const std::shared_ptr<CacheEntry>& entry() const { return entry_; }

   private:
    Impl* impl_ = nullptr;
    std::shared_ptr<CacheEntry> entry_;
  };

  // A fresh entry of `key` for a read, revalidated or made as needed; an empty lease when the
  // read should go to the backing store uncached. Errors are the backing store's (kNotFound).
  Result<Lease> Acquire(std::string_view key, const Context& ctx);
  // The metadata of `key`: a fresh entry's, or a recent HEAD's, or else from a HEAD of the
  // backing store (remembered for the same window).
  Result<ObjectMeta> Meta(std::string_view key, const Context& ctx);
  // Opens the leased entry's resource; on failure drops the entry.
  Result<ResourceReader> Open(const Lease& lease);
  // Drops the entry of `key` (a write went through); readers finish on it.
  void Invalidate(std::string_view key);
  // Drops `entry` if it is still indexed (it failed).
  void Drop(const std::shared_ptr<CacheEntry>& entry);
  void CountFallback() {
    MutexLock lock(mu_);
    ++stats_.fallbacks;
  }
  void CountUncached() {
    MutexLock lock(mu_);
    ++stats_.uncached;
  }

  CacheStats stats() const {
    MutexLock lock(mu_);
    CacheStats stats = stats_;
    stats.entries = index_.size();
    stats.bytes = bytes_;
    return stats;
  }
  const CacheOptions& options() const { return options_; }

 private:
  using Victims = std::vector<std::shared_ptr<CacheEntry>>;

  bool FreshLocked(const CacheEntry& entry, SteadyClock::time_point now) const DEPOT_REQUIRES(mu_) {
    return entry.validated && now - *entry.validated <= options_.revalidate_after;
  }
  void TouchLocked(CacheEntry& entry) DEPOT_REQUIRES(mu_) {
    lru_.splice(lru_.begin(), lru_, entry.lru);
  }
  void InsertLocked(std::shared_ptr<CacheEntry> entry) DEPOT_REQUIRES(mu_);
  // Takes `entry` out of the index and dooms it; `victims` keeps it until the lock is released.
  void RemoveLocked(const std::shared_ptr<CacheEntry>& entry, Victims& victims) DEPOT_REQUIRES(mu_);
  // Evicts idle entries, least recently used first, until `size` more bytes fit.
  bool MakeRoomLocked(uint64_t size, Victims& victims) DEPOT_REQUIRES(mu_);
  void Release(std::shared_ptr<CacheEntry> entry);
  Lease LeaseLocked(const std::shared_ptr<CacheEntry>& entry) DEPOT_REQUIRES(mu_) {
    ++entry->readers;
    TouchLocked(*entry);
    idle_open_.remove(entry.get());
    return Lease(this, entry);
  }

  object::ObjectStore& backing_;
  const CacheOptions options_;
  UniqueFd dir_lock_;        // flock'd: the directory is ours
  CancellationSource stop_;  // ends every fetch when the cache goes
  const Context fetch_ctx_;

  mutable Mutex mu_;
  std::list<std::shared_ptr<CacheEntry>> lru_ DEPOT_GUARDED_BY(mu_);
  std::unordered_map<std::string, std::shared_ptr<CacheEntry>> index_ DEPOT_GUARDED_BY(mu_);
  // Idle entries with an open file, least recently released first (at most max_open_files).
  std::list<CacheEntry*> idle_open_ DEPOT_GUARDED_BY(mu_);
  uint64_t bytes_ DEPOT_GUARDED_BY(mu_) = 0;
  // Writes, counted per slot of keys (a key's slot: its hash modulo kWriteSlots), so that an
  // entry made from a HEAD that a write to its key may have overtaken is not kept, while writes
  // to other keys (but the few sharing the slot) leave it be.
  static constexpr size_t kWriteSlots = 1024;
  std::array<uint64_t, kWriteSlots> writes_ DEPOT_GUARDED_BY(mu_) = {};
  static size_t WriteSlot(std::string_view key) {
    return std::hash<std::string_view>{}(key) % kWriteSlots;
  }
  // Recent HEADs of keys without a fresh entry (bucket markers, objects only headed), used for
  // revalidate_after like entries; dropped by writes like entries, and all at once when full.
  struct Head {
    ObjectMeta meta;
    SteadyClock::time_point asked;
  };
  std::unordered_map<std::string, Head> heads_ DEPOT_GUARDED_BY(mu_);
  CacheStats stats_ DEPOT_GUARDED_BY(mu_);
};

Status ReadThroughCache::Impl::Load() {
  std::error_code error;
  fs::create_directories(options_.dir, error);
  if (error) {
    return ErrnoToStatus(error.value(),
                         fmt::format("cache directory \"{}\": cannot be made", options_.dir));
  }
  // One cache per directory: a second process would delete the first one's files as leftovers.
  const std::string lock_path = fmt::format("{}/{}", options_.dir, kLockFile);
  dir_lock_ = UniqueFd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!dir_lock_.valid()) return internal::Errno("open {}", lock_path);
  if (::flock(dir_lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return UnavailableError(
          fmt::format("cache directory \"{}\" is in use by another process (it holds {})",
                      options_.dir, lock_path));
    }
    return internal::Errno("lock {}", lock_path);
  }
  struct Found {
    std::shared_ptr<CacheEntry> entry;
    fs::file_time_type used;
  };
  std::vector<Found> found;
  std::vector<std::string> leftovers;
  fs::directory_iterator it(options_.dir, error);
  if (error) {
    return ErrnoToStatus(error.value(),
                         fmt::format("cache directory \"{}\": cannot be read", options_.dir));
  }
  for (const fs::directory_entry& file : it) {
    const std::string name = file.path().filename().string();
    const std::string path = file.path().string();
    if (name.ends_with(kMetaSuffix)) {
      const std::string id = name.substr(0, name.size() - kMetaSuffix.size());
      const std::string data = fmt::format("{}/{}{}", options_.dir, id, kDataSuffix);
      Result<std::string> text = ReadSmallFile(path);
      std::optional<ObjectMeta> meta = text.ok() ? DecodeMeta(*text) : std::nullopt;
      std::error_code stat_error;
      const fs::file_time_type used = fs::last_write_time(data, stat_error);
      if (!meta || stat_error) {
        leftovers.push_back(path);
        continue;
      }
      found.push_back(
          {std::make_shared<CacheEntry>(options_.dir, id, std::move(*meta), true), used});
    } else if (name.ends_with(kDataSuffix) || name.ends_with(".present") ||
               name.ends_with(".tmp")) {
      const std::string stem = name.substr(0, name.find('.'));
      if (!fs::exists(fmt::format("{}/{}{}", options_.dir, stem, kMetaSuffix)) ||
          name.ends_with(".tmp")) {
        leftovers.push_back(path);
      }
    }
  }
  for (const std::string& path : leftovers) RemoveQuietly(path);
  // Most recently written first: the order of use, as near as the files tell.
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.used > b.used; });
  Victims victims;
  MutexLock lock(mu_);
  for (Found& one : found) {
    const uint64_t size = one.entry->meta().size;
    if (index_.contains(one.entry->meta().key) || bytes_ + size > options_.max_bytes) {
      one.entry->Doom();  // an older copy, or more than fits now
      victims.push_back(std::move(one.entry));
      continue;
    }
    lru_.push_back(one.entry);
    one.entry->lru = std::prev(lru_.end());
    one.entry->indexed = true;
    index_.emplace(one.entry->meta().key, one.entry);
    bytes_ += size;
  }
  return Status::Ok();
}

void ReadThroughCache::Impl::InsertLocked(std::shared_ptr<CacheEntry> entry) {
  bytes_ += entry->meta().size;
  lru_.push_front(entry);
  entry->lru = lru_.begin();
  entry->indexed = true;
  index_[entry->meta().key] = std::move(entry);
}

void ReadThroughCache::Impl::RemoveLocked(const std::shared_ptr<CacheEntry>& entry,
                                          Victims& victims) {
  if (!entry->indexed) return;
  entry->indexed = false;
  entry->Doom();
  bytes_ -= entry->meta().size;
  idle_open_.remove(entry.get());
  victims.push_back(*entry->lru);
  lru_.erase(entry->lru);
  index_.erase(entry->meta().key);
}

bool ReadThroughCache::Impl::MakeRoomLocked(uint64_t size, Victims& victims) {
  if (size > options_.max_bytes) return false;
  for (auto it = lru_.end(); bytes_ + size > options_.max_bytes && it != lru_.begin();) {
    --it;
    if ((*it)->readers > 0) continue;
    const std::shared_ptr<CacheEntry> victim = *it;
    it = std::next(it);  // RemoveLocked erases the victim's node; keep the one after it
    RemoveLocked(victim, victims);
    ++stats_.evictions;
  }
  return bytes_ + size <= options_.max_bytes;
}

Result<ReadThroughCache::Impl::Lease> ReadThroughCache::Impl::Acquire(std::string_view key,
                                                                      const Context& ctx) {
  std::shared_ptr<CacheEntry> known;
  uint64_t writes = 0;
  {
    MutexLock lock(mu_);
    if (auto it = index_.find(std::string(key)); it != index_.end()) {
      if (FreshLocked(*it->second, SteadyClock::now())) {
        ++stats_.hits;
        return LeaseLocked(it->second);
      }
      known = it->second;
    }
    writes = writes_[WriteSlot(key)];
  }
  Victims victims;  // released after the lock
  ObjectMeta meta;
  const SteadyClock::time_point asked = SteadyClock::now();
  if (known) {
    object::GetOptions check;
    check.head = true;
    check.if_none_match = known->meta().etag;
    {
      MutexLock lock(mu_);
      ++stats_.revalidations;
    }
    Result<object::GetResult> answer = backing_.Get(key, check, ctx);
    if (!answer.ok()) {
      if (answer.status().code() == StatusCode::kNotFound) Drop(known);
      return answer.status();
    }
    const bool files_gone = known->FilesGone();
    MutexLock lock(mu_);
    if (answer->not_modified && !files_gone && known->indexed) {
      if (!known->validated || *known->validated < asked) known->validated = asked;
      ++stats_.hits;
      return LeaseLocked(known);
    }
    if (files_gone) RemoveLocked(known, victims);
    // A 304 carries no size or metadata: the version is the entry's.
    meta = answer->not_modified ? known->meta() : std::move(answer->meta);
  } else {
    DEPOT_ASSIGN_OR_RETURN(meta, backing_.Head(key, ctx));
  }
  // The cache's files keep the metadata as JSON: an object whose metadata is not UTF-8 is read
  // uncached, before it evicts anything.
  bool encodable = true;
  try {
    (void)EncodeMeta(meta);
  } catch (const nlohmann::json::exception&) {
    encodable = false;
  }
  MutexLock lock(mu_);
  if (auto it = index_.find(std::string(key)); it != index_.end()) {
    CacheEntry& current = *it->second;
    if (current.meta().etag == meta.etag) {
      // Another read made or revalidated an entry of this version meanwhile: share it, as
      // validated by the later of the two answers.
      if (!current.validated || *current.validated < asked) current.validated = asked;
      ++stats_.hits;
      return LeaseLocked(it->second);
    }
    if (current.validated && *current.validated > asked) {
      // That entry was validated after this HEAD was sent: this answer is the older one.
      ++stats_.uncached;
      return Lease();
    }
    RemoveLocked(it->second, victims);
  }
  if (!encodable || writes_[WriteSlot(key)] != writes || !MakeRoomLocked(meta.size, victims)) {
    ++stats_.uncached;
    return Lease();
  }
  auto entry = std::make_shared<CacheEntry>(options_.dir, NewEntryId(), std::move(meta), false);
  entry->validated = asked;
  InsertLocked(entry);
  ++stats_.misses;
  return LeaseLocked(entry);
}

Result<ObjectMeta> ReadThroughCache::Impl::Meta(std::string_view key, const Context& ctx) {
  uint64_t writes = 0;
  {
    MutexLock lock(mu_);
    const SteadyClock::time_point now = SteadyClock::now();
    if (auto it = index_.find(std::string(key));
        it != index_.end() && FreshLocked(*it->second, now)) {
      return it->second->meta();
    }
    if (auto it = heads_.find(std::string(key));
        it != heads_.end() && now - it->second.asked <= options_.revalidate_after) {
      return it->second.meta;
    }
    writes = writes_[WriteSlot(key)];
  }
  const SteadyClock::time_point asked = SteadyClock::now();
  DEPOT_ASSIGN_OR_RETURN(ObjectMeta meta, backing_.Head(key, ctx));
  MutexLock lock(mu_);
  if (writes_[WriteSlot(key)] == writes) {
    if (heads_.size() >= kMaxHeads) heads_.clear();
    heads_[std::string(key)] = {meta, asked};
  }
  return meta;
}

Result<ResourceReader> ReadThroughCache::Impl::Open(const Lease& lease) {
  Result<ResourceReader> reader = lease->Open(backing_, options_.fetch, fetch_ctx_);
  if (!reader.ok()) Drop(lease.entry());
  return reader;
}

void ReadThroughCache::Impl::Release(std::shared_ptr<CacheEntry> entry) {
  std::shared_ptr<CacheEntry> to_close;
  {
    MutexLock lock(mu_);
    if (--entry->readers > 0 || !entry->indexed || !entry->IsOpen()) return;
    idle_open_.push_back(entry.get());
    if (idle_open_.size() > options_.max_open_files) {
      // Indexed: RemoveLocked takes entries out of idle_open_.
      to_close = *idle_open_.front()->lru;
      idle_open_.pop_front();
    }
  }
  if (!to_close || to_close->CloseIfComplete()) return;
  // Still fetching: it keeps its file, and its place in line, until its fetch is over.
  MutexLock lock(mu_);
  if (to_close->indexed && to_close->readers == 0) idle_open_.push_back(to_close.get());
}

void ReadThroughCache::Impl::Invalidate(std::string_view key) {
  Victims victims;
  MutexLock lock(mu_);
  ++writes_[WriteSlot(key)];
  heads_.erase(std::string(key));
  if (auto it = index_.find(std::string(key)); it != index_.end()) {
    RemoveLocked(it->second, victims);
  }
}

void ReadThroughCache::Impl::Drop(const std::shared_ptr<CacheEntry>& entry) {
  Victims victims;
  MutexLock lock(mu_);
  RemoveLocked(entry, victims);
}

// ---- ReadThroughCache ----

Result<std::shared_ptr<ReadThroughCache>> ReadThroughCache::Open(
    std::shared_ptr<object::ObjectStore> backing, CacheOptions options) {
  if (backing == nullptr) return InvalidArgumentError("read-through cache: no backing store");
  if (options.dir.empty() || options.max_bytes == 0) {
    return InvalidArgumentError(
        fmt::format("read-through cache: a directory (\"{}\") and a size ({} bytes) are needed",
                    options.dir, options.max_bytes));
  }
  if (options.revalidate_after.count() < 0) {
    return InvalidArgumentError(
        fmt::format("read-through cache: revalidate_after ({} ms) is negative",
                    options.revalidate_after.count()));
  }
  auto impl = std::make_unique<Impl>(*backing, std::move(options));
  DEPOT_RETURN_IF_ERROR(impl->Load());
  return std::shared_ptr<ReadThroughCache>(
      new ReadThroughCache(std::move(backing), std::move(impl)));
}

ReadThroughCache::ReadThroughCache(std::shared_ptr<object::ObjectStore> backing,
                                   std::unique_ptr<Impl> impl)
    : ForwardingStore(*backing), backing_(std::move(backing)), impl_(std::move(impl)) {}

ReadThroughCache::~ReadThroughCache() = default;

CacheStats ReadThroughCache::stats() const { return impl_->stats(); }

std::string ReadThroughCache::ToString() const {
  return fmt::format("{} (cached in {})", target().ToString(), impl_->options().dir);
}

Status ReadThroughCache::DoGetStream(std::string_view key, const object::GetOptions& options,
                                     const std::function<Status(const object::GetResult&)>& on_head,
                                     const std::function<Status(std::string_view)>& on_data,
                                     const Context& ctx) {
  if (options.head) {
    DEPOT_ASSIGN_OR_RETURN(object::GetResult head, DoGet(key, options, ctx));
    return on_head(head);
  }
  DEPOT_ASSIGN_OR_RETURN(Impl::Lease lease, impl_->Acquire(key, ctx));
  if (!lease) return target().GetStream(key, options, on_head, on_data, ctx);
  object::GetResult head;
  head.meta = lease->meta();
  DEPOT_ASSIGN_OR_RETURN(head.not_modified, object::EvaluatePreconditions(options, head.meta));
  if (!head.not_modified) {
    DEPOT_ASSIGN_OR_RETURN(head.range, options.range.Validate(head.meta.size));
  }
  uint64_t at = head.range.begin;
  const uint64_t end = head.range.end;
  if (head.not_modified || at == end) return on_head(head);
  // Nothing is promised before the first piece is there: a fetch that fails by then (the object
  // changed since its HEAD, say) hands the whole read to the backing store.
  Result<ResourceReader> reader = impl_->Open(lease);
  Status failure = reader.status();
  if (reader.ok()) {
    Result<WaitOutcome> first = reader->WaitRange(at, std::min(end, at + kPiece), ctx);
    if (first.ok() && *first == WaitOutcome::kInterrupted) {
      // The caller gave up: the shared fetch goes on for the others.
      return CancelledError(fmt::format("get of key {}: cancelled", object::QuoteKey(key)));
    }
    failure = !first.ok() ? first.status()
                          : (*first == WaitOutcome::kReady
                                 ? Status::Ok()
                                 : DataLossError(fmt::format("the cached file ended ({})",
                                                             WaitOutcomeName(*first))));
  }
  if (!failure.ok()) {
    if (IsCallerStop(failure, ctx)) return failure;
    impl_->Drop(lease.entry());
    impl_->CountFallback();
    return target().GetStream(key, options, on_head, on_data, ctx);
  }
  DEPOT_RETURN_IF_ERROR(on_head(head));
  std::unique_ptr<char[]> buffer(new char[std::min(kPiece, end - at)]);
  while (at < end) {
    Result<size_t> got =
        reader->Read(at, std::span<char>(buffer.get(), std::min(kPiece, end - at)), ctx);
    if (!got.ok() || *got == 0) {
      failure = got.ok() ? DataLossError("the cached file ended early") : got.status();
      break;
    }
    DEPOT_RETURN_IF_ERROR(on_data(std::string_view(buffer.get(), *got)));
    at += *got;
  }
  if (at == end) return Status::Ok();
  if (IsCallerStop(failure, ctx)) return failure;
  // The cache could not finish the read: the backing store does, from the same version (an
  // object overwritten since ends the stream with kFailedPrecondition, as GetStream may).
  impl_->Drop(lease.entry());
  impl_->CountFallback();
  object::GetOptions rest;
  rest.if_match = head.meta.etag;
  rest.range = ByteRange::Bounded(at, end);
  return target().GetStream(
      key, rest, [](const object::GetResult&) { return Status::Ok(); }, on_data, ctx);
}

Result<object::GetResult> ReadThroughCache::DoGet(std::string_view key,
                                                  const object::GetOptions& options,
                                                  const Context& ctx) {
  if (options.head) {
    object::GetResult head;
    DEPOT_ASSIGN_OR_RETURN(head.meta, impl_->Meta(key, ctx));
    DEPOT_ASSIGN_OR_RETURN(head.not_modified, object::EvaluatePreconditions(options, head.meta));
    DEPOT_ASSIGN_OR_RETURN(head.range, options.range.Validate(head.meta.size));
    return head;
  }
  object::GetResult result;
  std::string data;
  bool headed = false;
  Status read = DoGetStream(
      key, options,
      [&](const object::GetResult& head) {
        headed = true;
        result = head;
        data.reserve(head.range.length());
        return Status::Ok();
      },
      [&](std::string_view piece) {
        data.append(piece);
        return Status::Ok();
      },
      ctx);
  // A Get is all or nothing: one that lost its version to an overwrite halfway asks the backing
  // store, whose answer is atomic.
  if (headed && read.code() == StatusCode::kFailedPrecondition) {
    return target().Get(key, options, ctx);
  }
  DEPOT_RETURN_IF_ERROR(read);
  result.data = Bytes::FromString(std::move(data));
  return result;
}

Result<ObjectMeta> ReadThroughCache::DoHead(std::string_view key, const Context& ctx) {
  return impl_->Meta(key, ctx);
}

// ---- Writes: through, then the key's entry is dropped ----

Result<object::PutResult> ReadThroughCache::DoPut(std::string_view key, Bytes data,
                                                  const object::PutOptions& options,
                                                  const Context& ctx) {
  Result<object::PutResult> done = target().Put(key, std::move(data), options, ctx);
  impl_->Invalidate(key);
  return done;
}

namespace {

// A writer whose Finish drops the key's entry once the object has landed.
class InvalidatingWriter final : public object::ForwardingWriter {
 public:
  InvalidatingWriter(std::unique_ptr<object::ObjectWriter> inner, std::function<void()> invalidate)
      : ForwardingWriter(std::move(inner)), invalidate_(std::move(invalidate)) {}
  Result<object::PutResult> FinishChecked(const object::Checksum& checksum) override {
    Result<object::PutResult> done = inner().FinishChecked(checksum);
    invalidate_();
    return done;
  }

 private:
  std::function<void()> invalidate_;
};

}  // namespace

Result<std::unique_ptr<object::ObjectWriter>> ReadThroughCache::DoOpenWriter(
    std::string_view key, const object::WriteOptions& options, const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<object::ObjectWriter> inner,
                         target().OpenWriter(key, options, ctx));
  return std::unique_ptr<object::ObjectWriter>(std::make_unique<InvalidatingWriter>(
      std::move(inner), [impl = impl_.get(), key = std::string(key)] { impl->Invalidate(key); }));
}

Status ReadThroughCache::DoDelete(std::string_view key, const Context& ctx) {
  Status done = target().Delete(key, ctx);
  impl_->Invalidate(key);
  return done;
}

std::vector<Status> ReadThroughCache::DoDeleteMany(std::span<const std::string> keys,
                                                   const Context& ctx) {
  std::vector<Status> done = target().DeleteMany(keys, ctx);
  for (const std::string& key : keys) impl_->Invalidate(key);
  return done;
}

Result<object::PutResult> ReadThroughCache::DoCopy(std::string_view from, std::string_view to,
                                                   object::CopyMode mode, const Context& ctx) {
  Result<object::PutResult> done = target().Copy(from, to, mode, ctx);
  impl_->Invalidate(to);
  return done;
}

Status ReadThroughCache::DoRename(std::string_view from, std::string_view to, object::CopyMode mode,
                                  const Context& ctx) {
  Status done = target().Rename(from, to, mode, ctx);
  impl_->Invalidate(from);
  impl_->Invalidate(to);
  return done;
}

Result<object::PutResult> ReadThroughCache::DoCompleteMultipart(
    std::string_view key, std::string_view upload_id, std::span<const object::PartInfo> parts,
    const object::WriteCondition& condition, const Context& ctx) {
  Result<object::PutResult> done =
      target().CompleteMultipart(key, upload_id, parts, condition, ctx);
  impl_->Invalidate(key);
  return done;
}

}  // namespace depot::resource
