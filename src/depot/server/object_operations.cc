// Object operations of depot serve (see operations.h): Put, Get, Head, Delete and CopyObject.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include "depot/core/ascii.h"
#include "depot/core/checksum.h"
#include "depot/core/url.h"
#include "depot/object/key.h"
#include "depot/s3/xml.h"
#include "depot/server/encryption.h"
#include "depot/server/lifecycle.h"
#include "depot/server/operations.h"

namespace depot::server {
namespace {

using s3::FormatIso8601;
using s3::ParseHttpDate;
using s3::Unquote;
using s3::XmlEscape;

}  // namespace

object::WriteCondition ConditionFromHeaders(const Exchange& exchange) {
  object::WriteCondition condition;
  if (auto v = exchange.Header("if-none-match")) {
    // "*": only if absent; an ETag: unless the object is still that version.
    condition.mode = *v == "*" ? object::PutMode::kCreate : object::PutMode::kUnlessEtag;
    if (*v != "*") condition.if_match = Unquote(*v);
  }
  if (auto v = exchange.Header("if-match")) {
    condition.mode = object::PutMode::kUpdate;
    condition.if_match = Unquote(*v);
  }
  return condition;
}

HeaderList ChecksumHeaders(const object::Checksum& checksum) {
  if (checksum.empty()) return {};
  return {{"x-amz-checksum-" + AsciiLower(checksum.algorithm), checksum.value},
          {"x-amz-checksum-type", checksum.composite ? "COMPOSITE" : "FULL_OBJECT"}};
}

std::vector<s3::Header> AclHeaders(const Exchange& exchange) {
  std::vector<s3::Header> headers;
  for (const auto& field : exchange.request()) {
    const std::string name =
        AsciiLower(std::string_view(field.name_string().data(), field.name_string().size()));
    if (name == "x-amz-acl" || name.starts_with("x-amz-grant-")) {
      headers.emplace_back(name, std::string(field.value()));
    }
  }
  return headers;
}

Result<std::optional<Acl>> RequestedAcl(const AccessControl& access, const BucketInfo& info,
                                        const std::vector<s3::Header>& headers,
                                        std::string_view owner, bool object) {
  DEPOT_ASSIGN_OR_RETURN(std::optional<Acl> acl,
                         AclFromHeaders(headers, owner, info.owner, object, access.acl_names()));
  if (acl && info.block.block_public_acls && IsPublicAcl(*acl)) {
    return PermissionDeniedError(
        "AccessDenied: the bucket's public access block refuses public ACLs");
  }
  if (acl && !info.acls_enabled() && object) {
    // Objects take bucket-owner-full-control alone, as on S3.
    const bool full_control =
        std::any_of(headers.begin(), headers.end(), [](const s3::Header& header) {
          return AsciiLower(header.first) == "x-amz-acl" &&
                 TrimBlanks(header.second) == "bucket-owner-full-control";
        });
    if (!full_control) {
      return InvalidArgumentError(fmt::format(
          "AccessControlListNotSupported: bucket {} enforces object ownership: ACLs are disabled",
          info.name));
    }
    return std::optional<Acl>();
  }
  if (acl && !info.acls_enabled()) {
    // Only the owner's full control (private, bucket-owner-full-control) is no ACL at all.
    const bool owners_alone =
        std::all_of(acl->grants.begin(), acl->grants.end(), [&](const AclGrant& grant) {
          return grant.grantee == AclGrant::Grantee::kUser &&
                 grant.permission == AclPermission::kFullControl &&
                 (grant.user == owner || grant.user == info.owner);
        });
    if (!owners_alone) {
      return InvalidArgumentError(fmt::format(
          "AccessControlListNotSupported: bucket {} enforces object ownership: ACLs are disabled",
          info.name));
    }
    return std::optional<Acl>();
  }
  return acl;
}

Result<std::optional<std::string>> ExpirationOf(const AccessControl& access, const BucketInfo& info,
                                                std::string_view key, uint64_t size,
                                                object::Clock::time_point modified,
                                                std::span<const s3::Tag> tags, const Context& ctx) {
  if (!info.has_lifecycle) return std::optional<std::string>();
  auto rules = access.Lifecycle(info.name, ctx);
  if (!rules.ok()) {
    // The header is a courtesy: a configuration that cannot be read fails no object request.
    spdlog::warn("bucket {}: x-amz-expiration left out: {}", info.name, rules.status().ToString());
    return std::optional<std::string>();
  }
  const std::optional<Expiry> expiry =
      CurrentExpiry(*rules, key, size, modified, tags, std::chrono::hours(24));
  if (!expiry) return std::optional<std::string>();
  return std::optional<std::string>(ExpirationHeader(*expiry));
}

Result<std::vector<s3::Tag>> RequestTags(const Exchange& exchange) {
  const std::optional<std::string> header = exchange.Header("x-amz-tagging");
  if (!header || header->empty()) return std::vector<s3::Tag>();
  auto tags = s3::DecodeTagSet(*header);
  if (!tags.ok()) {
    return InvalidArgumentError(
        fmt::format("InvalidArgument: x-amz-tagging \"{}\" is not URL-encoded tags", *header));
  }
  DEPOT_RETURN_IF_ERROR(s3::ValidateTags(*tags, kMaxObjectTags));
  std::sort(tags->begin(), tags->end(),
            [](const s3::Tag& a, const s3::Tag& b) { return a.key < b.key; });
  return tags;
}

Result<LockRequest> LockOfRequest(const Exchange& exchange, const BucketInfo& info) {
  const auto mode = exchange.Header("x-amz-object-lock-mode");
  const auto until = exchange.Header("x-amz-object-lock-retain-until-date");
  const auto hold = exchange.Header("x-amz-object-lock-legal-hold");
  LockRequest lock;
  if (!mode && !until && !hold) return lock;
  if (!info.object_lock) {
    return InvalidArgumentError(
        fmt::format("InvalidRequest: bucket {} was not made with object lock (x-amz-object-lock-*)",
                    info.name));
  }
  if (mode.has_value() != until.has_value()) {
    return InvalidArgumentError(
        "InvalidArgument: x-amz-object-lock-mode and x-amz-object-lock-retain-until-date go "
        "together");
  }
  if (mode) {
    if (*mode != "GOVERNANCE" && *mode != "COMPLIANCE") {
      return InvalidArgumentError(fmt::format(
          "InvalidArgument: x-amz-object-lock-mode \"{}\" is not GOVERNANCE or COMPLIANCE", *mode));
    }
    auto date = s3::ParseIso8601(*until);
    if (!date.ok()) {
      return InvalidArgumentError(fmt::format(
          "InvalidArgument: x-amz-object-lock-retain-until-date \"{}\" is not a date", *until));
    }
    if (*date <= object::Clock::now() ||
        *date > object::Clock::now() + std::chrono::hours(24 * 365 * 175)) {
      return InvalidArgumentError(fmt::format(
          "InvalidArgument: x-amz-object-lock-retain-until-date \"{}\" is not in the coming 175 "
          "years",
          *until));
    }
    lock.mode = *mode;
    lock.retain_until = *date;
  }
  if (hold) {
    if (*hold != "ON" && *hold != "OFF") {
      return InvalidArgumentError(fmt::format(
          "InvalidArgument: x-amz-object-lock-legal-hold \"{}\" is not ON or OFF", *hold));
    }
    lock.legal_hold = *hold == "ON";
  }
  return lock;
}

Result<std::optional<Acl>> AclToPut(const Exchange& exchange, const AccessControl& access,
                                    const BucketInfo& info, std::string_view body,
                                    std::string_view owner, bool object) {
  if (body.empty()) return RequestedAcl(access, info, AclHeaders(exchange), owner, object);
  DEPOT_ASSIGN_OR_RETURN(Acl parsed, ParseAclXml(body, owner, access.acl_names()));
  if (info.block.block_public_acls && IsPublicAcl(parsed)) {
    return PermissionDeniedError(
        "AccessDenied: the bucket's public access block refuses public ACLs");
  }
  if (!info.acls_enabled() && parsed != CannedAcl("private", owner, owner, object).value()) {
    return InvalidArgumentError(fmt::format(
        "AccessControlListNotSupported: bucket {} enforces object ownership: ACLs are disabled",
        info.name));
  }
  return std::optional<Acl>(std::move(parsed));
}

Result<Landing> LandingOf(const Exchange& exchange, const AccessControl& access,
                          const BucketInfo& info, std::string_view key, std::string_view writer,
                          const std::vector<s3::Header>& acl_headers,
                          const std::vector<s3::Tag>& tags, const LockRequest& lock,
                          bool delete_marker) {
  Landing landing{std::string(key)};
  if (!delete_marker) {
    // Where ACLs are disabled the bucket's owner owns every object; where it is preferred, those
    // written with bucket-owner-full-control.
    std::string owner(info.acls_enabled() && !writer.empty() ? writer : info.owner);
    const bool to_bucket_owner =
        std::any_of(acl_headers.begin(), acl_headers.end(), [](const s3::Header& header) {
          return header.first == "x-amz-acl" &&
                 TrimBlanks(header.second) == "bucket-owner-full-control";
        });
    if (info.ownership == "BucketOwnerPreferred" && to_bucket_owner) owner = info.owner;
    DEPOT_ASSIGN_OR_RETURN(std::optional<Acl> acl,
                           RequestedAcl(access, info, acl_headers, owner, true));
    // The retention asked for, else the bucket's default.
    std::string mode = lock.mode;
    object::Clock::time_point until = lock.retain_until;
    if (mode.empty() && info.object_lock && !info.lock_default.mode.empty()) {
      mode = info.lock_default.mode;
      until = object::Clock::now() +
              std::chrono::hours(24) * (info.lock_default.days + 365 * info.lock_default.years);
    }
    if (acl || owner != info.owner || !tags.empty() || !mode.empty() || lock.legal_hold) {
      if (!acl) acl = CannedAcl("private", owner, info.owner, true).value();
      landing.attributes = ObjectAttributes{std::move(*acl), tags, mode, until, lock.legal_hold};
    }
    if (!tags.empty()) DEPOT_RETURN_IF_ERROR(access.MarkTagged(info, exchange.context()));
  }
  if (info.versioning == Versioning::kOff) {
    landing.store_key = StoreKey(info.name, key);
    return landing;
  }
  if (!Versions::KeyFits(info.name, key)) {
    return InvalidArgumentError(fmt::format(
        "KeyTooLongError: {} is too long to have versions in bucket {} (its versions' store keys "
        "would pass 1024 bytes)",
        object::QuoteKey(key), info.name));
  }
  if (exchange.Header("if-match") || exchange.Header("if-none-match")) {
    return UnimplementedError(
        "NotImplemented: If-Match / If-None-Match on a write into a versioned bucket");
  }
  landing.version = Versions::Allocate(info.name, key, info.versioning, delete_marker);
  landing.store_key = landing.version->store_key;
  return landing;
}

Result<Landing> LandingOfRequest(const Exchange& exchange, const AccessControl& access,
                                 const BucketInfo& info, bool delete_marker) {
  DEPOT_ASSIGN_OR_RETURN(std::vector<s3::Tag> tags, RequestTags(exchange));
  DEPOT_ASSIGN_OR_RETURN(LockRequest lock, LockOfRequest(exchange, info));
  return LandingOf(exchange, access, info, exchange.target().key, exchange.who().access_key,
                   AclHeaders(exchange), tags, lock, delete_marker);
}

Result<HeaderList> Landed(object::ObjectStore& store, const Exchange& exchange,
                          const Landing& landing) {
  const std::string& bucket = exchange.target().bucket;
  const Version version = landing.version.value_or(Version{landing.key, "null", landing.store_key});
  if (landing.attributes) {
    DEPOT_ASSIGN_OR_RETURN(object::ObjectMeta meta,
                           store.Head(landing.store_key, exchange.context()));
    DEPOT_RETURN_IF_ERROR(ObjectAttributeStore(store).Write(
        bucket, version, meta, *landing.attributes, exchange.context()));
  }
  if (!landing.version) return HeaderList();
  if (version.id == "null") {
    DEPOT_RETURN_IF_ERROR(
        Versions(store).RetireNulls(bucket, version.key, version, exchange.context()));
  }
  // A null version written while versioning is suspended is answered without a version id, as
  // S3 does; a delete marker always names its version.
  if (!version.delete_marker) {
    return version.id == "null" ? HeaderList() : HeaderList{{"x-amz-version-id", version.id}};
  }
  return HeaderList{{"x-amz-version-id", version.id}, {"x-amz-delete-marker", "true"}};
}

std::string UserXml(std::string_view element, const AccessControl& access, std::string_view user) {
  const UserName name = access.NameOf(user);
  return fmt::format("<{0}><ID>{1}</ID><DisplayName>{2}</DisplayName></{0}>", element,
                     XmlEscape(name.id), XmlEscape(name.display_name));
}

std::string ChecksumElement(std::string_view algorithm, std::string_view value) {
  return fmt::format("<Checksum{0}>{1}</Checksum{0}>", algorithm, XmlEscape(value));
}

Result<object::Checksum> UploadChecksum(const Exchange& exchange) {
  const std::optional<std::string> name = exchange.Header("x-amz-checksum-algorithm");
  const std::optional<std::string> type = exchange.Header("x-amz-checksum-type");
  if (!name) {
    if (type) {
      return InvalidArgumentError(fmt::format(
          "InvalidRequest: x-amz-checksum-type \"{}\" without x-amz-checksum-algorithm", *type));
    }
    return object::Checksum();
  }
  const auto algorithm = PayloadChecksum::FromName(*name);
  if (!algorithm) {
    return InvalidArgumentError(fmt::format(
        "InvalidRequest: x-amz-checksum-algorithm \"{}\" is not CRC32, CRC32C, CRC64NVME, SHA1 "
        "or SHA256",
        *name));
  }
  object::Checksum checksum{std::string(PayloadChecksum::Name(*algorithm)), "",
                            *algorithm != PayloadChecksum::Algorithm::kCrc64Nvme};
  if (type) {
    if (*type != "COMPOSITE" && *type != "FULL_OBJECT") {
      return InvalidArgumentError(fmt::format(
          "InvalidRequest: x-amz-checksum-type \"{}\" is not COMPOSITE or FULL_OBJECT", *type));
    }
    checksum.composite = *type == "COMPOSITE";
  }
  if (!checksum.composite && !PayloadChecksum::IsCrc(*algorithm)) {
    return InvalidArgumentError(fmt::format(
        "InvalidRequest: the FULL_OBJECT checksum type is for CRCs, not {}", checksum.algorithm));
  }
  return checksum;
}

namespace {

// The checksum a write keeps: the body's verified one, where the store keeps checksums.
object::Checksum KeptChecksum(const Exchange& exchange, const object::ObjectStore& store) {
  return store.capabilities().checksums ? exchange.body_checksum() : object::Checksum();
}

// The answer to a PUT that landed: its ETag, its version, and the checksum the body was verified
// against (S3 echoes it).
bool AnswerPut(Exchange& exchange, object::ObjectStore& store, const Landing& landing,
               std::string_view etag, const SealedWrite* sealed = nullptr) {
  auto landed = Landed(store, exchange, landing);
  if (!landed.ok()) return exchange.Fail(FromStatus(landed.status()));
  HeaderList headers = {{"ETag", fmt::format("\"{}\"", etag)}};
  if (sealed) headers.insert(headers.end(), sealed->headers.begin(), sealed->headers.end());
  if (!landing.expiration.empty()) headers.emplace_back("x-amz-expiration", landing.expiration);
  for (auto& header : *landed) headers.push_back(std::move(header));
  for (auto& header : ChecksumHeaders(exchange.body_checksum())) {
    headers.push_back(std::move(header));
  }
  return exchange.Reply(200, "", headers);
}

// Content-Encoding without aws-chunked, which names how this request's body travels (SigV4
// streaming), not how the object is encoded: "aws-chunked, gzip" stores "gzip", as S3 does. A
// value without it is kept as sent ("deflate, gzip").
std::string StoredContentEncoding(std::string_view codings) {
  std::string kept;
  bool dropped = false;
  for (const std::string& coding : SplitCommaList(codings)) {
    if (AsciiLower(coding) == "aws-chunked") {
      dropped = true;
      continue;
    }
    if (!kept.empty()) kept += ", ";
    kept += coding;
  }
  return dropped ? kept : std::string(codings);
}

}  // namespace

void MetadataFromHeaders(const Exchange& exchange, object::PutOptions& put) {
  for (const auto& field : exchange.request()) {
    const std::string name = AsciiLower({field.name_string().data(), field.name_string().size()});
    if (name == "content-type") put.content_type = std::string(field.value());
    const std::string_view value(field.value().data(), field.value().size());
    for (const auto& [header, member] : object::kObjectHeaderFields) {
      if (name != AsciiLower(header)) continue;
      put.headers.*member = member == &object::ObjectHeaders::content_encoding
                                ? StoredContentEncoding(value)
                                : std::string(value);
    }
    if (name.starts_with("x-amz-meta-")) {
      put.user_metadata[name.substr(11)] = std::string(field.value());
    }
  }
}

namespace {

// Bodies streamed into the store (a PutObject that finds no room to be held whole, a copy that
// rewrites) go in parts of 8 MiB, 4 in flight: an upload holds kStreamedMemory whatever its size.
constexpr uint64_t kStreamPart = 8 << 20;
constexpr int kStreamInFlight = 4;
constexpr uint64_t kStreamedMemory = kStreamPart * (kStreamInFlight + 1);

// A streamed PUT or copy: written through the store's writer (straight to storage where the store
// can, else through 8 MiB parts on the server's transfer pool, 40 MiB held).
void StreamInParts(object::WriteOptions& options, const OperationLimits& limits) {
  options.part_size = kStreamPart;
  options.max_in_flight = kStreamInFlight;
  options.executor = limits.transfers;
}

// A body of declared `length`, received into one buffer and stored with a single Put.
bool PutWhole(Exchange& exchange, object::ObjectStore& store, const Landing& landing,
              uint64_t length, const object::PutOptions& put) {
  // Page-aligned, so a store that writes with direct I/O (the local store) can take it as is.
  constexpr uint64_t kPage = 4096;
  const uint64_t rounded = std::max<uint64_t>((length + kPage - 1) / kPage * kPage, kPage);
  std::shared_ptr<char> data(static_cast<char*>(std::aligned_alloc(kPage, rounded)), std::free);
  if (data == nullptr) {
    return exchange.Fail({503, "SlowDown", fmt::format("cannot allocate {} bytes", length)});
  }
  uint64_t received = 0;
  Status body = exchange.ReadBody(Exchange::Checksums::kOfBody, [&](std::string_view piece) {
    if (piece.size() > length - received) {
      return InvalidArgumentError(
          fmt::format("IncompleteBody: the body is longer than the {} bytes declared", length));
    }
    std::memcpy(data.get() + received, piece.data(), piece.size());
    received += piece.size();
    return Status::Ok();
  });
  if (body.ok() && received != length) {
    body = InvalidArgumentError(
        fmt::format("IncompleteBody: {} bytes received of the {} declared", received, length));
  }
  if (!body.ok()) return exchange.Fail(FromStatus(body));
  const char* bytes = data.get();
  object::PutOptions checked = put;
  checked.checksum = KeptChecksum(exchange, store);
  auto done = store.Put(landing.store_key, Bytes::WithOwner(std::move(data), bytes, length),
                        checked, exchange.context());
  if (!done.ok()) return exchange.Fail(FromStatus(done.status()));
  return AnswerPut(exchange, store, landing, done->etag);
}

// A PutObject: whole when its declared length fits the body budget, else streamed; encrypted
// (`sealed`) always streamed through a Sealer.
bool PutObject(Exchange& exchange, object::ObjectStore& store, const Landing& landing,
               const OperationLimits& limits, const SealedWrite* sealed) {
  object::WriteOptions upload_options;
  object::PutOptions& put = upload_options.put;
  MetadataFromHeaders(exchange, put);
  if (sealed) put.user_metadata[std::string(kSealingField)] = sealed->record;
  object::WriteCondition condition = ConditionFromHeaders(exchange);
  put.mode = condition.mode;
  put.if_match = std::move(condition.if_match);
  const std::optional<uint64_t> length = exchange.DeclaredLength();
  if (length && *length > limits.max_object_bytes) {
    return exchange.Fail({400, "EntityTooLarge",
                          fmt::format("{} bytes; a single PUT takes at most {} (use multipart)",
                                      *length, limits.max_object_bytes)});
  }
  if (length) {
    if (!sealed) {
      if (auto hold = BudgetHold::Take(*limits.body_budget, *length)) {
        return PutWhole(exchange, store, landing, *length, put);
      }
    }
    upload_options.size_hint = sealed ? SealedSize(*length) : *length;
  }
  std::optional<BudgetHold> hold;
  auto upload = OpenStreamedWriter(store, landing.store_key, std::move(upload_options), limits,
                                   hold, exchange.context());
  if (!upload.ok()) return exchange.Fail(FromStatus(upload.status()));
  std::optional<Sealer> sealer;
  if (sealed) {
    sealer.emplace(sealed->object_key,
                   [&](std::string_view bytes) { return (*upload)->Write(bytes); });
  }
  uint64_t received = 0;
  Status body = exchange.ReadBody(Exchange::Checksums::kOfBody, [&](std::string_view data) {
    received += data.size();
    if (received > limits.max_object_bytes) {
      return InvalidArgumentError(fmt::format("EntityTooLarge: a single PUT takes at most {} bytes",
                                              limits.max_object_bytes));
    }
    return sealer ? sealer->Write(data) : (*upload)->Write(data);
  });
  if (body.ok() && sealer) body = sealer->Finish();
  if (!body.ok()) {
    (void)(*upload)->Abort();
    return exchange.Fail(FromStatus(body));
  }
  // The checksum verified is the plaintext's: an encrypted object keeps none.
  auto done = (*upload)->FinishChecked(sealed ? object::Checksum() : KeptChecksum(exchange, store));
  if (!done.ok()) return exchange.Fail(FromStatus(done.status()));
  return AnswerPut(exchange, store, landing, done->etag, sealed);
}

}  // namespace

Result<std::optional<SealedWrite>> SealedWriteOf(const Exchange& exchange,
                                                 const AccessControl& access,
                                                 const BucketInfo& info,
                                                 const OperationLimits& limits, bool parts) {
  DEPOT_ASSIGN_OR_RETURN(RequestedEncryption requested,
                         EncryptionOfRequest(exchange, true, limits.allow_sse_c_over_http));
  if (requested.kind == RequestedEncryption::Kind::kNone && !info.default_encryption.empty()) {
    requested.kind = RequestedEncryption::Kind::kService;
  }
  if (requested.kind == RequestedEncryption::Kind::kNone) return std::optional<SealedWrite>();
  const bool customer = requested.kind == RequestedEncryption::Kind::kCustomer;
  if (!customer && !limits.service_key) {
    return UnimplementedError(
        "NotImplemented: SSE-S3 needs depot serve to have a master key (--sse-master-key)");
  }
  const SealKey& base = customer ? requested.customer_key : *limits.service_key;
  DEPOT_ASSIGN_OR_RETURN(Sealing sealing, NewSealing(base, customer));
  sealing.parts = parts;
  DEPOT_RETURN_IF_ERROR(access.MarkEncrypted(info, exchange.context()));
  return std::optional<SealedWrite>(SealedWrite{sealing.Encode(), ObjectKey(base, sealing.salt),
                                                EncryptionHeaders(sealing.kind, requested)});
}

namespace {

// Sets a response header whose name or value came from a client or the store (metadata, a
// response-* override), unless it could break the response: a value with CR, LF or NUL, a name
// that is not a token, or more than Beast takes. Overrides are limited to the six S3 allows.
void SetHeaderIfSafe(http::response<http::buffer_body>& response, std::string_view name,
                     std::string_view value) {
  static constexpr std::string_view kOverridable[] = {
      "content-type",  "content-language",    "expires",
      "cache-control", "content-disposition", "content-encoding"};
  const bool metadata = name.starts_with("x-amz-meta-");
  const bool allowed = metadata || std::find(std::begin(kOverridable), std::end(kOverridable),
                                             name) != std::end(kOverridable);
  const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
  const bool clean = value.size() < 8192 &&
                     value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
  if (!allowed || !token || !clean) return;
  const boost::beast::string_view beast_name(name.data(), name.size());
  const boost::beast::string_view beast_value(value.data(), value.size());
  // Known fields by their enum, so they go out in their usual spelling ("Content-Type").
  if (const http::field field = http::string_to_field(beast_name); field != http::field::unknown) {
    response.set(field, beast_value);
  } else {
    response.set(beast_name, beast_value);
  }
}

// The part of a partNumber read (GetObject, HeadObject): its byte range and its number in the
// object's parts, read from the version whose ETag the options are pinned to.
struct PartRead {
  int number = 0;
  int count = 0;  // the object's parts; 0 for an object not stored in parts
  uint64_t offset = 0;
  uint64_t size = 0;
  std::string checksum;  // the part's, under the object's algorithm ("" for none)
};

Result<PartRead> ResolvePart(Exchange& exchange, object::ObjectStore& store, const std::string& key,
                             std::string_view text, object::GetOptions& options) {
  int number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end != text.data() + text.size() || number < 1 || number > 10000) {
    return InvalidArgumentError(
        fmt::format("InvalidArgument: partNumber \"{}\" is not 1..10000", text));
  }
  DEPOT_ASSIGN_OR_RETURN(object::ObjectMeta meta, store.Head(key, exchange.context()));
  if (!options.if_match) options.if_match = meta.etag;  // every byte from the version resolved
  PartRead part{number};
  if (meta.parts.empty()) {
    if (meta.etag.find('-') != std::string::npos && !store.capabilities().checksums) {
      return UnimplementedError(
          "NotImplemented: partNumber on an object stored in parts: this store does not keep "
          "their sizes");
    }
    if (number != 1) {
      return InvalidArgumentError(fmt::format(
          "InvalidPart: part {} of an object that was not stored in parts (it is part 1)", number));
    }
    part.size = meta.size;
    return part;
  }
  part.count = static_cast<int>(meta.parts.size());
  if (number > part.count) {
    return InvalidArgumentError(
        fmt::format("InvalidPart: part {} of an object of {} parts", number, part.count));
  }
  for (int i = 0; i + 1 < number; ++i) part.offset += meta.parts[i].size;
  part.size = meta.parts[number - 1].size;
  part.checksum = meta.parts[number - 1].checksum;
  options.range = ByteRange::Bounded(part.offset, part.offset + part.size);
  return part;
}

// `headers` go out with the object (its version's); `pinned`, when not empty, is the ETag of the
// object the read was authorized for: another one (written since) is not read.
bool GetObject(Exchange& exchange, object::ObjectStore& store, const std::string& key,
               const HeaderList& headers, const std::string& pinned) {
  object::GetOptions options = Preconditions(exchange, "");
  if (!pinned.empty() && !options.if_match) options.if_match = pinned;
  options.head = exchange.request().method() == http::verb::head;
  const std::optional<std::string> range_header = exchange.Header("range");
  const bool with_checksum = exchange.Header("x-amz-checksum-mode") == "ENABLED";
  if (range_header) {
    auto parsed = ByteRange::ParseHttp(*range_header);
    if (!parsed.ok()) return exchange.Fail({400, "InvalidArgument", parsed.status().message()});
    options.range = *parsed;
  }
  std::optional<PartRead> part;
  if (exchange.HasQuery("partNumber")) {
    if (range_header) {
      return exchange.Fail({400, "InvalidRequest",
                            "Cannot specify both Range header and partNumber query parameter"});
    }
    auto resolved = ResolvePart(exchange, store, key, exchange.Query("partNumber"), options);
    if (!resolved.ok()) return exchange.Fail(FromStatus(resolved.status()));
    part = *resolved;
  }
  const bool ranged = range_header || (part && part->count > 0);
  http::response<http::buffer_body> response;
  bool started = false;
  Status streamed = store.GetStream(
      key, options,
      [&](const object::GetResult& head) -> Status {
        const object::ObjectMeta& meta = head.meta;
        // An encrypted object reaches here only through its view (encryption.h): one that
        // replaced a plain object after the request looked is never sent as its ciphertext.
        if (meta.user_metadata.contains(std::string(kSealingField))) {
          return UnavailableError(
              "SlowDown: the object was replaced while it was read; read it "
              "again");
        }
        if (range_header && !head.not_modified && head.range.length() == 0) {
          // A range that selects no byte (any range of an empty object): 416, as in S3.
          return OutOfRangeError(fmt::format("range \"{}\" selects no byte of a {}-byte object",
                                             *range_header, meta.size));
        }
        response.version(11);
        response.result(head.not_modified
                            ? http::status::not_modified
                            : (ranged ? http::status::partial_content : http::status::ok));
        response.set(http::field::etag, fmt::format("\"{}\"", meta.etag));
        response.set(http::field::last_modified, s3::FormatHttpDate(meta.last_modified));
        response.set(http::field::accept_ranges, "bytes");
        for (const auto& [name, value] : headers) response.set(name, value);
        if (part && part->count > 0)
          response.set("x-amz-mp-parts-count", std::to_string(part->count));
        if (!head.not_modified) {
          SetHeaderIfSafe(response, "content-type",
                          meta.content_type.empty() ? "binary/octet-stream" : meta.content_type);
          for (const auto& [name, member] : object::kObjectHeaderFields) {
            if (!(meta.headers.*member).empty()) {
              SetHeaderIfSafe(response, AsciiLower(name), meta.headers.*member);
            }
          }
          for (const auto& [name, value] : meta.user_metadata) {
            SetHeaderIfSafe(response, "x-amz-meta-" + name, value);
          }
          // Presigned URLs may override six response headers (response-content-type=...).
          for (const auto& [name, value] : exchange.target().query) {
            if (name.starts_with("response-")) SetHeaderIfSafe(response, name.substr(9), value);
          }
          // Stored checksums, when asked for: the object's for the whole of it, a part's for a
          // part of a composite one (S3 answers none for other ranges).
          if (with_checksum && !meta.checksum.empty()) {
            object::Checksum answered;
            if (!ranged) {
              answered = meta.checksum;
            } else if (part && meta.checksum.composite && !part->checksum.empty()) {
              answered = {meta.checksum.algorithm, part->checksum, true};
            }
            for (const auto& [name, value] : ChecksumHeaders(answered)) response.set(name, value);
          }
          if (ranged) {
            response.set(http::field::content_range, fmt::format("bytes {}-{}/{}", head.range.begin,
                                                                 head.range.end - 1, meta.size));
          }
          response.content_length(head.range.length());
        }
        started = true;
        return exchange.StartObject(response, head.not_modified ? 0 : head.range.length());
      },
      [&](std::string_view piece) { return exchange.WriteObject(piece); }, exchange.context());
  // A failure before any byte went out (a small object's headers wait for its body) is answered;
  // a missing object says it is no delete marker, as RGW does.
  if (!started || (!streamed.ok() && exchange.ObjectUnsent())) {
    if (streamed.code() == StatusCode::kNotFound) {
      exchange.AddAnswerHeaders({{"x-amz-delete-marker", "false"}});
    }
    return exchange.Fail(FromStatus(streamed));
  }
  return streamed.ok() && exchange.FinishObject();
}

// GetObjectAttributes: what x-amz-object-attributes asks for of ETag, Checksum, ObjectParts (paged
// by x-amz-max-parts and x-amz-part-number-marker), StorageClass and ObjectSize.
bool GetObjectAttributes(Exchange& exchange, object::ObjectStore& store, const std::string& key,
                         const HeaderList& version_headers, const std::string& pinned) {
  std::set<std::string> asked;
  for (const std::string& name :
       SplitCommaList(exchange.Header("x-amz-object-attributes").value_or(""))) {
    static constexpr std::string_view kKnown[] = {"ETag", "Checksum", "ObjectParts", "StorageClass",
                                                  "ObjectSize"};
    if (std::find(std::begin(kKnown), std::end(kKnown), name) == std::end(kKnown)) {
      return exchange.Fail({400, "InvalidArgument",
                            fmt::format("x-amz-object-attributes names \"{}\", which is not "
                                        "ETag, Checksum, ObjectParts, StorageClass or ObjectSize",
                                        name)});
    }
    asked.insert(name);
  }
  if (asked.empty()) {
    return exchange.Fail(
        {400, "InvalidArgument", "GetObjectAttributes needs x-amz-object-attributes"});
  }
  auto number = [&](const char* header, int fallback) -> Result<int> {
    const std::optional<std::string> text = exchange.Header(header);
    if (!text) return fallback;
    int value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size() || value < 0) {
      return InvalidArgumentError(
          fmt::format("InvalidArgument: {} \"{}\" is not a count", header, *text));
    }
    return value;
  };
  auto max_parts = number("x-amz-max-parts", 1000);
  auto marker = number("x-amz-part-number-marker", 0);
  if (!max_parts.ok()) return exchange.Fail(FromStatus(max_parts.status()));
  if (!marker.ok()) return exchange.Fail(FromStatus(marker.status()));
  object::GetOptions options = Preconditions(exchange, "");
  if (!pinned.empty() && !options.if_match) options.if_match = pinned;
  options.head = true;
  auto got = store.Get(key, options, exchange.context());
  if (!got.ok()) return exchange.Fail(FromStatus(got.status()));
  const object::ObjectMeta& meta = got->meta;
  if (meta.user_metadata.contains(std::string(kSealingField))) {
    return exchange.Fail(
        {503, "SlowDown", "the object was replaced while it was read; read it again"});
  }
  HeaderList headers = version_headers;
  headers.emplace_back("Last-Modified", s3::FormatHttpDate(meta.last_modified));
  if (got->not_modified) return exchange.Reply(304, "", headers);
  std::string xml = "<GetObjectAttributesResponse>";
  if (asked.contains("ETag")) xml += fmt::format("<ETag>{}</ETag>", XmlEscape(meta.etag));
  if (asked.contains("Checksum") && !meta.checksum.empty()) {
    xml += fmt::format("<Checksum>{}<ChecksumType>{}</ChecksumType></Checksum>",
                       ChecksumElement(meta.checksum.algorithm, meta.checksum.value),
                       meta.checksum.composite ? "COMPOSITE" : "FULL_OBJECT");
  }
  if (asked.contains("ObjectParts") && !meta.parts.empty()) {
    const int total = static_cast<int>(meta.parts.size());
    const int first = std::min(*marker, total);  // parts after the marker
    const int last = std::min(total, first + *max_parts);
    std::string parts;
    for (int i = first; i < last; ++i) {
      const object::ObjectPart& part = meta.parts[i];
      parts += fmt::format("<Part><PartNumber>{}</PartNumber><Size>{}</Size>", i + 1, part.size);
      if (!part.checksum.empty() && meta.checksum.composite) {
        parts += ChecksumElement(meta.checksum.algorithm, part.checksum);
      }
      parts += "</Part>";
    }
    xml += fmt::format(
        "<ObjectParts><PartsCount>{}</PartsCount><PartNumberMarker>{}</PartNumberMarker>"
        "<NextPartNumberMarker>{}</NextPartNumberMarker><MaxParts>{}</MaxParts>"
        "<IsTruncated>{}</IsTruncated>{}</ObjectParts>",
        total, *marker, last, *max_parts, last < total ? "true" : "false", parts);
  }
  if (asked.contains("StorageClass")) xml += "<StorageClass>STANDARD</StorageClass>";
  if (asked.contains("ObjectSize")) xml += fmt::format("<ObjectSize>{}</ObjectSize>", meta.size);
  xml += "</GetObjectAttributesResponse>";
  return exchange.Reply(200, std::move(xml), headers);
}

