// Multipart uploads in depot serve (see operations.h), on the backing store's own: Create,
// UploadPart, UploadPartCopy, Complete, Abort and ListParts.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

#include "depot/core/ascii.h"
#include "depot/core/checksum.h"
#include "depot/object/checksums.h"
#include "depot/s3/xml.h"
#include "depot/server/encryption.h"
#include "depot/server/operations.h"

namespace depot::server {
namespace {

using s3::FormatIso8601;
using s3::XmlEscape;

constexpr uint64_t kMaxXmlBody = 4 << 20;

// The store's multipart errors as S3 names them.
S3Error UploadError(const Status& status) {
  if (status.code() == StatusCode::kNotFound &&
      status.message().find("NoSuchBucket") == std::string::npos) {
    return {404, "NoSuchUpload", status.message()};
  }
  S3Error error = FromStatus(status);
  for (const char* code : {"InvalidPartOrder", "InvalidPart", "EntityTooSmall"}) {
    if (status.code() == StatusCode::kInvalidArgument &&
        status.message().find(code) != std::string::npos) {
      error.code = code;
      break;
    }
  }
  return error;
}

Result<int> ParseInt(std::string_view name, const std::string& text, int low, int high) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high) {
    return InvalidArgumentError(
        fmt::format("InvalidArgument: {} \"{}\" is not {}..{}", name, text, low, high));
  }
  return value;
}

// The bytes UploadPartCopy takes: x-amz-copy-source-range ("bytes=A-B", inclusive), or the
// whole source.
Result<Bytes> ReadCopySourceRange(Exchange& exchange, object::ObjectStore& store,
                                  const AccessControl& access, const OperationLimits& limits,
                                  std::optional<BudgetHold>& hold) {
  DEPOT_ASSIGN_OR_RETURN(CopySourceVersion copied, CopySource(exchange, store, access));
  const std::string& source = copied.store_key;
  // The source's preconditions are checked on its current version, and the bytes read from that
  // same version (If-Match on its ETag).
  object::GetOptions read = CopySourcePreconditions(exchange);
  read.head = true;
  DEPOT_ASSIGN_OR_RETURN(object::GetResult current, store.Get(source, read, exchange.context()));
  // Parts are not encrypted yet: an encrypted source would be copied as its ciphertext.
  if (current.meta.user_metadata.contains(std::string(kSealingField))) {
    return UnimplementedError(
        "NotImplemented: UploadPartCopy of an encrypted object is not served yet");
  }
  if (current.not_modified) {
    return FailedPreconditionError("x-amz-copy-source-if-none-match or -if-modified-since");
  }
  const object::ObjectMeta& meta = current.meta;
  read = {};
  read.if_match = meta.etag;
  uint64_t length = meta.size;
  if (auto range = exchange.Header("x-amz-copy-source-range")) {
    DEPOT_ASSIGN_OR_RETURN(read.range, ByteRange::ParseHttp(*range));
    if (read.range.kind() != ByteRange::Kind::kBounded) {
      return InvalidArgumentError(fmt::format(
          "InvalidArgument: x-amz-copy-source-range \"{}\" is not bytes=FIRST-LAST", *range));
    }
    if (read.range.end() > meta.size) {
      return OutOfRangeError(fmt::format(
          "x-amz-copy-source-range \"{}\" ends past the {}-byte source", *range, meta.size));
    }
    length = read.range.end() - read.range.begin();
  }
  if (length > limits.max_part_bytes) {
    return InvalidArgumentError(
        fmt::format("EntityTooLarge: a {}-byte part; parts are at most {} bytes here (give "
                    "x-amz-copy-source-range)",
                    length, limits.max_part_bytes));
  }
  hold = BudgetHold::Take(*limits.body_budget, length);
  if (!hold)
    return UnavailableError(fmt::format("SlowDown: no memory for a {}-byte part now", length));
  DEPOT_ASSIGN_OR_RETURN(object::GetResult got, store.Get(source, read, exchange.context()));
  return std::move(got.data);
}

