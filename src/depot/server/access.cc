#include "depot/server/access.h"

#include <fmt/format.h>

#include <charconv>
#include <functional>
#include <utility>

#include "depot/core/ascii.h"
#include "depot/object/helpers.h"
#include "depot/server/object_attributes.h"
#include "depot/server/operations.h"

namespace depot::server {
namespace {

// The marker's user metadata that names the bucket's owner.
constexpr std::string_view kOwnerField = "owner";
constexpr std::string_view kLocationField = "location";
// When the bucket was made, in ns since the epoch: written when the marker is rewritten (its
// modification time is the creation time until then).
constexpr std::string_view kCreatedField = "created";
// The bucket's tags (PutBucketTagging), as x-amz-tagging writes them; absent for none.
constexpr std::string_view kTagsField = "tags";
// The bucket's versioning once it is set: "Enabled" or "Suspended".
constexpr std::string_view kVersioningField = "versioning";
// The grants of the bucket's ACL (acl.h); absent: the owner's full control.
constexpr std::string_view kAclField = "acl";
// The bucket's object ownership, once set.
constexpr std::string_view kOwnershipField = "ownership";
// "1" when the bucket has a policy, kept in kPolicies + the bucket's name.
constexpr std::string_view kPolicyField = "policy";
constexpr std::string_view kPolicies = "_policies/";
// "1" when the bucket has a lifecycle configuration, kept in kLifecycles + the bucket's name
// (s3::LifecycleConfigurationXml).
constexpr std::string_view kLifecycleField = "lifecycle";
constexpr std::string_view kLifecycles = "_lifecycles/";
// The public access block: four 0/1 digits (BlockPublicAcls, IgnorePublicAcls,
// BlockPublicPolicy, RestrictPublicBuckets).
constexpr std::string_view kBlockField = "public-access-block";
// "1" once an object of the bucket has had tags.
constexpr std::string_view kTaggedField = "tagged";
// "1" once an object of the bucket was stored encrypted (encryption.h).
constexpr std::string_view kEncryptedField = "encrypted";
// The bucket's default encryption ("AES256", SSE-S3), once set.
constexpr std::string_view kDefaultEncryptionField = "default-encryption";
// Present when the bucket was made with object lock: its default retention, "MODE:DAYS:YEARS", or
// "" for none.
constexpr std::string_view kObjectLockField = "object-lock";

Status NoSuchBucket(std::string_view bucket) {
  return NotFoundError(fmt::format("NoSuchBucket: bucket {} does not exist", bucket));
}

// The bucket's marker, with its bytes unless `head`; NoSuchBucket when there is none.
Result<object::GetResult> ReadMarker(object::ObjectStore& store, std::string_view bucket, bool head,
                                     const Context& ctx) {
  auto marker = store.Get(BucketMarker(bucket), {.head = head}, ctx);
  if (!marker.ok() && marker.status().code() == StatusCode::kNotFound) return NoSuchBucket(bucket);
  return marker;
}

Result<BucketInfo> FromMarker(std::string_view bucket, const object::ObjectMeta& meta) {
  BucketInfo info{std::string(bucket), "", meta.last_modified};
  if (auto it = meta.user_metadata.find(std::string(kCreatedField));
      it != meta.user_metadata.end()) {
    int64_t ns = 0;
    if (std::from_chars(it->second.data(), it->second.data() + it->second.size(), ns).ec ==
        std::errc()) {
      info.created = object::Clock::time_point(
          std::chrono::duration_cast<object::Clock::duration>(std::chrono::nanoseconds(ns)));
    }
  }
  if (auto it = meta.user_metadata.find(std::string(kOwnerField)); it != meta.user_metadata.end()) {
    info.owner = it->second;
  }
  if (auto it = meta.user_metadata.find(std::string(kLocationField));
      it != meta.user_metadata.end()) {
    info.location = it->second;
  }
  if (auto it = meta.user_metadata.find(std::string(kVersioningField));
      it != meta.user_metadata.end()) {
    info.versioning = it->second == "Enabled" ? Versioning::kEnabled : Versioning::kSuspended;
  }
  info.acl.owner = info.owner;
  if (auto it = meta.user_metadata.find(std::string(kAclField)); it != meta.user_metadata.end()) {
    auto grants = DecodeGrants(it->second);
    if (!grants.ok()) {
      return DataLossError(fmt::format("bucket {}: its stored ACL is unreadable: {}", bucket,
                                       grants.status().message()));
    }
    info.acl.grants = std::move(*grants);
  } else {
    info.acl.grants = {{AclGrant::Grantee::kUser, info.owner, AclPermission::kFullControl}};
  }
  if (auto it = meta.user_metadata.find(std::string(kOwnershipField));
      it != meta.user_metadata.end()) {
    info.ownership = it->second;
  }
  info.has_policy = meta.user_metadata.contains(std::string(kPolicyField));
  info.has_lifecycle = meta.user_metadata.contains(std::string(kLifecycleField));
  info.tagged = meta.user_metadata.contains(std::string(kTaggedField));
  info.encrypted = meta.user_metadata.contains(std::string(kEncryptedField));
  if (auto it = meta.user_metadata.find(std::string(kDefaultEncryptionField));
      it != meta.user_metadata.end()) {
    info.default_encryption = it->second;
  }
  if (auto it = meta.user_metadata.find(std::string(kObjectLockField));
      it != meta.user_metadata.end()) {
    info.object_lock = true;
    const std::string& text = it->second;
    const size_t first = text.find(':');
    const size_t second = first == std::string::npos ? first : text.find(':', first + 1);
    if (second != std::string::npos) {
      info.lock_default.mode = text.substr(0, first);
      info.lock_default.days = std::atoi(text.c_str() + first + 1);
      info.lock_default.years = std::atoi(text.c_str() + second + 1);
    }
  }
  if (auto it = meta.user_metadata.find(std::string(kBlockField));
      it != meta.user_metadata.end() && it->second.size() == 4) {
    info.block = {it->second[0] == '1', it->second[1] == '1', it->second[2] == '1',
                  it->second[3] == '1'};
  }
  return info;
}

}  // namespace

AccessControl::AccessControl(object::ObjectStore& store, std::set<std::string, std::less<>> admins,
                             std::map<std::string, UserName, std::less<>> names)
    : store_(store), admins_(std::move(admins)), names_(std::move(names)) {
  acl_names_.id_and_name = [this](std::string_view user) {
    UserName name = NameOf(user);
    return std::pair(std::move(name.id), std::move(name.display_name));
  };
  acl_names_.user_of = [this](std::string_view id) -> std::optional<std::string> {
    for (const auto& [user, name] : names_) {
      if (name.id == id || user == id) return user;
    }
    return std::nullopt;
  };
}

UserName AccessControl::NameOf(std::string_view user) const {
  if (auto it = names_.find(user); it != names_.end()) return it->second;
  return {std::string(user), std::string(user)};
}

Result<BucketInfo> AccessControl::Lookup(std::string_view bucket, const Context& ctx) const {
  auto marker = store_.Head(BucketMarker(bucket), ctx);
  if (marker.ok()) return FromMarker(bucket, *marker);
  if (marker.status().code() != StatusCode::kNotFound) return marker.status();
  return NoSuchBucket(bucket);
}

bool AccessControl::MayUse(std::string_view user, const BucketInfo& bucket) const {
  return IsAdmin(user) || (!bucket.owner.empty() && bucket.owner == user);
}

bool IsPublicAcl(const Acl& acl) {
  return std::any_of(acl.grants.begin(), acl.grants.end(), [](const AclGrant& grant) {
    return grant.grantee != AclGrant::Grantee::kUser;
  });
}

namespace {

// The ACL as the public access block lets it count: without its public grants when they are
// ignored.
Acl Counted(const Acl& acl, const PublicAccessBlock& block) {
  if (!block.ignore_public_acls) return acl;
  Acl counted{acl.owner, {}};
  for (const AclGrant& grant : acl.grants) {
    if (grant.grantee == AclGrant::Grantee::kUser) counted.grants.push_back(grant);
  }
  return counted;
}

}  // namespace

Result<BucketInfo> AccessControl::Authorize(std::string_view user, std::string_view bucket,
                                            Permission permission,
                                            const std::optional<std::string>& expected_owner,
                                            const Context& ctx,
                                            const PolicyRequest* request) const {
  DEPOT_ASSIGN_OR_RETURN(BucketInfo info, Lookup(bucket, ctx));
  if (info.has_policy && request != nullptr) {
    DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> document, Policy(bucket, ctx));
    PolicyRequest filled = *request;
    if (filled.fill) {
      const auto fill = std::move(filled.fill);
      filled.fill = nullptr;
      fill(filled);
    }
    request = &filled;
    if (document) {
      DEPOT_ASSIGN_OR_RETURN(BucketPolicy policy, BucketPolicy::Parse(*document, bucket));
      const std::string objects = fmt::format("arn:aws:s3:::{}/", bucket);
      if (policy.UsesExistingObjectTags() && request->resource.starts_with(objects)) {
        PolicyRequest tagged = *request;
        const auto version = request->context.find("s3:versionid");
        DEPOT_ASSIGN_OR_RETURN(
            std::vector<s3::Tag> tags,
            ExistingTags(info, std::string_view(request->resource).substr(objects.size()),
                         version == request->context.end() || version->second.empty()
                             ? std::nullopt
                             : std::optional<std::string>(version->second.front()),
                         ctx));
        for (const s3::Tag& tag : tags) {
          tagged.context["s3:existingobjecttag/" + AsciiLower(tag.key)] = {tag.value};
        }
        info.policy = policy.Evaluate(tagged);
      } else {
        info.policy = policy.Evaluate(*request);
      }
      // A public policy reaches only the users it names when public buckets are restricted.
      if (info.policy == PolicyDecision::kAllow && info.block.restrict_public_buckets &&
          policy.IsPublic() && !MayUse(user, info) && !policy.NamesPrincipal(*request)) {
        info.policy = PolicyDecision::kNone;
      }
    }
    // An explicit Deny binds everyone but the admins, and never keeps the owner from the policy.
    const bool policy_action = request->action.find("BucketPolicy") != std::string::npos;
    if (info.policy == PolicyDecision::kDeny && !IsAdmin(user) &&
        !(policy_action && MayUse(user, info))) {
      return PermissionDeniedError(
          fmt::format("AccessDenied: the policy of bucket {} denies {}", bucket, request->action));
    }
  }
  const Acl counted = Counted(info.acl, info.block);
  const auto granted = [&](AclPermission needed) {
    return info.acls_enabled() && AclAllows(counted, user, needed);
  };
  // A policy's Allow grants what it names, but never the owner's own (kOwn): configuration,
  // the policy itself, deleting the bucket.
  bool allowed = MayUse(user, info) ||
                 (info.policy == PolicyDecision::kAllow && permission != Permission::kOwn);
  switch (permission) {
    case Permission::kRead:
      allowed = allowed || granted(AclPermission::kRead);
      break;
    case Permission::kWrite:
      allowed = allowed || granted(AclPermission::kWrite);
      break;
    case Permission::kReadAcp:
      allowed = allowed || granted(AclPermission::kReadAcp);
      break;
    case Permission::kWriteAcp:
      allowed = allowed || granted(AclPermission::kWriteAcp);
      break;
    case Permission::kOwn:
      break;
    case Permission::kReadObject:
    case Permission::kReadObjectAcp:
    case Permission::kWriteObjectAcp:
      allowed = true;  // the object's ACL decides (AuthorizeObject)
      break;
  }
  if (!allowed) {
    return PermissionDeniedError(fmt::format("AccessDenied: {} may not do that with bucket {}",
                                             user.empty() ? "anyone" : "this user", bucket));
  }
  if (expected_owner && *expected_owner != info.owner && *expected_owner != NameOf(info.owner).id) {
    return PermissionDeniedError(
        fmt::format("AccessDenied: bucket {} is not owned by \"{}\" (x-amz-expected-bucket-owner)",
                    bucket, *expected_owner));
  }
  return info;
}