// PUT with x-amz-copy-source. COPY (the default) keeps the source's metadata through the store's
// own copy; REPLACE takes the request's and rewrites the object through a streamed upload.
bool CopyObject(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                const BucketInfo& info, const OperationLimits& limits) {
  if (auto body = exchange.ReadAll(Exchange::Checksums::kNotOfBody, 0); !body.ok())
    return exchange.Fail(FromStatus(body.status()));
  if (exchange.Header("if-match") || exchange.Header("if-none-match")) {
    return exchange.Fail(
        {501, "NotImplemented", "If-Match / If-None-Match on the destination of a CopyObject"});
  }
  auto source_version = CopySource(exchange, store, access);
  if (!source_version.ok()) return exchange.Fail(FromStatus(source_version.status()));
  const std::string* source = &source_version->store_key;
  // An encrypted source is read through its view (with the key the copy-source headers give);
  // an encrypted copy is written through a Sealer. Either way the bytes are streamed.
  auto sealed = SealedWriteOf(exchange, access, info, limits, false);
  if (!sealed.ok()) return exchange.Fail(FromStatus(sealed.status()));
  object::ObjectStore* reader = &store;
  std::unique_ptr<UnsealedView> unsealed;
  {
    auto requested =
        EncryptionOfRequest(exchange, false, limits.allow_sse_c_over_http, "x-amz-copy-source-");
    if (!requested.ok()) return exchange.Fail(FromStatus(requested.status()));
    auto meta = store.Head(*source, exchange.context());
    if (!meta.ok()) return exchange.Fail(FromStatus(meta.status()));
    auto opened = OpenSealed(store, *source, *meta, *requested, limits.service_key);
    if (!opened.ok()) return exchange.Fail(FromStatus(opened.status()));
    if (*opened) {
      unsealed = std::move((*opened)->view);
      reader = unsealed.get();
    }
  }
  auto landing = LandingOfRequest(exchange, access, info, false);
  if (!landing.ok()) return exchange.Fail(FromStatus(landing.status()));
  const std::string& key = landing->store_key;
  // The source's tags go with the copy unless the request replaces them (with its own).
  if (exchange.Header("x-amz-tagging-directive").value_or("COPY") == "COPY" &&
      !source_version->tags.empty()) {
    if (!landing->attributes) {
      const std::string& writer = exchange.who().access_key;
      const std::string owner = info.acls_enabled() && !writer.empty() ? writer : info.owner;
      landing->attributes = {CannedAcl("private", owner, info.owner, true).value(), {}};
    }
    landing->attributes->tags = source_version->tags;
    Status marked = access.MarkTagged(info, exchange.context());
    if (!marked.ok()) return exchange.Fail(FromStatus(marked));
  }
  const std::string directive = exchange.Header("x-amz-metadata-directive").value_or("COPY");
  if (directive != "COPY" && directive != "REPLACE") {
    return exchange.Fail(
        {400, "InvalidArgument",
         fmt::format("x-amz-metadata-directive \"{}\" is not COPY or REPLACE", directive)});
  }
  object::GetOptions conditions = Preconditions(exchange, "x-amz-copy-source-");
  conditions.head = true;
  auto from = reader->Get(*source, conditions, exchange.context());
  if (!from.ok()) return exchange.Fail(FromStatus(from.status()));
  if (from->not_modified) {
    return exchange.Fail(
        {412, "PreconditionFailed", "x-amz-copy-source-if-none-match or -if-modified-since"});
  }
  if (source_version->same_key && directive == "COPY" && !*sealed && !unsealed) {
    return exchange.Fail({400, "InvalidRequest",
                          "This copy request is illegal because it is trying to copy an object to "
                          "itself without changing the object's metadata"});
  }
  if (from->meta.size > limits.max_object_bytes) {
    return exchange.Fail(
        {400, "InvalidRequest",
         fmt::format(
             "the copy source is {} bytes; CopyObject takes at most {} (use UploadPartCopy)",
             from->meta.size, limits.max_object_bytes)});
  }
  // The store's own copy takes whatever version is current; a conditional copy, or one that
  // replaces the metadata, streams the version whose conditions were checked instead.
  const bool conditional =
      std::any_of(exchange.request().begin(), exchange.request().end(), [](const auto& field) {
        const auto name = field.name_string();
        constexpr boost::beast::string_view kPrefix = "x-amz-copy-source-if-";
        return name.size() > kPrefix.size() &&
               boost::beast::iequals(name.substr(0, kPrefix.size()), kPrefix);
      });
  Result<object::PutResult> done = InternalError("unreached");
  if (directive == "COPY" && !conditional && !*sealed && !unsealed) {
    done = store.Copy(*source, key, object::CopyMode::kOverwrite, exchange.context());
  } else {
    object::WriteOptions options;
    if (directive == "COPY") {
      options.put.content_type = from->meta.content_type;
      options.put.headers = from->meta.headers;
      options.put.user_metadata = from->meta.user_metadata;
    } else {
      MetadataFromHeaders(exchange, options.put);
    }
    if (*sealed) options.put.user_metadata[std::string(kSealingField)] = (*sealed)->record;
    StreamInParts(options, limits);
    options.size_hint = *sealed ? SealedSize(from->meta.size) : from->meta.size;
    auto hold = BudgetHold::Take(*limits.body_budget, kStreamedMemory);
    if (!hold) return exchange.Fail(BodyMemoryBusy(kStreamedMemory));
    done = [&]() -> Result<object::PutResult> {
      DEPOT_ASSIGN_OR_RETURN(auto upload, store.OpenWriter(key, options, exchange.context()));
      std::optional<Sealer> sealer;
      if (*sealed) {
        sealer.emplace((*sealed)->object_key,
                       [&](std::string_view bytes) { return upload->Write(bytes); });
      }
      object::GetOptions version;
      version.if_match = from->meta.etag;
      Status read = reader->GetStream(
          *source, version, [](const object::GetResult&) { return Status::Ok(); },
          [&](std::string_view piece) {
            return sealer ? sealer->Write(piece) : upload->Write(piece);
          },
          exchange.context());
      if (read.ok() && sealer) read = sealer->Finish();
      if (!read.ok()) {
        (void)upload->Abort();
        return read;
      }
      // The same bytes: the source's checksum holds for the copy (an encrypted one keeps none).
      return upload->FinishChecked(store.capabilities().checksums && !*sealed ? from->meta.checksum
                                                                              : object::Checksum());
    }();
  }
  if (!done.ok()) return exchange.Fail(FromStatus(done.status()));
  auto copied = store.Head(key, exchange.context());
  const object::Clock::time_point modified =
      copied.ok() ? copied->last_modified : object::Clock::now();
  auto headers = Landed(store, exchange, *landing);
  if (!headers.ok()) return exchange.Fail(FromStatus(headers.status()));
  if (!source_version->version_id.empty()) {
    headers->emplace_back("x-amz-copy-source-version-id", source_version->version_id);
  }
  if (*sealed)
    headers->insert(headers->end(), (*sealed)->headers.begin(), (*sealed)->headers.end());
  return exchange.Reply(
      200,
      fmt::format("<CopyObjectResult><LastModified>{}</LastModified><ETag>&quot;{}&quot;"
                  "</ETag></CopyObjectResult>",
                  FormatIso8601(modified), s3::XmlEscape(done->etag)),
      *headers);
}

}  // namespace

