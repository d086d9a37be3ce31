#include "depot/server/object_attributes.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "depot/object/helpers.h"
#include "depot/object/key.h"
#include "depot/s3/signer.h"

namespace depot::server {
namespace {

nlohmann::json Encode(const ObjectAttributes& attributes) {
  nlohmann::json json = {
      {"owner", attributes.acl.owner},
      {"acl", EncodeGrants(attributes.acl.grants)},
      {"tags", attributes.tags.empty() ? "" : s3::EncodeTagSet(attributes.tags)}};
  if (!attributes.retention_mode.empty()) {
    json["mode"] = attributes.retention_mode;
    json["until"] = UnixNanos(attributes.retain_until);
  }
  if (attributes.legal_hold) json["hold"] = true;
  if (!attributes.sealing.empty()) json["sse"] = attributes.sealing;
  return json;
}

// The sidecar's text: the attributes, bound to the object `meta` describes.
std::string Stamped(const ObjectAttributes& attributes, const object::ObjectMeta& meta) {
  nlohmann::json json = Encode(attributes);
  json["etag"] = meta.etag;
  json["modified"] = UnixNanos(meta.last_modified);
  return json.dump();
}

// The attributes in `json` (Encode's); kDataLoss naming `what` when they do not read.
Result<ObjectAttributes> Decode(const nlohmann::json& json, std::string_view default_owner,
                                std::string_view what) {
  const auto corrupt = [&](std::string_view why) {
    return DataLossError(fmt::format("the attributes of {} are unreadable: {}", what, why));
  };
  for (const char* name : {"owner", "acl", "tags", "mode", "sse"}) {
    if (json.contains(name) && !json[name].is_string()) return corrupt(name);
  }
  if ((json.contains("until") && !json["until"].is_number_integer()) ||
      (json.contains("hold") && !json["hold"].is_boolean())) {
    return corrupt("until or hold");
  }
  ObjectAttributes attributes;
  attributes.acl.owner = json.value("owner", std::string(default_owner));
  auto grants = DecodeGrants(json.value("acl", ""));
  if (!grants.ok()) return corrupt(grants.status().message());
  attributes.acl.grants = std::move(*grants);
  auto tags = s3::DecodeTagSet(json.value("tags", ""));
  if (!tags.ok()) return corrupt(tags.status().message());
  attributes.tags = std::move(*tags);
  attributes.retention_mode = json.value("mode", "");
  attributes.retain_until = FromUnixNanos(json.value("until", int64_t{0}));
  attributes.legal_hold = json.value("hold", false);
  attributes.sealing = json.value("sse", "");
  return attributes;
}

std::string PendingKey(std::string_view bucket, std::string_view upload_id) {
  return fmt::format("_uploads/{}/{}", bucket, upload_id);
}

}  // namespace

std::string ObjectAttributeStore::KeyOf(std::string_view bucket, const Version& version) {
  std::string key =
      fmt::format("{}{}/{}{}", kAttributeRoot, bucket, KeyPart(version.key), version.id);
  if (key.size() <= object::kMaxKeyBytes) return key;
  // A key too long for that is named by its hash, after a 0x01 no key part starts with.
  return fmt::format("{}{}/\x01{}/{}", kAttributeRoot, bucket, s3::Sha256Hex(version.key),
                     version.id);
}

Result<ObjectAttributes> ObjectAttributeStore::Read(std::string_view bucket,
                                                    std::string_view bucket_owner,
                                                    const Version& version,
                                                    const object::ObjectMeta& meta,
                                                    const Context& ctx) const {
  ObjectAttributes defaults{
      Acl{std::string(bucket_owner),
          {{AclGrant::Grantee::kUser, std::string(bucket_owner), AclPermission::kFullControl}}},
      {}};
  auto stored = store_.Get(KeyOf(bucket, version), {}, ctx);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound) return defaults;
    return stored.status();
  }
  const std::string what = fmt::format("{} in bucket {}", object::QuoteKey(version.key), bucket);
  const nlohmann::json json = nlohmann::json::parse(stored->data.view(), nullptr, false);
  if (!json.is_object() || !json.contains("etag") || !json["etag"].is_string() ||
      !json.contains("modified") || !json["modified"].is_number_integer()) {
    return DataLossError(
        fmt::format("the attributes of {} are not a JSON object of depot's", what));
  }
  // Attributes of an object since replaced are not this one's.
  if (json.value("etag", "") != meta.etag ||
      json.value("modified", int64_t{0}) != UnixNanos(meta.last_modified)) {
    return defaults;
  }
  return Decode(json, bucket_owner, what);
}