// The key part `number` of an encrypted upload is sealed with (nullopt: the upload is not
// encrypted), checked against the request's SSE-C headers.
Result<std::optional<SealKey>> PartKeyOf(const Exchange& exchange, object::ObjectStore& store,
                                         const BucketInfo& info, const std::string& upload_id,
                                         int number, const OperationLimits& limits) {
  if (!info.encrypted && !AsksForEncryption(exchange)) return std::optional<SealKey>();
  DEPOT_ASSIGN_OR_RETURN(RequestedEncryption requested,
                         EncryptionOfRequest(exchange, false, limits.allow_sse_c_over_http));
  DEPOT_ASSIGN_OR_RETURN(
      std::optional<ObjectAttributes> pending,
      ObjectAttributeStore(store).Peek(info.name, upload_id, exchange.context()));
  if (!pending || pending->sealing.empty()) {
    if (requested.kind != RequestedEncryption::Kind::kNone) {
      return InvalidArgumentError(
          "InvalidArgument: the upload is not encrypted; its parts take no encryption headers");
    }
    return std::optional<SealKey>();
  }
  DEPOT_ASSIGN_OR_RETURN(Sealing sealing, Sealing::Decode(pending->sealing));
  DEPOT_ASSIGN_OR_RETURN(SealKey base, BaseKeyOf(sealing, requested, limits.service_key));
  return std::optional<SealKey>(PartKey(ObjectKey(base, sealing.salt), number));
}

bool UploadPart(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                const BucketInfo& info, const std::string& key, const std::string& upload_id,
                const OperationLimits& limits) {
  auto number = ParseInt("partNumber", exchange.Query("partNumber"), 1, 10000);
  if (!number.ok()) return exchange.Fail(FromStatus(number.status()));
  const bool copy = exchange.Header("x-amz-copy-source").has_value();
  auto part_key = PartKeyOf(exchange, store, info, upload_id, *number, limits);
  if (!part_key.ok()) return exchange.Fail(FromStatus(part_key.status()));
  if (copy && *part_key) {
    return exchange.Fail(
        {501, "NotImplemented", "UploadPartCopy into an encrypted upload is not served yet"});
  }
  // A part copy is held whole before it goes to the store, and so is an uploaded part unless the
  // store streams parts (capabilities().streaming_writes: the local store writes the body to its
  // part file as it arrives): that memory comes from the body budget.
  std::optional<BudgetHold> hold;
  Result<object::PartInfo> part = InternalError("unreached");
  if (copy) {
    if (auto body = exchange.ReadAll(Exchange::Checksums::kNotOfBody, 0); !body.ok()) {
      return exchange.Fail(FromStatus(body.status()));
    }
    auto read = ReadCopySourceRange(exchange, store, access, limits, hold);
    if (!read.ok()) return exchange.Fail(FromStatus(read.status()));
    part = store.PutPart(key, upload_id, *number, std::move(*read), exchange.context());
  } else {
    const std::optional<uint64_t> length = exchange.DeclaredLength();
    if (length && *length > limits.max_part_bytes) {
      return exchange.Fail({400, "EntityTooLarge",
                            fmt::format("a {}-byte part; parts are at most {} bytes here", *length,
                                        limits.max_part_bytes)});
    }
    if (!store.capabilities().streaming_writes) {
      const uint64_t needed = SealedSize(length.value_or(limits.max_part_bytes));
      hold = BudgetHold::Take(*limits.body_budget, needed);
      if (!hold) return exchange.Fail(BodyMemoryBusy(needed));
    }
    auto writer = store.OpenPartWriter(key, upload_id, *number, exchange.context());
    if (!writer.ok()) return exchange.Fail(UploadError(writer.status()));
    std::optional<Sealer> sealer;
    if (*part_key) {
      sealer.emplace(**part_key, [&](std::string_view bytes) { return (*writer)->Write(bytes); });
    }
    uint64_t received = 0;
    Status body = exchange.ReadBody(Exchange::Checksums::kOfBody, [&](std::string_view data) {
      received += data.size();
      if (received > limits.max_part_bytes) {
        return InvalidArgumentError(
            fmt::format("EntityTooLarge: parts are at most {} bytes here", limits.max_part_bytes));
      }
      return sealer ? sealer->Write(data) : (*writer)->Write(data);
    });
    if (body.ok() && sealer) body = sealer->Finish();
    if (!body.ok()) return exchange.Fail(FromStatus(body));
    part = (*writer)->FinishChecked(
        store.capabilities().checksums && !sealer ? exchange.body_checksum() : object::Checksum());
  }
  if (!part.ok()) return exchange.Fail(UploadError(part.status()));
  const std::string etag = fmt::format("\"{}\"", part->etag);
  if (!copy) {
    HeaderList headers = {{"ETag", etag}};
    const object::Checksum& checksum = exchange.body_checksum();
    if (!checksum.empty()) {
      headers.emplace_back("x-amz-checksum-" + AsciiLower(checksum.algorithm), checksum.value);
    }
    return exchange.Reply(200, "", headers);
  }
  return exchange.Reply(200,
                        fmt::format("<CopyPartResult><LastModified>{}</LastModified><ETag>{}</ETag>"
                                    "</CopyPartResult>",
                                    FormatIso8601(object::Clock::now()), XmlEscape(etag)));
}

