// depot::server lifecycle: what buckets' lifecycle configurations (PutBucketLifecycleConfiguration,
// kept by AccessControl) do to their objects, and the worker that does it (internal).
//
// What an enabled rule does to the objects its filter matches (a key prefix; tags, all of which
// the object must have; ObjectSizeGreaterThan and ObjectSizeLessThan, strict), as S3 does:
//   - Expiration Days / Date: a current object expires Days after it was written, rounded up to the
//     next midnight UTC, or at Date. In a bucket that was never versioned it is deleted; in a
//     versioned one a delete marker is added (while versioning is suspended, a null one, which
//     replaces the null version).
//   - ExpiredObjectDeleteMarker, and Expiration Days: a delete marker that is its key's only
//     version left is removed (with Days, once it is that old).
//   - NoncurrentVersionExpiration: a version that is no longer the latest is removed NoncurrentDays
//     after the version that replaced it was written, but the NewerNoncurrentVersions newest of
//     the noncurrent ones are kept. Delete markers count as versions.
//   - AbortIncompleteMultipartUpload: an upload begun DaysAfterInitiation days ago is aborted.
// Versions that object lock holds (a retention in force, GOVERNANCE ones too, or a legal hold)
// are never removed; expiring a current one adds a delete marker, as on S3.
//
// A day is 24 hours (`day`); a shorter one makes lifecycle testable (`depot serve
// --lifecycle-debug-interval`, as RGW's rgw_lc_debug_interval), and then counts from the write
// itself, without rounding to midnight. x-amz-expiration (CurrentExpiry) always shows S3's own
// calendar, as RGW's does under its debug interval: the debug day speeds the worker only.
//
// Races: the worker reads what it expires, and reads the key again right before it acts: in a
// bucket never versioned, a PUT that lands between that second read and the delete (two store
// calls apart) is deleted with it; in a versioned bucket it is a new version, only hidden by the
// delete marker and readable by its id. Two servers sharing a store may both add a delete marker
// for the same expired object.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "depot/core/cancellation.h"
#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/object/store.h"
#include "depot/s3/xml.h"

namespace depot::server {

class AccessControl;
struct BucketInfo;

// When a current object expires, and by which rule.
struct Expiry {
  object::Clock::time_point when;
  std::string rule_id;
};

// The earliest expiry of a current object (`key`, `size` bytes, written at `modified`, with
// `tags`) under the enabled Expiration Days and Date rules among `rules`; nullopt when none
// applies.
std::optional<Expiry> CurrentExpiry(std::span<const s3::LifecycleRule> rules, std::string_view key,
                                    uint64_t size, object::Clock::time_point modified,
                                    std::span<const s3::Tag> tags, std::chrono::seconds day);
// S3's x-amz-expiration header value: expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="ID".
std::string ExpirationHeader(const Expiry& expiry);

class LifecycleWorker {
 public:
  // What one pass did.
  struct Counts {
    size_t expired = 0;             // current objects deleted or hidden by a delete marker
    size_t markers_removed = 0;     // expired object delete markers removed
    size_t noncurrent_removed = 0;  // noncurrent versions removed
    size_t uploads_aborted = 0;
  };

  // The store and access control must outlive this.
  LifecycleWorker(object::ObjectStore& store, const AccessControl& access, std::chrono::seconds day)
      : store_(store), access_(access), day_(day) {}
  ~LifecycleWorker() { Stop(); }
  LifecycleWorker(const LifecycleWorker&) = delete;
  LifecycleWorker& operator=(const LifecycleWorker&) = delete;

  // One pass over every bucket with a lifecycle configuration, as of `now`. A bucket that fails
  // is logged and skipped; the others are still done.
  Counts RunOnce(object::Clock::time_point now, const Context& ctx = {});
  // Runs a pass every `interval` on a thread of its own until Stop (idempotent).
  void Start(std::chrono::milliseconds interval);
  void Stop();

 private:
  Status RunBucket(const BucketInfo& info, std::span<const s3::LifecycleRule> rules,
                   object::Clock::time_point now, Counts& counts, const Context& ctx);
  Status RunUnversioned(const BucketInfo& info, std::span<const s3::LifecycleRule> rules,
                        object::Clock::time_point now, Counts& counts, const Context& ctx);
  Status RunVersioned(const BucketInfo& info, std::span<const s3::LifecycleRule> rules,
                      object::Clock::time_point now, Counts& counts, const Context& ctx);
  Status RunUploads(const BucketInfo& info, std::span<const s3::LifecycleRule> rules,
                    object::Clock::time_point now, Counts& counts, const Context& ctx);

  object::ObjectStore& store_;
  const AccessControl& access_;
  const std::chrono::seconds day_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  CancellationSource stop_;
  std::thread thread_;
};

}  // namespace depot::server
