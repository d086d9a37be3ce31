// Service and bucket operations of depot serve (see operations.h).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "depot/core/ascii.h"
#include "depot/core/checksum.h"
#include "depot/core/hex.h"
#include "depot/core/url.h"
#include "depot/s3/xml.h"
#include "depot/server/encryption.h"
#include "depot/server/operations.h"

namespace depot::server {
namespace {

using s3::FormatIso8601;
using s3::XmlEscape;

constexpr size_t kMaxDeleteKeys = 1000;
constexpr uint64_t kMaxXmlBody = 4 << 20;

// A query parameter of ListObjects (V1 or V2), or one that any request may carry (the presigning
// parameters: RefuseUnhonoured has let no other X-Amz-* through).
bool IsListParameter(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "list-type",   "prefix",      "delimiter",          "marker",
      "max-keys",    "start-after", "continuation-token", "encoding-type",
      "fetch-owner", "x-id",        "allow-unordered"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames) ||
         name.starts_with("X-Amz-");
}

// A max-keys / max-uploads parameter: at most `cap`, `cap` when absent.
Result<size_t> MaxParameter(const Exchange& exchange, std::string_view name, size_t cap) {
  const std::string text = exchange.Query(name);
  if (text.empty()) return cap;
  size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return InvalidArgumentError(
        fmt::format("InvalidArgument: {} \"{}\" is not a non-negative number", name, text));
  }
  return std::min(value, cap);
}

// Keys in a listing: relative to the bucket, percent-encoded when encoding-type=url.
class KeyEncoder {
 public:
  explicit KeyEncoder(const Exchange& exchange) : url_(exchange.Query("encoding-type") == "url") {}
  bool url() const { return url_; }
  std::string operator()(std::string_view text) const {
    return XmlEscape(url_ ? PercentEncode(text, "/") : std::string(text));
  }

 private:
  bool url_;
};

// ListObjects V1 (pages by marker, the last key seen), V2 (list-type=2: by continuation token),
// and ListObjectVersions (?versions; pages by key-marker and version-id-marker). A bucket that was
// never versioned is listed from the store's own listing (every object its one version, "null",
// the latest); a versioned one from its versions (Versions::List), where V2's continuation token
// is the hex of the key or common prefix the page ended on.
enum class Listing { kV1, kV2, kVersions };

struct ListedPage {
  std::vector<Version> versions;      // keys relative to the bucket
  std::vector<std::string> prefixes;  // relative to the bucket
  bool truncated = false;
  std::string next_marker;  // the last key or common prefix (V1, versions)
  std::string next_version_marker;
  std::string next_token;  // V2
};

// A page of a bucket that was never versioned, from the store's listing.
Result<ListedPage> ListUnversioned(const Exchange& exchange, object::ObjectStore& store,
                                   Listing listing, size_t max_keys) {
  const std::string root = exchange.target().bucket + "/";
  object::ListOptions list;
  list.prefix = root + exchange.Query("prefix");
  list.delimiter = exchange.Query("delimiter");
  const bool v2 = listing == Listing::kV2;
  const std::string marker_name = v2                              ? "start-after"
                                  : listing == Listing::kVersions ? "key-marker"
                                                                  : "marker";
  if (const std::string after = exchange.Query(marker_name); !after.empty()) {
    list.start_after = root + after;
    // A V1 marker that is a common prefix (NextMarker of a page that ended on one) skips every
    // key under it: keys are UTF-8, which never holds the byte 0xff.
    const std::string prefix = exchange.Query("prefix");
    const size_t cut = after.starts_with(prefix) && !list.delimiter.empty()
                           ? after.find(list.delimiter, prefix.size())
                           : std::string::npos;
    if (!v2 && cut != std::string::npos && cut + list.delimiter.size() == after.size()) {
      list.start_after += '\xff';
    }
  }
  if (v2) list.continuation_token = exchange.Query("continuation-token");
  list.max_keys = std::max<size_t>(max_keys, 1);
  ListedPage page;
  if (max_keys == 0) return page;
  DEPOT_ASSIGN_OR_RETURN(object::ListResult listed, store.List(list, exchange.context()));
  for (object::ObjectMeta& meta : listed.objects) {
    std::string key = meta.key.substr(root.size());
    page.versions.push_back(Version{std::move(key), "null", meta.key, false, true, meta});
  }
  for (const std::string& prefix : listed.common_prefixes) {
    page.prefixes.push_back(prefix.substr(root.size()));
  }
  page.truncated = !listed.next_continuation_token.empty();
  // The last key or prefix of the page, whichever sorts last: where the next page starts.
  if (!page.versions.empty()) page.next_marker = page.versions.back().key;
  if (!page.prefixes.empty()) page.next_marker = std::max(page.next_marker, page.prefixes.back());
  page.next_version_marker = "null";
  page.next_token = std::move(listed.next_continuation_token);
  return page;
}

// A page of a versioned bucket, from its versions.
Result<ListedPage> ListVersioned(const Exchange& exchange, object::ObjectStore& store,
                                 Listing listing, size_t max_keys) {
  Versions::Query query{.prefix = exchange.Query("prefix"),
                        .delimiter = exchange.Query("delimiter"),
                        .max_entries = max_keys,
                        .latest_only = listing != Listing::kVersions};
  switch (listing) {
    case Listing::kV1:
      query.key_marker = exchange.Query("marker");
      break;
    case Listing::kV2:
      query.key_marker = exchange.Query("start-after");
      if (const std::string token = exchange.Query("continuation-token"); !token.empty()) {
        std::string decoded(token.size() / 2, '\0');
        if (token.size() % 2 != 0 ||
            !HexDecode(token,
                       std::span(reinterpret_cast<uint8_t*>(decoded.data()), decoded.size()))) {
          return InvalidArgumentError(fmt::format(
              "InvalidArgument: continuation-token \"{}\" is not one this server made", token));
        }
        query.key_marker = std::max(query.key_marker, decoded);
      }
      break;
    case Listing::kVersions:
      query.key_marker = exchange.Query("key-marker");
      query.version_marker = exchange.Query("version-id-marker");
      break;
  }
  ListedPage page;
  if (max_keys == 0) return page;
  DEPOT_ASSIGN_OR_RETURN(Versions::Page listed,
                         Versions(store).List(exchange.target().bucket, query, exchange.context()));
  page.versions = std::move(listed.versions);
  page.prefixes = std::move(listed.common_prefixes);
  page.truncated = listed.truncated;
  page.next_marker = std::move(listed.next_key_marker);
  page.next_version_marker = std::move(listed.next_version_marker);
  if (page.truncated) page.next_token = HexEncode(page.next_marker);
  return page;
}

