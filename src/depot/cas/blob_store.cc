// The content-addressed blob store: layout and crash-consistency protocol.
//
// LAYOUT
//   object store (under options.prefix):
//     blobs/<hh>/<hex>        a blob's bytes, under its id in hex (<hh>: its first two digits)
//     outboards/<hh>/<hex>    its outboard tree (outboard.h), for blobs of more than one leaf
//     staging/<32 hex>        an upload in progress (its bytes), and staging/<32 hex>.obao
//                             (its outboard, as it is built)
//   kv store, state space options.index_space (cas_blobs): the id's 32 bytes -> the record,
//   26 bytes: version (1), state (1 live, 2 deleting), size (u64), pins (u64), created (i64, ms
//   since the epoch), LE.
//   A blob exists for readers exactly when its record is live.
//
// PUT
//   1. The bytes stream into staging/<id> (and the outboard into staging/<id>.obao) while they
//      are hashed: each piece is written on the caller's thread while another thread folds it
//      into the OutboardBuilder. The staging id is registered as active before its objects exist.
//   2. Both writers finish; the hash names the blob.
//   3. Under the blob's stripe lock: a live record means the bytes are there already (dedup): the
//      pin is added to the record (one commit) and the staged objects are deleted. Otherwise the
//      staged outboard and then the bytes move to their final keys (Rename where the object store
//      has it, else Copy and Delete), and the live record is committed (kSync). Only now is the
//      put acknowledged.
//   A crash before 3 leaves staging objects; one during 3 leaves final objects no live record
//   names. Neither is visible (no record), and the next CollectGarbage deletes both.
//
// PIN / UNPIN read, change and commit the record (kSync) under the stripe lock.
//
// COLLECT GARBAGE (one at a time)
//   1. For every record at 0 pins, or left deleting by a crash, under its stripe lock: the record
//      is committed as deleting (readers no longer see the blob), the outboard and bytes are
//      deleted, then the record. A crash in between leaves a deleting record: invisible, and
//      finished by the next run.
//   2. Every object under blobs/ and outboards/ that no live record names is deleted (under its
//      stripe lock, so never a put's object between its move and its record).
//   3. Every staging object whose id is not active in this process is deleted, and every
//      multipart upload open under staging/ for such an id (a crashed writer's parts) aborted.
//
// The stripe locks (by the id's first byte) serialize the steps above per blob within one process;
// one process at a time uses a store (see the header).
#include "depot/cas/blob_store.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cstring>
#include <future>
#include <list>
#include <map>
#include <random>
#include <set>

#include "depot/cas/outboard.h"
#include "depot/core/executor.h"
#include "depot/core/hex.h"
#include "depot/core/mutex.h"

