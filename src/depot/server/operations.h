// The S3 operations of depot serve (internal): each answers one verified Exchange from the
// backing store and returns whether the connection may carry another request.
//
// Buckets on the backing store: bucket B's objects are the keys "B/KEY"; the bucket itself is the
// marker object "_buckets/B" (bucket names cannot contain '_', so no bucket's keys collide with
// the markers); once versioning is set on it, its versions are under "_versions/B/" (versions.h).
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "depot/core/executor.h"
#include "depot/core/mutex.h"
#include "depot/object/store.h"
#include "depot/server/access.h"
#include "depot/server/exchange.h"
#include "depot/server/object_attributes.h"
#include "depot/server/sse.h"

namespace depot::server {

// Bytes the server may hold in memory for PUT bodies at once, shared by every connection.
class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t total) : available_(total) {}
  // Takes `bytes` from the budget if that many are left.
  bool TryReserve(uint64_t bytes) {
    uint64_t left = available_.load();
    while (left >= bytes) {
      if (available_.compare_exchange_weak(left, left - bytes)) return true;
    }
    return false;
  }
  void Release(uint64_t bytes) { available_ += bytes; }

 private:
  std::atomic<uint64_t> available_;
};

// Bytes taken from a MemoryBudget, given back when the hold goes away.
class BudgetHold {
 public:
  // A hold of `bytes`, or nullopt when the budget has not that many left.
  static std::optional<BudgetHold> Take(MemoryBudget& budget, uint64_t bytes) {
    if (!budget.TryReserve(bytes)) return std::nullopt;
    return BudgetHold(budget, bytes);
  }
  BudgetHold(BudgetHold&& other) noexcept
      : budget_(std::exchange(other.budget_, nullptr)), bytes_(other.bytes_) {}
  BudgetHold& operator=(BudgetHold&& other) noexcept {
    if (this != &other) {
      Give();
      budget_ = std::exchange(other.budget_, nullptr);
      bytes_ = other.bytes_;
    }
    return *this;
  }
  ~BudgetHold() { Give(); }

 private:
  BudgetHold(MemoryBudget& budget, uint64_t bytes) : budget_(&budget), bytes_(bytes) {}
  void Give() {
    if (budget_ != nullptr) budget_->Release(bytes_);
    budget_ = nullptr;
  }
  MemoryBudget* budget_;
  uint64_t bytes_;
};

// The answer when the budget for request bodies is spent: S3's "slow down", which SDKs retry.
inline S3Error BodyMemoryBusy(uint64_t bytes) {
  return {503, "SlowDown",
          fmt::format("no memory for a {}-byte body now (the server's budget for request bodies "
                      "is in use); retry",
                      bytes)};
}

// Multipart uploads completed lately (the last kKept), so that a second CompleteMultipartUpload
// of an upload with the same part list answers as the first did, as S3 does (an SDK retries a
// completion whose answer it lost). In memory: a restart forgets them. Thread-safe.
class CompletedUploads {
 public:
  static constexpr size_t kKept = 4096;
  // `parts` is the completion's part list, in any stable encoding.
  void Remember(const std::string& upload_id, std::string key, std::string parts,
                std::string etag) {
    MutexLock lock(mu_);
    if (by_id_.size() >= kKept) {
      by_id_.erase(order_.front());
      order_.pop_front();
    }
    if (by_id_.insert_or_assign(upload_id, Entry{std::move(key), std::move(parts), std::move(etag)})
            .second) {
      order_.push_back(upload_id);
    }
  }
  // The ETag of that completion, when `upload_id` completed `key` with these same parts.
  std::optional<std::string> Find(const std::string& upload_id, std::string_view key,
                                  std::string_view parts) const {
    MutexLock lock(mu_);
    auto it = by_id_.find(upload_id);
    if (it == by_id_.end() || it->second.key != key || it->second.parts != parts) {
      return std::nullopt;
    }
    return it->second.etag;
  }

 private:
  struct Entry {
    std::string key;
    std::string parts;
    std::string etag;
  };
  mutable Mutex mu_;
  std::map<std::string, Entry> by_id_ DEPOT_GUARDED_BY(mu_);
  std::deque<std::string> order_ DEPOT_GUARDED_BY(mu_);  // oldest first
};