bool ListObjects(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                 const BucketInfo& info, Listing listing) {
  const Target& target = exchange.target();
  const bool v2 = listing == Listing::kV2;
  const bool versions = listing == Listing::kVersions;
  auto max_keys = MaxParameter(exchange, "max-keys", 1000);
  if (!max_keys.ok()) return exchange.Fail(FromStatus(max_keys.status()));
  const KeyEncoder encode(exchange);
  const std::string delimiter = exchange.Query("delimiter");
  auto listed = info.versioning == Versioning::kOff
                    ? ListUnversioned(exchange, store, listing, *max_keys)
                    : ListVersioned(exchange, store, listing, *max_keys);
  if (!listed.ok()) return exchange.Fail(FromStatus(listed.status()));
  // Encrypted objects are listed by their plaintext's size, which their metadata tells.
  if (info.encrypted) {
    for (Version& version : listed->versions) {
      if (version.delete_marker) continue;
      auto meta = store.Head(version.store_key, exchange.context());
      if (!meta.ok() || !meta->user_metadata.contains(std::string(kSealingField))) continue;
      // A record whose size no encrypted object has (damaged) lists the stored size.
      if (auto size = PlainSizeOf(*meta); size.ok()) version.meta.size = *size;
    }
  }
  const ListedPage& page = *listed;
  // V1 and versions name each object's owner, the bucket's; V2 when asked to (fetch-owner=true).
  const std::string owner =
      !v2 || exchange.Query("fetch-owner") == "true" ? UserXml("Owner", access, info.owner) : "";
  std::string xml = fmt::format(
      "<{}><Name>{}</Name><Prefix>{}</Prefix><MaxKeys>{}</MaxKeys><IsTruncated>{}</IsTruncated>",
      versions ? "ListVersionsResult" : "ListBucketResult", XmlEscape(target.bucket),
      // V1 gives the prefix back as sent, even with encoding-type=url (as S3 does); V2 encodes it.
      listing == Listing::kV1 ? XmlEscape(exchange.Query("prefix"))
                              : encode(exchange.Query("prefix")),
      *max_keys, page.truncated ? "true" : "false");
  if (v2) {
    xml += fmt::format("<KeyCount>{}</KeyCount>", page.versions.size() + page.prefixes.size());
    if (exchange.HasQuery("continuation-token")) {  // echoed as sent, even when empty
      xml += fmt::format("<ContinuationToken>{}</ContinuationToken>",
                         XmlEscape(exchange.Query("continuation-token")));
    }
    if (page.truncated) {
      xml += fmt::format("<NextContinuationToken>{}</NextContinuationToken>",
                         XmlEscape(page.next_token));
    }
    if (const std::string after = exchange.Query("start-after"); !after.empty()) {
      xml += fmt::format("<StartAfter>{}</StartAfter>", encode(after));
    }
  } else if (versions) {
    xml += fmt::format("<KeyMarker>{}</KeyMarker><VersionIdMarker>{}</VersionIdMarker>",
                       encode(exchange.Query("key-marker")),
                       XmlEscape(exchange.Query("version-id-marker")));
    if (page.truncated && !page.next_marker.empty()) {
      xml += fmt::format("<NextKeyMarker>{}</NextKeyMarker>", encode(page.next_marker));
      if (!page.next_version_marker.empty()) {
        xml += fmt::format("<NextVersionIdMarker>{}</NextVersionIdMarker>",
                           XmlEscape(page.next_version_marker));
      }
    }
  } else {
    xml += fmt::format("<Marker>{}</Marker>", encode(exchange.Query("marker")));
    if (page.truncated && !page.next_marker.empty()) {
      xml += fmt::format("<NextMarker>{}</NextMarker>", encode(page.next_marker));
    }
  }
  if (!delimiter.empty()) xml += fmt::format("<Delimiter>{}</Delimiter>", encode(delimiter));
  if (encode.url()) xml += "<EncodingType>url</EncodingType>";
  for (const Version& version : page.versions) {
    const object::ObjectMeta& meta = version.meta;
    if (versions && version.delete_marker) {
      xml += fmt::format(
          "<DeleteMarker><Key>{}</Key><VersionId>{}</VersionId><IsLatest>{}</IsLatest>"
          "<LastModified>{}</LastModified>{}</DeleteMarker>",
          encode(version.key), XmlEscape(version.id), version.latest ? "true" : "false",
          FormatIso8601(meta.last_modified), owner);
      continue;
    }
    xml += fmt::format(
        "<{0}><Key>{1}</Key>{2}<LastModified>{3}</LastModified><ETag>&quot;{4}&quot;</ETag>"
        "<Size>{5}</Size>{6}<StorageClass>STANDARD</StorageClass></{0}>",
        versions ? "Version" : "Contents", encode(version.key),
        versions ? fmt::format("<VersionId>{}</VersionId><IsLatest>{}</IsLatest>",
                               XmlEscape(version.id), version.latest ? "true" : "false")
                 : "",
        FormatIso8601(meta.last_modified), XmlEscape(meta.etag), meta.size, owner);
  }
  for (const auto& prefix : page.prefixes) {
    xml += fmt::format("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", encode(prefix));
  }
  xml += versions ? "</ListVersionsResult>" : "</ListBucketResult>";
  return exchange.Reply(200, std::move(xml));
}

