// depot::object::ObjectStore: blobs by key, over memory, a local directory or an S3 service.
//
// The interface every object backend implements and every caller programs against. Keys are
// UTF-8 strings of 1..1024 bytes without NUL (backends may refuse more: see each backend's header);
// a bad key is kInvalidArgument naming the key, and changes nothing.
//
// Contract, for every backend:
//   - Thread-safe: every method may be called from many threads at once. Calls block.
//   - Atomic puts: a Put, Copy or CompleteMultipart makes the whole new object visible at once, or
//     leaves the old one; readers never see a mix. A call that returned OK is durable to the degree
//     the backend documents (fsync'd file and directory for the local store).
//   - Conditional writes are atomic with respect to each other: PutMode::kCreate on an existing key
//     is kAlreadyExists; PutMode::kUpdate whose ETag does not match (or whose key is missing) is
//     kFailedPrecondition, and so is PutMode::kUnlessEtag whose ETag does. All change nothing.
//   - Reads never return wrong bytes: a short or corrupt read is an error (kDataLoss), never data.
//   - Missing keys: Get/Head/Copy/Rename of a missing key are kNotFound; Delete of a missing key
//     is OK (deletes are idempotent).
//   - Listing is in lexicographic (byte-wise) key order, paginated by max_keys and an opaque
//     continuation token.
//   - An operation a backend cannot do (see capabilities()) is kUnimplemented; it never silently
//     does something weaker.
//
// ETags are opaque, unquoted strings that change whenever the object's bytes or metadata do.
// Callers compare them only for equality.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/byte_range.h"
#include "depot/core/bytes.h"
#include "depot/core/context.h"
#include "depot/core/executor.h"
#include "depot/core/result.h"
#include "depot/core/status.h"

namespace depot::object {

using Clock = std::chrono::system_clock;

// The HTTP headers that S3 keeps with an object, as the writer sent them, and returns on GET and
// HEAD (Content-Type is ObjectMeta's and PutOptions' own member). Empty means not given. Values
// are single header lines: a CR, LF or NUL in one is kInvalidArgument naming the header.
struct ObjectHeaders {
  std::string cache_control;
  std::string content_disposition;
  std::string content_encoding;
  std::string content_language;
  std::string expires;  // kept verbatim (S3 keeps what was sent, date or not)

  friend bool operator==(const ObjectHeaders&, const ObjectHeaders&) = default;
};

// Each ObjectHeaders member with its HTTP name, for code that treats them alike.
inline constexpr std::pair<const char*, std::string ObjectHeaders::*> kObjectHeaderFields[] = {
    {"Cache-Control", &ObjectHeaders::cache_control},
    {"Content-Disposition", &ObjectHeaders::content_disposition},
    {"Content-Encoding", &ObjectHeaders::content_encoding},
    {"Content-Language", &ObjectHeaders::content_language},
    {"Expires", &ObjectHeaders::expires},
};

// OK, or kInvalidArgument naming the key, the header and its value when a value holds a CR, LF
// or NUL (it could not be sent back as one header line).
Status ValidateObjectHeaders(std::string_view key, const ObjectHeaders& headers);

// A checksum of an object's bytes as S3 keeps it (x-amz-checksum-*). Its writer computed and
// checked it; a store with capabilities().checksums keeps it with the object and returns it in
// ObjectMeta, and a store without refuses a write that carries one (kUnimplemented).
struct Checksum {
  std::string algorithm;   // "CRC32", "CRC32C", "CRC64NVME", "SHA1" or "SHA256"; empty: none
  std::string value;       // base64 of the digest; a composite one ends in "-<parts>"
  bool composite = false;  // a multipart object's checksum of its parts' checksums (S3's
                           // COMPOSITE type); otherwise of its bytes (FULL_OBJECT)

  bool empty() const { return algorithm.empty(); }
  friend bool operator==(const Checksum&, const Checksum&) = default;
};

// One part of an object that CompleteMultipart stored, in order: what S3's partNumber reads and
// GetObjectAttributes answer from.
struct ObjectPart {
  uint64_t size = 0;
  std::string checksum;  // base64, under the object's checksum algorithm; "" when none was kept