namespace depot::cas {
namespace {

constexpr uint8_t kRecordVersion = 1;
constexpr size_t kRecordLen = 26;
constexpr uint64_t kOutboardPage = 16 << 10;  // outboard bytes read at once: 256 parents

enum class State : uint8_t { kLive = 1, kDeleting = 2 };

struct Record {
  State state = State::kLive;
  uint64_t size = 0;
  uint64_t pins = 0;
  int64_t created_ms = 0;
};

void PutLe(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>(value >> (8 * i));
}

uint64_t GetLe(std::string_view in) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | static_cast<uint8_t>(in[i]);
  return value;
}

std::string EncodeRecord(const Record& record) {
  std::string out;
  out += static_cast<char>(kRecordVersion);
  out += static_cast<char>(record.state);
  PutLe(out, record.size);
  PutLe(out, record.pins);
  PutLe(out, static_cast<uint64_t>(record.created_ms));
  return out;
}

Result<Record> DecodeRecord(const ContentId& id, std::string_view value) {
  const uint8_t state = value.size() > 1 ? static_cast<uint8_t>(value[1]) : 0;
  if (value.size() != kRecordLen || static_cast<uint8_t>(value[0]) != kRecordVersion ||
      (state != 1 && state != 2)) {
    return DataLossError(fmt::format("the index record of blob {} is not a record ({} bytes)",
                                     id.ToHex(), value.size()));
  }
  return Record{static_cast<State>(state), GetLe(value.substr(2)), GetLe(value.substr(10)),
                static_cast<int64_t>(GetLe(value.substr(18)))};
}

std::string_view KeyOf(const ContentId& id) {
  return {reinterpret_cast<const char*>(id.digest.data()), id.digest.size()};
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status NotInStore(const ContentId& id) {
  return NotFoundError(fmt::format("blob {} is not in the store", id.ToHex()));
}

std::string RandomStagingId() {
  static Mutex mu;
  static std::mt19937_64 random DEPOT_GUARDED_BY(mu){std::random_device{}()};
  MutexLock lock(mu);
  return fmt::format("{:016x}{:016x}", random(), random());
}

// Outboard pages shared by every read of a store, the most recently used kept up to a byte budget
// (at least a few pages). A page never goes stale: a blob's outboard is a function of its id, and
// every parent is checked against the id on every use, so a cached page can fail a read but never
// pass a wrong byte.
class OutboardCache {
 public:
  using Page = std::shared_ptr<const std::string>;

  explicit OutboardCache(uint64_t capacity) : capacity_(std::max(capacity, 4 * kOutboardPage)) {}

  Page Find(const ContentId& id, uint64_t page) {
    MutexLock lock(mu_);
    auto it = pages_.find({id, page});
    if (it == pages_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.second);
    return it->second.first;
  }

  void Insert(const ContentId& id, uint64_t page, Page bytes) {
    MutexLock lock(mu_);
    const Key key{id, page};
    if (pages_.contains(key)) return;
    bytes_ += bytes->size();
    order_.push_front(key);
    pages_.emplace(key, std::make_pair(std::move(bytes), order_.begin()));
    while (bytes_ > capacity_) {
      auto last = pages_.find(order_.back());
      bytes_ -= last->second.first->size();
      pages_.erase(last);
      order_.pop_back();
    }
  }

 private:
  using Key = std::pair<ContentId, uint64_t>;
  const uint64_t capacity_;
  Mutex mu_;
  std::list<Key> order_ DEPOT_GUARDED_BY(mu_);  // most recently used first
  std::map<Key, std::pair<Page, std::list<Key>::iterator>> pages_ DEPOT_GUARDED_BY(mu_);
  uint64_t bytes_ DEPOT_GUARDED_BY(mu_) = 0;
};

// The blob's parents and bytes in the object store, for the tree walks of outboard.h: the
// outboard is read in pages through the store's OutboardCache.
class ObjectTreeReader final : public TreeReader {
 public:
  ObjectTreeReader(object::ObjectStore& objects, OutboardCache& cache, const ContentId& id,
                   std::string blob_key, std::string outboard_key, uint64_t size,
                   const Context& ctx)
      : objects_(objects),
        cache_(cache),
        id_(id),
        blob_key_(std::move(blob_key)),
        outboard_key_(std::move(outboard_key)),
        size_(size),
        outboard_size_(OutboardSize(size)),
        ctx_(ctx) {}

  Status ReadParent(uint64_t index, uint8_t out[kParentLen]) override {
    const uint64_t at = index * kParentLen;
    const uint64_t page = at / kOutboardPage;
    OutboardCache::Page bytes = cache_.Find(id_, page);
    if (bytes == nullptr) {
      object::GetOptions options;
      options.range = ByteRange::Bounded(page * kOutboardPage,
                                         std::min(outboard_size_, (page + 1) * kOutboardPage));
      DEPOT_ASSIGN_OR_RETURN(object::GetResult got, objects_.Get(outboard_key_, options, ctx_));
      if (got.meta.size != outboard_size_) {
        return DataLossError(fmt::format("the outboard {} has {} bytes, not {}", outboard_key_,
                                         got.meta.size, outboard_size_));
      }
      if (got.data.size() != options.range.end() - options.range.begin()) {
        return DataLossError(fmt::format("the outboard {} gave {} bytes for {}", outboard_key_,
                                         got.data.size(), options.range.ToString()));
      }
      bytes = std::make_shared<const std::string>(got.data.ToString());
      cache_.Insert(id_, page, bytes);
    }
    if (at - page * kOutboardPage + kParentLen > bytes->size()) {
      return DataLossError(fmt::format("parent {} lies past the {} bytes of the outboard {}", index,
                                       page * kOutboardPage + bytes->size(), outboard_key_));
    }
    std::memcpy(out, bytes->data() + (at - page * kOutboardPage), kParentLen);
    return Status::Ok();
  }

  Status ReadBlob(uint64_t begin, uint64_t end, std::string& out) override {
    if (begin == end) return Status::Ok();
    object::GetOptions options;
    options.range = ByteRange::Bounded(begin, end);
    // Streamed into `out`, whose capacity the walk reuses window after window.
    return objects_.GetStream(
        blob_key_, options,
        [&](const object::GetResult& head) {
          if (head.meta.size == size_) return Status::Ok();
          return DataLossError(
              fmt::format("the blob {} has {} bytes, not {}", blob_key_, head.meta.size, size_));
        },
        [&](std::string_view piece) {
          out.append(piece);
          return Status::Ok();
        },
        ctx_);
  }

 private:
  object::ObjectStore& objects_;
  OutboardCache& cache_;
  const ContentId id_;
  const std::string blob_key_;
  const std::string outboard_key_;
  const uint64_t size_;
  const uint64_t outboard_size_;
  const Context& ctx_;
};

class BlobStoreImpl;

class BlobWriterImpl final : public BlobWriter {
 public:
  BlobWriterImpl(BlobStoreImpl& store, std::string staging, PutBlobOptions options,
                 std::unique_ptr<object::ObjectWriter> bytes, const Context& ctx);
  ~BlobWriterImpl() override { (void)Abort(); }

  Status Write(std::string_view data) override;
  Result<PutBlobResult> Finish() override;
  Status Abort() override;
  uint64_t bytes_written() const override { return written_; }

 private:
  // Writes `piece` to the staged object while it is hashed, then the outboard bytes it made.
  Status Process(std::string_view piece);
  Status WriteOutboard(std::string_view bytes);
  Status Fail(Status status);

  BlobStoreImpl& store_;
  const std::string staging_;
  const PutBlobOptions options_;
  const Context ctx_;
  std::unique_ptr<object::ObjectWriter> bytes_;
  std::unique_ptr<object::ObjectWriter> outboard_;  // opened with the first parent
  OutboardBuilder builder_;
  std::string buffer_;  // small writes, gathered into a piece
  uint64_t written_ = 0;
  Status status_;
  bool done_ = false;
};

class BlobStoreImpl final : public BlobStore {
 public:
  BlobStoreImpl(std::shared_ptr<object::ObjectStore> objects, std::shared_ptr<kv::Store> index,
                BlobStoreOptions options)
      : objects_(std::move(objects)),
        index_(std::move(index)),
        options_(std::move(options)),
        outboards_(options_.outboard_cache),
        hashers_(2, 64) {}

  std::string ToString() const override {
    return fmt::format("cas over {} and {}", objects_->ToString(), index_->ToString());
  }

  Result<std::unique_ptr<BlobWriter>> OpenWriter(const PutBlobOptions& options,
                                                 const Context& ctx) override {
    DEPOT_RETURN_IF_ERROR(ctx.Check("open a blob writer"));
    std::string staging = RandomStagingId();
    {
      MutexLock lock(active_mu_);
      active_.insert(staging);
    }
    auto bytes = objects_->OpenWriter(StagingKey(staging, false), {}, ctx);
    if (!bytes.ok()) {
      Deactivate(staging);
      return bytes.status();
    }
    return std::unique_ptr<BlobWriter>(std::make_unique<BlobWriterImpl>(
        *this, std::move(staging), options, std::move(*bytes), ctx));
  }

  Result<BlobInfo> Stat(const ContentId& id, const Context& ctx) override {
    DEPOT_RETURN_IF_ERROR(ctx.Check("stat blob " + id.ToHex()));
    DEPOT_ASSIGN_OR_RETURN(Record record, LiveRecord(id, ctx));
    return Info(id, record);
  }

  Status Read(const ContentId& id, const ByteRange& range,
              const std::function<Status(std::string_view)>& sink, const ReadBlobOptions& options,
              const Context& ctx) override {
    DEPOT_RETURN_IF_ERROR(ctx.Check("read blob " + id.ToHex()));
    DEPOT_ASSIGN_OR_RETURN(Record record, LiveRecord(id, ctx));
    DEPOT_ASSIGN_OR_RETURN(ResolvedRange resolved, range.Validate(record.size));
    Status status;
    if (options.verify) {
      ObjectTreeReader reader(*objects_, outboards_, id, BlobKey(id), OutboardKey(id), record.size,
                              ctx);
      status = ReadVerified(reader, record.size, id.digest, resolved.begin, resolved.end, sink,
                            options_.window);
    } else {
      status = ReadUnverified(id, record.size, resolved, sink, ctx);
    }
    return Missing(id, std::move(status), ctx);
  }

  Result<std::string> Slice(const ContentId& id, uint64_t begin, uint64_t end,
                            const Context& ctx) override {
    DEPOT_RETURN_IF_ERROR(ctx.Check("slice blob " + id.ToHex()));
    DEPOT_ASSIGN_OR_RETURN(Record record, LiveRecord(id, ctx));
    ObjectTreeReader reader(*objects_, outboards_, id, BlobKey(id), OutboardKey(id), record.size,
                            ctx);
    auto slice = ExtractSlice(reader, record.size, begin, end);
    DEPOT_RETURN_IF_ERROR(Missing(id, slice.status(), ctx));
    // Never hand out a slice the store's own bytes fail: the recipient would blame the sender.
    const auto* data = reinterpret_cast<const uint8_t*>(slice->data());
    DEPOT_RETURN_IF_ERROR(VerifySlice({data, slice->size()}, id.digest, begin, end,
                                      [](std::string_view) { return Status::Ok(); }));
    return slice;
  }

  Result<uint64_t> Pin(const ContentId& id, const Context& ctx) override {
    return ChangePins(id, +1, ctx);
  }
  Result<uint64_t> Unpin(const ContentId& id, const Context& ctx) override {
    return ChangePins(id, -1, ctx);
  }

  Result<std::vector<BlobInfo>> List(std::optional<ContentId> start_after, size_t limit,
                                     const Context& ctx) override {
    DEPOT_RETURN_IF_ERROR(ctx.Check("list blobs"));
    kv::ScanOptions scan;
    if (start_after) scan.begin = std::string(KeyOf(*start_after)) + '\0';
    DEPOT_ASSIGN_OR_RETURN(auto it, index_->Scan(options_.index_space, scan, ctx));
    std::vector<BlobInfo> out;
    for (; it->Valid() && out.size() < limit; it->Next()) {
      DEPOT_ASSIGN_OR_RETURN(ContentId id, IdOfKey(it->key()));
      DEPOT_ASSIGN_OR_RETURN(Record record, DecodeRecord(id, it->value()));
      if (record.state == State::kLive) out.push_back(Info(id, record));
    }
    DEPOT_RETURN_IF_ERROR(it->status());
    return out;
  }

  Result<GcResult> CollectGarbage(const Context& ctx) override {
    DEPOT_RETURN_IF_ERROR(ctx.Check("collect garbage"));
    MutexLock gc(gc_mu_);
    GcResult result;
    DEPOT_RETURN_IF_ERROR(DeleteUnpinned(result, ctx));
    for (std::string_view kind : {"blobs/", "outboards/"}) {
      DEPOT_RETURN_IF_ERROR(DeleteUnnamed(options_.prefix + std::string(kind), result, ctx));
    }
    DEPOT_RETURN_IF_ERROR(DeleteStaging(result, ctx));
    return result;
  }

  // Step 3 of PUT: names, deduplicates and pins a finished upload.
  Result<PutBlobResult> Commit(const std::string& staging, const ContentId& id, uint64_t size,
                               bool has_outboard, bool pin, const Context& ctx) {
    PutBlobResult result{id, size, false, 0};
    bool drop_staged = false;
    {
      MutexLock lock(Stripe(id));
      DEPOT_ASSIGN_OR_RETURN(std::optional<Record> record, ReadRecord(id, ctx));
      if (record && record->state == State::kLive) {
        result.deduplicated = true;
        drop_staged = true;
        if (pin) {
          ++record->pins;
          DEPOT_RETURN_IF_ERROR(WriteRecord(id, *record, ctx));
        }
        result.pins = record->pins;
      } else {
        if (has_outboard) {
          DEPOT_RETURN_IF_ERROR(Move(StagingKey(staging, true), OutboardKey(id), ctx));
        }
        DEPOT_RETURN_IF_ERROR(Move(StagingKey(staging, false), BlobKey(id), ctx));
        const Record fresh{State::kLive, size, pin ? uint64_t{1} : 0, NowMs()};
        DEPOT_RETURN_IF_ERROR(WriteRecord(id, fresh, ctx));
        result.pins = fresh.pins;
      }
    }
    if (drop_staged) DropStaging(staging, has_outboard);
    return result;
  }

  // Deletes an upload's staged objects (best effort: CollectGarbage deletes what remains).
  void DropStaging(const std::string& staging, bool has_outboard) {
    std::vector<std::string> keys{StagingKey(staging, false)};
    if (has_outboard) keys.push_back(StagingKey(staging, true));
    (void)objects_->DeleteMany(keys);
  }

  void Deactivate(const std::string& staging) {
    MutexLock lock(active_mu_);
    active_.erase(staging);
  }

  std::string StagingKey(std::string_view staging, bool outboard) const {
    return fmt::format("{}staging/{}{}", options_.prefix, staging, outboard ? ".obao" : "");
  }

  object::ObjectStore& objects() { return *objects_; }
  Executor& hashers() { return hashers_; }
  uint64_t window() const { return options_.window; }

 private:
  std::string BlobKey(const ContentId& id) const { return FinalKey("blobs/", id); }
  std::string OutboardKey(const ContentId& id) const { return FinalKey("outboards/", id); }
  std::string FinalKey(std::string_view kind, const ContentId& id) const {
    const std::string hex = id.ToHex();
    return fmt::format("{}{}{}/{}", options_.prefix, kind, hex.substr(0, 2), hex);
  }

  Mutex& Stripe(const ContentId& id) { return stripes_[id.digest[0] % stripes_.size()]; }

  static BlobInfo Info(const ContentId& id, const Record& record) {
    return BlobInfo{
        id, record.size, record.pins,
        std::chrono::system_clock::time_point(std::chrono::milliseconds(record.created_ms))};
  }

  static Result<ContentId> IdOfKey(std::string_view key) {
    ContentId id;
    if (key.size() != id.digest.size()) {
      return DataLossError(fmt::format("the index has a key of {} bytes", key.size()));
    }
    std::memcpy(id.digest.data(), key.data(), key.size());
    return id;
  }

  Result<std::optional<Record>> ReadRecord(const ContentId& id, const Context& ctx) {
    DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> value,
                           index_->Get(options_.index_space, KeyOf(id), {}, ctx));
    if (!value) return std::optional<Record>();
    DEPOT_ASSIGN_OR_RETURN(Record record, DecodeRecord(id, *value));
    return std::optional<Record>(record);
  }

  Result<Record> LiveRecord(const ContentId& id, const Context& ctx) {
    DEPOT_ASSIGN_OR_RETURN(std::optional<Record> record, ReadRecord(id, ctx));
    if (!record || record->state != State::kLive) return NotInStore(id);
    return *record;
  }

  Status WriteRecord(const ContentId& id, const Record& record, const Context& ctx) {
    kv::WriteBatch batch;
    batch.Put(options_.index_space, KeyOf(id), EncodeRecord(record));
    return index_->Commit(batch, kv::Durability::kSync, ctx);
  }

  Status DeleteRecord(const ContentId& id, const Context& ctx) {
    kv::WriteBatch batch;
    batch.Delete(options_.index_space, KeyOf(id));
    return index_->Commit(batch, kv::Durability::kSync, ctx);
  }

  // A read that found the blob's objects missing: kNotFound if the blob went meanwhile (a
  // collection), else kDataLoss (the index names bytes the object store lost).
  Status Missing(const ContentId& id, Status status, const Context& ctx) {
    if (status.code() != StatusCode::kNotFound) return status;
    auto record = ReadRecord(id, ctx);
    if (record.ok() && (!*record || (*record)->state != State::kLive)) return NotInStore(id);
    return DataLossError(fmt::format("blob {} is in the index but its objects are not: {}",
                                     id.ToHex(), status.ToString()));
  }

  Status ReadUnverified(const ContentId& id, uint64_t size, const ResolvedRange& range,
                        const std::function<Status(std::string_view)>& sink, const Context& ctx) {
    if (range.begin == range.end) return Status::Ok();
    object::GetOptions get;
    get.range = ByteRange::Bounded(range.begin, range.end);
    return objects_->GetStream(
        BlobKey(id), get,
        [&](const object::GetResult& head) {
          if (head.meta.size != size) {
            return DataLossError(
                fmt::format("the blob {} has {} bytes, not {}", BlobKey(id), head.meta.size, size));
          }
          return Status::Ok();
        },
        sink, ctx);
  }

  Status Move(const std::string& from, const std::string& to, const Context& ctx) {
    if (objects_->capabilities().atomic_rename) {
      return objects_->Rename(from, to, object::CopyMode::kOverwrite, ctx);
    }
    DEPOT_RETURN_IF_ERROR(objects_->Copy(from, to, object::CopyMode::kOverwrite, ctx).status());
    return objects_->Delete(from, ctx);
  }

  Result<uint64_t> ChangePins(const ContentId& id, int delta, const Context& ctx) {
    DEPOT_RETURN_IF_ERROR(ctx.Check((delta > 0 ? "pin blob " : "unpin blob ") + id.ToHex()));
    MutexLock lock(Stripe(id));
    DEPOT_ASSIGN_OR_RETURN(Record record, LiveRecord(id, ctx));
    if (delta < 0 && record.pins == 0) {
      return FailedPreconditionError(fmt::format("blob {} is not pinned", id.ToHex()));
    }
    record.pins += delta;
    DEPOT_RETURN_IF_ERROR(WriteRecord(id, record, ctx));
    return record.pins;
  }

  // GC step 1, in batches of ids so that memory does not grow with the index.
  Status DeleteUnpinned(GcResult& result, const Context& ctx) {
    std::string begin;
    while (true) {
      std::vector<ContentId> candidates;
      {
        kv::ScanOptions scan;
        scan.begin = begin;
        DEPOT_ASSIGN_OR_RETURN(auto it, index_->Scan(options_.index_space, scan, ctx));
        for (; it->Valid() && candidates.size() < 1000; it->Next()) {
          DEPOT_ASSIGN_OR_RETURN(ContentId id, IdOfKey(it->key()));
          DEPOT_ASSIGN_OR_RETURN(Record record, DecodeRecord(id, it->value()));
          if (record.state == State::kDeleting || record.pins == 0) candidates.push_back(id);
          begin = std::string(it->key()) + '\0';
        }
        DEPOT_RETURN_IF_ERROR(it->status());
        if (!it->Valid() && candidates.empty()) return Status::Ok();
      }
      for (const ContentId& id : candidates) {
        DEPOT_RETURN_IF_ERROR(ctx.Check("collect garbage"));
        MutexLock lock(Stripe(id));
        DEPOT_ASSIGN_OR_RETURN(std::optional<Record> record, ReadRecord(id, ctx));
        if (!record || (record->state == State::kLive && record->pins > 0)) continue;
        if (record->state == State::kLive) {
          record->state = State::kDeleting;
          DEPOT_RETURN_IF_ERROR(WriteRecord(id, *record, ctx));
        }
        const std::vector<std::string> keys{OutboardKey(id), BlobKey(id)};
        for (const Status& status : objects_->DeleteMany(keys, ctx)) {
          DEPOT_RETURN_IF_ERROR(status);
        }
        DEPOT_RETURN_IF_ERROR(DeleteRecord(id, ctx));
        ++result.blobs_deleted;
        result.bytes_freed += record->size;
      }
    }
  }

  // GC step 2 for the objects under `prefix` (blobs/ or outboards/).
  Status DeleteUnnamed(const std::string& prefix, GcResult& result, const Context& ctx) {
    object::ListOptions list;
    list.prefix = prefix;
    do {
      DEPOT_ASSIGN_OR_RETURN(object::ListResult page, objects_->List(list, ctx));
      for (const object::ObjectMeta& meta : page.objects) {
        const size_t slash = meta.key.rfind('/');
        auto id = ContentId::FromHex(std::string_view(meta.key).substr(slash + 1));
        if (!id.ok() || FinalKey(prefix.substr(options_.prefix.size()), *id) != meta.key) {
          continue;  // not a name this store makes: not its to delete
        }
        MutexLock lock(Stripe(*id));
        DEPOT_ASSIGN_OR_RETURN(std::optional<Record> record, ReadRecord(*id, ctx));
        if (record && record->state == State::kLive) continue;
        DEPOT_RETURN_IF_ERROR(objects_->Delete(meta.key, ctx));
        ++result.leftovers_deleted;
      }
      list.continuation_token = page.next_continuation_token;
    } while (!list.continuation_token.empty());
    return Status::Ok();
  }

  // GC step 3.
  Status DeleteStaging(GcResult& result, const Context& ctx) {
    object::ListOptions list;
    list.prefix = options_.prefix + "staging/";
    do {
      DEPOT_ASSIGN_OR_RETURN(object::ListResult page, objects_->List(list, ctx));
      for (const object::ObjectMeta& meta : page.objects) {
        if (IsActive(meta.key.substr(list.prefix.size()))) continue;
        DEPOT_RETURN_IF_ERROR(objects_->Delete(meta.key, ctx));
        ++result.leftovers_deleted;
      }
      list.continuation_token = page.next_continuation_token;
    } while (!list.continuation_token.empty());
    if (!objects_->capabilities().multipart) return Status::Ok();
    // Writers that upload in parts leave open multipart uploads (their parts stored) instead.
    DEPOT_ASSIGN_OR_RETURN(std::vector<object::MultipartUploadInfo> uploads,
                           objects_->ListMultipartUploads(list.prefix, ctx));
    for (const object::MultipartUploadInfo& upload : uploads) {
      if (IsActive(upload.key.substr(list.prefix.size()))) continue;
      DEPOT_RETURN_IF_ERROR(objects_->AbortMultipart(upload.key, upload.upload_id, ctx));
      ++result.leftovers_deleted;
    }
    return Status::Ok();
  }

  // Whether `staging` (a staging object's name, with or without .obao) is a writer of this
  // process still at work.
  bool IsActive(std::string staging) {
    if (staging.ends_with(".obao")) staging.resize(staging.size() - 5);
    MutexLock lock(active_mu_);
    return active_.contains(staging);
  }

  const std::shared_ptr<object::ObjectStore> objects_;
  const std::shared_ptr<kv::Store> index_;
  const BlobStoreOptions options_;
  std::array<Mutex, 64> stripes_;
  Mutex gc_mu_;
  Mutex active_mu_;
  std::set<std::string> active_ DEPOT_GUARDED_BY(active_mu_);
  OutboardCache outboards_;
  Executor hashers_;  // last: its threads stop before the members they use go
};

BlobWriterImpl::BlobWriterImpl(BlobStoreImpl& store, std::string staging, PutBlobOptions options,
                               std::unique_ptr<object::ObjectWriter> bytes, const Context& ctx)
    : store_(store),
      staging_(std::move(staging)),
      options_(options),
      ctx_(ctx),
      bytes_(std::move(bytes)) {}

Status BlobWriterImpl::Fail(Status status) {
  if (status_.ok()) status_ = status;
  return status;
}

Status BlobWriterImpl::Write(std::string_view data) {
  if (done_) return status_.ok() ? FailedPreconditionError("the blob writer is finished") : status_;
  DEPOT_RETURN_IF_ERROR(status_);
  const size_t piece = store_.window();
  while (!data.empty()) {
    if (buffer_.empty() && data.size() >= piece) {
      DEPOT_RETURN_IF_ERROR(Process(data.substr(0, piece)));
      data.remove_prefix(piece);
      continue;
    }
    const size_t take = std::min(piece - buffer_.size(), data.size());
    buffer_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (buffer_.size() == piece) {
      DEPOT_RETURN_IF_ERROR(Process(buffer_));
      buffer_.clear();
    }
  }
  return Status::Ok();
}

Status BlobWriterImpl::Process(std::string_view piece) {
  DEPOT_RETURN_IF_ERROR(Fail(ctx_.Check("write a blob")));
  std::future<void> hashed = store_.hashers().Submit([this, piece] { builder_.Update(piece); });
  const Status wrote = bytes_->Write(piece);
  hashed.wait();
  DEPOT_RETURN_IF_ERROR(Fail(wrote));
  written_ += piece.size();
  return WriteOutboard(builder_.TakeBytes());
}

Status BlobWriterImpl::WriteOutboard(std::string_view bytes) {
  if (bytes.empty()) return Status::Ok();
  if (outboard_ == nullptr) {
    auto opened = store_.objects().OpenWriter(store_.StagingKey(staging_, true), {}, ctx_);
    if (!opened.ok()) return Fail(opened.status());
    outboard_ = std::move(*opened);
  }
  return Fail(outboard_->Write(bytes));
}

Result<PutBlobResult> BlobWriterImpl::Finish() {
  if (done_) return status_.ok() ? FailedPreconditionError("the blob writer is finished") : status_;
  DEPOT_RETURN_IF_ERROR(status_);
  if (!buffer_.empty()) {
    DEPOT_RETURN_IF_ERROR(Process(buffer_));
    buffer_.clear();
  }
  ContentId id{builder_.Finish()};
  const std::string last = builder_.TakeBytes();
  // A blob of one leaf has no parents: its outboard would be the length alone, and is not kept.
  const bool has_outboard = outboard_ != nullptr || last.size() > 8;
  if (has_outboard) {
    DEPOT_RETURN_IF_ERROR(WriteOutboard(last));
    DEPOT_RETURN_IF_ERROR(Fail(outboard_->Finish().status()));
  }
  DEPOT_RETURN_IF_ERROR(Fail(bytes_->Finish().status()));
  auto result = store_.Commit(staging_, id, written_, has_outboard, options_.pin, ctx_);
  done_ = true;
  if (!result.ok()) {
    status_ = result.status();
    store_.DropStaging(staging_, has_outboard);
  }
  store_.Deactivate(staging_);
  return result;
}

Status BlobWriterImpl::Abort() {
  if (done_) return Status::Ok();
  done_ = true;
  if (status_.ok()) status_ = CancelledError("the blob writer was aborted");
  (void)bytes_->Abort();
  if (outboard_ != nullptr) (void)outboard_->Abort();
  store_.Deactivate(staging_);
  return Status::Ok();
}

}  // namespace