Result<std::vector<s3::Tag>> AccessControl::ExistingTags(
    const BucketInfo& bucket, std::string_view key, const std::optional<std::string>& version_id,
    const Context& ctx) const {
  auto version = Versions(store_).Find(bucket.name, key, version_id, bucket.versioning, ctx);
  if (!version.ok() || version->delete_marker) return std::vector<s3::Tag>();
  auto meta = store_.Head(version->store_key, ctx);
  if (!meta.ok()) {
    if (meta.status().code() == StatusCode::kNotFound) return std::vector<s3::Tag>();
    return meta.status();
  }
  DEPOT_ASSIGN_OR_RETURN(
      ObjectAttributes attributes,
      ObjectAttributeStore(store_).Read(bucket.name, bucket.owner, *version, *meta, ctx));
  return attributes.tags;
}

Status AccessControl::AuthorizeObject(std::string_view user, const BucketInfo& bucket,
                                      const Acl& acl, AclPermission permission) const {
  if (MayUse(user, bucket) || bucket.policy == PolicyDecision::kAllow ||
      (bucket.acls_enabled() && AclAllows(Counted(acl, bucket.block), user, permission))) {
    return Status::Ok();
  }
  return PermissionDeniedError(
      fmt::format("AccessDenied: {} may not do that with this object of bucket {}",
                  user.empty() ? "anyone" : "this user", bucket.name));
}

