// depot::object::BufferedUpload: a writer that takes bytes in chunks of any size and ships them to
// an ObjectStore as multipart parts, uploading several parts in parallel (Convex's BufferedUpload,
// with bounded memory and a pluggable part-size policy).
//
//   DEPOT_ASSIGN_OR_RETURN(auto upload, BufferedUpload::Start(store, "big.bin", {}));
//   DEPOT_RETURN_IF_ERROR(upload->Write(chunk));   // any number of times, any sizes
//   DEPOT_ASSIGN_OR_RETURN(PutResult done, upload->Finish());
//
// Part sizes: PartSizePolicy::Geometric(min, max) starts at `min` and doubles after every part up
// to `max` (min=10, max=30, 80 bytes in 7-byte writes gives parts 14, 21, 30, 15); a part is cut
// once the buffer reaches the current target, and a buffer beyond `max` is split at `max`.
// PartSizePolicy::Fixed(n) cuts every non-final part at exactly n bytes (Cloudflare R2 requires
// equal parts). A chunk that arrives while the buffer is empty and is already of a valid part size
// is shipped without a copy.
//
// Fitting the store's part limit (S3: 10,000 parts of at most 5 GiB, objects up to 5 TiB):
//   - with `size_hint` (the object's size, when the caller knows it) both policies raise their
//     sizes to at least size_hint / max_parts, so the object fits whatever the policy says;
//   - without one, a geometric upload doubles its largest part size after parts 1,000, 2,000, ...
//     (up to the store's max_part_size), so 10,000 parts from 8 MiB reach 5 TiB by part ~5,300.
//     Fixed policies never grow: past max_parts they fail with kResourceExhausted.
//
// Memory: at most `max_in_flight` parts are uploading at once; Write blocks while that many are in
// flight, so the upload holds at most (max_in_flight + 1) x the largest part size reached.
//
// Lifecycle: the object appears only on an explicit Finish(). If nothing was shipped yet, Finish()
// stores the buffer with a single Put (no multipart for small objects). Any failure (of a part, of
// the caller's writes, the caller's Abort(), or the end of the upload's Context) stops the parts
// in flight, aborts the multipart upload (under a context of its own, for at most a minute) and
// makes every later call return the first error (kCancelled after Abort()); destroying an
// unfinished upload aborts it too. A store limit that the upload would break (more than
// capabilities().max_parts parts) is kResourceExhausted. Not thread-safe: one writer thread per
// upload (parts upload on the executor of the options, or on the upload's own worker threads).
//
// Checksums (the Convex seed's try_write_parallel_and_hash): with `checksum` set, the upload
// computes that checksum of the whole content as the bytes are written, without a second pass
// (content_digest() after Finish). A store that keeps checksums (capabilities().checksums) is
// sent it and keeps it: a single Put carries the whole content's; a multipart upload sends each
// part's (computed on the part's worker) and the store makes the object's from them, of the whole
// content for the CRCs (S3's FULL_OBJECT; the parts' CRCs, joined, must equal the digest computed
// here before the upload is completed, or Finish aborts it with kDataLoss) and of the parts'
// digests for SHA-1 and SHA-256 (S3's COMPOSITE: S3 keeps no whole-content SHA of a multipart
// object). Other stores are sent nothing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "depot/core/bytes.h"
#include "depot/core/checksum.h"
#include "depot/core/context.h"
#include "depot/core/executor.h"
#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object {

class PartSizePolicy {
 public:
  // Convex's policy: parts grow geometrically from `min` to `max`.
  static PartSizePolicy Geometric(uint64_t min, uint64_t max) { return {min, max, false}; }
  // Every non-final part exactly `size` bytes.
  static PartSizePolicy Fixed(uint64_t size) { return {size, size, true}; }

  uint64_t min() const { return min_; }
  uint64_t max() const { return max_; }
  bool fixed() const { return fixed_; }

 private:
  PartSizePolicy(uint64_t min, uint64_t max, bool fixed) : min_(min), max_(max), fixed_(fixed) {}
  uint64_t min_;
  uint64_t max_;
  bool fixed_;
};

struct BufferedUploadOptions {
  // Geometric 8 MiB .. 128 MiB by default: small files stay fast, and 10,000 parts still reach
  // past 1 TiB.
  PartSizePolicy part_size = PartSizePolicy::Geometric(8 << 20, 128 << 20);
  int max_in_flight = 4;
  uint64_t size_hint = 0;  // the object's expected size in bytes; 0 = unknown
  // Where parts upload: a shared executor (a server's one pool; it must outlive the upload), or
  // nullptr for max_in_flight threads of the upload's own. Either way at most max_in_flight parts
  // of this upload are in flight.
  Executor* executor = nullptr;
  PutOptions put_options;  // content type, metadata, mode: applied to the finished object
  // The checksum to compute of the whole content (and keep, where the store keeps checksums);
  // none by default. put_options.checksum must then be empty.
  std::optional<PayloadChecksum::Algorithm> checksum;
};

class BufferedUpload final : public ObjectWriter {
 public:
  // Validates the options against store.capabilities() (kInvalidArgument naming the bad value,
  // kUnimplemented when the store lacks multipart and the policy can need it). `store` must
  // outlive the upload. Every store call of the upload runs under `ctx`: once it is cancelled or
  // past its deadline, parts in flight stop and the upload fails as on any other error.
  static Result<std::unique_ptr<BufferedUpload>> Start(ObjectStore& store, std::string key,
                                                       BufferedUploadOptions options = {},
                                                       const Context& ctx = {});
  ~BufferedUpload() override;  // aborts unless finished
  BufferedUpload(const BufferedUpload&) = delete;
  BufferedUpload& operator=(const BufferedUpload&) = delete;

  Status Write(std::string_view data) override;
  // Same, without a copy when the chunk can be shipped as a whole part.
  Status Write(Bytes data) override;
  // Uploads what is buffered, waits for every part, and completes the object.
  Result<PutResult> Finish() override;
  // Finish, keeping `checksum` (of the bytes written) where it can, on a store that keeps
  // checksums: an object stored with one Put keeps it; one uploaded in parts keeps it when it is
  // the CRC of options.checksum, whose parts were checksummed (and a different value is kDataLoss,
  // nothing completed), and is otherwise completed without it, as S3 keeps no whole-content
  // checksum of a multipart object it was not given part by part. PutResult.checksum is what
  // was kept.
  Result<PutResult> FinishChecked(const Checksum& checksum) override;
  // Abandons the upload and removes every part already uploaded. OK if nothing was started.
  Status Abort() override;

  uint64_t bytes_written() const override;
  // The digest (PayloadChecksum::Finish's bytes) of everything written, once Finish succeeded
  // with options.checksum set; empty otherwise.
  std::string content_digest() const;
  // Sizes of the parts shipped so far, in part order (for tests and progress reports).
  std::vector<uint64_t> part_sizes() const;

 private:
  class Impl;
  explicit BufferedUpload(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot::object