Result<std::unique_ptr<object::ObjectWriter>> OpenStreamedWriter(
    object::ObjectStore& store, const std::string& key, object::WriteOptions options,
    const OperationLimits& limits, std::optional<BudgetHold>& hold, const Context& ctx) {
  StreamInParts(options, limits);
  if (!store.capabilities().streaming_writes) {
    hold = BudgetHold::Take(*limits.body_budget, kStreamedMemory);
    if (!hold) {
      const S3Error busy = BodyMemoryBusy(kStreamedMemory);
      return UnavailableError(fmt::format("{}: {}", busy.code, busy.message));
    }
  }
  return store.OpenWriter(key, options, ctx);
}

// If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since, from headers named with
// `prefix` ("" for GetObject, "x-amz-copy-source-" for copies).
object::GetOptions Preconditions(const Exchange& exchange, std::string_view prefix) {
  object::GetOptions options;
  auto header = [&](std::string_view name) {
    return exchange.Header(std::string(prefix) + std::string(name));
  };
  if (auto v = header("if-match")) options.if_match = Unquote(*v);
  if (auto v = header("if-none-match")) options.if_none_match = Unquote(*v);
  for (auto [name, field] :
       {std::pair{"if-modified-since", &object::GetOptions::if_modified_since},
        std::pair{"if-unmodified-since", &object::GetOptions::if_unmodified_since}}) {
    if (auto v = header(name)) {
      // A date that does not parse is ignored, as RFC 9110 and S3 do.
      if (auto t = ParseHttpDate(*v); t.ok()) options.*field = *t;
    }
  }
  return options;
}