Result<bool> AccessControl::HoldsKeys(std::string_view bucket, const Context& ctx) const {
  const std::string root = std::string(bucket) + "/";
  DEPOT_ASSIGN_OR_RETURN(object::ListResult page,
                         store_.List({.prefix = root, .max_keys = 1}, ctx));
  if (!page.objects.empty()) return true;
  DEPOT_ASSIGN_OR_RETURN(bool versions, Versions(store_).HoldsVersions(bucket, ctx));
  if (versions) return true;
  DEPOT_ASSIGN_OR_RETURN(auto uploads, store_.ListMultipartUploads(root, ctx));
  return !uploads.empty();
}

Status AccessControl::CreateBucket(std::string_view user, std::string_view bucket,
                                   std::string_view location, const std::vector<AclGrant>& grants,
                                   std::string_view ownership, bool object_lock,
                                   const Context& ctx) const {
  DEPOT_ASSIGN_OR_RETURN(bool leftovers, HoldsKeys(bucket, ctx));
  if (leftovers && !Lookup(bucket, ctx).ok()) {
    return AlreadyExistsError(fmt::format(
        "OperationAborted: the store still holds keys under {}/ from an earlier bucket of that "
        "name; remove them from the store before making the bucket again",
        bucket));
  }
  object::PutOptions put{.mode = object::PutMode::kCreate};
  put.user_metadata[std::string(kOwnerField)] = std::string(user);
  if (!location.empty()) put.user_metadata[std::string(kLocationField)] = std::string(location);
  if (!grants.empty()) put.user_metadata[std::string(kAclField)] = EncodeGrants(grants);
  if (!ownership.empty()) {
    put.user_metadata[std::string(kOwnershipField)] = std::string(ownership);
  }
  if (object_lock) {
    put.user_metadata[std::string(kObjectLockField)] = "";
    put.user_metadata[std::string(kVersioningField)] = "Enabled";
  }
  auto created = store_.Put(BucketMarker(bucket), Bytes(), put, ctx);
  if (created.ok()) return Status::Ok();
  if (created.status().code() != StatusCode::kAlreadyExists) return created.status();
  DEPOT_ASSIGN_OR_RETURN(BucketInfo info, Lookup(bucket, ctx));
  const bool yours = info.owner.empty() ? IsAdmin(user) : info.owner == user;
  if (yours) {
    return AlreadyExistsError(
        fmt::format("BucketAlreadyOwnedByYou: bucket {} already exists and is yours", bucket));
  }
  return AlreadyExistsError(
      fmt::format("BucketAlreadyExists: bucket {} belongs to another user", bucket));
}