Status ObjectAttributeStore::Write(std::string_view bucket, const Version& version,
                                   const object::ObjectMeta& meta,
                                   const ObjectAttributes& attributes, const Context& ctx) const {
  return store_.Put(KeyOf(bucket, version), Bytes::FromString(Stamped(attributes, meta)), {}, ctx)
      .status();
}

Status ObjectAttributeStore::Update(std::string_view bucket, std::string_view bucket_owner,
                                    const Version& version, const object::ObjectMeta& meta,
                                    const std::function<void(ObjectAttributes&)>& change,
                                    const Context& ctx) const {
  const std::string key = KeyOf(bucket, version);
  const bool conditional = store_.capabilities().conditional_put;
  for (int attempt = 0;; ++attempt) {
    // The sidecar as it is now (its ETag pins the write), then the attributes it holds.
    auto sidecar = store_.Head(key, ctx);
    if (!sidecar.ok() && sidecar.status().code() != StatusCode::kNotFound) {
      return sidecar.status();
    }
    DEPOT_ASSIGN_OR_RETURN(ObjectAttributes attributes,
                           Read(bucket, bucket_owner, version, meta, ctx));
    change(attributes);
    object::PutOptions put;
    if (conditional) {
      put.mode = sidecar.ok() ? object::PutMode::kUpdate : object::PutMode::kCreate;
      if (sidecar.ok()) put.if_match = sidecar->etag;
    }
    auto written = store_.Put(key, Bytes::FromString(Stamped(attributes, meta)), put, ctx);
    if (written.ok()) return Status::Ok();
    const bool raced = written.status().code() == StatusCode::kFailedPrecondition ||
                       written.status().code() == StatusCode::kAlreadyExists;
    if (!raced || attempt == 9) return written.status();
  }
}

Status ObjectAttributeStore::Keep(std::string_view bucket, std::string_view upload_id,
                                  const ObjectAttributes& attributes, const Context& ctx) const {
  return store_
      .Put(PendingKey(bucket, upload_id), Bytes::FromString(Encode(attributes).dump()), {}, ctx)
      .status();
}

Result<std::optional<ObjectAttributes>> ObjectAttributeStore::Peek(std::string_view bucket,
                                                                   std::string_view upload_id,
                                                                   const Context& ctx) const {
  auto stored = store_.Get(PendingKey(bucket, upload_id), {}, ctx);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound) {
      return std::optional<ObjectAttributes>();
    }
    return stored.status();
  }
  const nlohmann::json json = nlohmann::json::parse(stored->data.view(), nullptr, false);
  if (!json.is_object()) {
    return DataLossError(fmt::format("the attributes of upload {} are not JSON", upload_id));
  }
  DEPOT_ASSIGN_OR_RETURN(ObjectAttributes attributes,
                         Decode(json, "", fmt::format("upload {}", upload_id)));
  return std::optional<ObjectAttributes>(std::move(attributes));
}

Result<std::optional<ObjectAttributes>> ObjectAttributeStore::Take(std::string_view bucket,
                                                                   std::string_view upload_id,
                                                                   const Context& ctx) const {
  DEPOT_ASSIGN_OR_RETURN(std::optional<ObjectAttributes> attributes, Peek(bucket, upload_id, ctx));
  if (attributes) DEPOT_RETURN_IF_ERROR(store_.Delete(PendingKey(bucket, upload_id), ctx));
  return attributes;
}

Status ObjectAttributeStore::Remove(std::string_view bucket, const Version& version,
                                    const Context& ctx) const {
  return store_.Delete(KeyOf(bucket, version), ctx);
}

Status ObjectAttributeStore::RemoveAll(std::string_view bucket, const Context& ctx) const {
  for (const std::string& prefix :
       {fmt::format("{}{}/", kAttributeRoot, bucket), PendingKey(bucket, "")}) {
    object::ListPager pages(store_, {.prefix = prefix}, ctx);
    while (auto listed = pages.Next()) {
      DEPOT_ASSIGN_OR_RETURN(object::ListResult page, std::move(*listed));
      std::vector<std::string> keys;
      for (const object::ObjectMeta& meta : page.objects) keys.push_back(meta.key);
      for (const Status& status : store_.DeleteMany(keys, ctx)) DEPOT_RETURN_IF_ERROR(status);
    }
  }
  return Status::Ok();
}

}  // namespace depot::server