object::GetOptions CopySourcePreconditions(const Exchange& exchange) {
  return Preconditions(exchange, "x-amz-copy-source-");
}

namespace {

// OK when the request's user may learn that `key` is missing: the owners, and whoever may list it
// (ListBucket with it as the prefix); kPermissionDenied ("AccessDenied") for the rest, as S3
// answers them whether the key exists or not.
Status MayTellMissing(const Exchange& exchange, const AccessControl& access, const BucketInfo& info,
                      std::string_view key) {
  if (access.MayUse(exchange.who().access_key, info)) return Status::Ok();
  PolicyRequest list = PolicyRequestOf(exchange, access);
  list.action = "s3:ListBucket";
  list.resource = fmt::format("arn:aws:s3:::{}", info.name);
  list.context["s3:prefix"] = {std::string(key)};
  return access
      .Authorize(exchange.who().access_key, info.name, Permission::kRead, std::nullopt,
                 exchange.context(), &list)
      .status();
}

// The attributes of `version`, when the request's user may do `permission` with it (its ACL says
// so), and in `meta` (when given) the object they were read for. A missing object is kNotFound
// only to whom may be told (MayTellMissing).
Result<ObjectAttributes> AuthorizeVersion(const Exchange& exchange, object::ObjectStore& store,
                                          const AccessControl& access, const BucketInfo& info,
                                          const Version& version, AclPermission permission,
                                          object::ObjectMeta* meta = nullptr) {
  auto head = store.Head(version.store_key, exchange.context());
  if (!head.ok()) {
    if (head.status().code() == StatusCode::kNotFound) {
      DEPOT_RETURN_IF_ERROR(MayTellMissing(exchange, access, info, version.key));
    }
    return head.status();
  }
  DEPOT_ASSIGN_OR_RETURN(
      ObjectAttributes attributes,
      ObjectAttributeStore(store).Read(info.name, info.owner, version, *head, exchange.context()));
  DEPOT_RETURN_IF_ERROR(
      access.AuthorizeObject(exchange.who().access_key, info, attributes.acl, permission));
  if (meta != nullptr) *meta = std::move(*head);
  return attributes;
}

}  // namespace

