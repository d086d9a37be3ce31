// Service and bucket operations of depot serve (see operations.h).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "depot/core/checksum.h"
#include "depot/core/url.h"
#include "depot/s3/xml.h"
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
  KeyEncoder(const Exchange& exchange, std::string root)
      : url_(exchange.Query("encoding-type") == "url"), root_(std::move(root)) {}
  bool url() const { return url_; }
  std::string operator()(std::string_view text) const {
    return XmlEscape(url_ ? PercentEncode(text, "/") : std::string(text));
  }
  std::string Relative(std::string_view store_key) const {
    return (*this)(store_key.substr(root_.size()));
  }

 private:
  bool url_;
  std::string root_;
};

// The <Owner> element of listing entries: the bucket's owner, who owns every object in it.
Result<std::string> OwnerXml(const Exchange& exchange, const AccessControl& access) {
  DEPOT_ASSIGN_OR_RETURN(BucketInfo bucket,
                         access.Lookup(exchange.target().bucket, exchange.context()));
  return UserXml("Owner", access, bucket.owner);
}

// ListObjects V1 (pages by marker, the last key seen), V2 (list-type=2: by continuation token),
// and ListObjectVersions (?versions), which an unversioned bucket answers as S3 does: every
// object is its one version, "null", the latest (pages by key-marker).
enum class Listing { kV1, kV2, kVersions };