bool ListParts(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
               const std::string& key, const std::string& upload_id) {
  const std::string marker_text = exchange.Query("part-number-marker");
  const std::string max_text = exchange.Query("max-parts");
  auto marker =
      marker_text.empty() ? Result<int>(0) : ParseInt("part-number-marker", marker_text, 0, 10000);
  auto max_parts =
      max_text.empty() ? Result<int>(1000) : ParseInt("max-parts", max_text, 0, 1000000);
  if (!marker.ok()) return exchange.Fail(FromStatus(marker.status()));
  if (!max_parts.ok()) return exchange.Fail(FromStatus(max_parts.status()));
  const int page_size = std::min(*max_parts, 1000);
  auto parts = store.ListParts(key, upload_id, exchange.context());
  if (!parts.ok()) return exchange.Fail(UploadError(parts.status()));
  // The upload's owner, as its kept attributes record it; else the bucket's.
  auto bucket = access.Lookup(exchange.target().bucket, exchange.context());
  if (!bucket.ok()) return exchange.Fail(FromStatus(bucket.status()));
  auto kept = ObjectAttributeStore(store).Peek(bucket->name, upload_id, exchange.context());
  if (!kept.ok()) return exchange.Fail(FromStatus(kept.status()));
  const std::string owner = *kept ? (*kept)->acl.owner : bucket->owner;
  std::string entries;
  int count = 0;
  int last = *marker;
  bool truncated = false;
  std::string algorithm;  // the upload's, as the parts that have checksums name it
  for (const object::PartInfo& part : *parts) {
    if (part.part_number <= *marker) continue;
    if (count == page_size) {
      truncated = true;
      break;
    }
    std::string checksum;
    if (!part.checksum.empty()) {
      algorithm = part.checksum_algorithm;
      checksum = ChecksumElement(algorithm, part.checksum);
    }
    entries += fmt::format(
        "<Part><PartNumber>{}</PartNumber><LastModified>{}</LastModified>"
        "<ETag>&quot;{}&quot;</ETag><Size>{}</Size>{}</Part>",
        part.part_number, FormatIso8601(part.last_modified), XmlEscape(part.etag), part.size,
        checksum);
    last = part.part_number;
    ++count;
  }
  const Target& target = exchange.target();
  std::string xml = fmt::format(
      "<ListPartsResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>"
      "{}{}<StorageClass>STANDARD</StorageClass><PartNumberMarker>{}</PartNumberMarker>"
      "<NextPartNumberMarker>{}</NextPartNumberMarker><MaxParts>{}</MaxParts>"
      "<IsTruncated>{}</IsTruncated>{}{}</ListPartsResult>",
      XmlEscape(target.bucket), XmlEscape(target.key), XmlEscape(upload_id),
      UserXml("Initiator", access, owner), UserXml("Owner", access, owner), *marker, last,
      page_size, truncated ? "true" : "false",
      algorithm.empty() ? "" : fmt::format("<ChecksumAlgorithm>{}</ChecksumAlgorithm>", algorithm),
      entries);
  return exchange.Reply(200, std::move(xml));
}