  friend bool operator==(const ObjectPart&, const ObjectPart&) = default;
};

struct ObjectMeta {
  std::string key;
  uint64_t size = 0;
  Clock::time_point last_modified;
  std::string etag;
  std::optional<std::string> version;  // where the backend keeps versions
  std::string content_type;            // empty when none was given
  ObjectHeaders headers;
  std::map<std::string, std::string> user_metadata;
  Checksum checksum;  // stores with capabilities().checksums; empty when none was given
  // A multipart object's parts (stores with capabilities().checksums; see each backend for what
  // it keeps of a very long list); empty for other objects.
  std::vector<ObjectPart> parts;
};

enum class PutMode {
  kOverwrite,  // replace whatever is there
  kCreate,     // fail with kAlreadyExists if the key exists
  kUpdate,     // fail with kFailedPrecondition unless the current ETag equals `if_match`
  // Fail with kFailedPrecondition when the current ETag equals `if_match` (HTTP's If-None-Match
  // with an ETag: write unless the object is still that version; a missing key is written).
  kUnlessEtag,
};

struct PutOptions {
  PutMode mode = PutMode::kOverwrite;
  std::string if_match;  // the ETag of kUpdate and kUnlessEtag
  std::string content_type;
  ObjectHeaders headers;
  std::map<std::string, std::string> user_metadata;
  // Kept with the object (see Checksum). For CreateMultipart, the algorithm and type of the
  // completed object's checksum, without a value: CompleteMultipart makes it from the parts'.
  Checksum checksum;
};

// The condition of a write that lands later than it starts (CompleteMultipart): PutOptions' mode
// and if_match, checked atomically when the object lands.
struct WriteCondition {
  PutMode mode = PutMode::kOverwrite;
  std::string if_match;  // the ETag of kUpdate and kUnlessEtag
};

struct PutResult {
  std::string etag;
  std::optional<std::string> version;
  Checksum checksum;  // the one kept with the object (CompleteMultipart: the one it made)
};

struct GetOptions {
  ByteRange range;  // the whole object by default
  // RFC 9110 preconditions. A failed If-Match / If-Unmodified-Since is kFailedPrecondition; a
  // matching If-None-Match or an unmodified If-Modified-Since is not an error: the result has
  // not_modified set, its metadata filled and no data (HTTP's 304). "*" matches any ETag.
  std::optional<std::string> if_match;
  std::optional<std::string> if_none_match;
  std::optional<Clock::time_point> if_modified_since;
  std::optional<Clock::time_point> if_unmodified_since;
  bool head = false;  // metadata only
};

struct GetResult {
  ObjectMeta meta;
  ResolvedRange range;  // the bytes `data` holds, within [0, meta.size]
  Bytes data;           // empty for head requests and not_modified
  bool not_modified = false;
};

struct ListOptions {
  std::string prefix;
  // Empty: every key under the prefix. Otherwise keys whose remainder after the prefix contains
  // the delimiter are rolled up into common_prefixes (prefix + text up to and including it).
  std::string delimiter;
  std::string start_after;         // only keys strictly after this one
  std::string continuation_token;  // from the previous page's next_continuation_token
  size_t max_keys = 1000;          // objects + common prefixes per page, >= 1
};

struct ListResult {
  std::vector<ObjectMeta> objects;
  std::vector<std::string> common_prefixes;
  std::string next_continuation_token;  // empty on the last page
};

enum class CopyMode {
  kOverwrite,  // replace the destination
  kCreate,     // fail with kAlreadyExists if the destination exists
};

struct PartInfo {
  int part_number = 0;  // 1..max_parts
  std::string etag;
  uint64_t size = 0;
  Clock::time_point last_modified;  // when the part was stored (ListParts; ignored elsewhere)
  // The part's checksum (base64) under its upload's algorithm, as PartWriter::FinishChecked kept
  // it; "" for none. In CompleteMultipart's list, one that is given must be the kept one.
  std::string checksum;
  std::string checksum_algorithm;  // the upload's algorithm when `checksum` is set ("CRC32", ...)
};

struct MultipartUploadInfo {
  std::string key;
  std::string upload_id;
  Clock::time_point initiated;
};

// What a backend can do; callers branch on these instead of on the backend's type.
struct Capabilities {
  bool conditional_put = false;  // PutMode::kCreate and kUpdate
  bool put_unless_etag = false;  // PutMode::kUnlessEtag
  bool multipart = false;
  bool delimiter_list = false;
  bool copy = false;
  bool copy_if_absent = false;  // CopyMode::kCreate
  bool atomic_rename = false;   // Rename
  bool buckets = false;
  uint64_t min_part_size = 0;  // every part but the last must be at least this big
  uint64_t max_part_size = 0;
  int max_parts = 0;
  bool equal_parts_required = false;  // all non-final parts the same size (Cloudflare R2)
  size_t max_delete_batch = 0;        // keys per DeleteMany request on the wire
  // The store retries transient failures itself (S3: with backoff, resuming cut bodies), so a
  // caller must not retry them again: retries would nest (10 x 10 attempts).
  bool retries_transient = false;
  // OpenWriter and OpenPartWriter write straight to storage as the bytes come (the local store),
  // instead of gathering them or their parts in memory.
  bool streaming_writes = false;
  // Checksums (PutOptions, FinishChecked) and multipart parts are kept and returned in ObjectMeta.
  bool checksums = false;
};

// A streaming write of one object (ObjectStore::OpenWriter): bytes in pieces of any size, then
// Finish, which makes the whole object visible at once with the PutOptions the writer was opened
// with (its mode included, checked at Finish), or Abort. Nothing is visible before Finish;
// destroying an unfinished writer aborts it. After a failure every later call returns the first
// error (kCancelled after Abort). Not thread-safe: one writer thread.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  virtual Status Write(std::string_view data) = 0;
  // Same, without a copy where the writer can keep the caller's bytes.
  virtual Status Write(Bytes data) { return Write(data.view()); }
  virtual Result<PutResult> Finish() = 0;
  // Finish, keeping `checksum` (of exactly the bytes written, which the caller checked) with the
  // object. kUnimplemented on stores without capabilities().checksums, unless it is empty. A
  // writer that uploads in parts may complete without it (BufferedUpload::FinishChecked says
  // when); PutResult.checksum is what was kept.
  virtual Result<PutResult> FinishChecked(const Checksum& checksum);
  // Discards what was written. OK when nothing was.
  virtual Status Abort() = 0;
  virtual uint64_t bytes_written() const = 0;
};