Status AccessControl::DeleteBucket(std::string_view bucket, const Context& ctx) const {
  const auto not_empty = [&] {
    return FailedPreconditionError(
        fmt::format("BucketNotEmpty: bucket {} holds objects or multipart uploads", bucket));
  };
  // Objects keep a bucket; incomplete multipart uploads alone do not: S3 aborts them.
  const std::string root = std::string(bucket) + "/";
  DEPOT_ASSIGN_OR_RETURN(object::ListResult page,
                         store_.List({.prefix = root, .max_keys = 1}, ctx));
  if (!page.objects.empty()) return not_empty();
  DEPOT_ASSIGN_OR_RETURN(auto uploads, store_.ListMultipartUploads(root, ctx));
  for (const object::MultipartUploadInfo& upload : uploads) {
    Status aborted = store_.AbortMultipart(upload.key, upload.upload_id, ctx);
    if (!aborted.ok() && aborted.code() != StatusCode::kNotFound) return aborted;
  }
  DEPOT_ASSIGN_OR_RETURN(bool holds, HoldsKeys(bucket, ctx));
  if (holds) return not_empty();
  DEPOT_ASSIGN_OR_RETURN(object::GetResult marker, store_.Get(BucketMarker(bucket), {}, ctx));
  DEPOT_RETURN_IF_ERROR(store_.Delete(BucketMarker(bucket), ctx));
  DEPOT_ASSIGN_OR_RETURN(holds, HoldsKeys(bucket, ctx));
  if (!holds) {
    DEPOT_RETURN_IF_ERROR(store_.Delete(std::string(kPolicies) + std::string(bucket), ctx));
    DEPOT_RETURN_IF_ERROR(store_.Delete(std::string(kLifecycles) + std::string(bucket), ctx));
    return ObjectAttributeStore(store_).RemoveAll(bucket, ctx);
  }
  // A write landed between the two checks: the bucket lives on, with its owner.
  object::PutOptions put{.mode = object::PutMode::kCreate,
                         .content_type = marker.meta.content_type,
                         .user_metadata = marker.meta.user_metadata};
  DEPOT_RETURN_IF_ERROR(store_.Put(BucketMarker(bucket), marker.data, put, ctx).status());
  return not_empty();
}

