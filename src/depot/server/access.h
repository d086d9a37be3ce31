// depot::server::AccessControl: who may do what in depot serve (internal). The one place every
// operation asks before it touches a bucket or its objects (the object-level checks it answers
// through AuthorizeObject), never checks spread over the handlers.
//
// The model: every bucket has an owner, the user whose access key created it, recorded in the
// bucket's marker object "_buckets/B" (user metadata "owner"; "location" its LocationConstraint,
// "created" its creation time once the marker has been rewritten, "tags" its tags, "versioning"
// Enabled or Suspended once versioning is set (versions.h), "acl" its ACL's grants (acl.h; the
// owner's full control when absent), "ownership" its object ownership once set, "tagged" once an
// object has tags; the marker's bytes are its CORS configuration, empty for none). A bucket whose
// marker records no owner (made before owners existed) belongs to the admins.
//
// Who may do what:
//   - The owner and the admins (users the credentials file marks "admin") may do everything with
//     a bucket and every object in it, whoever wrote the object.
//   - Others, and anonymous requests (user ""), get what ACLs grant them (acl.h): the bucket's
//     READ lists it, its WRITE puts, copies into and deletes objects, READ_ACP and WRITE_ACP read
//     and replace its ACL; an object's READ reads it and its tags (GET, HEAD, a copy's source),
//     READ_ACP and WRITE_ACP its ACL, WRITE its tags. Object locks (retention, legal hold) are
//     changed by the bucket's owners and whom its policy allows, never by an object's writer
//     alone. Whoever may not list a bucket is never told whether a key in it exists (403 for a
//     missing key as for a forbidden one). An object's ACL is in its attributes
//     (object_attributes.h); an object written by someone other than the bucket's owner is the
//     writer's, private unless asked.
//   - The bucket's configuration (CORS, tags, versioning, ownership, policy, public access block,
//     lifecycle, default encryption)
//     and its deletion are the owner's alone.
//   - A bucket policy (bucket_policy.h; kept in "_policies/B", its presence flagged in the marker
//     as "policy") adds what its Allow statements grant to anyone they name (never the owner's
//     own operations, kOwn), and its Deny statements take away from everyone, the owner included
//     (not the admins, and never the owner's right to change the policy itself). DeleteObjects is
//     judged key by key.
//   - The public access block (marker field "public-access-block") refuses public ACLs and
//     policies when they are put (BlockPublicAcls, BlockPublicPolicy), ignores the public grants
//     of ACLs (IgnorePublicAcls) and limits a public policy's grants to the users it names
//     (RestrictPublicBuckets).
//   - Object ownership BucketOwnerEnforced disables ACLs, as on S3: grants are not consulted and
//     only the owner and the admins may use the bucket; a request that sets an ACL other than the
//     owner's full control is refused (AccessControlListNotSupported).
// ListBuckets shows each user the buckets it owns (all of them to admins). Wherever S3 shows an
// owner, a user shows as its canonical id and display name (UserName; by default both are its
// access key), grants name users by canonical id, and x-amz-expected-bucket-owner takes either
// the owner's canonical id or its access key.
//
// Thread-safe. Every answer reads the marker afresh from the store: servers sharing one store
// agree, and a bucket deleted and made again by another user is never served on a stale owner.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"
#include "depot/object/forwarding_store.h"
#include "depot/object/store.h"
#include "depot/s3/xml.h"
#include "depot/server/acl.h"
#include "depot/server/bucket_policy.h"
#include "depot/server/s3_server.h"
#include "depot/server/versions.h"

