// depot::resource::ReadThroughCache: an object store that keeps what it reads from another store
// in files on local disk and answers later reads from them (`depot serve --cache DIR`).
//
//   CacheOptions options{.dir = "/var/cache/depot", .max_bytes = uint64_t{10} << 30};
//   DEPOT_ASSIGN_OR_RETURN(auto cache, ReadThroughCache::Open(s3_store, options));
//   cache->GetStream(key, {}, on_head, on_data);   // a miss streams while it downloads
//
// Reads (Get, GetStream):
//   - The first read of an object fetches the whole object into an mmap resource (mmap/) with a
//     Fetcher (fetch/fetcher.h), and is answered from that resource as it fills: its bytes go out
//     as they arrive, and the chunks of a ranged read are fetched first. Concurrent reads of an
//     object share one fetch, so each byte is read from the backing store once. Later reads are
//     answered from the file.
//   - An entry is an object at one ETag, used while it is fresh: validated against the backing
//     store (a HEAD with If-None-Match on its ETag) at most `revalidate_after` ago. An object
//     overwritten on the backing store is fetched anew once its entry is revalidated; a deleted
//     one is kNotFound. Within that window a change made behind the cache's back is not seen;
//     every write through the cache is, at once (below).
//   - Preconditions (If-Match, If-None-Match, dates) and ranges are answered from the entry's
//     metadata, as the backing store answers them.
//   - Never a byte that was not fetched: fetches are pinned to the entry's ETag (an overwrite
//     fails them rather than mixing versions) and a read waits for present bytes. When the cache
//     cannot answer (the fetch failed, its file or directory is gone, the disk fails), the rest
//     of the read comes from the backing store, pinned to the same ETag, and the entry is
//     dropped: a broken cache costs speed, never an answer. Only the backing store's own errors
//     reach the caller.
//   - Head and metadata-only Gets use a fresh entry's metadata, or a HEAD of the backing store
//     made within the same window (up to 4096 are remembered; writes drop theirs), else ask the
//     backing store; they never start a fetch. Objects larger than max_bytes, and objects that
//     find no room (every entry in use), are read from the backing store directly, uncached.
// Writes (Put, writers, Copy, Rename, Delete, DeleteMany, CompleteMultipart) go to the backing
// store, and the entries of the keys they touch are dropped: a read after a write sees it.
// Listing and multipart staging are the backing store's.
//
// Size: the sizes of the cached objects add up to at most max_bytes; the least recently used
// entries are evicted first, and an entry being read is never evicted (one dropped while being
// read is deleted when its last reader ends). At most max_open_files idle entries keep their file
// open and mapped.
//
// On disk, per entry: "<dir>/<id>.data" (the resource's file, with "<id>.data.present" while
// unfinished: mmap_driver.h) and "<id>.meta" (JSON: key, ETag, size, date, content type, user
// metadata), written atomically before the data file exists. Open scans the directory: entries
// come back unvalidated (their first read revalidates them; an unfinished one resumes its fetch
// where it stopped), and files that belong to no entry are deleted. A kill -9 loses at most the
// bytes fetched since the resource's last record; a directory deleted under a running cache loses
// nothing but speed (reads go to the backing store; new entries make the directory again).
// Thread-safe; the backing store must be too.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "depot/core/result.h"
#include "depot/object/forwarding_store.h"
#include "depot/resource/fetch/fetcher.h"

namespace depot::resource {

struct CacheOptions {
  std::string dir;     // made if missing
  uint64_t max_bytes;  // the sum of the cached objects' sizes, > 0
  // How long an entry is used without asking the backing store whether it changed (0: every
  // read asks).
  std::chrono::milliseconds revalidate_after{std::chrono::seconds(10)};
  // Idle entries whose file stays open (each holds a descriptor and a mapping).
  size_t max_open_files = 128;
  // How objects are fetched (FetchOptions::etag is set per entry).
  FetchOptions fetch;
};

struct CacheStats {
  uint64_t hits = 0;           // reads answered by an entry that was there
  uint64_t misses = 0;         // reads that made an entry (and started its fetch)
  uint64_t revalidations = 0;  // conditional HEADs sent to the backing store
  uint64_t uncached = 0;       // reads sent to the backing store: too big, no room, or a race
  uint64_t fallbacks = 0;      // reads the cache could not finish, finished by the backing store
  uint64_t evictions = 0;      // entries evicted to make room
  uint64_t entries = 0;        // now
  uint64_t bytes = 0;          // now: the sum of the entries' object sizes
};

class ReadThroughCache final : public object::ForwardingStore {
 public:
  // Opens (or makes) the cache directory and takes back the entries found there. Errors:
  // kInvalidArgument for bad options, the file system's for a directory that cannot be made or
  // read. Unreadable entries are deleted, not errors.
  static Result<std::shared_ptr<ReadThroughCache>> Open(
      std::shared_ptr<object::ObjectStore> backing, CacheOptions options);
  ~ReadThroughCache() override;

  CacheStats stats() const;
  std::string ToString() const override;

  class Impl;

 protected:
  Result<object::GetResult> DoGet(std::string_view key, const object::GetOptions& options,
                                  const Context& ctx) override;
  Result<object::ObjectMeta> DoHead(std::string_view key, const Context& ctx) override;
  Status DoGetStream(std::string_view key, const object::GetOptions& options,
                     const std::function<Status(const object::GetResult&)>& on_head,
                     const std::function<Status(std::string_view)>& on_data,
                     const Context& ctx) override;

  Result<object::PutResult> DoPut(std::string_view key, Bytes data,
                                  const object::PutOptions& options, const Context& ctx) override;
  Result<std::unique_ptr<object::ObjectWriter>> DoOpenWriter(std::string_view key,
                                                             const object::WriteOptions& options,
                                                             const Context& ctx) override;
  Status DoDelete(std::string_view key, const Context& ctx) override;
  std::vector<Status> DoDeleteMany(std::span<const std::string> keys, const Context& ctx) override;
  Result<object::PutResult> DoCopy(std::string_view from, std::string_view to,
                                   object::CopyMode mode, const Context& ctx) override;
  Status DoRename(std::string_view from, std::string_view to, object::CopyMode mode,
                  const Context& ctx) override;
  Result<object::PutResult> DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                                std::span<const object::PartInfo> parts,
                                                const object::WriteCondition& condition,
                                                const Context& ctx) override;

 private:
  ReadThroughCache(std::shared_ptr<object::ObjectStore> backing, std::unique_ptr<Impl> impl);

  std::shared_ptr<object::ObjectStore> backing_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot::resource