Result<std::vector<s3::CorsRule>> AccessControl::Cors(std::string_view bucket,
                                                      const Context& ctx) const {
  DEPOT_ASSIGN_OR_RETURN(object::GetResult marker, ReadMarker(store_, bucket, false, ctx));
  if (marker.data.empty()) return std::vector<s3::CorsRule>();
  auto rules = s3::ParseCorsConfiguration(marker.data.view());
  if (!rules.ok()) {
    return DataLossError(fmt::format("bucket {}: its stored CORS configuration is unreadable: {}",
                                     bucket, rules.status().message()));
  }
  return rules;
}

Status AccessControl::SetCors(std::string_view bucket, std::span<const s3::CorsRule> rules,
                              const Context& ctx) const {
  const std::string body = rules.empty() ? "" : s3::CorsConfigurationXml(rules);
  return UpdateMarker(
      bucket, ctx, [&](std::map<std::string, std::string>&, std::string& bytes) { bytes = body; });
}

Result<std::vector<s3::Tag>> AccessControl::Tags(std::string_view bucket,
                                                 const Context& ctx) const {
  DEPOT_ASSIGN_OR_RETURN(object::GetResult marker, ReadMarker(store_, bucket, true, ctx));
  auto it = marker.meta.user_metadata.find(std::string(kTagsField));
  if (it == marker.meta.user_metadata.end()) return std::vector<s3::Tag>();
  auto tags = s3::DecodeTagSet(it->second);
  if (!tags.ok()) {
    return DataLossError(fmt::format("bucket {}: its stored tags are unreadable: {}", bucket,
                                     tags.status().message()));
  }
  return tags;
}

Status AccessControl::SetTags(std::string_view bucket, std::span<const s3::Tag> tags,
                              const Context& ctx) const {
  return UpdateMarker(bucket, ctx, [&](std::map<std::string, std::string>& fields, std::string&) {
    if (tags.empty()) {
      fields.erase(std::string(kTagsField));
    } else {
      fields[std::string(kTagsField)] = s3::EncodeTagSet(tags);
    }
  });
}