namespace depot::server {

// What a request does with a bucket: the unit that ACL grants and policy actions will map to.
// What a request does with a bucket or an object in it.
enum class Permission {
  kRead,      // list the bucket and its uploads (the bucket's READ)
  kWrite,     // put, copy into, delete objects; multipart uploads (the bucket's WRITE)
  kReadAcp,   // read the bucket's ACL
  kWriteAcp,  // replace the bucket's ACL
  kOwn,       // delete the bucket; read and change its configuration
  // Decided by the object's ACL (AuthorizeObject): Authorize passes them for any bucket.
  kReadObject,
  kReadObjectAcp,
  kWriteObjectAcp,
};

// S3's public access block of a bucket.
struct PublicAccessBlock {
  bool block_public_acls = false;
  bool ignore_public_acls = false;
  bool block_public_policy = false;
  bool restrict_public_buckets = false;
  bool any() const {
    return block_public_acls || ignore_public_acls || block_public_policy ||
           restrict_public_buckets;
  }
  friend bool operator==(const PublicAccessBlock&, const PublicAccessBlock&) = default;
};

// Whether an ACL grants anything to AllUsers or AuthenticatedUsers.
bool IsPublicAcl(const Acl& acl);

struct BucketInfo {
  std::string name;
  std::string owner;  // an access key; empty for buckets made before owners were recorded
  object::Clock::time_point created;
  std::string location;  // the LocationConstraint it was made with; empty when none was given
  Versioning versioning = Versioning::kOff;
  Acl acl;                // its owner is the bucket's
  std::string ownership;  // BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter; "": unset
  // Whether ACLs are consulted (object ownership is not BucketOwnerEnforced).
  bool acls_enabled() const { return ownership != "BucketOwnerEnforced"; }
  bool has_policy = false;
  bool has_lifecycle = false;  // a lifecycle configuration is kept (AccessControl::Lifecycle)
  PublicAccessBlock block;
  // Whether any object of the bucket was ever given tags (reads then look for them), or stored
  // encrypted (reads and listings then look at each object's metadata).
  bool tagged = false;
  bool encrypted = false;
  std::string default_encryption;  // "AES256" (SSE-S3) once set; empty: none
  // Object lock: enabled when the bucket was made or later (its versioning then stays Enabled), and
  // the default retention of new versions (empty mode: none).
  bool object_lock = false;
  s3::ObjectLockConfiguration lock_default;
  // What the bucket's policy said of the request Authorize answered (kNone without one).
  PolicyDecision policy = PolicyDecision::kNone;
};

class AccessControl {
 public:
  // The store is shared with the caller and must outlive this.
  // `names`: the canonical ids and display names of the users who have them (access key ->);
  // every user must be there (with its access key twice when it has no other name) for grants
  // to name it.
  AccessControl(object::ObjectStore& store, std::set<std::string, std::less<>> admins,
                std::map<std::string, UserName, std::less<>> names = {});