Result<ContentId> ContentId::FromHex(std::string_view hex) {
  ContentId id;
  if (!HexDecode(hex, id.digest)) {
    return InvalidArgumentError(
        fmt::format("\"{}\" is not a content id (64 hex digits)", hex.substr(0, 80)));
  }
  return id;
}

std::string ContentId::ToHex() const { return blake3::ToHex(digest); }

Result<std::unique_ptr<BlobStore>> BlobStore::Open(std::shared_ptr<object::ObjectStore> objects,
                                                   std::shared_ptr<kv::Store> index,
                                                   BlobStoreOptions options) {
  if (objects == nullptr || index == nullptr) {
    return InvalidArgumentError("a blob store needs an object store and a kv store");
  }
  if (options.window < kGroupLen || options.window > kMaxWindow) {
    return InvalidArgumentError(
        fmt::format("a window of {} bytes is outside one leaf ({} bytes) to {} bytes",
                    options.window, kGroupLen, kMaxWindow));
  }
  DEPOT_RETURN_IF_ERROR(index->CreateSpace(options.index_space));
  return std::unique_ptr<BlobStore>(
      std::make_unique<BlobStoreImpl>(std::move(objects), std::move(index), std::move(options)));
}

Result<PutBlobResult> BlobStore::Put(std::string_view data, const PutBlobOptions& options,
                                     const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, OpenWriter(options, ctx));
  DEPOT_RETURN_IF_ERROR(writer->Write(data));
  return writer->Finish();
}

Result<std::string> BlobStore::Get(const ContentId& id, const ByteRange& range,
                                   const ReadBlobOptions& options, const Context& ctx) {
  std::string out;
  DEPOT_RETURN_IF_ERROR(Read(
      id, range,
      [&](std::string_view piece) {
        out.append(piece);
        return Status::Ok();
      },
      options, ctx));
  return out;
}

}  // namespace depot::cas
