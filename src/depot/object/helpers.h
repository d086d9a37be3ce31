// Convenience operations over any ObjectStore (Convex's StorageExt): whole-file transfers,
// existence checks, store-to-store copies and prefix deletion. Each is built only from the
// ObjectStore interface, BufferedUpload and ObjectReader, so it works on every backend; each
// streams through bounded memory (see those classes' options), and runs every store call under
// the Context it is given (last argument).
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"
#include "depot/object/buffered_upload.h"
#include "depot/object/object_reader.h"
#include "depot/object/store.h"

namespace depot::object {

// Uploads the local file at `path` to `key` through a BufferedUpload (so the store must support
// multipart uploads), reading the file in pieces of the upload's current part size.
Result<PutResult> PutFile(ObjectStore& store, std::string_view key,
                          const std::filesystem::path& path, BufferedUploadOptions options = {},
                          const Context& ctx = {});
// Downloads `key` into `path` (written to a temporary file beside it, fsync'd, then renamed).
Status GetToFile(ObjectStore& store, std::string_view key, const std::filesystem::path& path,
                 ObjectReaderOptions options = {}, const Context& ctx = {});
// The whole object in memory.
Result<Bytes> GetAll(ObjectStore& store, std::string_view key, const Context& ctx = {});
// True if the key exists; errors other than kNotFound are returned.
Result<bool> Exists(ObjectStore& store, std::string_view key, const Context& ctx = {});
// Streams `from_key` of `from` into `to_key` of `to` (two different stores), reading ahead and
// uploading parts in parallel. The source's content type and user metadata are kept unless
// write_options.put_options sets them. On failure nothing is left at `to_key` (the multipart
// upload is aborted).
Result<PutResult> CopyBetween(ObjectStore& from, std::string_view from_key, ObjectStore& to,
                              std::string_view to_key, ObjectReaderOptions read_options = {},
                              BufferedUploadOptions write_options = {}, const Context& ctx = {});
// Deletes every object whose key starts with `prefix`; returns how many were deleted. Lists and
// deletes one page at a time (DeleteMany batches of capabilities().max_delete_batch, or 1000),
// so memory does not grow with the number of keys. A failed delete stops the walk and is
// returned, naming the key.
Result<uint64_t> DeletePrefix(ObjectStore& store, std::string_view prefix, const Context& ctx = {});
struct GetRangesOptions {
  // Ranges whose gap is at most this many bytes are fetched by one GET (the gap is read and
  // dropped): a request costs more than a few hundred KiB of transfer on any object service.
  uint64_t coalesce_gap = 1 << 20;
  // A merged fetch is not grown past this (a single requested range larger than it is still
  // fetched whole).
  uint64_t max_fetch = 16 << 20;
  int max_concurrency = 4;  // fetches in flight
};
// Reads several ranges of one object (a columnar reader's footer and column chunks, say). The
// object's size and ETag come from one Head; every fetch is pinned to that ETag (If-Match), so
// all ranges come from one version or the call fails with kFailedPrecondition. Nearby ranges are
// coalesced (see GetRangesOptions) and fetched in parallel. Returns one Bytes per range, in the
// order asked; each is a slice of a fetched span (no copy). A range that starts past the end is
// kOutOfRange naming it; ranges may overlap and repeat.
Result<std::vector<Bytes>> GetRanges(ObjectStore& store, std::string_view key,
                                     std::span<const ByteRange> ranges,
                                     GetRangesOptions options = {}, const Context& ctx = {});
// Every object under `prefix`, following continuation tokens (recursive: no delimiter).
Result<std::vector<ObjectMeta>> ListAll(ObjectStore& store, std::string_view prefix,
                                        const Context& ctx = {});

// Walks every page of one listing, following continuation tokens, so that no caller writes the
// pagination loop again:
//
//   ListPager pages(store, {.prefix = "logs/", .delimiter = "/"});
//   while (auto page = pages.Next()) {
//     if (!page->ok()) return page->status();
//     for (const ObjectMeta& meta : (*page)->objects) ...
//   }
//
// Next gives the next page, or nullopt after the last one; an error is given once and ends the
// walk. One page is in memory at a time. Not thread-safe; the store must outlive the pager.
class ListPager {
 public:
  ListPager(ObjectStore& store, ListOptions options, Context ctx = {})
      : store_(store), options_(std::move(options)), ctx_(std::move(ctx)) {}
  std::optional<Result<ListResult>> Next();

 private:
  ObjectStore& store_;
  ListOptions options_;
  const Context ctx_;
  bool done_ = false;
};

}  // namespace depot::object