  bool IsAdmin(std::string_view user) const { return admins_.contains(user); }
  // How `user` (an access key) shows as an owner: its name, or its access key twice.
  UserName NameOf(std::string_view user) const;
  // The bucket as its marker records it; kNotFound ("NoSuchBucket: ...") when it does not exist.
  Result<BucketInfo> Lookup(std::string_view bucket, const Context& ctx) const;
  // The bucket, when `user` may do what `permission` covers on it. kNotFound ("NoSuchBucket")
  // when the bucket does not exist; kPermissionDenied ("AccessDenied") when the user may not, or
  // when `expected_owner` is given and is not the bucket's owner (x-amz-expected-bucket-owner).
  // `request` (null: none) is what the bucket's policy is asked about.
  Result<BucketInfo> Authorize(std::string_view user, std::string_view bucket,
                               Permission permission,
                               const std::optional<std::string>& expected_owner, const Context& ctx,
                               const PolicyRequest* request = nullptr) const;
  // Whether `user` may do `permission` (an object's) on an object whose ACL is `acl` in `bucket`.
  // kPermissionDenied ("AccessDenied") when not.
  Status AuthorizeObject(std::string_view user, const BucketInfo& bucket, const Acl& acl,
                         AclPermission permission) const;
  // How users show in ACL documents, and which user a canonical id names.
  const AclNames& acl_names() const { return acl_names_; }
  // Makes `bucket`, owned by `user`, recording `location` (GetBucketLocation), `grants` (its
  // ACL; none: the owner's full control) and `ownership` (empty: unset). When it exists
  // already: kAlreadyExists with "BucketAlreadyOwnedByYou: ..." if it is the user's,
  // "BucketAlreadyExists: ..." if not. A name whose keys are still in the store (objects or uploads
  // of an earlier bucket that a write racing its deletion left behind) is refused (kAlreadyExists,
  // "OperationAborted: ..."), so no user ever reads what another left there.
  // `object_lock`: made with object lock (and so with versioning enabled).
  Status CreateBucket(std::string_view user, std::string_view bucket, std::string_view location,
                      const std::vector<AclGrant>& grants, std::string_view ownership,
                      bool object_lock, const Context& ctx) const;
  // Replaces the default retention of a bucket with object lock (turning it on if need be).
  Status SetObjectLock(std::string_view bucket, const s3::ObjectLockConfiguration& config,
                       const Context& ctx) const;
  // Deletes an authorized `bucket` that holds no objects (kFailedPrecondition, "BucketNotEmpty:
  // ..." otherwise), aborting its incomplete multipart uploads first, as S3 does. Emptiness is
  // checked again after the marker is gone: if a write raced in, the marker is put back and the
  // answer is BucketNotEmpty.
  Status DeleteBucket(std::string_view bucket, const Context& ctx) const;
  // The bucket's CORS rules (none: empty); kNotFound ("NoSuchBucket") when it does not exist.
  Result<std::vector<s3::CorsRule>> Cors(std::string_view bucket, const Context& ctx) const;
  // Replaces them (empty: removes them), keeping everything else the marker records. Atomic with
  // respect to other changes of the marker (a conditional rewrite, retried on a race).
  Status SetCors(std::string_view bucket, std::span<const s3::CorsRule> rules,
                 const Context& ctx) const;
  // The bucket's tags (none: empty), and their replacement (empty: removes them), kept in the
  // marker as the CORS rules are.
  Result<std::vector<s3::Tag>> Tags(std::string_view bucket, const Context& ctx) const;
  Status SetTags(std::string_view bucket, std::span<const s3::Tag> tags, const Context& ctx) const;
  // Sets the bucket's versioning (kEnabled or kSuspended), its ACL's grants and its object
  // ownership (empty: unset), each kept in the marker as the tags are.
  Status SetVersioning(std::string_view bucket, Versioning state, const Context& ctx) const;
  Status SetAcl(std::string_view bucket, const std::vector<AclGrant>& grants,
                const Context& ctx) const;
  Status SetOwnership(std::string_view bucket, std::string_view ownership,
                      const Context& ctx) const;
  // The bucket's policy document as it was put (nullopt: none), and its replacement (empty:
  // removal). kInvalidArgument ("MalformedPolicy: ...") for a document BucketPolicy refuses.
  Result<std::optional<std::string>> Policy(std::string_view bucket, const Context& ctx) const;
  Status SetPolicy(std::string_view bucket, std::string_view document, const Context& ctx) const;
  // The bucket's lifecycle rules (none: empty), and their replacement (empty: removal), kept in
  // "_lifecycles/B" as the policy is (lifecycle.h applies them).
  Result<std::vector<s3::LifecycleRule>> Lifecycle(std::string_view bucket,
                                                   const Context& ctx) const;
  Status SetLifecycle(std::string_view bucket, std::span<const s3::LifecycleRule> rules,
                      const Context& ctx) const;
  // Records that an object of the bucket has tags (BucketInfo::tagged), or was stored encrypted
  // (BucketInfo::encrypted), once.
  Status MarkTagged(const BucketInfo& bucket, const Context& ctx) const;
  Status MarkEncrypted(const BucketInfo& bucket, const Context& ctx) const;
  // Sets the bucket's default encryption ("AES256"; empty: none).
  Status SetDefaultEncryption(std::string_view bucket, std::string_view algorithm,
                              const Context& ctx) const;
  // Sets the bucket's public access block (all false: removes it).
  Status SetPublicAccessBlock(std::string_view bucket, const PublicAccessBlock& block,
                              const Context& ctx) const;
  // Every bucket, by name, with owners read from the markers.
  Result<std::vector<BucketInfo>> ListBuckets(const Context& ctx) const;
  // Whether `user` may use `bucket` at all (ListBuckets shows it).
  bool MayUse(std::string_view user, const BucketInfo& bucket) const;