// GET /BUCKET?uploads: the store lists every upload under the prefix; pages are cut here, by
// (key, upload id) after key-marker / upload-id-marker.
bool ListMultipartUploads(Exchange& exchange, object::ObjectStore& store,
                          const AccessControl& access, const BucketInfo& info) {
  const Target& target = exchange.target();
  // The bucket's owner starts its uploads (admins aside: uploads do not record who started them).
  const std::string owner = UserXml("Owner", access, info.owner);
  const std::string initiator = UserXml("Initiator", access, info.owner);
  auto max_uploads = MaxParameter(exchange, "max-uploads", 1000);
  if (!max_uploads.ok()) return exchange.Fail(FromStatus(max_uploads.status()));
  const std::string root = target.bucket + "/";
  const KeyEncoder encode(exchange);
  const std::string prefix = exchange.Query("prefix");
  const std::string delimiter = exchange.Query("delimiter");
  const std::string key_marker = exchange.Query("key-marker");
  const std::string id_marker = exchange.Query("upload-id-marker");
  auto uploads = store.ListMultipartUploads(root + prefix, exchange.context());
  if (!uploads.ok()) return exchange.Fail(FromStatus(uploads.status()));
  std::sort(uploads->begin(), uploads->end(), [](const auto& a, const auto& b) {
    return std::tie(a.key, a.upload_id) < std::tie(b.key, b.upload_id);
  });
  std::string entries;
  std::vector<std::string> prefixes;
  size_t count = 0;
  bool truncated = false;
  std::string next_key;
  std::string next_id;
  for (const auto& upload : *uploads) {
    const std::string key = upload.key.substr(root.size());
    if (!key_marker.empty() &&
        (key < key_marker ||
         (key == key_marker && (id_marker.empty() || upload.upload_id <= id_marker)))) {
      continue;
    }
    if (!delimiter.empty()) {
      const size_t cut = key.find(delimiter, prefix.size());
      if (cut != std::string::npos) {
        std::string common = key.substr(0, cut + delimiter.size());
        if (!prefixes.empty() && prefixes.back() == common) continue;
        if (count == *max_uploads) {
          truncated = true;
          break;
        }
        prefixes.push_back(std::move(common));
        ++count;
        next_key = key;
        next_id = upload.upload_id;
        continue;
      }
    }
    if (count == *max_uploads) {
      truncated = true;
      break;
    }
    entries += fmt::format(
        "<Upload><Key>{}</Key><UploadId>{}</UploadId>{}{}<StorageClass>STANDARD</StorageClass>"
        "<Initiated>{}</Initiated></Upload>",
        encode(key), XmlEscape(upload.upload_id), initiator, owner,
        FormatIso8601(upload.initiated));
    ++count;
    next_key = key;
    next_id = upload.upload_id;
  }
  std::string xml = fmt::format(
      "<ListMultipartUploadsResult><Bucket>{}</Bucket><KeyMarker>{}</KeyMarker>"
      "<UploadIdMarker>{}</UploadIdMarker><Prefix>{}</Prefix><MaxUploads>{}</MaxUploads>"
      "<IsTruncated>{}</IsTruncated>",
      XmlEscape(target.bucket), encode(key_marker), XmlEscape(id_marker), encode(prefix),
      *max_uploads, truncated ? "true" : "false");
  if (truncated) {
    xml += fmt::format(
        "<NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{}"
        "</NextUploadIdMarker>",
        encode(next_key), XmlEscape(next_id));
  }
  if (!delimiter.empty()) xml += fmt::format("<Delimiter>{}</Delimiter>", encode(delimiter));
  if (encode.url()) xml += "<EncodingType>url</EncodingType>";
  xml += entries;
  for (const auto& common : prefixes) {
    xml += fmt::format("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", encode(common));
  }
  xml += "</ListMultipartUploadsResult>";
  return exchange.Reply(200, std::move(xml));
}

// POST /BUCKET?delete: up to 1000 keys; each key's outcome is reported (only failures when
// quiet). Deleting a missing key succeeds, as in S3. A key with a VersionId loses that version; in
// a versioned bucket a key without one gets a delete marker, as DeleteObject does.
bool DeleteObjects(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                   const BucketInfo& info) {
  if (!exchange.Header("content-md5") &&
      std::none_of(exchange.request().begin(), exchange.request().end(), [](const auto& field) {
        const auto name = field.name_string();
        return PayloadChecksum::FromHeader(std::string_view(name.data(), name.size())).has_value();
      })) {
    // S3 insists on an integrity check of the key list; so does depot.
    auto drained = exchange.ReadAll(Exchange::Checksums::kNotOfBody, kMaxXmlBody);
    (void)drained;
    return exchange.Fail(
        {400, "InvalidRequest", "DeleteObjects needs Content-MD5 or an x-amz-checksum-* header"});
  }
  auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
  if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
  auto request = s3::ParseDeleteObjects(*body);
  if (!request.ok()) return exchange.Fail({400, "MalformedXML", request.status().message()});
  if (request->keys.size() > kMaxDeleteKeys) {
    return exchange.Fail(
        {400, "MalformedXML",
         fmt::format("{} keys; at most {} per request", request->keys.size(), kMaxDeleteKeys)});
  }
  const std::string& bucket = exchange.target().bucket;
  const Versions versions(store);
  // Each key's outcome, and what <Deleted> says of it besides the key.
  std::vector<Status> results(request->keys.size());
  std::vector<std::string> details(request->keys.size());
  // Plain deletes of an unversioned bucket's objects go to the store in one batch.
  std::vector<std::string> batch;
  std::vector<size_t> batched;
  std::vector<std::string> attribute_keys;  // of what was deleted: removed after it
  for (size_t i = 0; i < request->keys.size(); ++i) {
    const std::string& key = request->keys[i];
    const std::string& version_id = request->version_ids[i];
    if (info.has_policy) {
      // The bucket's policy judges each key as its own DeleteObject would be judged.
      PolicyRequest one = PolicyRequestOf(exchange, access);
      one.action = version_id.empty() ? "s3:DeleteObject" : "s3:DeleteObjectVersion";
      one.resource = fmt::format("arn:aws:s3:::{}/{}", bucket, key);
      if (!version_id.empty()) one.context["s3:versionid"] = {version_id};
      results[i] = access
                       .Authorize(exchange.who().access_key, bucket, Permission::kWrite,
                                  std::nullopt, exchange.context(), &one)
                       .status();
      if (!results[i].ok()) continue;
    }
    if (!version_id.empty()) {
      results[i] = CheckDeletable(store, exchange, access, info, key, version_id);
      if (!results[i].ok()) continue;
      auto removed = versions.Remove(bucket, key, version_id, info.versioning, exchange.context());
      results[i] = removed.status();
      if (!removed.ok()) continue;
      if (*removed) attribute_keys.push_back(ObjectAttributeStore::KeyOf(bucket, **removed));
      details[i] = fmt::format("<VersionId>{}</VersionId>", XmlEscape(version_id));
      if (*removed && (*removed)->delete_marker) {
        details[i] += fmt::format(
            "<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>{}</DeleteMarkerVersionId>",
            XmlEscape(version_id));
      }
    } else if (info.versioning == Versioning::kOff) {
      batch.push_back(StoreKey(bucket, key));
      batched.push_back(i);
      attribute_keys.push_back(
          ObjectAttributeStore::KeyOf(bucket, {key, "null", StoreKey(bucket, key)}));
    } else if (!Versions::KeyFits(bucket, key)) {
      results[i] = InvalidArgumentError(fmt::format(
          "KeyTooLongError: the key is too long to have versions in bucket {}", bucket));
    } else {
      const Version marker = Versions::Allocate(bucket, key, info.versioning, true);
      results[i] = store.Put(marker.store_key, Bytes(), {}, exchange.context()).status();
      if (results[i].ok() && marker.id == "null") {
        results[i] = versions.RetireNulls(bucket, key, marker, exchange.context());
      }
      details[i] = fmt::format(
          "<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>{}</DeleteMarkerVersionId>",
          XmlEscape(marker.id));
    }
  }
  const std::vector<Status> deleted = store.DeleteMany(batch, exchange.context());
  for (size_t j = 0; j < batched.size(); ++j) {
    results[batched[j]] = j < deleted.size() ? deleted[j] : InternalError("no result");
  }
  // Attributes left behind are harmless (they no longer match any object): best effort.
  (void)store.DeleteMany(attribute_keys, exchange.context());
  std::string xml = "<DeleteResult>";
  for (size_t i = 0; i < request->keys.size(); ++i) {
    const std::string key = XmlEscape(request->keys[i]);
    if (results[i].ok()) {
      if (!request->quiet) {
        xml += fmt::format("<Deleted><Key>{}</Key>{}</Deleted>", key, details[i]);
      }
      continue;
    }
    const S3Error error = FromStatus(results[i]);
    const std::string& version_id = request->version_ids[i];
    xml += fmt::format(
        "<Error><Key>{}</Key>{}<Code>{}</Code><Message>{}</Message></Error>", key,
        version_id.empty() ? "" : fmt::format("<VersionId>{}</VersionId>", XmlEscape(version_id)),
        XmlEscape(error.code), XmlEscape(error.message));
  }
  xml += "</DeleteResult>";
  return exchange.Reply(200, std::move(xml));
}