// Limits and resources the operations share (from S3ServerOptions).
struct OperationLimits {
  uint64_t max_object_bytes;  // one PutObject or CopyObject
  uint64_t max_part_bytes;    // one UploadPart or UploadPartCopy
  // Memory for request bodies the server holds, shared by every connection: a PutObject of
  // declared length that fits is received whole and stored with one Put (one write, no multipart
  // staging); other PutObjects stream through the store's writer (40 MiB held where it uploads
  // 8 MiB parts); parts are held whole unless the store streams them, and part copies always.
  // A body that finds no room is refused with 503 SlowDown.
  MemoryBudget* body_budget;
  // The one pool where the parts of every streamed PutObject and CopyObject upload
  // (S3ServerOptions::transfer_threads), so that threads do not grow with connections.
  Executor* transfers;
  CompletedUploads* completed;
  // Server-side encryption (encryption.h): the SSE-S3 base key (none without a master key), and
  // whether SSE-C is taken over plain HTTP.
  std::optional<SealKey> service_key;
  bool allow_sse_c_over_http = false;
};

inline constexpr std::string_view kBucketMarkers = "_buckets/";
inline constexpr size_t kMaxObjectTags = 10;
inline std::string BucketMarker(std::string_view bucket) {
  return std::string(kBucketMarkers) + std::string(bucket);
}
inline std::string StoreKey(std::string_view bucket, std::string_view key) {
  return std::string(bucket) + "/" + std::string(key);
}
bool ValidBucketName(std::string_view name);

// The permission a request on an existing bucket needs (everything but CreateBucket and
// ListBuckets, which AccessControl answers itself).
Permission NeededPermission(const Exchange& exchange);

// The request as a bucket policy sees it (bucket_policy.h): its S3 action ("s3:GetObject"), the
// ARN of its bucket or object, and its condition keys.
PolicyRequest PolicyRequestOf(const Exchange& exchange, const AccessControl& access);

// GET / (ListBuckets): the buckets the user may use.
bool ListBuckets(Exchange& exchange, const AccessControl& access);
// Requests on /BUCKET: Create/Head/DeleteBucket, ListObjects V1/V2, ListObjectVersions,
// ListMultipartUploads, DeleteObjects, Get/PutBucketVersioning, and the location query SDKs make.
// All but CreateBucket come here authorized (the bucket exists, as `info` says, and the user may
// use it).
bool ServeBucket(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                 const BucketInfo& info, std::string_view region, bool has_master_key);
// Requests on /BUCKET/KEY, authorized: Put/Get/Head/Delete/CopyObject, and multipart uploads.
bool ServeObject(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                 const BucketInfo& info, const OperationLimits& limits);
// ?uploads and ?uploadId requests on /BUCKET/KEY (from ServeObject).
bool ServeMultipart(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                    const BucketInfo& info, const OperationLimits& limits);

// An encrypted write (encryption.h): the object's encryption record, the key it is encrypted
// with, and the headers that name it in the answer.
struct SealedWrite {
  std::string record;
  SealKey object_key;
  HeaderList headers;
};

// The encryption a write asks for (encryption.h: SSE-C or SSE-S3 headers), or its bucket's
// default; nullopt for none. `parts`: a multipart upload's, each part sealed on its own. Records
// that the bucket holds encrypted objects.
Result<std::optional<SealedWrite>> SealedWriteOf(const Exchange& exchange,
                                                 const AccessControl& access,
                                                 const BucketInfo& info,
                                                 const OperationLimits& limits, bool parts);