Status AccessControl::SetVersioning(std::string_view bucket, Versioning state,
                                    const Context& ctx) const {
  return SetField(bucket, kVersioningField, state == Versioning::kEnabled ? "Enabled" : "Suspended",
                  ctx);
}

Status AccessControl::SetAcl(std::string_view bucket, const std::vector<AclGrant>& grants,
                             const Context& ctx) const {
  return UpdateMarker(bucket, ctx, [&](std::map<std::string, std::string>& fields, std::string&) {
    fields[std::string(kAclField)] = EncodeGrants(grants);
  });
}

Status AccessControl::SetOwnership(std::string_view bucket, std::string_view ownership,
                                   const Context& ctx) const {
  return SetField(bucket, kOwnershipField, ownership, ctx);
}

Result<std::optional<std::string>> AccessControl::Document(std::string_view root,
                                                           std::string_view bucket,
                                                           const Context& ctx) const {
  auto stored = store_.Get(std::string(root) + std::string(bucket), {}, ctx);
  if (stored.ok()) return std::optional<std::string>(stored->data.ToString());
  if (stored.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return stored.status();
}

Status AccessControl::SetDocument(std::string_view root, std::string_view field,
                                  std::string_view bucket, std::string_view document,
                                  const Context& ctx) const {
  const std::string key = std::string(root) + std::string(bucket);
  if (document.empty()) {
    // The flag goes first: a crash between leaves a document nobody reads.
    DEPOT_RETURN_IF_ERROR(
        UpdateMarker(bucket, ctx, [&](std::map<std::string, std::string>& fields, std::string&) {
          fields.erase(std::string(field));
        }));
    return store_.Delete(key, ctx);
  }
  DEPOT_RETURN_IF_ERROR(
      store_.Put(key, Bytes::FromString(std::string(document)), {}, ctx).status());
  return UpdateMarker(bucket, ctx, [&](std::map<std::string, std::string>& fields, std::string&) {
    fields[std::string(field)] = "1";
  });
}

Result<std::optional<std::string>> AccessControl::Policy(std::string_view bucket,
                                                         const Context& ctx) const {
  return Document(kPolicies, bucket, ctx);
}

Status AccessControl::SetPolicy(std::string_view bucket, std::string_view document,
                                const Context& ctx) const {
  if (!document.empty()) DEPOT_RETURN_IF_ERROR(BucketPolicy::Parse(document, bucket).status());
  return SetDocument(kPolicies, kPolicyField, bucket, document, ctx);
}

Result<std::vector<s3::LifecycleRule>> AccessControl::Lifecycle(std::string_view bucket,
                                                                const Context& ctx) const {
  DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> document, Document(kLifecycles, bucket, ctx));
  if (!document) return std::vector<s3::LifecycleRule>();
  auto rules = s3::ParseLifecycleConfiguration(*document);
  if (!rules.ok()) {
    return DataLossError(
        fmt::format("bucket {}: its stored lifecycle configuration is "
                    "unreadable: {}",
                    bucket, rules.status().message()));
  }
  return rules;
}

Status AccessControl::SetLifecycle(std::string_view bucket,
                                   std::span<const s3::LifecycleRule> rules,
                                   const Context& ctx) const {
  return SetDocument(kLifecycles, kLifecycleField, bucket,
                     rules.empty() ? "" : s3::LifecycleConfigurationXml(rules), ctx);
}

Status AccessControl::SetObjectLock(std::string_view bucket,
                                    const s3::ObjectLockConfiguration& config,
                                    const Context& ctx) const {
  return UpdateMarker(bucket, ctx, [&](std::map<std::string, std::string>& fields, std::string&) {
    fields[std::string(kObjectLockField)] =
        config.mode.empty() ? "" : fmt::format("{}:{}:{}", config.mode, config.days, config.years);
  });
}

