// depot::cas::BlobStore: blobs named by their BLAKE3 hash, over any object store (the bytes) and
// any kv store (the index: RocksDB by default, SQLite on request), deduplicated, pinned with
// reference counts, collected when unpinned, and readable by any byte range verified against the
// hash.
//
//   DEPOT_ASSIGN_OR_RETURN(auto blobs, cas::BlobStore::Open(objects, index));
//   DEPOT_ASSIGN_OR_RETURN(cas::PutBlobResult put, blobs->Put(data));    // pinned once
//   DEPOT_RETURN_IF_ERROR(blobs->Read(put.id, ByteRange::Bounded(10, 20), sink));  // verified
//   DEPOT_RETURN_IF_ERROR(blobs->Unpin(put.id).status());
//   DEPOT_ASSIGN_OR_RETURN(cas::GcResult gc, blobs->CollectGarbage());    // the blob is gone
//
// Contract:
//   - A blob's ContentId is the BLAKE3-256 of its bytes. Putting bytes the store has stores
//     nothing more (the staged copy is dropped): it only adds the put's pin.
//   - Pins are reference counts: every Put (unless options.pin is false) and every Pin adds one,
//     Unpin takes one away (kFailedPrecondition at 0). CollectGarbage deletes every blob at 0 pins,
//     and whatever earlier crashes left (staged uploads, objects no record names).
//   - Reads are verified by default: every byte returned was checked against the ContentId
//     through the blob's outboard tree (outboard.h), window by window, before it is returned; a
//     blob whose stored bytes or tree changed is kDataLoss, never wrong bytes (tree pages read
//     before the change may still serve from memory: they are checked on every use). Unverified
//     reads skip the tree (the object store's own checks remain).
//   - Crash safety: a Put, Pin, Unpin or CollectGarbage that returned is durable (the index
//     commits with Durability::kSync, the object store is durable as its backend documents); a
//     crash at any instant loses nothing acknowledged and never makes a half-written blob
//     visible (the protocol atop blob_store.cc). Memory is bounded: a blob of any size streams
//     through a few windows of a MiB both ways.
//   - Thread-safe; calls block and take a Context (cancelled or late: kCancelled /
//     kDeadlineExceeded). A cancelled Put, Pin or Unpin changed nothing; a cancelled
//     CollectGarbage may have finished part of its work (each blob it deleted was at 0 pins, and
//     each step is whole, so the next run goes on from there).
//   - One BlobStore per object store prefix and index space at a time: two processes sharing
//     one would collect each other's staged uploads (RocksDB refuses a second process; with
//     SQLite it is the caller's to avoid). Blob stores that share a kv store need index spaces
//     of their own (BlobStoreOptions::index_space), as those sharing an object store need
//     prefixes of their own. A BlobWriter must not outlive its BlobStore.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/blake3/blake3.h"
#include "depot/core/byte_range.h"
#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/kv/store.h"
#include "depot/object/store.h"

namespace depot::cas {

// A blob's name: the BLAKE3-256 of its bytes; 64 lower-case hex digits for people.
struct ContentId {
  blake3::Digest digest{};