// Where a write of `key` by `writer` (the request's, or a POST form's) lands: "B/KEY" in a bucket
// that was never versioned, else a new version (versions.h); and the attributes the new object
// gets (object_attributes.h): an ACL from `acl_headers` (x-amz-acl, x-amz-grant-*), `tags`, or the
// writer's ownership when it is not the bucket's owner; in a bucket with object lock, `lock` or the
// bucket's default retention. kInvalidArgument ("KeyTooLongError") for a
// key too long to have versions, or for ACL headers that are not S3's; kUnimplemented for a
// conditional write (If-Match, If-None-Match) into a versioned bucket, which could not be atomic
// there.
struct Landing {
  std::string key;  // in its bucket
  std::string store_key;
  std::optional<Version> version;              // when the bucket's versioning was ever set
  std::optional<ObjectAttributes> attributes;  // none: the defaults (the bucket owner's, private)
  std::string expiration;  // x-amz-expiration for the answer (lifecycle.h); empty: none
};
// The object lock a write asks for: x-amz-object-lock-mode with -retain-until-date (both or
// neither), x-amz-object-lock-legal-hold (ON or OFF). kInvalidArgument naming a bad value, or
// ("InvalidRequest: ...") any of them where the bucket was not made with object lock.
struct LockRequest {
  std::string mode;  // empty: the bucket's default retention
  object::Clock::time_point retain_until;
  bool legal_hold = false;
};
Result<LockRequest> LockOfRequest(const Exchange& exchange, const BucketInfo& info);
Result<Landing> LandingOf(const Exchange& exchange, const AccessControl& access,
                          const BucketInfo& info, std::string_view key, std::string_view writer,
                          const std::vector<s3::Header>& acl_headers,
                          const std::vector<s3::Tag>& tags, const LockRequest& lock,
                          bool delete_marker);
// The same for the request's own key, writer, ACL headers and tags (x-amz-tagging).
Result<Landing> LandingOfRequest(const Exchange& exchange, const AccessControl& access,
                                 const BucketInfo& info, bool delete_marker);
// Once the write landed: records its attributes, removes the null versions a null one replaced,
// and gives the headers that name the version for the answer (x-amz-version-id; none when the
// bucket is unversioned).
Result<HeaderList> Landed(object::ObjectStore& store, const Exchange& exchange,
                          const Landing& landing);
// x-amz-expiration of the current version of `key` (`size` bytes, written at `modified`, with
// `tags`) in `info`'s bucket: when its lifecycle configuration expires it, in S3's calendar days
// (lifecycle.h), and by which rule; nullopt when none does (or the bucket has none).
Result<std::optional<std::string>> ExpirationOf(const AccessControl& access, const BucketInfo& info,
                                                std::string_view key, uint64_t size,
                                                object::Clock::time_point modified,
                                                std::span<const s3::Tag> tags, const Context& ctx);
// The tags of x-amz-tagging ("k=v&k2=v2", URL-encoded), by key, checked as S3 checks them (10
// at most); none without the header.
Result<std::vector<s3::Tag>> RequestTags(const Exchange& exchange);
// Whether the request may pass GOVERNANCE retentions: it sends x-amz-bypass-governance-retention:
// true, and its user owns the bucket, is an admin or is allowed s3:BypassGovernanceRetention.
bool MayBypassGovernance(const Exchange& exchange, const AccessControl& access,
                         const BucketInfo& info);
// OK when version `version_id` of `key` may be deleted: kPermissionDenied ("AccessDenied") while a
// legal hold or a retention holds it (GOVERNANCE ones unless MayBypassGovernance).
Status CheckDeletable(object::ObjectStore& store, const Exchange& exchange,
                      const AccessControl& access, const BucketInfo& info, std::string_view key,
                      std::string_view version_id);
// The same for a deleter that may pass GOVERNANCE retentions or not (`bypass_governance`): the
// request's, or the lifecycle worker's (lifecycle.h), at `now`.
Status CheckVersionDeletable(object::ObjectStore& store, const BucketInfo& info,
                             std::string_view key, std::string_view version_id,
                             bool bypass_governance, object::Clock::time_point now,
                             const Context& ctx);
// The ACL headers of a request (x-amz-acl and x-amz-grant-*).
std::vector<s3::Header> AclHeaders(const Exchange& exchange);
// The ACL that `headers` ask for a resource of `owner` in `info`'s bucket, checked against its
// object ownership: kInvalidArgument ("AccessControlListNotSupported: ...") for grants beyond
// the owner's full control where ACLs are disabled.
Result<std::optional<Acl>> RequestedAcl(const AccessControl& access, const BucketInfo& info,
                                        const std::vector<s3::Header>& headers,
                                        std::string_view owner, bool object);