Result<CopySourceVersion> CopySource(Exchange& exchange, object::ObjectStore& store,
                                     const AccessControl& access) {
  const std::string header = exchange.Header("x-amz-copy-source").value_or("");
  std::string_view text = header;
  std::optional<std::string> version_id;
  if (const size_t query = text.find('?'); query != std::string_view::npos) {
    // S3 takes only ?versionId= there.
    const std::string_view parameter = text.substr(query + 1);
    if (!parameter.starts_with("versionId=")) {
      return UnimplementedError(fmt::format(
          "NotImplemented: x-amz-copy-source \"{}\" with a query other than versionId", header));
    }
    DEPOT_ASSIGN_OR_RETURN(version_id, PercentDecode(parameter.substr(10)));
    text = text.substr(0, query);
  }
  DEPOT_ASSIGN_OR_RETURN(std::string decoded, PercentDecode(text));
  std::string_view path = decoded;
  if (path.starts_with('/')) path.remove_prefix(1);
  const size_t slash = path.find('/');
  if (slash == std::string_view::npos || slash + 1 == path.size()) {
    return InvalidArgumentError(
        fmt::format("InvalidArgument: x-amz-copy-source \"{}\" is not /BUCKET/KEY", header));
  }
  const std::string_view bucket = path.substr(0, slash);
  const std::string_view key = path.substr(slash + 1);
  if (!ValidBucketName(bucket)) {
    return InvalidArgumentError(
        fmt::format("InvalidBucketName: x-amz-copy-source names bucket \"{}\"", bucket));
  }
  PolicyRequest source = PolicyRequestOf(exchange, access);
  source.action = version_id ? "s3:GetObjectVersion" : "s3:GetObject";
  source.resource = fmt::format("arn:aws:s3:::{}/{}", bucket, key);
  DEPOT_ASSIGN_OR_RETURN(
      BucketInfo info, access.Authorize(exchange.who().access_key, bucket, Permission::kReadObject,
                                        exchange.Header("x-amz-source-expected-bucket-owner"),
                                        exchange.context(), &source));
  DEPOT_ASSIGN_OR_RETURN(
      Version version,
      Versions(store).Find(bucket, key, version_id, info.versioning, exchange.context()));
  if (version.delete_marker) {
    if (version_id) {
      return InvalidArgumentError(
          fmt::format("InvalidRequest: x-amz-copy-source \"{}\" names a delete marker", header));
    }
    return NotFoundError(fmt::format("NoSuchKey: the latest version of {} is a delete marker",
                                     object::QuoteKey(key)));
  }
  std::vector<s3::Tag> tags;
  if (!access.MayUse(exchange.who().access_key, info)) {
    DEPOT_ASSIGN_OR_RETURN(
        ObjectAttributes attributes,
        AuthorizeVersion(exchange, store, access, info, version, AclPermission::kRead));
    tags = std::move(attributes.tags);
  } else if (info.tagged) {
    DEPOT_ASSIGN_OR_RETURN(object::ObjectMeta meta,
                           store.Head(version.store_key, exchange.context()));
    DEPOT_ASSIGN_OR_RETURN(
        ObjectAttributes attributes,
        ObjectAttributeStore(store).Read(bucket, info.owner, version, meta, exchange.context()));
    tags = std::move(attributes.tags);
  }
  return CopySourceVersion{
      std::move(version.store_key),
      info.versioning == Versioning::kOff ? "" : std::move(version.id),
      bucket == exchange.target().bucket && key == exchange.target().key && !version_id,
      std::move(tags)};
}