Status AccessControl::SetField(std::string_view bucket, std::string_view field,
                               std::string_view value, const Context& ctx) const {
  return UpdateMarker(bucket, ctx, [&](std::map<std::string, std::string>& fields, std::string&) {
    if (value.empty()) {
      fields.erase(std::string(field));
    } else {
      fields[std::string(field)] = std::string(value);
    }
  });
}

Status AccessControl::MarkTagged(const BucketInfo& bucket, const Context& ctx) const {
  return bucket.tagged ? Status::Ok() : SetField(bucket.name, kTaggedField, "1", ctx);
}

Status AccessControl::MarkEncrypted(const BucketInfo& bucket, const Context& ctx) const {
  return bucket.encrypted ? Status::Ok() : SetField(bucket.name, kEncryptedField, "1", ctx);
}

Status AccessControl::SetDefaultEncryption(std::string_view bucket, std::string_view algorithm,
                                           const Context& ctx) const {
  return SetField(bucket, kDefaultEncryptionField, algorithm, ctx);
}

Status AccessControl::SetPublicAccessBlock(std::string_view bucket, const PublicAccessBlock& block,
                                           const Context& ctx) const {
  return SetField(bucket, kBlockField,
                  block.any() ? fmt::format("{:d}{:d}{:d}{:d}", block.block_public_acls,
                                            block.ignore_public_acls, block.block_public_policy,
                                            block.restrict_public_buckets)
                              : "",
                  ctx);
}

Status AccessControl::UpdateMarker(
    std::string_view bucket, const Context& ctx,
    const std::function<void(std::map<std::string, std::string>&, std::string&)>& change) const {
  for (int attempt = 0;; ++attempt) {
    DEPOT_ASSIGN_OR_RETURN(object::GetResult marker, ReadMarker(store_, bucket, false, ctx));
    DEPOT_ASSIGN_OR_RETURN(const BucketInfo info, FromMarker(bucket, marker.meta));
    object::PutOptions put{.mode = object::PutMode::kUpdate, .if_match = marker.meta.etag};
    put.content_type = marker.meta.content_type;
    put.user_metadata = marker.meta.user_metadata;
    put.user_metadata[std::string(kCreatedField)] = std::to_string(
        std::chrono::duration_cast<std::chrono::nanoseconds>(info.created.time_since_epoch())
            .count());
    std::string body = marker.data.ToString();
    change(put.user_metadata, body);
    auto written = store_.Put(BucketMarker(bucket), Bytes::FromString(body), put, ctx);
    if (written.ok()) return Status::Ok();
    // Another change of the marker came first: read it again (ten times at most).
    if (written.status().code() != StatusCode::kFailedPrecondition || attempt == 9) {
      return written.status();
    }
  }
}

Result<std::vector<BucketInfo>> AccessControl::ListBuckets(const Context& ctx) const {
  std::vector<BucketInfo> buckets;
  object::ListPager pages(store_, {.prefix = std::string(kBucketMarkers)}, ctx);
  while (auto listed = pages.Next()) {
    DEPOT_ASSIGN_OR_RETURN(object::ListResult page, std::move(*listed));
    for (const auto& marker : page.objects) {
      const std::string name = marker.key.substr(kBucketMarkers.size());
      // Listings need not carry user metadata: the owner comes from the marker itself.
      auto info = Lookup(name, ctx);
      if (info.ok()) buckets.push_back(std::move(*info));
      // A bucket deleted since the listing is simply not there any more.
      if (!info.ok() && info.status().code() != StatusCode::kNotFound) return info.status();
    }
  }
  return buckets;
}

}  // namespace depot::server

namespace depot::server {

Status AuthorizedStore::Recheck(const Context& ctx) const {
  return access_.Authorize(user_, bucket_, permission_, std::nullopt, ctx, &request_).status();
}

Result<object::PutResult> AuthorizedStore::DoPut(std::string_view key, Bytes data,
                                                 const object::PutOptions& options,
                                                 const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  return ForwardingStore::DoPut(key, std::move(data), options, ctx);
}

namespace {

// A writer of the target store whose Finish first asks AccessControl again.
class RecheckedWriter final : public object::ForwardingWriter {
 public:
  RecheckedWriter(std::unique_ptr<object::ObjectWriter> inner, std::function<Status()> recheck)
      : ForwardingWriter(std::move(inner)), recheck_(std::move(recheck)) {}
  Result<object::PutResult> FinishChecked(const object::Checksum& checksum) override {
    if (Status allowed = recheck_(); !allowed.ok()) {
      (void)inner().Abort();
      return allowed;
    }
    return inner().FinishChecked(checksum);
  }

