// depot::resource::Fetcher: fills a Resource with one object of any object store (local, S3,
// depot serve), by ranged reads in parallel, while readers read it.
//
//   auto resource = OpenMmapResource({.path = "/cache/movie"});
//   auto fetcher = Fetcher::Start(store, "movie.mkv", *resource);
//   ResourceReader reader = resource->reader();
//   reader.Read(offset, buffer);        // blocks until those bytes have been fetched
//
// Start heads the object (its errors are returned there, the resource untouched) and declares its
// length on the resource; then `parallelism` threads fetch the missing chunks (aligned,
// `chunk_size` bytes) in order from the start, skipping what the resource already holds (a
// resumed file). A reader that waits for bytes not yet present (OnDemand) moves their chunks to
// the front of the queue, the most recent wait first, and the sequential order goes on after
// them: a media player's seek.
//
// Every read is pinned to one version of the object (FetchRange in object/range_fetch.h: If-Match
// on its ETag, exact lengths, retries of transient errors): an object overwritten mid-download
// fails the resource with kFailedPrecondition rather than mixing versions. Any error that ends a
// chunk's fetch fails the resource, so every reader waiting on it, and every later one, gets that
// error instead of hanging. When every byte is there the fetcher commits the resource.
//
// A fetcher stops at the first of: the resource committed, the resource failed or cancelled, a
// cancel of the caller's ctx (the resource then fails with kCancelled), Stop(), or destruction
// (which is Stop). Stopping joins the fetch threads; what was fetched stays in the resource (a
// file driver records it, so a later fetcher resumes there: pass it the ETag the bytes came
// from, FetchOptions::etag, so that it refuses another version). Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "depot/core/backoff.h"
#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/object/store.h"
#include "depot/resource/resource.h"

namespace depot::resource {

struct FetchOptions {
  uint64_t chunk_size = 1 << 20;  // bytes per ranged read
  int parallelism = 4;            // ranged reads in flight
  BackoffOptions retry;           // of each chunk, after transient errors and short answers
  // The version to fetch: its ETag (required when resuming a resource that already has bytes);
  // empty for whatever version the Head finds.
  std::string etag;
};

struct FetchStats {
  uint64_t chunks = 0;   // chunks fetched
  uint64_t bytes = 0;    // bytes fetched (each at most once)
  uint64_t demands = 0;  // reader waits that reordered the queue
};

class Fetcher {
 public:
  // `store` must outlive the fetcher. Errors: the Head's (kNotFound for a missing key),
  // kFailedPrecondition if the object is not the version `options.etag` names or does not fit
  // what the resource already holds (another length), kInvalidArgument for bad options.
  static Result<std::unique_ptr<Fetcher>> Start(object::ObjectStore& store, std::string key,
                                                Resource resource, FetchOptions options = {},
                                                const Context& ctx = {});
  // Same, for an object the caller has just headed: no Head of its own. `meta` (its key, size
  // and ETag) is the version fetched, whatever options.etag says.
  static Result<std::unique_ptr<Fetcher>> Start(object::ObjectStore& store, object::ObjectMeta meta,
                                                Resource resource, FetchOptions options = {},
                                                const Context& ctx = {});
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Blocks until the fetcher has stopped: OK if the resource is committed, why not otherwise.
  Status Wait();
  // Stops fetching and joins the fetch threads; an unfinished resource stays active with what it
  // has, for another fetcher to finish.
  void Stop();

  const object::ObjectMeta& meta() const;
  FetchStats stats() const;

  class Impl;

 private:
  explicit Fetcher(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace depot::resource