  // 64 hex digits (either case); anything else is kInvalidArgument naming the text.
  static Result<ContentId> FromHex(std::string_view hex);
  std::string ToHex() const;
  friend auto operator<=>(const ContentId&, const ContentId&) = default;
};

struct BlobInfo {
  ContentId id;
  uint64_t size = 0;
  uint64_t pins = 0;
  std::chrono::system_clock::time_point created;  // when the blob was first stored
};

struct PutBlobOptions {
  bool pin = true;  // add a pin to the blob (stored or already there)
};

struct PutBlobResult {
  ContentId id;
  uint64_t size = 0;
  bool deduplicated = false;  // the store had the bytes already
  uint64_t pins = 0;          // the blob's pins after the put
};

struct ReadBlobOptions {
  bool verify = true;
};

struct GcResult {
  uint64_t blobs_deleted = 0;
  uint64_t bytes_freed = 0;        // of the deleted blobs
  uint64_t leftovers_deleted = 0;  // objects of earlier crashes: staged uploads, unnamed blobs
};

struct BlobStoreOptions {
  // Verified reads go through windows of this many bytes; writes go to the object store in
  // pieces of this size while the previous piece is hashed. 1 MiB keeps a window in the CPU's
  // cache between its read and its hashing: a 64 MiB verified read takes 26 ms here, 48 ms with
  // 4 MiB windows (BENCHMARKS.md). From one leaf (kGroupLen) to kMaxWindow.
  uint64_t window = uint64_t{1} << 20;
  // Outboard bytes kept in memory for verified reads, shared by all blobs (most recently used
  // first; at least 64 KiB): a 4 KiB range of a 1 GiB blob reads 14 parents, from up to 6 pages.
  uint64_t outboard_cache = uint64_t{8} << 20;
  // Object keys: <prefix>blobs/, <prefix>outboards/, <prefix>staging/.
  std::string prefix;
  // The kv state space of the index (created by Open where missing).
  std::string index_space = "cas_blobs";
};

// The largest BlobStoreOptions::window: a few windows are in memory per read and write.
inline constexpr uint64_t kMaxWindow = uint64_t{64} << 20;

// A streaming put (BlobStore::OpenWriter): bytes in pieces of any size, hashed while they are
// written, then Finish, which names, deduplicates and pins the blob. Nothing is visible before
// Finish; destroying an unfinished writer aborts it. Not thread-safe.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status Write(std::string_view data) = 0;
  virtual Result<PutBlobResult> Finish() = 0;
  virtual Status Abort() = 0;
  virtual uint64_t bytes_written() const = 0;
};

class BlobStore {
 public:
  // Creates the index's state space (options.index_space) where missing. Both stores must outlive
  // nothing: the BlobStore shares them. kInvalidArgument naming the value for a window outside
  // [kGroupLen, kMaxWindow] or a bad space name.
  static Result<std::unique_ptr<BlobStore>> Open(std::shared_ptr<object::ObjectStore> objects,
                                                 std::shared_ptr<kv::Store> index,
                                                 BlobStoreOptions options = {});
  virtual ~BlobStore() = default;

  virtual std::string ToString() const = 0;

  virtual Result<std::unique_ptr<BlobWriter>> OpenWriter(const PutBlobOptions& options = {},
                                                         const Context& ctx = {}) = 0;
  // Put of bytes in memory.
  Result<PutBlobResult> Put(std::string_view data, const PutBlobOptions& options = {},
                            const Context& ctx = {});

  // kNotFound naming the id when the store does not have the blob.
  virtual Result<BlobInfo> Stat(const ContentId& id, const Context& ctx = {}) = 0;
  // Streams the bytes of `range` (the whole blob by default) to `sink`, in order, in pieces of at
  // most a window. kOutOfRange if the range starts past the end; kDataLoss if verification fails
  // (what the sink got until then is right: a verified prefix).
  virtual Status Read(const ContentId& id, const ByteRange& range,
                      const std::function<Status(std::string_view)>& sink,
                      const ReadBlobOptions& options = {}, const Context& ctx = {}) = 0;
  // Read into memory.
  Result<std::string> Get(const ContentId& id, const ByteRange& range = {},
                          const ReadBlobOptions& options = {}, const Context& ctx = {});
  // The verified slice of bytes [begin, end) (outboard.h), for a party that has only the id;
  // held in memory (the range plus at most two leaves and the parents above them).
  virtual Result<std::string> Slice(const ContentId& id, uint64_t begin, uint64_t end,
                                    const Context& ctx = {}) = 0;
  // Adds / removes one pin; returns the pins after.
  virtual Result<uint64_t> Pin(const ContentId& id, const Context& ctx = {}) = 0;
  virtual Result<uint64_t> Unpin(const ContentId& id, const Context& ctx = {}) = 0;
  // Every blob, in id order (from `start_after`, at most `limit`).
  virtual Result<std::vector<BlobInfo>> List(std::optional<ContentId> start_after = {},
                                             size_t limit = 1000, const Context& ctx = {}) = 0;
  // Deletes the blobs at 0 pins and what crashes left behind.
  virtual Result<GcResult> CollectGarbage(const Context& ctx = {}) = 0;
};

}  // namespace depot::cas