 private:
  std::function<Status()> recheck_;
};

class RecheckedPartWriter final : public object::PartWriter {
 public:
  RecheckedPartWriter(std::unique_ptr<object::PartWriter> inner, std::function<Status()> recheck)
      : inner_(std::move(inner)), recheck_(std::move(recheck)) {}
  Status Write(std::string_view data) override { return inner_->Write(data); }
  Result<object::PartInfo> Finish() override { return FinishChecked({}); }
  Result<object::PartInfo> FinishChecked(const object::Checksum& checksum) override {
    DEPOT_RETURN_IF_ERROR(recheck_());
    return inner_->FinishChecked(checksum);
  }

 private:
  std::unique_ptr<object::PartWriter> inner_;
  std::function<Status()> recheck_;
};

}  // namespace

Result<std::unique_ptr<object::ObjectWriter>> AuthorizedStore::DoOpenWriter(
    std::string_view key, const object::WriteOptions& options, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  DEPOT_ASSIGN_OR_RETURN(auto inner, ForwardingStore::DoOpenWriter(key, options, ctx));
  return std::unique_ptr<object::ObjectWriter>(
      std::make_unique<RecheckedWriter>(std::move(inner), [this, ctx] { return Recheck(ctx); }));
}

Result<std::unique_ptr<object::PartWriter>> AuthorizedStore::DoOpenPartWriter(
    std::string_view key, std::string_view upload_id, int part_number, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  DEPOT_ASSIGN_OR_RETURN(auto inner,
                         ForwardingStore::DoOpenPartWriter(key, upload_id, part_number, ctx));
  return std::unique_ptr<object::PartWriter>(std::make_unique<RecheckedPartWriter>(
      std::move(inner), [this, ctx] { return Recheck(ctx); }));
}

Status AuthorizedStore::DoDelete(std::string_view key, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  return ForwardingStore::DoDelete(key, ctx);
}

std::vector<Status> AuthorizedStore::DoDeleteMany(std::span<const std::string> keys,
                                                  const Context& ctx) {
  if (Status allowed = Recheck(ctx); !allowed.ok())
    return std::vector<Status>(keys.size(), allowed);
  return ForwardingStore::DoDeleteMany(keys, ctx);
}

Result<object::PutResult> AuthorizedStore::DoCopy(std::string_view from, std::string_view to,
                                                  object::CopyMode mode, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  return ForwardingStore::DoCopy(from, to, mode, ctx);
}

Status AuthorizedStore::DoRename(std::string_view from, std::string_view to, object::CopyMode mode,
                                 const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  return ForwardingStore::DoRename(from, to, mode, ctx);
}

Result<std::string> AuthorizedStore::DoCreateMultipart(std::string_view key,
                                                       const object::PutOptions& options,
                                                       const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  return ForwardingStore::DoCreateMultipart(key, options, ctx);
}

Result<object::PartInfo> AuthorizedStore::DoPutPart(std::string_view key,
                                                    std::string_view upload_id, int part_number,
                                                    Bytes data, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  return ForwardingStore::DoPutPart(key, upload_id, part_number, std::move(data), ctx);
}

Result<object::PutResult> AuthorizedStore::DoCompleteMultipart(
    std::string_view key, std::string_view upload_id, std::span<const object::PartInfo> parts,
    const object::WriteCondition& condition, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  return ForwardingStore::DoCompleteMultipart(key, upload_id, parts, condition, ctx);
}

Status AuthorizedStore::DoAbortMultipart(std::string_view key, std::string_view upload_id,
                                         const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Recheck(ctx));
  return ForwardingStore::DoAbortMultipart(key, upload_id, ctx);
}

}  // namespace depot::server