// A whole-object checksum sent with CompleteMultipartUpload (x-amz-checksum-<algorithm>): checked,
// before anything lands, against the one the staged parts make (BadDigest otherwise), on stores
// that keep checksums; refused on the others, which could not check it.
Status CheckWholeChecksum(const Exchange& exchange, object::ObjectStore& store,
                          const std::string& key, const std::string& upload_id,
                          const std::vector<object::PartInfo>& requested) {
  std::optional<PayloadChecksum::Algorithm> algorithm;
  std::string sent;
  for (const auto& field : exchange.request()) {
    const std::string_view name(field.name_string().data(), field.name_string().size());
    if (auto named = PayloadChecksum::FromHeader(name)) {
      algorithm = named;
      sent = std::string(field.value());
    }
  }
  if (!algorithm) return Status::Ok();
  const std::string header =
      "x-amz-checksum-" + AsciiLower(std::string(PayloadChecksum::Name(*algorithm)));
  if (!store.capabilities().checksums) {
    return UnimplementedError(fmt::format(
        "NotImplemented: {} on CompleteMultipartUpload: this store keeps no checksums to check it "
        "against (each part's was checked on UploadPart)",
        header));
  }
  DEPOT_ASSIGN_OR_RETURN(std::vector<object::PartInfo> staged,
                         store.ListParts(key, upload_id, exchange.context()));
  std::vector<object::PartInfo> listed;
  for (const object::PartInfo& part : requested) {
    for (const object::PartInfo& candidate : staged) {
      if (candidate.part_number == part.part_number) listed.push_back(candidate);
    }
  }
  const object::Checksum spec{std::string(PayloadChecksum::Name(*algorithm)), "",
                              sent.find('-') != std::string::npos};
  DEPOT_ASSIGN_OR_RETURN(object::AssembledChecksums made,
                         object::AssembleChecksums(key, spec, listed));
  if (made.checksum.value != sent) {
    return InvalidArgumentError(fmt::format(
        "BadDigest: the {} you specified (\"{}\") is not the one the parts make (\"{}\")", header,
        sent, made.checksum.value));
  }
  return Status::Ok();
}

}  // namespace