// PutBucketVersioning and GetBucketVersioning: the state lives in the bucket's marker.
bool BucketVersioning(Exchange& exchange, const AccessControl& access, const BucketInfo& info) {
  switch (exchange.request().method()) {
    case http::verb::put: {
      auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto status = s3::ParseVersioningConfiguration(*body);
      if (!status.ok()) {
        if (status.status().code() != StatusCode::kInvalidArgument) {
          return exchange.Fail(FromStatus(status.status()));
        }
        return exchange.Fail({400, "MalformedXML", status.status().message()});
      }
      if (info.object_lock && *status == "Suspended") {
        return exchange.Fail({409, "InvalidBucketState",
                              "versioning cannot be suspended on a bucket with object lock"});
      }
      Status set = access.SetVersioning(
          info.name, *status == "Enabled" ? Versioning::kEnabled : Versioning::kSuspended,
          exchange.context());
      return set.ok() ? exchange.Reply(200, "") : exchange.Fail(FromStatus(set));
    }
    case http::verb::get:
      if (info.versioning == Versioning::kOff) {
        return exchange.Reply(200, "<VersioningConfiguration/>");
      }
      return exchange.Reply(
          200, fmt::format("<VersioningConfiguration><Status>{}</Status></VersioningConfiguration>",
                           info.versioning == Versioning::kEnabled ? "Enabled" : "Suspended"));
    default:
      return exchange.Fail({405, "MethodNotAllowed", "?versioning takes GET and PUT"});
  }
}

}  // namespace

bool ValidBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                              c == '.';
                     }) &&
         name.front() != '-' && name.front() != '.' && name.back() != '-' && name.back() != '.';
}

Permission NeededPermission(const Exchange& exchange) {
  const http::verb method = exchange.request().method();
  const bool read = method == http::verb::get || method == http::verb::head;
  const bool acl = exchange.HasQuery("acl");
  if (!exchange.target().key.empty()) {
    if (acl) return read ? Permission::kReadObjectAcp : Permission::kWriteObjectAcp;
    // Tags and locks are the object's: its ACL (READ to read them) or a policy decides.
    if (exchange.HasQuery("tagging") || exchange.HasQuery("retention") ||
        exchange.HasQuery("legal-hold")) {
      return read ? Permission::kReadObject : Permission::kWriteObjectAcp;
    }
    // Reads of objects are their ACLs' to allow; reads of uploads (ListParts) the bucket's.
    if (read) return exchange.HasQuery("uploadId") ? Permission::kRead : Permission::kReadObject;
    return Permission::kWrite;
  }
  if (acl) return read ? Permission::kReadAcp : Permission::kWriteAcp;
  if (read) {
    static constexpr std::string_view kConfigurations[] = {
        "location",          "versioning", "cors",         "tagging",
        "ownershipControls", "policy",     "policyStatus", "publicAccessBlock",
        "object-lock",       "lifecycle",  "encryption"};
    const bool configuration =
        std::any_of(std::begin(kConfigurations), std::end(kConfigurations),
                    [&](std::string_view name) { return exchange.HasQuery(name); });
    return configuration ? Permission::kOwn : Permission::kRead;
  }
  return method == http::verb::post ? Permission::kWrite : Permission::kOwn;
}

namespace {

// The S3 action a request is (the names IAM and bucket policies use).
std::string ActionOf(const Exchange& exchange) {
  const http::verb method = exchange.request().method();
  const bool get = method == http::verb::get || method == http::verb::head;
  const bool put = method == http::verb::put;
  const bool del = method == http::verb::delete_;
  const bool versioned = exchange.HasQuery("versionId");
  // Subresources shared by buckets and objects, by name: s3:{Get,Put,Delete}<Object|Bucket><X>.
  static constexpr std::pair<std::string_view, std::string_view> kSubresources[] = {
      {"acl", "Acl"}, {"tagging", "Tagging"}};
  const bool object = !exchange.target().key.empty();
  for (const auto& [query, name] : kSubresources) {
    if (!exchange.HasQuery(query)) continue;
    const std::string_view verb = get ? "Get" : put ? "Put" : "Delete";
    return fmt::format("s3:{}{}{}{}", verb, object ? "Object" : "Bucket",
                       object && versioned ? "Version" : "", name);
  }
  if (object) {
    if (exchange.HasQuery("retention"))
      return get ? "s3:GetObjectRetention" : "s3:PutObjectRetention";
    if (exchange.HasQuery("legal-hold"))
      return get ? "s3:GetObjectLegalHold" : "s3:PutObjectLegalHold";
    if (exchange.HasQuery("uploadId")) {
      if (get) return "s3:ListMultipartUploadParts";
      if (del) return "s3:AbortMultipartUpload";
      return "s3:PutObject";
    }
    if (exchange.HasQuery("attributes")) return "s3:GetObjectAttributes";
    if (get) return versioned ? "s3:GetObjectVersion" : "s3:GetObject";
    if (del) return versioned ? "s3:DeleteObjectVersion" : "s3:DeleteObject";
    return "s3:PutObject";
  }
  static constexpr std::pair<std::string_view, std::string_view> kConfigurations[] = {
      {"policy", "BucketPolicy"},
      {"policyStatus", "BucketPolicyStatus"},
      {"versioning", "BucketVersioning"},
      {"cors", "BucketCORS"},
      {"ownershipControls", "BucketOwnershipControls"},
      {"publicAccessBlock", "BucketPublicAccessBlock"},
      {"location", "BucketLocation"},
      {"object-lock", "BucketObjectLockConfiguration"},
  };
  // DeleteBucketLifecycle and DeleteBucketEncryption are Put actions, as on S3.
  if (exchange.HasQuery("lifecycle")) {
    return get ? "s3:GetLifecycleConfiguration" : "s3:PutLifecycleConfiguration";
  }
  if (exchange.HasQuery("encryption")) {
    return get ? "s3:GetEncryptionConfiguration" : "s3:PutEncryptionConfiguration";
  }
  for (const auto& [query, name] : kConfigurations) {
    if (!exchange.HasQuery(query)) continue;
    return fmt::format("s3:{}{}", get ? "Get" : put ? "Put" : "Delete", name);
  }
  if (method == http::verb::post) return "s3:DeleteObject";  // DeleteObjects
  if (del) return "s3:DeleteBucket";
  if (put) return "s3:CreateBucket";
  if (exchange.HasQuery("versions")) return "s3:ListBucketVersions";
  if (exchange.HasQuery("uploads")) return "s3:ListBucketMultipartUploads";
  return "s3:ListBucket";
}

}  // namespace