// The ACL a PutBucketAcl or PutObjectAcl sets: its AccessControlPolicy `body`, or without one its
// headers (RequestedAcl), checked against the public access block (AccessDenied) and the object
// ownership (AccessControlListNotSupported); nullopt when it names none.
Result<std::optional<Acl>> AclToPut(const Exchange& exchange, const AccessControl& access,
                                    const BucketInfo& info, std::string_view body,
                                    std::string_view owner, bool object);

// A writer for a body streamed into `key` (a PutObject that is not held whole, POST Object):
// straight to storage where the store can, else in 8 MiB parts on the transfer pool with 40 MiB
// of the body budget taken into `hold` (kUnavailable "SlowDown: ..." when it is spent).
Result<std::unique_ptr<object::ObjectWriter>> OpenStreamedWriter(
    object::ObjectStore& store, const std::string& key, object::WriteOptions options,
    const OperationLimits& limits, std::optional<BudgetHold>& hold, const Context& ctx);

// POST /BUCKET with a multipart/form-data body: a browser upload authorized by the signed
// policy in the form (s3/post_policy.h), not by SigV4 on the request; the user who signed it
// must be allowed to write the bucket. Answers 204, success_action_status 200 or 201 (with a
// PostResponse document), or 303 to success_action_redirect; the rule of the bucket's CORS
// configuration that applies adds its headers.
bool PostObject(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                const s3::SecretLookup& secrets, const OperationLimits& limits);

// Content-Type and x-amz-meta-* of the request (PutObject, CreateMultipartUpload, and CopyObject
// with REPLACE).
void MetadataFromHeaders(const Exchange& exchange, object::PutOptions& put);
// The write condition of a PUT or CompleteMultipartUpload: If-None-Match: * (create-only),
// If-None-Match: ETAG (unless still that version) or If-Match (the current ETag; it wins when
// both are sent).
object::WriteCondition ConditionFromHeaders(const Exchange& exchange);

// An <Owner> or <Initiator> element naming `user` (an access key) as S3 shows it: its canonical id
// and display name (AccessControl::NameOf).
std::string UserXml(std::string_view element, const AccessControl& access, std::string_view user);

// Stored checksums (stores with capabilities().checksums): the headers S3 answers with for one,
// x-amz-checksum-<algorithm> and x-amz-checksum-type (none for an empty one).
HeaderList ChecksumHeaders(const object::Checksum& checksum);
// The XML element S3 answers a checksum value of `algorithm` in: <ChecksumCRC32>value</...>.
std::string ChecksumElement(std::string_view algorithm, std::string_view value);
// The checksum CreateMultipartUpload asks the object to get: x-amz-checksum-algorithm and
// x-amz-checksum-type (FULL_OBJECT or COMPOSITE; S3's default is FULL_OBJECT for CRC64NVME and
// COMPOSITE for the others), without a value; empty when none is named. kInvalidArgument for an
// unknown algorithm or type, or a FULL_OBJECT SHA.
Result<object::Checksum> UploadChecksum(const Exchange& exchange);

// If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since as GetOptions, from headers
// named with `prefix` ("" for GetObject); CopySourcePreconditions reads the x-amz-copy-source-if-*
// ones.
object::GetOptions Preconditions(const Exchange& exchange, std::string_view prefix);
object::GetOptions CopySourcePreconditions(const Exchange& exchange);

// x-amz-copy-source ("/bucket/key" or "bucket/key", percent-encoded, with ?versionId=ID or
// not) as the version it names (the latest when none), authorized: the bucket exists, the user
// may read it, and x-amz-source-expected-bucket-owner holds. A delete marker is kNotFound
// ("NoSuchKey") when it is the latest, kInvalidArgument when named, as S3 answers.
struct CopySourceVersion {
  std::string store_key;
  std::string version_id;     // empty when the source bucket was never versioned
  bool same_key = false;      // the request's own bucket and key, no version named
  std::vector<s3::Tag> tags;  // the source's (x-amz-tagging-directive COPY copies them)
};
Result<CopySourceVersion> CopySource(Exchange& exchange, object::ObjectStore& store,
                                     const AccessControl& access);

}  // namespace depot::server