bool ServeMultipart(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                    const BucketInfo& info, const OperationLimits& limits) {
  const Target& target = exchange.target();
  const std::string key = StoreKey(target.bucket, target.key);
  const std::string bucket_xml = XmlEscape(target.bucket);
  const std::string key_xml = XmlEscape(target.key);
  const http::verb method = exchange.request().method();
  if (exchange.HasQuery("uploads")) {
    if (method != http::verb::post) {
      return exchange.Fail({405, "MethodNotAllowed", "?uploads on a key takes POST"});
    }
    // An encrypted upload (asked for, or the bucket's default) seals each part as it arrives;
    // the object is read by its parts' sizes, which the store must keep.
    auto sealed = SealedWriteOf(exchange, access, info, limits, /*parts=*/true);
    if (!sealed.ok()) return exchange.Fail(FromStatus(sealed.status()));
    if (*sealed && !store.capabilities().checksums) {
      return exchange.Fail({501, "NotImplemented",
                            "encrypted multipart uploads need a store that keeps part sizes "
                            "(local, memory)"});
    }
    object::PutOptions put;
    MetadataFromHeaders(exchange, put);
    if (*sealed) put.user_metadata[std::string(kSealingField)] = (**sealed).record;
    if (auto body = exchange.ReadAll(Exchange::Checksums::kNotOfBody, kMaxXmlBody); !body.ok()) {
      return exchange.Fail(FromStatus(body.status()));
    }
    // The ACL and tags asked for now, and the initiator's ownership, wait beside the upload
    // for its completion (ObjectAttributeStore::Keep).
    auto landing = LandingOfRequest(exchange, access, info, false);
    if (!landing.ok()) return exchange.Fail(FromStatus(landing.status()));
    // The checksum the object will get, where the store keeps checksums (elsewhere the parts'
    // are verified as they arrive, and the object has none, as in S3 without one).
    auto checksum = UploadChecksum(exchange);
    if (!checksum.ok()) return exchange.Fail(FromStatus(checksum.status()));
    HeaderList headers = *sealed ? (**sealed).headers : HeaderList();
    if (*sealed) {
      // The parts' bytes are not the plaintext the checksums are of: the object keeps none.
      if (!landing->attributes) {
        landing->attributes =
            ObjectAttributes{CannedAcl("private", info.owner, info.owner, true).value(), {}};
      }
      landing->attributes->sealing = (**sealed).record;
    } else if (store.capabilities().checksums && !checksum->empty()) {
      put.checksum = *checksum;
      headers = {{"x-amz-checksum-algorithm", checksum->algorithm},
                 {"x-amz-checksum-type", checksum->composite ? "COMPOSITE" : "FULL_OBJECT"}};
    }
    auto id = store.CreateMultipart(key, put, exchange.context());
    if (!id.ok()) return exchange.Fail(FromStatus(id.status()));
    if (landing->attributes) {
      Status kept = ObjectAttributeStore(store).Keep(target.bucket, *id, *landing->attributes,
                                                     exchange.context());
      if (!kept.ok()) return exchange.Fail(FromStatus(kept));
    }
    return exchange.Reply(
        200,
        fmt::format("<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key>"
                    "<UploadId>{}</UploadId></InitiateMultipartUploadResult>",
                    bucket_xml, key_xml, XmlEscape(*id)),
        headers);
  }
  const std::string upload_id = exchange.Query("uploadId");
  switch (method) {
    case http::verb::put:
      return UploadPart(exchange, store, access, info, key, upload_id, limits);
    case http::verb::get:
      return ListParts(exchange, store, access, key, upload_id);
    case http::verb::post: {
      // As AWS S3 does, the write condition of a multipart upload comes with its completion.
      object::WriteCondition condition = ConditionFromHeaders(exchange);
      // In a versioned bucket the object completes where the store keeps the upload, "B/KEY",
      // and moves from there to its version (Versions::Adopt); an object from before
      // versioning is moved out of the way first.
      auto landing = LandingOfRequest(exchange, access, info, false);
      if (!landing.ok()) return exchange.Fail(FromStatus(landing.status()));
      const Versions versions(store);
      if (landing->version) {
        Status cleared = versions.ClearPlain(target.bucket, target.key, exchange.context());
        if (!cleared.ok()) return exchange.Fail(FromStatus(cleared));
        condition = {object::PutMode::kCreate, ""};
      }
      auto body = exchange.ReadAll(Exchange::Checksums::kNotOfBody, kMaxXmlBody);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto parts = s3::ParseCompleteMultipartUpload(*body);
      if (!parts.ok()) return exchange.Fail({400, "MalformedXML", parts.status().message()});
      std::vector<object::PartInfo> requested;
      requested.reserve(parts->size());
      std::string part_list;
      for (s3::Part& part : *parts) {
        part_list += fmt::format("{}:{};", part.part_number, part.etag);
        requested.push_back({part.part_number,
                             std::move(part.etag),
                             0,
                             {},
                             store.capabilities().checksums ? std::move(part.checksum) : ""});
      }
      if (Status whole = CheckWholeChecksum(exchange, store, key, upload_id, requested);
          !whole.ok()) {
        return exchange.Fail(UploadError(whole));
      }
      auto answer = [&](std::string_view etag, const object::Checksum& checksum,
                        const HeaderList& headers) {
        std::string checksum_xml;
        if (!checksum.empty()) {
          checksum_xml = fmt::format("{}<ChecksumType>{}</ChecksumType>",
                                     ChecksumElement(checksum.algorithm, checksum.value),
                                     checksum.composite ? "COMPOSITE" : "FULL_OBJECT");
        }
        return exchange.Reply(
            200,
            fmt::format("<CompleteMultipartUploadResult><Location>/{}/{}</Location>"
                        "<Bucket>{}</Bucket><Key>{}</Key><ETag>&quot;{}&quot;</ETag>{}"
                        "</CompleteMultipartUploadResult>",
                        bucket_xml, key_xml, bucket_xml, key_xml, XmlEscape(etag), checksum_xml),
            headers);
      };
      auto done = store.CompleteMultipart(key, upload_id, requested, condition, exchange.context());
      // Another completion of the key is between its two steps: its object is at "B/KEY" for
      // as long as its move takes.
      for (int wait = 0; landing->version && wait < 100 && !done.ok() &&
                         done.status().code() == StatusCode::kAlreadyExists;
           ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        done = store.CompleteMultipart(key, upload_id, requested, condition, exchange.context());
      }
      if (!done.ok()) {
        // Completed already, with these parts: the same answer again.
        if (done.status().code() == StatusCode::kNotFound) {
          if (auto etag = limits.completed->Find(upload_id, key, part_list)) {
            return answer(*etag, {}, {});
          }
        }
        if (landing->version && done.status().code() == StatusCode::kAlreadyExists) {
          return exchange.Fail({503, "SlowDown", "another completion of this key is under way"});
        }
        return exchange.Fail(UploadError(done.status()));
      }
      // What the upload was begun with wins over what the completer would give it.
      auto kept = ObjectAttributeStore(store).Take(target.bucket, upload_id, exchange.context());
      if (!kept.ok()) return exchange.Fail(FromStatus(kept.status()));
      HeaderList encryption;
      if (*kept) {
        landing->attributes = std::move(**kept);
        if (!landing->attributes->sealing.empty()) {
          auto sealing = Sealing::Decode(landing->attributes->sealing);
          auto requested = EncryptionOfRequest(exchange, false, true);
          if (sealing.ok()) {
            encryption = EncryptionHeaders(sealing->kind,
                                           requested.ok() ? *requested : RequestedEncryption());
          }
          landing->attributes->sealing.clear();
        }
      }
      if (landing->version) {
        Status adopted =
            versions.Adopt(target.bucket, target.key, *landing->version, exchange.context());
        if (!adopted.ok()) return exchange.Fail(FromStatus(adopted));
      }
      auto headers = Landed(store, exchange, *landing);
      if (!headers.ok()) return exchange.Fail(FromStatus(headers.status()));
      headers->insert(headers->end(), encryption.begin(), encryption.end());
      limits.completed->Remember(upload_id, key, std::move(part_list), done->etag);
      return answer(done->etag, done->checksum, *headers);
    }
    case http::verb::delete_: {
      Status aborted = store.AbortMultipart(key, upload_id, exchange.context());
      if (!aborted.ok()) return exchange.Fail(UploadError(aborted));
      auto forgotten =
          ObjectAttributeStore(store).Take(target.bucket, upload_id, exchange.context());
      if (!forgotten.ok()) return exchange.Fail(FromStatus(forgotten.status()));
      return exchange.Reply(204, "");
    }
    default:
      return exchange.Fail(
          {501, "NotImplemented",
           fmt::format("{} with ?uploadId", std::string(exchange.request().method_string()))});
  }
}

}  // namespace depot::server