bool ListObjects(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                 Listing listing) {
  const Target& target = exchange.target();
  const bool v2 = listing == Listing::kV2;
  const bool versions = listing == Listing::kVersions;
  auto max_keys = MaxParameter(exchange, "max-keys", 1000);
  if (!max_keys.ok()) return exchange.Fail(FromStatus(max_keys.status()));
  const std::string root = target.bucket + "/";
  const KeyEncoder encode(exchange, root);
  object::ListOptions list;
  list.prefix = root + exchange.Query("prefix");
  list.delimiter = exchange.Query("delimiter");
  const std::string marker_name = v2 ? "start-after" : versions ? "key-marker" : "marker";
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
  // V1 and versions name each object's owner; V2 when asked to (fetch-owner=true).
  std::string owner;
  if (!v2 || exchange.Query("fetch-owner") == "true") {
    auto xml = OwnerXml(exchange, access);
    if (!xml.ok()) return exchange.Fail(FromStatus(xml.status()));
    owner = std::move(*xml);
  }
  list.max_keys = std::max<size_t>(*max_keys, 1);
  object::ListResult page;
  if (*max_keys > 0) {
    auto listed = store.List(list, exchange.context());
    if (!listed.ok()) return exchange.Fail(FromStatus(listed.status()));
    page = std::move(*listed);
  }
  const bool truncated = !page.next_continuation_token.empty();
  std::string xml = fmt::format(
      "<{}><Name>{}</Name><Prefix>{}</Prefix><MaxKeys>{}</MaxKeys><IsTruncated>{}</IsTruncated>",
      versions ? "ListVersionsResult" : "ListBucketResult", XmlEscape(target.bucket),
      // V1 gives the prefix back as sent, even with encoding-type=url (as S3 does); V2 encodes it.
      listing == Listing::kV1 ? XmlEscape(exchange.Query("prefix"))
                              : encode(exchange.Query("prefix")),
      *max_keys, truncated ? "true" : "false");
  // The last key or prefix of the page, whichever sorts last: where the next page starts.
  std::string last = page.objects.empty() ? "" : page.objects.back().key;
  if (!page.common_prefixes.empty()) last = std::max(last, page.common_prefixes.back());
  if (v2) {
    xml +=
        fmt::format("<KeyCount>{}</KeyCount>", page.objects.size() + page.common_prefixes.size());
    if (exchange.HasQuery("continuation-token")) {  // echoed as sent, even when empty
      xml += fmt::format("<ContinuationToken>{}</ContinuationToken>",
                         XmlEscape(list.continuation_token));
    }
    if (truncated) {
      xml += fmt::format("<NextContinuationToken>{}</NextContinuationToken>",
                         XmlEscape(page.next_continuation_token));
    }
    if (const std::string after = exchange.Query("start-after"); !after.empty()) {
      xml += fmt::format("<StartAfter>{}</StartAfter>", encode(after));
    }
  } else if (versions) {
    xml += fmt::format("<KeyMarker>{}</KeyMarker><VersionIdMarker>{}</VersionIdMarker>",
                       encode(exchange.Query("key-marker")),
                       XmlEscape(exchange.Query("version-id-marker")));
    if (truncated && !last.empty()) {
      xml += fmt::format(
          "<NextKeyMarker>{}</NextKeyMarker>"
          "<NextVersionIdMarker>null</NextVersionIdMarker>",
          encode.Relative(last));
    }
  } else {
    xml += fmt::format("<Marker>{}</Marker>", encode(exchange.Query("marker")));
    if (truncated && !last.empty()) {
      xml += fmt::format("<NextMarker>{}</NextMarker>", encode.Relative(last));
    }
  }
  if (!list.delimiter.empty()) {
    xml += fmt::format("<Delimiter>{}</Delimiter>", encode(list.delimiter));
  }
  if (encode.url()) xml += "<EncodingType>url</EncodingType>";
  for (const auto& object : page.objects) {
    xml += fmt::format(
        "<{}><Key>{}</Key>{}<LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag>"
        "<Size>{}</Size>{}<StorageClass>STANDARD</StorageClass></{}>",
        versions ? "Version" : "Contents", encode.Relative(object.key),
        versions ? "<VersionId>null</VersionId><IsLatest>true</IsLatest>" : "",
        FormatIso8601(object.last_modified), XmlEscape(object.etag), object.size, owner,
        versions ? "Version" : "Contents");
  }
  for (const auto& prefix : page.common_prefixes) {
    xml += fmt::format("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                       encode.Relative(prefix));
  }
  xml += versions ? "</ListVersionsResult>" : "</ListBucketResult>";
  return exchange.Reply(200, std::move(xml));
}

// GET /BUCKET?uploads: the store lists every upload under the prefix; pages are cut here, by
// (key, upload id) after key-marker / upload-id-marker.
bool ListMultipartUploads(Exchange& exchange, object::ObjectStore& store,
                          const AccessControl& access) {
  const Target& target = exchange.target();
  auto bucket = access.Lookup(target.bucket, exchange.context());
  if (!bucket.ok()) return exchange.Fail(FromStatus(bucket.status()));
  // The bucket's owner starts its uploads (admins aside: uploads do not record who started them).
  const std::string owner = UserXml("Owner", access, bucket->owner);
  const std::string initiator = UserXml("Initiator", access, bucket->owner);
  auto max_uploads = MaxParameter(exchange, "max-uploads", 1000);
  if (!max_uploads.ok()) return exchange.Fail(FromStatus(max_uploads.status()));
  const std::string root = target.bucket + "/";
  const KeyEncoder encode(exchange, root);
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
// quiet). Deleting a missing key succeeds, as in S3.
bool DeleteObjects(Exchange& exchange, object::ObjectStore& store) {
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
  std::vector<std::string> keys;
  for (const auto& key : request->keys) keys.push_back(StoreKey(bucket, key));
  const std::vector<Status> results = store.DeleteMany(keys, exchange.context());
  std::string xml = "<DeleteResult>";
  for (size_t i = 0; i < request->keys.size(); ++i) {
    const std::string key = XmlEscape(request->keys[i]);
    const Status& status = i < results.size() ? results[i] : InternalError("no result");
    if (status.ok()) {
      if (!request->quiet) xml += fmt::format("<Deleted><Key>{}</Key></Deleted>", key);
      continue;
    }
    const S3Error error = FromStatus(status);
    xml += fmt::format("<Error><Key>{}</Key><Code>{}</Code><Message>{}</Message></Error>", key,
                       XmlEscape(error.code), XmlEscape(error.message));
  }
  xml += "</DeleteResult>";
  return exchange.Reply(200, std::move(xml));
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
  if (!exchange.target().key.empty()) return read ? Permission::kRead : Permission::kWrite;
  if (read) {
    const bool configuration = exchange.HasQuery("location") || exchange.HasQuery("versioning") ||
                               exchange.HasQuery("cors") || exchange.HasQuery("tagging");
    return configuration ? Permission::kOwn : Permission::kRead;
  }
  return method == http::verb::post ? Permission::kWrite : Permission::kOwn;
}

bool ListBuckets(Exchange& exchange, const AccessControl& access) {
  if (exchange.request().method() != http::verb::get) {
    return exchange.Fail({405, "MethodNotAllowed", "only GET on /"});
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

}  // namespace

bool ServeBucket(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                 std::string_view region) {
  const std::string& bucket = exchange.target().bucket;
  const http::verb method = exchange.request().method();
  // PUT and DELETE come here without a query or with ?cors or ?tagging: RefuseUnhonoured answers
  // PutBucketPolicy and the like, so they are never taken for a plain create or delete.
  if (exchange.HasQuery("cors")) return BucketCors(exchange, access);
  if (exchange.HasQuery("tagging")) return BucketTagging(exchange, access);
  if (method == http::verb::put) {
    // The body (a CreateBucketConfiguration) is read and checked; its LocationConstraint is
    // recorded for GetBucketLocation, not enforced.
    auto body = exchange.ReadAll(Exchange::Checksums::kNotOfBody, kMaxXmlBody);
    if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
    auto location = s3::ParseCreateBucketXml(*body);
    if (!location.ok()) {
      return exchange.Fail({400, "MalformedXML", std::string(location.status().message())});
    }
    Status created =
        access.CreateBucket(exchange.who().access_key, bucket, *location, exchange.context());
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
      if (exchange.HasQuery("uploads")) return ListMultipartUploads(exchange, store, access);
      if (exchange.HasQuery("versions")) {
        return ListObjects(exchange, store, access, Listing::kVersions);
      }
      if (exchange.HasQuery("location")) {
        // The constraint the bucket was made with; else the server's region, us-east-1 being the
        // empty constraint, as S3 answers it.
        auto info = access.Lookup(bucket, exchange.context());
        if (!info.ok()) return exchange.Fail(FromStatus(info.status()));
        const std::string location = !info->location.empty() ? info->location
                                     : region == "us-east-1" ? ""
                                                             : std::string(region);
        return exchange.Reply(
            200, fmt::format("<LocationConstraint>{}</LocationConstraint>", XmlEscape(location)));
      }
      if (exchange.HasQuery("versioning")) return exchange.Reply(200, "<VersioningConfiguration/>");
      if (std::all_of(exchange.target().query.begin(), exchange.target().query.end(),
                      [](const auto& q) { return IsListParameter(q.first); })) {
        return ListObjects(exchange, store, access,
                           exchange.Query("list-type") == "2" ? Listing::kV2 : Listing::kV1);
      }
      break;
    case http::verb::post:
      if (exchange.HasQuery("delete")) return DeleteObjects(exchange, store);
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