 private:
  // The tags of `key` (`version_id`, or its latest version) in `bucket`; none when it is missing.
  Result<std::vector<s3::Tag>> ExistingTags(const BucketInfo& bucket, std::string_view key,
                                            const std::optional<std::string>& version_id,
                                            const Context& ctx) const;
  // A document kept beside the marker at `root` + the bucket's name, flagged in the marker's
  // `field` (the policy, the lifecycle configuration); nullopt: none. Setting "" removes it.
  Result<std::optional<std::string>> Document(std::string_view root, std::string_view bucket,
                                              const Context& ctx) const;
  Status SetDocument(std::string_view root, std::string_view field, std::string_view bucket,
                     std::string_view document, const Context& ctx) const;
  // Whether any object, version or upload is stored under the bucket's keys.
  Result<bool> HoldsKeys(std::string_view bucket, const Context& ctx) const;
  // Sets one field of the marker (empty: removes it).
  Status SetField(std::string_view bucket, std::string_view field, std::string_view value,
                  const Context& ctx) const;
  // Rewrites the bucket's marker with `change` applied to its user metadata and bytes, keeping
  // the rest: a conditional rewrite, read again and retried (ten times at most) when another
  // change came first.
  Status UpdateMarker(
      std::string_view bucket, const Context& ctx,
      const std::function<void(std::map<std::string, std::string>&, std::string&)>& change) const;

  object::ObjectStore& store_;
  const std::set<std::string, std::less<>> admins_;
  const std::map<std::string, UserName, std::less<>> names_;
  AclNames acl_names_;
};

// The store as the operations of one authorized request on `bucket` see it: every call that
// writes asks AccessControl again right before it reaches the store, so a write that waited on a
// slow client never lands in a bucket that was deleted, or deleted and made again by another
// user, meanwhile. Reads were authorized when the request began.
class AuthorizedStore final : public object::ForwardingStore {
 public:
  // `permission` and `request` are the request's (NeededPermission, PolicyRequestOf).
  AuthorizedStore(object::ObjectStore& target, const AccessControl& access, std::string user,
                  std::string bucket, Permission permission, PolicyRequest request)
      : ForwardingStore(target),
        access_(access),
        user_(std::move(user)),
        bucket_(std::move(bucket)),
        permission_(permission),
        request_(std::move(request)) {}

 protected:
  Result<object::PutResult> DoPut(std::string_view key, Bytes data,
                                  const object::PutOptions& options, const Context& ctx) override;
  // Writers ask again at Finish, right before the object or part lands.
  Result<std::unique_ptr<object::ObjectWriter>> DoOpenWriter(std::string_view key,
                                                             const object::WriteOptions& options,
                                                             const Context& ctx) override;
  Status DoDelete(std::string_view key, const Context& ctx) override;
  std::vector<Status> DoDeleteMany(std::span<const std::string> keys, const Context& ctx) override;
  Result<object::PutResult> DoCopy(std::string_view from, std::string_view to,
                                   object::CopyMode mode, const Context& ctx) override;
  Status DoRename(std::string_view from, std::string_view to, object::CopyMode mode,
                  const Context& ctx) override;
  Result<std::string> DoCreateMultipart(std::string_view key, const object::PutOptions& options,
                                        const Context& ctx) override;
  Result<object::PartInfo> DoPutPart(std::string_view key, std::string_view upload_id,
                                     int part_number, Bytes data, const Context& ctx) override;
  Result<std::unique_ptr<object::PartWriter>> DoOpenPartWriter(std::string_view key,
                                                               std::string_view upload_id,
                                                               int part_number,
                                                               const Context& ctx) override;
  Result<object::PutResult> DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                                std::span<const object::PartInfo> parts,
                                                const object::WriteCondition& condition,
                                                const Context& ctx) override;
  Status DoAbortMultipart(std::string_view key, std::string_view upload_id,
                          const Context& ctx) override;

 private:
  Status Recheck(const Context& ctx) const;

  const AccessControl& access_;
  const std::string user_;
  const std::string bucket_;
  const Permission permission_;
  const PolicyRequest request_;
};

}  // namespace depot::server