namespace {

// The version a GET, HEAD or GetObjectAttributes reads (?versionId=, else the latest); nullopt
// when that is a delete marker, which has been answered as S3 does (404 for the latest, 405
// when named, each with x-amz-delete-marker).
Result<std::optional<Version>> VersionToRead(Exchange& exchange, object::ObjectStore& store,
                                             const AccessControl& access, const BucketInfo& info) {
  const Target& target = exchange.target();
  std::optional<std::string> version_id;
  if (exchange.HasQuery("versionId")) version_id = exchange.Query("versionId");
  auto found = Versions(store).Find(target.bucket, target.key, version_id, info.versioning,
                                    exchange.context());
  // Only whom may be told that a key is missing learns of its versions and delete markers.
  if ((!found.ok() && found.status().code() == StatusCode::kNotFound) ||
      (found.ok() && found->delete_marker)) {
    DEPOT_RETURN_IF_ERROR(MayTellMissing(exchange, access, info, target.key));
  }
  DEPOT_ASSIGN_OR_RETURN(Version version, std::move(found));
  if (!version.delete_marker) return std::optional<Version>(std::move(version));
  exchange.AddAnswerHeaders({{"x-amz-delete-marker", "true"}, {"x-amz-version-id", version.id}});
  if (version_id) {
    exchange.Fail({405, "MethodNotAllowed",
                   fmt::format("version {} of {} is a delete marker", version.id,
                               object::QuoteKey(target.key))});
  } else {
    exchange.Fail(
        {404, "NoSuchKey",
         fmt::format("the latest version of {} is a delete marker", object::QuoteKey(target.key))});
  }
  return std::optional<Version>();
}

// DeleteObject: of the version named (?versionId=), or else of the key: in a versioned bucket
// that writes a delete marker. What is removed loses its attributes too.
bool DeleteObject(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                  const BucketInfo& info) {
  const Target& target = exchange.target();
  if (exchange.Header("if-match")) {
    return exchange.Fail({501, "NotImplemented", "If-Match on DeleteObject"});
  }
  const ObjectAttributeStore attributes(store);
  if (exchange.HasQuery("versionId")) {
    Status deletable =
        CheckDeletable(store, exchange, access, info, target.key, exchange.Query("versionId"));
    if (!deletable.ok()) return exchange.Fail(FromStatus(deletable));
    auto removed = Versions(store).Remove(target.bucket, target.key, exchange.Query("versionId"),
                                          info.versioning, exchange.context());
    if (!removed.ok()) return exchange.Fail(FromStatus(removed.status()));
    HeaderList headers = {{"x-amz-version-id", exchange.Query("versionId")}};
    if (*removed) {
      if ((*removed)->delete_marker) headers.emplace_back("x-amz-delete-marker", "true");
      Status forgotten = attributes.Remove(target.bucket, **removed, exchange.context());
      if (!forgotten.ok()) return exchange.Fail(FromStatus(forgotten));
    }
    return exchange.Reply(204, "", headers);
  }
  auto landing = LandingOfRequest(exchange, access, info, /*delete_marker=*/true);
  if (!landing.ok()) return exchange.Fail(FromStatus(landing.status()));
  Status deleted = Status::Ok();
  if (landing->version) {
    deleted = store.Put(landing->store_key, Bytes(), {}, exchange.context()).status();
  } else {
    const std::vector<std::string> keys = {
        landing->store_key,
        ObjectAttributeStore::KeyOf(target.bucket, {target.key, "null", landing->store_key})};
    for (const Status& status : store.DeleteMany(keys, exchange.context())) {
      if (deleted.ok()) deleted = status;
    }
  }
  if (!deleted.ok()) return exchange.Fail(FromStatus(deleted));
  auto headers = Landed(store, exchange, *landing);
  if (!headers.ok()) return exchange.Fail(FromStatus(headers.status()));
  return exchange.Reply(204, "", *headers);
}

// GetObjectAcl and PutObjectAcl, of the version read as a GET would (?versionId=).
bool ObjectAcl(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
               const BucketInfo& info, const Version& version, const HeaderList& headers) {
  const bool put = exchange.request().method() == http::verb::put;
  object::ObjectMeta meta;
  auto attributes =
      AuthorizeVersion(exchange, store, access, info, version,
                       put ? AclPermission::kWriteAcp : AclPermission::kReadAcp, &meta);
  if (!attributes.ok()) return exchange.Fail(FromStatus(attributes.status()));
  if (!put) return exchange.Reply(200, AclXml(attributes->acl, access.acl_names()), headers);
  auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, 1 << 20);
  if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
  const std::string& owner = attributes->acl.owner;
  auto acl = AclToPut(exchange, access, info, *body, owner, true);
  if (!acl.ok()) return exchange.Fail(FromStatus(acl.status()));
  if (!*acl) {
    if (!info.acls_enabled()) return exchange.Reply(200, "", headers);
    return exchange.Fail({400, "MissingSecurityHeader",
                          "PutObjectAcl needs an ACL: a body, "
                          "x-amz-acl or x-amz-grant-* headers"});
  }
  Status written = ObjectAttributeStore(store).Update(
      info.name, info.owner, version, meta,
      [&](ObjectAttributes& recorded) { recorded.acl = **acl; }, exchange.context());
  return written.ok() ? exchange.Reply(200, "", headers) : exchange.Fail(FromStatus(written));
}