// A streaming write of one part of a multipart upload (ObjectStore::OpenPartWriter): Finish
// stages the part (replacing an earlier part of the same number) and returns what PutPart would.
// Destroying an unfinished part writer discards its bytes. Not thread-safe.
class PartWriter {
 public:
  virtual ~PartWriter() = default;
  virtual Status Write(std::string_view data) = 0;
  virtual Result<PartInfo> Finish() = 0;
  // Finish, keeping `checksum` (of exactly the part's bytes, which the caller checked) with the
  // part when its upload named that algorithm (PutOptions::checksum); a checksum of another
  // algorithm is kInvalidArgument, and one given to an upload that named none is not kept.
  // kUnimplemented on stores without capabilities().checksums, unless it is empty.
  virtual Result<PartInfo> FinishChecked(const Checksum& checksum);
};

struct WriteOptions {
  PutOptions put;          // content type, metadata and mode of the finished object
  uint64_t size_hint = 0;  // the object's expected size, when known (0: unknown)
  // Stores that write through multipart (the default writer): parts of exactly `part_size`
  // bytes (0: 8 MiB growing to 128 MiB), at most `max_in_flight` uploading at once, so the writer
  // holds at most (max_in_flight + 1) parts. Stores that write straight to storage ignore both.
  uint64_t part_size = 0;
  int max_in_flight = 4;
  // Where a multipart store uploads the writer's parts: a shared executor (it must outlive the
  // writer), or nullptr for threads of the writer's own.
  Executor* executor = nullptr;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual Capabilities capabilities() const = 0;
  // The URL that opens this store again (or a description where none does).
  virtual std::string ToString() const = 0;