PolicyRequest PolicyRequestOf(const Exchange& exchange, const AccessControl& access) {
  PolicyRequest request;
  request.user = exchange.who().access_key;
  // The rest is worked out only when a policy asks (most buckets have none): what is set by
  // then (a copy's source, a listing's prefix) stays.
  request.fill = [&exchange, &access](PolicyRequest& filled) {
    const Target& target = exchange.target();
    const std::string& user = filled.user;
    if (filled.principal_id.empty() && !user.empty()) filled.principal_id = access.NameOf(user).id;
    if (filled.action.empty()) filled.action = ActionOf(exchange);
    if (filled.resource.empty()) {
      filled.resource = target.key.empty()
                            ? fmt::format("arn:aws:s3:::{}", target.bucket)
                            : fmt::format("arn:aws:s3:::{}/{}", target.bucket, target.key);
    }
    auto& context = filled.context;
    const auto add = [&](std::string key, std::vector<std::string> values) {
      context.try_emplace(std::move(key), std::move(values));
    };
    if (!exchange.peer_address().empty()) add("aws:sourceip", {exchange.peer_address()});
    add("aws:securetransport", {exchange.secure() ? "true" : "false"});
    add("aws:principaltype", {user.empty() ? "Anonymous" : "User"});
    if (!user.empty()) {
      add("aws:username", {user});
      add("aws:userid", {filled.principal_id});
    }
    for (const auto& [key, query] : {std::pair{"s3:prefix", "prefix"},
                                     {"s3:delimiter", "delimiter"},
                                     {"s3:max-keys", "max-keys"},
                                     {"s3:versionid", "versionId"}}) {
      if (exchange.HasQuery(query)) add(key, {exchange.Query(query)});
    }
    std::map<std::string, std::vector<std::string>> headers;
    for (const auto& field : exchange.request()) {
      const std::string name =
          AsciiLower(std::string_view(field.name_string().data(), field.name_string().size()));
      if (name.starts_with("x-amz-")) headers["s3:" + name].emplace_back(field.value());
    }
    if (auto tags = RequestTags(exchange); tags.ok()) {
      for (const s3::Tag& tag : *tags) {
        headers["s3:requestobjecttag/" + AsciiLower(tag.key)] = {tag.value};
        headers["s3:requestobjecttagkeys"].push_back(tag.key);
      }
    }
    for (auto& [key, values] : headers) add(key, std::move(values));
  };
  return request;
}