// GetObjectTagging, PutObjectTagging and DeleteObjectTagging, of the version read as a GET
// would (?versionId=).
bool ObjectTagging(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                   const BucketInfo& info, const Version& version, const HeaderList& headers) {
  const http::verb method = exchange.request().method();
  const bool get = method == http::verb::get;
  object::ObjectMeta meta;
  auto attributes = AuthorizeVersion(exchange, store, access, info, version,
                                     get ? AclPermission::kRead : AclPermission::kWrite, &meta);
  if (!attributes.ok()) return exchange.Fail(FromStatus(attributes.status()));
  if (get) return exchange.Reply(200, s3::TaggingXml(attributes->tags), headers);
  if (method == http::verb::put) {
    auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, 1 << 20);
    if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
    auto tags = s3::ParseTagging(*body, kMaxObjectTags);
    if (!tags.ok()) return exchange.Fail(FromStatus(tags.status()));
    attributes->tags = std::move(*tags);
    Status marked = access.MarkTagged(info, exchange.context());
    if (!marked.ok()) return exchange.Fail(FromStatus(marked));
  } else if (method == http::verb::delete_) {
    attributes->tags.clear();
  } else {
    return exchange.Fail({405, "MethodNotAllowed", "?tagging takes GET, PUT and DELETE"});
  }
  Status written = ObjectAttributeStore(store).Update(
      info.name, info.owner, version, meta,
      [&](ObjectAttributes& recorded) { recorded.tags = attributes->tags; }, exchange.context());
  if (!written.ok()) return exchange.Fail(FromStatus(written));
  return exchange.Reply(method == http::verb::put ? 200 : 204, "", headers);
}

// GetObjectRetention, PutObjectRetention, GetObjectLegalHold and PutObjectLegalHold, of the
// version read as a GET would (?versionId=), in buckets with object lock. A retention in force is
// only ever extended in its mode: a COMPLIANCE one is never shortened, changed or removed, a
// GOVERNANCE one only with x-amz-bypass-governance-retention by a user who may bypass it.
bool ObjectLock(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                const BucketInfo& info, const Version& version, const HeaderList& headers) {
  const bool retention = exchange.HasQuery("retention");
  if (!info.object_lock) {
    return exchange.Fail(
        {400, "InvalidRequest", fmt::format("bucket {} was not made with object lock", info.name)});
  }
  const bool get = exchange.request().method() == http::verb::get;
  object::ObjectMeta meta;
  auto attributes = AuthorizeVersion(exchange, store, access, info, version,
                                     get ? AclPermission::kRead : AclPermission::kWrite, &meta);
  if (!attributes.ok()) return exchange.Fail(FromStatus(attributes.status()));
  // Locks are placed and lifted by the bucket's owners, or whom its policy allows: an object's
  // writer may not lift a hold the owner placed.
  if (!get && !access.MayUse(exchange.who().access_key, info) &&
      info.policy != PolicyDecision::kAllow) {
    return exchange.Fail({403, "AccessDenied", "only the bucket's owner changes object locks"});
  }
  if (get && retention) {
    if (attributes->retention_mode.empty()) {
      return exchange.Fail({404, "NoSuchObjectLockConfiguration", "the object has no retention"});
    }
    return exchange.Reply(
        200,
        fmt::format("<Retention><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
                    attributes->retention_mode, FormatIso8601(attributes->retain_until)),
        headers);
  }
  if (get) {
    return exchange.Reply(200,
                          fmt::format("<LegalHold><Status>{}</Status></LegalHold>",
                                      attributes->legal_hold ? "ON" : "OFF"),
                          headers);
  }
  auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, 1 << 20);
  if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
  if (retention) {
    auto asked = s3::ParseRetention(*body);
    if (!asked.ok()) return exchange.Fail(FromStatus(asked.status()));
    const auto now = object::Clock::now();
    const bool in_force = !attributes->retention_mode.empty() && attributes->retain_until > now;
    const object::Clock::time_point until = asked->retain_until.value_or(now);
    // Only an extension in the same mode needs nothing more (RGW's rule: even GOVERNANCE to
    // COMPLIANCE needs the bypass).
    const bool weaker =
        asked->mode != attributes->retention_mode || until < attributes->retain_until;
    if (in_force && weaker) {
      if (attributes->retention_mode == "COMPLIANCE" ||
          !MayBypassGovernance(exchange, access, info)) {
        return exchange.Fail(
            {403, "AccessDenied",
             fmt::format("the object's {} retention until {} may not be "
                         "shortened or removed",
                         attributes->retention_mode, FormatIso8601(attributes->retain_until))});
      }
    }
    attributes->retention_mode = asked->mode;
    attributes->retain_until = until;
  } else {
    auto hold = s3::ParseLegalHold(*body);
    if (!hold.ok()) return exchange.Fail(FromStatus(hold.status()));
    attributes->legal_hold = *hold;
  }
  Status written = ObjectAttributeStore(store).Update(
      info.name, info.owner, version, meta,
      [&](ObjectAttributes& recorded) {
        if (retention) {
          recorded.retention_mode = attributes->retention_mode;
          recorded.retain_until = attributes->retain_until;
        } else {
          recorded.legal_hold = attributes->legal_hold;
        }
      },
      exchange.context());
  return written.ok() ? exchange.Reply(200, "", headers) : exchange.Fail(FromStatus(written));
}

}  // namespace

bool MayBypassGovernance(const Exchange& exchange, const AccessControl& access,
                         const BucketInfo& info) {
  if (AsciiLower(exchange.Header("x-amz-bypass-governance-retention").value_or("")) != "true") {
    return false;
  }
  PolicyRequest bypass = PolicyRequestOf(exchange, access);
  bypass.action = "s3:BypassGovernanceRetention";
  return access
      .Authorize(exchange.who().access_key, info.name, Permission::kOwn, std::nullopt,
                 exchange.context(), &bypass)
      .ok();
}