  // Every call below blocks, and takes a Context last (core/context.h): a call whose context is
  // cancelled or past its deadline fails with kCancelled / kDeadlineExceeded naming the key and
  // changes nothing, before it starts or wherever the backend can stop it (between attempts and
  // pieces; the S3 backend also aborts a request on the wire). A write that already landed is not
  // undone. Cleanup after a cancel (AbortMultipart) takes a context of its own.

  // Stores `data` under `key` as one atomic object.
  Result<PutResult> Put(std::string_view key, Bytes data, const PutOptions& options = {},
                        const Context& ctx = {});
  // Reads the object, or the range of it that `options.range` asks for (kOutOfRange if the range
  // starts past the end).
  Result<GetResult> Get(std::string_view key, const GetOptions& options = {},
                        const Context& ctx = {});
  Result<ObjectMeta> Head(std::string_view key, const Context& ctx = {});
  // Streams what Get would return, from one version of the object however long the read takes:
  // `on_head` gets the result without data (meta, resolved range, not_modified) before any byte;
  // then `on_data` gets the range's bytes in order, in pieces of at most a few MiB. An error from
  // either callback stops the read and is returned. The default reads pieces with Get, each
  // pinned by If-Match to the first one's ETag, so a concurrent overwrite ends the stream with
  // kFailedPrecondition (never mixed bytes); backends that can hold a version open (local) keep
  // serving the version they started on.
  Status GetStream(std::string_view key, const GetOptions& options,
                   const std::function<Status(const GetResult&)>& on_head,
                   const std::function<Status(std::string_view)>& on_data, const Context& ctx = {});
  // Opens a streaming write of `key` (see ObjectWriter); a bad key or options fail here. The
  // writer keeps `ctx` for all its calls. The default, on a store with multipart, is a
  // BufferedUpload (parts as WriteOptions says, one Put for objects smaller than a part); without
  // multipart, the bytes are gathered in memory and stored with one Put at Finish. The local store
  // writes straight into the object's temporary file. `this` must outlive the writer.
  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view key,
                                                   const WriteOptions& options = {},
                                                   const Context& ctx = {});
  // OK whether or not the key existed.
  Status Delete(std::string_view key, const Context& ctx = {});
  // One Status per key, in order.
  std::vector<Status> DeleteMany(std::span<const std::string> keys, const Context& ctx = {});
  // One page of keys.
  Result<ListResult> List(const ListOptions& options, const Context& ctx = {});
  // Server-side copy of object and metadata.
  Result<PutResult> Copy(std::string_view from, std::string_view to, CopyMode mode,
                         const Context& ctx = {});
  // Atomic rename where capabilities().atomic_rename; kUnimplemented elsewhere.
  Status Rename(std::string_view from, std::string_view to, CopyMode mode, const Context& ctx = {});

  // Multipart upload: parts may be put in any order and concurrently; CompleteMultipart stitches
  // the listed parts (ascending part numbers, ETags as PutPart returned them) into one object with
  // the content type, metadata and checksum type given to CreateMultipart (the object's checksum
  // is made from its parts' as S3 makes it: PutResult and ObjectMeta give it; a part without a
  // checksum when the upload asked for one is kInvalidArgument), if `condition` holds then (as S3's
  // conditional CompleteMultipartUpload: kAlreadyExists / kFailedPrecondition as for Put, and the
  // upload stays, so it can be completed otherwise or aborted). CreateMultipart takes no condition:
  // a mode other than kOverwrite there is kInvalidArgument. A part list that names
  // an unknown part or a wrong ETag is kInvalidArgument; parts below min_part_size (other than the
  // last) are kInvalidArgument ("EntityTooSmall"). Abort removes every staged part; completing
  // or aborting an unknown upload is kNotFound.
  Result<std::string> CreateMultipart(std::string_view key, const PutOptions& options,
                                      const Context& ctx = {});
  Result<PartInfo> PutPart(std::string_view key, std::string_view upload_id, int part_number,
                           Bytes data, const Context& ctx = {});
  Result<PutResult> CompleteMultipart(std::string_view key, std::string_view upload_id,
                                      std::span<const PartInfo> parts,
                                      const WriteCondition& condition = {},
                                      const Context& ctx = {});
  Status AbortMultipart(std::string_view key, std::string_view upload_id, const Context& ctx = {});
  // Streams one part instead of holding it whole (the writer keeps `ctx`). The default gathers
  // the part in memory and calls PutPart at Finish; stores with capabilities().streaming_writes
  // (local) write it straight to storage. kNotFound for an unknown upload, at the latest at Finish.
  Result<std::unique_ptr<PartWriter>> OpenPartWriter(std::string_view key,
                                                     std::string_view upload_id, int part_number,
                                                     const Context& ctx = {});
  // The parts staged so far, by ascending part number (kNotFound for an unknown upload).
  Result<std::vector<PartInfo>> ListParts(std::string_view key, std::string_view upload_id,
                                          const Context& ctx = {});
  Result<std::vector<MultipartUploadInfo>> ListMultipartUploads(std::string_view prefix,
                                                                const Context& ctx = {});

 protected:
  // What backends implement: each public call checks its context, then calls its Do... with it
  // (decorators forward the context with the call).
  virtual Result<PutResult> DoPut(std::string_view key, Bytes data, const PutOptions& options,
                                  const Context& ctx) = 0;
  virtual Result<GetResult> DoGet(std::string_view key, const GetOptions& options,
                                  const Context& ctx) = 0;
  virtual Result<ObjectMeta> DoHead(std::string_view key, const Context& ctx) = 0;
  virtual Status DoGetStream(std::string_view key, const GetOptions& options,
                             const std::function<Status(const GetResult&)>& on_head,
                             const std::function<Status(std::string_view)>& on_data,
                             const Context& ctx);
  virtual Result<std::unique_ptr<ObjectWriter>> DoOpenWriter(std::string_view key,
                                                             const WriteOptions& options,
                                                             const Context& ctx);
  virtual Status DoDelete(std::string_view key, const Context& ctx) = 0;
  virtual std::vector<Status> DoDeleteMany(std::span<const std::string> keys,
                                           const Context& ctx) = 0;
  virtual Result<ListResult> DoList(const ListOptions& options, const Context& ctx) = 0;
  virtual Result<PutResult> DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                                   const Context& ctx) = 0;
  virtual Status DoRename(std::string_view from, std::string_view to, CopyMode mode,
                          const Context& ctx) = 0;
  virtual Result<std::string> DoCreateMultipart(std::string_view key, const PutOptions& options,
                                                const Context& ctx) = 0;
  virtual Result<PartInfo> DoPutPart(std::string_view key, std::string_view upload_id,
                                     int part_number, Bytes data, const Context& ctx) = 0;
  virtual Result<PutResult> DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                                std::span<const PartInfo> parts,
                                                const WriteCondition& condition,
                                                const Context& ctx) = 0;
  virtual Status DoAbortMultipart(std::string_view key, std::string_view upload_id,
                                  const Context& ctx) = 0;
  virtual Result<std::unique_ptr<PartWriter>> DoOpenPartWriter(std::string_view key,
                                                               std::string_view upload_id,
                                                               int part_number, const Context& ctx);
  virtual Result<std::vector<PartInfo>> DoListParts(std::string_view key,
                                                    std::string_view upload_id,
                                                    const Context& ctx) = 0;
  virtual Result<std::vector<MultipartUploadInfo>> DoListMultipartUploads(std::string_view prefix,
                                                                          const Context& ctx) = 0;
};

}  // namespace depot::object