bool ListBuckets(Exchange& exchange, const AccessControl& access) {
  if (exchange.request().method() != http::verb::get) {
    return exchange.Fail({405, "MethodNotAllowed", "only GET on /"});
  }
  if (exchange.who().access_key.empty()) {
    return exchange.Fail({403, "AccessDenied", "anonymous requests cannot list buckets"});
  }
  // Pages of max-buckets (all when absent), by name, after the continuation token (the last
  // name of the page before); only names under `prefix`.
  auto max_buckets = MaxParameter(exchange, "max-buckets", 10000);
  if (!max_buckets.ok()) return exchange.Fail(FromStatus(max_buckets.status()));
  if (exchange.HasQuery("max-buckets") && *max_buckets == 0) {
    return exchange.Fail({400, "InvalidArgument", "max-buckets must be 1..10000"});
  }
  const size_t page_size = exchange.HasQuery("max-buckets") ? *max_buckets : SIZE_MAX;
  const std::string after = exchange.Query("continuation-token");
  const std::string prefix = exchange.Query("prefix");
  auto buckets = access.ListBuckets(exchange.context());
  if (!buckets.ok()) return exchange.Fail(FromStatus(buckets.status()));
  std::string xml = "<ListAllMyBucketsResult>" +
                    UserXml("Owner", access, exchange.who().access_key) + "<Buckets>";
  size_t listed = 0;
  std::string last;  // the page's last name: the token of the next page
  bool more = false;
  for (const BucketInfo& bucket : *buckets) {
    if (!access.MayUse(exchange.who().access_key, bucket)) continue;
    if ((!after.empty() && bucket.name <= after) || !bucket.name.starts_with(prefix)) continue;
    if (listed == page_size) {
      more = true;
      break;
    }
    xml += fmt::format("<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                       XmlEscape(bucket.name), FormatIso8601(bucket.created));
    ++listed;
    last = bucket.name;
  }
  xml += "</Buckets>";
  if (more) xml += fmt::format("<ContinuationToken>{}</ContinuationToken>", XmlEscape(last));
  if (exchange.HasQuery("prefix")) xml += fmt::format("<Prefix>{}</Prefix>", XmlEscape(prefix));
  xml += "</ListAllMyBucketsResult>";
  return exchange.Reply(200, std::move(xml));
}

namespace {

// PutBucketCors, GetBucketCors and DeleteBucketCors: the rules live in the bucket's marker.
bool BucketCors(Exchange& exchange, const AccessControl& access) {
  const std::string& bucket = exchange.target().bucket;
  switch (exchange.request().method()) {
    case http::verb::put: {
      auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto rules = s3::ParseCorsConfiguration(*body);
      if (!rules.ok()) {
        const bool method =
            rules.status().message().find("unsupported HTTP method") != std::string::npos;
        return exchange.Fail({400, method ? "InvalidRequest" : "MalformedXML",
                              std::string(rules.status().message())});
      }
      Status set = access.SetCors(bucket, *rules, exchange.context());
      return set.ok() ? exchange.Reply(200, "") : exchange.Fail(FromStatus(set));
    }
    case http::verb::get: {
      auto rules = access.Cors(bucket, exchange.context());
      if (!rules.ok()) return exchange.Fail(FromStatus(rules.status()));
      if (rules->empty()) {
        return exchange.Fail({404, "NoSuchCORSConfiguration",
                              fmt::format("bucket {} has no CORS configuration", bucket)});
      }
      return exchange.Reply(200, s3::CorsConfigurationXml(*rules));
    }
    case http::verb::delete_: {
      Status set = access.SetCors(bucket, {}, exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    default:
      return exchange.Fail({405, "MethodNotAllowed", "?cors takes GET, PUT and DELETE"});
  }
}

// PutBucketTagging, GetBucketTagging and DeleteBucketTagging: the tags live in the bucket's marker.
bool BucketTagging(Exchange& exchange, const AccessControl& access) {
  constexpr size_t kMaxBucketTags = 50;
  const std::string& bucket = exchange.target().bucket;
  switch (exchange.request().method()) {
    case http::verb::put: {
      auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto tags = s3::ParseTagging(*body, kMaxBucketTags);
      if (!tags.ok()) return exchange.Fail(FromStatus(tags.status()));
      Status set = access.SetTags(bucket, *tags, exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    case http::verb::get: {
      auto tags = access.Tags(bucket, exchange.context());
      if (!tags.ok()) return exchange.Fail(FromStatus(tags.status()));
      if (tags->empty()) {
        return exchange.Fail({404, "NoSuchTagSet", fmt::format("bucket {} has no tags", bucket)});
      }
      return exchange.Reply(200, s3::TaggingXml(*tags));
    }
    case http::verb::delete_: {
      Status set = access.SetTags(bucket, {}, exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    default:
      return exchange.Fail({405, "MethodNotAllowed", "?tagging takes GET, PUT and DELETE"});
  }
}

// GetBucketAcl and PutBucketAcl (an AccessControlPolicy body, or x-amz-acl / x-amz-grant-*).
bool BucketAcl(Exchange& exchange, const AccessControl& access, const BucketInfo& info) {
  if (exchange.request().method() == http::verb::get) {
    const Acl shown = info.acls_enabled()
                          ? info.acl
                          : CannedAcl("private", info.owner, info.owner, false).value();
    return exchange.Reply(200, AclXml(shown, access.acl_names()));
  }
  auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
  if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
  auto acl = AclToPut(exchange, access, info, *body, info.owner, false);
  if (!acl.ok()) return exchange.Fail(FromStatus(acl.status()));
  if (!*acl) {
    if (!info.acls_enabled()) return exchange.Reply(200, "");
    return exchange.Fail({400, "MissingSecurityHeader",
                          "PutBucketAcl needs an ACL: a body, x-amz-acl or x-amz-grant-* headers"});
  }
  Status set = access.SetAcl(info.name, (*acl)->grants, exchange.context());
  return set.ok() ? exchange.Reply(200, "") : exchange.Fail(FromStatus(set));
}

// Get/Put/DeleteBucketPolicy and GetBucketPolicyStatus.
bool BucketPolicyRequest(Exchange& exchange, const AccessControl& access, const BucketInfo& info) {
  const http::verb method = exchange.request().method();
  if (exchange.HasQuery("policyStatus")) {
    auto document = access.Policy(info.name, exchange.context());
    if (!document.ok()) return exchange.Fail(FromStatus(document.status()));
    // Public by its policy, or (as RGW answers) by its ACL.
    bool public_policy = info.acls_enabled() && IsPublicAcl(info.acl);
    if (*document) {
      auto policy = BucketPolicy::Parse(**document, info.name);
      if (!policy.ok()) return exchange.Fail(FromStatus(policy.status()));
      public_policy = public_policy || policy->IsPublic();
    }
    return exchange.Reply(200, fmt::format("<PolicyStatus><IsPublic>{}</IsPublic></PolicyStatus>",
                                           public_policy ? "true" : "false"));
  }
  switch (method) {
    case http::verb::get: {
      auto document = access.Policy(info.name, exchange.context());
      if (!document.ok()) return exchange.Fail(FromStatus(document.status()));
      if (!*document) {
        return exchange.Fail(
            {404, "NoSuchBucketPolicy", fmt::format("bucket {} has no policy", info.name)});
      }
      return exchange.ReplyBytes(200, std::move(**document), "application/json");
    }
    case http::verb::put: {
      auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, 20 << 10);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto policy = BucketPolicy::Parse(*body, info.name);
      if (!policy.ok()) return exchange.Fail(FromStatus(policy.status()));
      if (info.block.block_public_policy && policy->IsPublic()) {
        return exchange.Fail(
            {403, "AccessDenied", "the bucket's public access block refuses public policies"});
      }
      Status set = access.SetPolicy(info.name, *body, exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    case http::verb::delete_: {
      Status set = access.SetPolicy(info.name, "", exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    default:
      return exchange.Fail({405, "MethodNotAllowed", "?policy takes GET, PUT and DELETE"});
  }
}

// Get/Put/DeletePublicAccessBlock: the four flags live in the bucket's marker.
bool BucketPublicAccessBlock(Exchange& exchange, const AccessControl& access,
                             const BucketInfo& info) {
  switch (exchange.request().method()) {
    case http::verb::get: {
      if (!info.block.any()) {
        return exchange.Fail({404, "NoSuchPublicAccessBlockConfiguration",
                              fmt::format("bucket {} has no public access block", info.name)});
      }
      const auto flag = [](bool value) { return value ? "true" : "false"; };
      return exchange.Reply(
          200, fmt::format("<PublicAccessBlockConfiguration><BlockPublicAcls>{}</BlockPublicAcls>"
                           "<IgnorePublicAcls>{}</IgnorePublicAcls><BlockPublicPolicy>{}"
                           "</BlockPublicPolicy><RestrictPublicBuckets>{}</RestrictPublicBuckets>"
                           "</PublicAccessBlockConfiguration>",
                           flag(info.block.block_public_acls), flag(info.block.ignore_public_acls),
                           flag(info.block.block_public_policy),
                           flag(info.block.restrict_public_buckets)));
    }
    case http::verb::put: {
      auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto flags = s3::ParsePublicAccessBlock(*body);
      if (!flags.ok()) return exchange.Fail({400, "MalformedXML", flags.status().message()});
      Status set = access.SetPublicAccessBlock(
          info.name, {(*flags)[0], (*flags)[1], (*flags)[2], (*flags)[3]}, exchange.context());
      return set.ok() ? exchange.Reply(200, "") : exchange.Fail(FromStatus(set));
    }
    case http::verb::delete_: {
      Status set = access.SetPublicAccessBlock(info.name, {}, exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    default:
      return exchange.Fail(
          {405, "MethodNotAllowed", "?publicAccessBlock takes GET, PUT and DELETE"});
  }
}

// GetObjectLockConfiguration and PutObjectLockConfiguration: of buckets made with object lock.
bool BucketObjectLock(Exchange& exchange, const AccessControl& access, const BucketInfo& info) {
  if (exchange.request().method() == http::verb::get) {
    if (!info.object_lock) {
      return exchange.Fail({404, "ObjectLockConfigurationNotFoundError",
                            fmt::format("bucket {} was not made with object lock", info.name)});
    }
    std::string rule;
    if (!info.lock_default.mode.empty()) {
      rule = fmt::format("<Rule><DefaultRetention><Mode>{}</Mode>{}</DefaultRetention></Rule>",
                         info.lock_default.mode,
                         info.lock_default.days > 0
                             ? fmt::format("<Days>{}</Days>", info.lock_default.days)
                             : fmt::format("<Years>{}</Years>", info.lock_default.years));
    }
    return exchange.Reply(200,
                          "<ObjectLockConfiguration><ObjectLockEnabled>Enabled"
                          "</ObjectLockEnabled>" +
                              rule + "</ObjectLockConfiguration>");
  }
  auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
  if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
  auto config = s3::ParseObjectLockConfiguration(*body);
  if (!config.ok()) return exchange.Fail(FromStatus(config.status()));
  // Object lock may be turned on later only where versioning is enabled (and stays so).
  if (!info.object_lock && info.versioning != Versioning::kEnabled) {
    return exchange.Fail(
        {409, "InvalidBucketState",
         fmt::format("bucket {} has neither object lock nor versioning enabled", info.name)});
  }
  Status set = access.SetObjectLock(info.name, *config, exchange.context());
  return set.ok() ? exchange.Reply(200, "") : exchange.Fail(FromStatus(set));
}

// Get/Put/DeleteBucketLifecycleConfiguration: the rules live beside the marker (access.h) and
// the lifecycle worker applies them (lifecycle.h).
bool BucketLifecycle(Exchange& exchange, const AccessControl& access, const BucketInfo& info) {
  switch (exchange.request().method()) {
    case http::verb::get: {
      auto rules = info.has_lifecycle ? access.Lifecycle(info.name, exchange.context())
                                      : std::vector<s3::LifecycleRule>();
      if (!rules.ok()) return exchange.Fail(FromStatus(rules.status()));
      if (rules->empty()) {
        return exchange.Fail({404, "NoSuchLifecycleConfiguration",
                              fmt::format("bucket {} has no lifecycle configuration", info.name)});
      }
      return exchange.Reply(200, s3::LifecycleConfigurationXml(*rules));
    }
    case http::verb::put: {
      auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, 512 << 10);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto rules = s3::ParseLifecycleConfiguration(*body);
      if (!rules.ok()) return exchange.Fail(FromStatus(rules.status()));
      Status set = access.SetLifecycle(info.name, *rules, exchange.context());
      return set.ok() ? exchange.Reply(200, "") : exchange.Fail(FromStatus(set));
    }
    case http::verb::delete_: {
      Status set = access.SetLifecycle(info.name, {}, exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    default:
      return exchange.Fail({405, "MethodNotAllowed", "?lifecycle takes GET, PUT and DELETE"});
  }
}

// Get/Put/DeleteBucketEncryption: the bucket's default encryption (SSE-S3; encryption.h), kept in
// its marker.
bool BucketEncryption(Exchange& exchange, const AccessControl& access, const BucketInfo& info,
                      bool has_master_key) {
  switch (exchange.request().method()) {
    case http::verb::get:
      if (info.default_encryption.empty()) {
        return exchange.Fail({404, "ServerSideEncryptionConfigurationNotFoundError",
                              fmt::format("bucket {} has no default encryption", info.name)});
      }
      return exchange.Reply(
          200, fmt::format("<ServerSideEncryptionConfiguration><Rule>"
                           "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>{}</SSEAlgorithm>"
                           "</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false"
                           "</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>",
                           info.default_encryption));
    case http::verb::put: {
      auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto algorithm = s3::ParseServerSideEncryptionConfiguration(*body);
      if (!algorithm.ok()) return exchange.Fail(FromStatus(algorithm.status()));
      if (*algorithm == "aws:kms" || *algorithm == "aws:kms:dsse") {
        return exchange.Fail(
            {501, "NotImplemented",
             fmt::format("SSEAlgorithm {}: no key service is configured", *algorithm)});
      }
      if (*algorithm != "AES256") {
        return exchange.Fail(
            {400, "InvalidArgument",
             fmt::format("SSEAlgorithm \"{}\" is not AES256 or aws:kms", *algorithm)});
      }
      if (!has_master_key) {
        return exchange.Fail({501, "NotImplemented",
                              "SSE-S3 needs depot serve to have a master key (--sse-master-key)"});
      }
      Status set = access.SetDefaultEncryption(info.name, *algorithm, exchange.context());
      return set.ok() ? exchange.Reply(200, "") : exchange.Fail(FromStatus(set));
    }
    case http::verb::delete_: {
      Status set = access.SetDefaultEncryption(info.name, "", exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    default:
      return exchange.Fail({405, "MethodNotAllowed", "?encryption takes GET, PUT and DELETE"});
  }
}

// An object ownership S3 has (x-amz-object-ownership, OwnershipControls); kInvalidArgument
// naming any other.
Result<std::string> ObjectOwnership(std::string_view value) {
  if (value == "BucketOwnerEnforced" || value == "BucketOwnerPreferred" ||
      value == "ObjectWriter") {
    return std::string(value);
  }
  return InvalidArgumentError(
      fmt::format("InvalidArgument: object ownership \"{}\" is not BucketOwnerEnforced, "
                  "BucketOwnerPreferred or ObjectWriter",
                  value));
}

// Get/Put/DeleteBucketOwnershipControls: the ownership lives in the bucket's marker.
bool BucketOwnershipControls(Exchange& exchange, const AccessControl& access,
                             const BucketInfo& info) {
  switch (exchange.request().method()) {
    case http::verb::get:
      if (info.ownership.empty()) {
        return exchange.Fail({404, "OwnershipControlsNotFoundError",
                              fmt::format("bucket {} has no ownership controls", info.name)});
      }
      return exchange.Reply(
          200, fmt::format("<OwnershipControls><Rule><ObjectOwnership>{}</ObjectOwnership></Rule>"
                           "</OwnershipControls>",
                           info.ownership));
    case http::verb::put: {
      auto body = exchange.ReadAll(Exchange::Checksums::kOfBody, kMaxXmlBody);
      if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
      auto named = s3::ParseOwnershipControls(*body);
      if (!named.ok()) return exchange.Fail({400, "MalformedXML", named.status().message()});
      auto ownership = ObjectOwnership(*named);
      if (!ownership.ok()) return exchange.Fail(FromStatus(ownership.status()));
      if (*ownership == "BucketOwnerEnforced" &&
          info.acl != CannedAcl("private", info.owner, info.owner, false).value()) {
        return exchange.Fail({400, "InvalidBucketAclWithObjectOwnership",
                              "the bucket's ACL grants more than its owner's full control: make "
                              "it private before enforcing object ownership"});
      }
      Status set = access.SetOwnership(info.name, *ownership, exchange.context());
      return set.ok() ? exchange.Reply(200, "") : exchange.Fail(FromStatus(set));
    }
    case http::verb::delete_: {
      Status set = access.SetOwnership(info.name, "", exchange.context());
      return set.ok() ? exchange.Reply(204, "") : exchange.Fail(FromStatus(set));
    }
    default:
      return exchange.Fail(
          {405, "MethodNotAllowed", "?ownershipControls takes GET, PUT and DELETE"});
  }
}

}  // namespace

bool ServeBucket(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                 const BucketInfo& info, std::string_view region, bool has_master_key) {
  const std::string& bucket = exchange.target().bucket;
  const http::verb method = exchange.request().method();
  // PUT and DELETE come here without a query or with ?cors, ?tagging or ?versioning:
  // RefuseUnhonoured answers
  // PutBucketPolicy and the like, so they are never taken for a plain create or delete.
  if (exchange.HasQuery("cors")) return BucketCors(exchange, access);
  if (exchange.HasQuery("tagging")) return BucketTagging(exchange, access);
  if (exchange.HasQuery("versioning")) return BucketVersioning(exchange, access, info);
  if (exchange.HasQuery("acl")) return BucketAcl(exchange, access, info);
  if (exchange.HasQuery("policy") || exchange.HasQuery("policyStatus")) {
    return BucketPolicyRequest(exchange, access, info);
  }
  if (exchange.HasQuery("publicAccessBlock")) {
    return BucketPublicAccessBlock(exchange, access, info);
  }
  if (exchange.HasQuery("object-lock")) return BucketObjectLock(exchange, access, info);
  if (exchange.HasQuery("lifecycle")) return BucketLifecycle(exchange, access, info);
  if (exchange.HasQuery("encryption")) {
    return BucketEncryption(exchange, access, info, has_master_key);
  }
  if (exchange.HasQuery("ownershipControls")) {
    return BucketOwnershipControls(exchange, access, info);
  }
  if (method == http::verb::put) {
    // The body (a CreateBucketConfiguration) is read and checked; its LocationConstraint is
    // recorded for GetBucketLocation, not enforced.
    auto body = exchange.ReadAll(Exchange::Checksums::kNotOfBody, kMaxXmlBody);
    if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
    auto location = s3::ParseCreateBucketXml(*body);
    if (!location.ok()) {
      return exchange.Fail({400, "MalformedXML", std::string(location.status().message())});
    }
    const std::string& user = exchange.who().access_key;
    if (user.empty()) {
      return exchange.Fail({403, "AccessDenied", "anonymous requests cannot make buckets"});
    }
    std::string ownership;
    if (auto named = exchange.Header("x-amz-object-ownership")) {
      auto checked = ObjectOwnership(*named);
      if (!checked.ok()) return exchange.Fail(FromStatus(checked.status()));
      ownership = std::move(*checked);
    }
    BucketInfo made{bucket, user};
    made.ownership = ownership;
    auto acl = RequestedAcl(access, made, AclHeaders(exchange), user, false);
    if (!acl.ok()) {
      if (acl.status().message().starts_with("AccessControlListNotSupported")) {
        return exchange.Fail({400, "InvalidBucketAclWithObjectOwnership",
                              "a bucket that enforces object ownership takes no ACL"});
      }
      return exchange.Fail(FromStatus(acl.status()));
    }
    const std::string lock =
        AsciiLower(exchange.Header("x-amz-bucket-object-lock-enabled").value_or(""));
    if (!lock.empty() && lock != "true" && lock != "false") {
      return exchange.Fail({400, "InvalidArgument",
                            fmt::format("x-amz-bucket-object-lock-enabled \"{}\" is not true or "
                                        "false",
                                        lock)});
    }
    Status created = access.CreateBucket(user, bucket, *location,
                                         *acl ? (*acl)->grants : std::vector<AclGrant>(), ownership,
                                         lock == "true", exchange.context());
    // Made again by its owner: S3 answers 200 in us-east-1 and BucketAlreadyOwnedByYou elsewhere.
    const bool again = created.code() == StatusCode::kAlreadyExists &&
                       created.message().starts_with("BucketAlreadyOwnedByYou");
    if (!created.ok() && !(again && region == "us-east-1")) {
      return exchange.Fail(FromStatus(created));
    }
    return exchange.Reply(200, "", {{"Location", "/" + bucket}});
  }
  switch (method) {
    case http::verb::head:
      return exchange.Reply(200, "", {{"x-amz-bucket-region", std::string(region)}});
    case http::verb::get:
      if (exchange.HasQuery("uploads")) return ListMultipartUploads(exchange, store, access, info);
      if (exchange.HasQuery("versions")) {
        return ListObjects(exchange, store, access, info, Listing::kVersions);
      }
      if (exchange.HasQuery("location")) {
        // The constraint the bucket was made with; else the server's region, us-east-1 being the
        // empty constraint, as S3 answers it.
        const std::string location = !info.location.empty()  ? info.location
                                     : region == "us-east-1" ? ""
                                                             : std::string(region);
        return exchange.Reply(
            200, fmt::format("<LocationConstraint>{}</LocationConstraint>", XmlEscape(location)));
      }
      if (std::all_of(exchange.target().query.begin(), exchange.target().query.end(),
                      [](const auto& q) { return IsListParameter(q.first); })) {
        return ListObjects(exchange, store, access, info,
                           exchange.Query("list-type") == "2" ? Listing::kV2 : Listing::kV1);
      }
      break;
    case http::verb::post:
      if (exchange.HasQuery("delete")) return DeleteObjects(exchange, store, access, info);
      break;
    case http::verb::delete_: {
      Status deleted = access.DeleteBucket(bucket, exchange.context());
      if (!deleted.ok()) return exchange.Fail(FromStatus(deleted));
      return exchange.Reply(204, "");
    }
    default:
      break;
  }
  return exchange.Fail(
      {501, "NotImplemented",
       fmt::format("{} on a bucket{}", std::string(exchange.request().method_string()),
                   exchange.target().query.empty()
                       ? ""
                       : " with ?" + exchange.target().query.begin()->first)});
}

}  // namespace depot::server