Status CheckDeletable(object::ObjectStore& store, const Exchange& exchange,
                      const AccessControl& access, const BucketInfo& info, std::string_view key,
                      std::string_view version_id) {
  if (!info.object_lock) return Status::Ok();
  return CheckVersionDeletable(store, info, key, version_id,
                               MayBypassGovernance(exchange, access, info), object::Clock::now(),
                               exchange.context());
}

Status CheckVersionDeletable(object::ObjectStore& store, const BucketInfo& info,
                             std::string_view key, std::string_view version_id,
                             bool bypass_governance, object::Clock::time_point now,
                             const Context& ctx) {
  if (!info.object_lock) return Status::Ok();
  auto version =
      Versions(store).Find(info.name, key, std::string(version_id), info.versioning, ctx);
  if (!version.ok()) {
    return version.status().code() == StatusCode::kNotFound ? Status::Ok() : version.status();
  }
  if (version->delete_marker) return Status::Ok();
  auto meta = store.Head(version->store_key, ctx);
  if (!meta.ok()) {
    return meta.status().code() == StatusCode::kNotFound ? Status::Ok() : meta.status();
  }
  DEPOT_ASSIGN_OR_RETURN(
      ObjectAttributes attributes,
      ObjectAttributeStore(store).Read(info.name, info.owner, *version, *meta, ctx));
  // A version whose attributes never landed (a crash right after its write) is held by the
  // bucket's default retention, counted from when it was written.
  if (attributes.retention_mode.empty() && !info.lock_default.mode.empty()) {
    attributes.retention_mode = info.lock_default.mode;
    attributes.retain_until =
        meta->last_modified +
        std::chrono::hours(24) * (info.lock_default.days + 365 * info.lock_default.years);
  }
  if (attributes.Locked(now, bypass_governance)) {
    return PermissionDeniedError(fmt::format(
        "AccessDenied: version {} of {} is locked ({})", version->id, object::QuoteKey(key),
        attributes.legal_hold ? "a legal hold"
                              : fmt::format("{} retention until {}", attributes.retention_mode,
                                            FormatIso8601(attributes.retain_until))));
  }
  return Status::Ok();
}

bool ServeObject(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                 const BucketInfo& info, const OperationLimits& limits) {
  const Target& target = exchange.target();
  // No write may pose as depot's record of encryption (PUT, copy, multipart).
  if (exchange.Header(fmt::format("x-amz-meta-{}", kSealingField))) {
    return exchange.Fail(
        {400, "InvalidArgument",
         fmt::format("x-amz-meta-{} is depot's own record of encryption", kSealingField)});
  }
  if (exchange.HasQuery("uploads") || exchange.HasQuery("uploadId")) {
    return ServeMultipart(exchange, store, access, info, limits);
  }
  const http::verb method = exchange.request().method();
  const bool read = method == http::verb::get || method == http::verb::head;
  const bool acl = exchange.HasQuery("acl");
  const bool tagging = exchange.HasQuery("tagging");
  const bool lock = exchange.HasQuery("retention") || exchange.HasQuery("legal-hold");
  for (const auto& [name, value] : target.query) {
    const bool taken =
        read || (name == "versionId" && method == http::verb::delete_) ||
        ((acl || tagging || lock) && (name == "acl" || name == "tagging" || name == "retention" ||
                                      name == "legal-hold" || name == "versionId"));
    if (!name.starts_with("X-Amz-") && name != "x-id" && !taken) {
      return exchange.Fail(
          {501, "NotImplemented",
           fmt::format("{} with ?{}", std::string(exchange.request().method_string()), name)});
    }
  }
  if (read || acl || tagging || lock) {
    auto version = VersionToRead(exchange, store, access, info);
    if (!version.ok()) return exchange.Fail(FromStatus(version.status()));
    if (!*version) return true;  // a delete marker, answered
    const std::string& key = (*version)->store_key;
    HeaderList headers;
    if (info.versioning != Versioning::kOff) headers = {{"x-amz-version-id", (*version)->id}};
    if (acl) return ObjectAcl(exchange, store, access, info, **version, headers);
    if (tagging) return ObjectTagging(exchange, store, access, info, **version, headers);
    if (lock) return ObjectLock(exchange, store, access, info, **version, headers);
    // The owner and the admins read everything in the bucket; others what its ACL grants.
    std::optional<ObjectAttributes> attributes;
    std::string pinned;  // the ETag of the object whose ACL allowed the read
    if (!access.MayUse(exchange.who().access_key, info)) {
      object::ObjectMeta meta;
      auto allowed =
          AuthorizeVersion(exchange, store, access, info, **version, AclPermission::kRead, &meta);
      if (!allowed.ok()) return exchange.Fail(FromStatus(allowed.status()));
      attributes = std::move(*allowed);
      pinned = meta.etag;
    } else if (info.tagged || info.object_lock) {
      // Only buckets where tags were ever given, or with object lock, pay for looking.
      auto meta = store.Head(key, exchange.context());
      if (meta.ok()) {
        auto read = ObjectAttributeStore(store).Read(info.name, info.owner, **version, *meta,
                                                     exchange.context());
        if (!read.ok()) return exchange.Fail(FromStatus(read.status()));
        attributes = std::move(*read);
      }
    }
    if (attributes && !attributes->tags.empty()) {
      headers.emplace_back("x-amz-tagging-count", std::to_string(attributes->tags.size()));
    }
    if (attributes && info.object_lock) {
      if (!attributes->retention_mode.empty()) {
        headers.emplace_back("x-amz-object-lock-mode", attributes->retention_mode);
        headers.emplace_back("x-amz-object-lock-retain-until-date",
                             FormatIso8601(attributes->retain_until));
      }
      headers.emplace_back("x-amz-object-lock-legal-hold", attributes->legal_hold ? "ON" : "OFF");
    }
    // Encrypted objects are read through a view that decrypts them (encryption.h).
    object::ObjectStore* source = &store;
    std::unique_ptr<UnsealedView> unsealed;
    if (info.encrypted || AsksForEncryption(exchange)) {
      auto requested = EncryptionOfRequest(exchange, false, limits.allow_sse_c_over_http);
      if (!requested.ok()) return exchange.Fail(FromStatus(requested.status()));
      auto meta = store.Head(key, exchange.context());
      if (!meta.ok() && meta.status().code() != StatusCode::kNotFound) {
        return exchange.Fail(FromStatus(meta.status()));
      }
      if (meta.ok()) {
        auto sealed = OpenSealed(store, key, *meta, *requested, limits.service_key);
        if (!sealed.ok()) return exchange.Fail(FromStatus(sealed.status()));
        if (*sealed) {
          unsealed = std::move((*sealed)->view);
          source = unsealed.get();
          headers.insert(headers.end(), (*sealed)->headers.begin(), (*sealed)->headers.end());
        }
      }
    }
    // The expiry of the current version (S3 tells none of noncurrent ones).
    if (info.has_lifecycle && !exchange.HasQuery("versionId")) {
      auto meta = source->Head(key, exchange.context());
      if (meta.ok()) {
        auto expiration = ExpirationOf(access, info, target.key, meta->size, meta->last_modified,
                                       attributes ? attributes->tags : std::vector<s3::Tag>(),
                                       exchange.context());
        if (!expiration.ok()) return exchange.Fail(FromStatus(expiration.status()));
        if (*expiration) headers.emplace_back("x-amz-expiration", std::move(**expiration));
      }
    }
    if (exchange.HasQuery("attributes") && method == http::verb::get) {
      return GetObjectAttributes(exchange, *source, key, headers, pinned);
    }
    return GetObject(exchange, *source, key, headers, pinned);
  }
  switch (method) {
    case http::verb::put: {
      if (exchange.Header("x-amz-copy-source")) {
        return CopyObject(exchange, store, access, info, limits);
      }
      auto sealed = SealedWriteOf(exchange, access, info, limits, false);
      if (!sealed.ok()) return exchange.Fail(FromStatus(sealed.status()));
      auto landing = LandingOfRequest(exchange, access, info, false);
      if (!landing.ok()) return exchange.Fail(FromStatus(landing.status()));
      auto expiration = ExpirationOf(
          access, info, target.key, exchange.DeclaredLength().value_or(0), object::Clock::now(),
          landing->attributes ? landing->attributes->tags : std::vector<s3::Tag>(),
          exchange.context());
      if (!expiration.ok()) return exchange.Fail(FromStatus(expiration.status()));
      landing->expiration = expiration->value_or("");
      return PutObject(exchange, store, *landing, limits, *sealed ? &**sealed : nullptr);
    }
    case http::verb::delete_:
      return DeleteObject(exchange, store, access, info);
    default:
      return exchange.Fail(
          {501, "NotImplemented",
           fmt::format("{} on an object", std::string(exchange.request().method_string()))});
  }
}

}  // namespace depot::server
