#include "depot/s3/xml.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cstdio>
#include <ctime>
#include <optional>
#include <pugixml.hpp>
#include <tuple>
#include <utility>

#include "depot/core/ascii.h"
#include "depot/core/url.h"

namespace depot::s3 {
namespace {

constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<const char*, 7> kWeekdays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

// Text as sent: no end-of-line normalisation, and a key of only spaces is kept.
constexpr unsigned kParseFlags =
    (pugi::parse_default & ~pugi::parse_eol) | pugi::parse_ws_pcdata_single;

// Who sent a document: the service (a response; malformed is the service's fault, kInternal) or a
// client (a request body that depot serve reads; malformed is the client's, kInvalidArgument).
enum class Sender { kService, kClient };

Status Malformed(std::string_view document, std::string_view what,
                 Sender sender = Sender::kService) {
  if (sender == Sender::kClient) {
    return InvalidArgumentError(fmt::format("malformed {} document: {}", document, what));
  }
  return InternalError(fmt::format("S3 sent a malformed {} document: {}", document, what));
}

Result<pugi::xml_node> Load(pugi::xml_document& doc, std::string_view body, std::string_view root,
                            Sender sender = Sender::kService) {
  pugi::xml_parse_result parsed = doc.load_buffer(body.data(), body.size(), kParseFlags);
  if (!parsed) return Malformed(root, parsed.description(), sender);
  pugi::xml_node node = doc.child(std::string(root).c_str());
  if (!node) return Malformed(root, fmt::format("no <{}> element", root), sender);
  return node;
}

std::string Text(const pugi::xml_node& node, const char* child) {
  return node.child(child).text().as_string();
}

// The checksum element among `node`'s children, whichever algorithm it is of: the algorithm and
// the value, or two empty strings.
std::pair<std::string, std::string> ChecksumElement(const pugi::xml_node& node) {
  for (const char* algorithm : {"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}) {
    pugi::xml_node element = node.child(fmt::format("Checksum{}", algorithm).c_str());
    if (element) return {algorithm, element.text().as_string()};
  }
  return {};
}

void ReadPartChecksum(const pugi::xml_node& part, Part& parsed) {
  std::tie(parsed.checksum_algorithm, parsed.checksum) = ChecksumElement(part);
}

// A <Part>'s PartNumber and Size, which both must be numbers.
Status ReadPartNumbers(const pugi::xml_node& item, std::string_view document, Part& part) {
  const std::string number = Text(item, "PartNumber");
  const std::string size = Text(item, "Size");
  auto [n_end, n_ec] =
      std::from_chars(number.data(), number.data() + number.size(), part.part_number);
  auto [s_end, s_ec] = std::from_chars(size.data(), size.data() + size.size(), part.size);
  if (n_ec != std::errc() || n_end != number.data() + number.size() || s_ec != std::errc() ||
      s_end != size.data() + size.size()) {
    return Malformed(
        document, fmt::format("part number \"{}\" or size \"{}\" is not a number", number, size));
  }
  return Status::Ok();
}

// The paging and <Part>s of a part list: a ListPartsResult (each part with its ETag and time) or
// the <ObjectParts> of a GetObjectAttributesResponse (numbers, sizes and checksums).
Result<PartsPage> ReadPartsPage(const pugi::xml_node& node, std::string_view document) {
  PartsPage page;
  page.truncated = Text(node, "IsTruncated") == "true";
  page.next_part_number_marker = Text(node, "NextPartNumberMarker");
  for (pugi::xml_node item : node.children("Part")) {
    Part part;
    DEPOT_RETURN_IF_ERROR(ReadPartNumbers(item, document, part));
    part.etag = Unquote(Text(item, "ETag"));
    if (item.child("LastModified")) {
      DEPOT_ASSIGN_OR_RETURN(part.last_modified, ParseIso8601(Text(item, "LastModified")));
    }
    ReadPartChecksum(item, part);
    page.parts.push_back(std::move(part));
  }
  return page;
}

// Keys in a listing asked for with encoding-type=url: form-encoded ('+' is a space).
Result<std::string> UrlDecodeKey(std::string text) {
  for (char& c : text) {
    if (c == '+') c = ' ';
  }
  return PercentDecode(text);
}

Result<uint64_t> ParseUint(std::string_view text, std::string_view what) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Malformed(what, fmt::format("not a number: \"{}\"", text));
  }
  return value;
}

Clock::time_point FromTm(std::tm& tm, uint32_t millis) {
  return Clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(millis);
}

}  // namespace

std::optional<S3Error> ParseError(std::string_view body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size(), kParseFlags)) return std::nullopt;
  pugi::xml_node error = doc.child("Error");
  if (!error) return std::nullopt;
  return S3Error{Text(error, "Code"), Text(error, "Message"), Text(error, "RequestId")};
}

Result<ListObjectsPage> ParseListObjectsV2(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "ListBucketResult"));
  bool url_encoded = Text(root, "EncodingType") == "url";
  auto key_of = [&](std::string text) -> Result<std::string> {
    if (!url_encoded) return text;
    return UrlDecodeKey(std::move(text));
  };
  ListObjectsPage page;
  page.truncated = Text(root, "IsTruncated") == "true";
  page.next_continuation_token = Text(root, "NextContinuationToken");
  for (pugi::xml_node item : root.children("Contents")) {
    ListedObject meta;
    DEPOT_ASSIGN_OR_RETURN(meta.key, key_of(Text(item, "Key")));
    DEPOT_ASSIGN_OR_RETURN(meta.size, ParseUint(Text(item, "Size"), "ListBucketResult Size"));
    DEPOT_ASSIGN_OR_RETURN(meta.last_modified, ParseIso8601(Text(item, "LastModified")));
    meta.etag = Unquote(Text(item, "ETag"));
    page.objects.push_back(std::move(meta));
  }
  for (pugi::xml_node item : root.children("CommonPrefixes")) {
    DEPOT_ASSIGN_OR_RETURN(std::string prefix, key_of(Text(item, "Prefix")));
    page.common_prefixes.push_back(std::move(prefix));
  }
  if (page.truncated && page.next_continuation_token.empty()) {
    return Malformed("ListBucketResult", "truncated without NextContinuationToken");
  }
  return page;
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "InitiateMultipartUploadResult"));
  std::string id = Text(root, "UploadId");
  if (id.empty()) return Malformed("InitiateMultipartUploadResult", "empty UploadId");
  return id;
}

Result<std::string> ParseResultEtag(std::string_view body, std::string_view root_name) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, root_name));
  return Unquote(Text(root, "ETag"));
}

Result<MultipartUploadsPage> ParseListMultipartUploads(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "ListMultipartUploadsResult"));
  MultipartUploadsPage page;
  page.truncated = Text(root, "IsTruncated") == "true";
  page.next_key_marker = Text(root, "NextKeyMarker");
  page.next_upload_id_marker = Text(root, "NextUploadIdMarker");
  for (pugi::xml_node item : root.children("Upload")) {
    ListedUpload info;
    info.key = Text(item, "Key");
    info.upload_id = Text(item, "UploadId");
    DEPOT_ASSIGN_OR_RETURN(info.initiated, ParseIso8601(Text(item, "Initiated")));
    page.uploads.push_back(std::move(info));
  }
  return page;
}

Result<PartsPage> ParseListParts(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "ListPartsResult"));
  return ReadPartsPage(root, "ListPartsResult");
}

Result<CompletedUpload> ParseCompleteMultipartResult(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "CompleteMultipartUploadResult"));
  CompletedUpload done;
  done.etag = Unquote(Text(root, "ETag"));
  std::tie(done.checksum_algorithm, done.checksum) = ChecksumElement(root);
  done.checksum_type = Text(root, "ChecksumType");
  return done;
}

Result<PartsPage> ParseObjectAttributesParts(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "GetObjectAttributesResponse"));
  return ReadPartsPage(root.child("ObjectParts"), "GetObjectAttributesResponse");
}

Result<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "DeleteResult"));
  std::vector<DeleteFailure> failures;
  for (pugi::xml_node item : root.children("Error")) {
    failures.push_back({Text(item, "Key"), S3Error{Text(item, "Code"), Text(item, "Message"), ""}});
  }
  return failures;
}

Result<std::vector<BucketInfo>> ParseListBuckets(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "ListAllMyBucketsResult"));
  std::vector<BucketInfo> buckets;
  for (pugi::xml_node item : root.child("Buckets").children("Bucket")) {
    BucketInfo info;
    info.name = Text(item, "Name");
    DEPOT_ASSIGN_OR_RETURN(info.created, ParseIso8601(Text(item, "CreationDate")));
    buckets.push_back(std::move(info));
  }
  return buckets;
}

std::string CompleteMultipartXml(std::span<const Part> parts) {
  std::string xml = "<CompleteMultipartUpload>";
  for (const Part& part : parts) {
    xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag>", part.part_number,
                       XmlEscape(part.etag));
    if (!part.checksum.empty()) {
      xml += fmt::format("<Checksum{0}>{1}</Checksum{0}>", XmlEscape(part.checksum_algorithm),
                         XmlEscape(part.checksum));
    }
    xml += "</Part>";
  }
  xml += "</CompleteMultipartUpload>";
  return xml;
}

Result<std::vector<Part>> ParseCompleteMultipartUpload(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(doc, body, "CompleteMultipartUpload", Sender::kClient));
  std::vector<Part> parts;
  for (pugi::xml_node part : root.children("Part")) {
    const std::string number = Text(part, "PartNumber");
    int value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size()) {
      return Malformed("CompleteMultipartUpload", fmt::format("PartNumber \"{}\"", number),
                       Sender::kClient);
    }
    Part parsed{value, Unquote(Text(part, "ETag")), 0};
    ReadPartChecksum(part, parsed);
    parts.push_back(std::move(parsed));
  }
  return parts;
}

std::string DeleteObjectsXml(std::span<const std::string> keys) {
  std::string xml = "<Delete><Quiet>true</Quiet>";
  for (const std::string& key : keys) {
    xml += fmt::format("<Object><Key>{}</Key></Object>", XmlEscape(key));
  }
  xml += "</Delete>";
  return xml;
}

Result<DeleteRequest> ParseDeleteObjects(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, "Delete", Sender::kClient));
  DeleteRequest request;
  request.quiet = Text(root, "Quiet") == "true";
  for (pugi::xml_node object : root.children("Object")) {
    if (!object.child("Key")) {
      return Malformed("Delete", "an <Object> without a <Key>", Sender::kClient);
    }
    request.keys.push_back(Text(object, "Key"));
    request.version_ids.push_back(Text(object, "VersionId"));
  }
  return request;
}

std::string CreateBucketXml(std::string_view region) {
  if (region.empty() || region == "us-east-1") return "";
  return fmt::format(
      "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint>"
      "</CreateBucketConfiguration>",
      XmlEscape(region));
}

Result<std::string> ParseCreateBucketXml(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::string();
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(doc, body, "CreateBucketConfiguration", Sender::kClient));
  return Text(root, "LocationConstraint");
}

Result<AclDocument> ParseAccessControlPolicy(std::string_view body) {
  pugi::xml_document doc;
  Result<pugi::xml_node> root = Load(doc, body, "AccessControlPolicy", Sender::kClient);
  if (!root.ok()) return InvalidArgumentError("MalformedACLError: " + root.status().message());
  AclDocument document;
  document.owner_id = root->child("Owner").child("ID").text().as_string();
  const pugi::xml_node list = root->child("AccessControlList");
  if (!list) {
    return InvalidArgumentError("MalformedACLError: an AccessControlPolicy without a list");
  }
  for (pugi::xml_node grant : list.children("Grant")) {
    const pugi::xml_node grantee = grant.child("Grantee");
    if (!grantee || !grant.child("Permission")) {
      return InvalidArgumentError("MalformedACLError: a Grant needs a Grantee and a Permission");
    }
    // The type attribute, whatever prefix names the XML Schema instance namespace.
    std::string type;
    for (pugi::xml_attribute attribute : grantee.attributes()) {
      const std::string_view name = attribute.name();
      if (name == "type" || name.ends_with(":type")) type = attribute.value();
    }
    document.grants.push_back({std::move(type), Text(grantee, "ID"), Text(grantee, "URI"),
                               Text(grantee, "EmailAddress"), Text(grant, "Permission")});
  }
  return document;
}

Result<std::array<bool, 4>> ParsePublicAccessBlock(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(doc, body, "PublicAccessBlockConfiguration", Sender::kClient));
  std::array<bool, 4> flags{};
  const char* names[] = {"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                         "RestrictPublicBuckets"};
  for (size_t i = 0; i < flags.size(); ++i) {
    const std::string value = Text(root, names[i]);
    if (!value.empty() && value != "true" && value != "false") {
      return Malformed("PublicAccessBlockConfiguration",
                       fmt::format("{} \"{}\" is not true or false", names[i], value),
                       Sender::kClient);
    }
    flags[i] = value == "true";
  }
  return flags;
}

namespace {

Status LockMalformed(std::string_view what) {
  return InvalidArgumentError(fmt::format("MalformedXML: {}", what));
}

Result<std::string> LockMode(std::string_view mode) {
  if (mode != "GOVERNANCE" && mode != "COMPLIANCE") {
    return LockMalformed(
        fmt::format("the retention mode \"{}\" is not GOVERNANCE or COMPLIANCE", mode));
  }
  return std::string(mode);
}

}  // namespace

Result<ObjectLockConfiguration> ParseObjectLockConfiguration(std::string_view body) {
  pugi::xml_document doc;
  Result<pugi::xml_node> root = Load(doc, body, "ObjectLockConfiguration", Sender::kClient);
  if (!root.ok()) return LockMalformed(root.status().message());
  if (const std::string enabled = Text(*root, "ObjectLockEnabled"); enabled != "Enabled") {
    return LockMalformed(fmt::format("ObjectLockEnabled \"{}\" is not Enabled", enabled));
  }
  ObjectLockConfiguration config;
  const pugi::xml_node retention = root->child("Rule").child("DefaultRetention");
  if (!retention) return config;
  DEPOT_ASSIGN_OR_RETURN(config.mode, LockMode(Text(retention, "Mode")));
  const bool days = static_cast<bool>(retention.child("Days"));
  const bool years = static_cast<bool>(retention.child("Years"));
  if (days == years) return LockMalformed("a DefaultRetention needs Days or Years, not both");
  const std::string text = Text(retention, days ? "Days" : "Years");
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // At most a century: the retention's end must stay within what clocks count.
  const int most = days ? 36500 : 100;
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0 || value > most) {
    return InvalidArgumentError(
        fmt::format("InvalidRetentionPeriod: {} \"{}\" is not a number of 1 to {}",
                    days ? "Days" : "Years", text, most));
  }
  (days ? config.days : config.years) = value;
  return config;
}

Result<Retention> ParseRetention(std::string_view body) {
  pugi::xml_document doc;
  Result<pugi::xml_node> root = Load(doc, body, "Retention", Sender::kClient);
  if (!root.ok()) return LockMalformed(root.status().message());
  Retention retention;
  const std::string mode = Text(*root, "Mode");
  const std::string until = Text(*root, "RetainUntilDate");
  if (mode.empty() && until.empty()) return retention;
  DEPOT_ASSIGN_OR_RETURN(retention.mode, LockMode(mode));
  auto date = ParseIso8601(until);
  if (!date.ok() || *date > Clock::now() + std::chrono::hours(24 * 365 * 175)) {
    return LockMalformed(
        fmt::format("RetainUntilDate \"{}\" is not a date in the coming 175 years", until));
  }
  retention.retain_until = *date;
  return retention;
}

Result<bool> ParseLegalHold(std::string_view body) {
  pugi::xml_document doc;
  Result<pugi::xml_node> root = Load(doc, body, "LegalHold", Sender::kClient);
  if (!root.ok()) return LockMalformed(root.status().message());
  const std::string status = Text(*root, "Status");
  if (status != "ON" && status != "OFF") {
    return LockMalformed(fmt::format("the legal hold status \"{}\" is not ON or OFF", status));
  }
  return status == "ON";
}

Result<std::string> ParseOwnershipControls(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(doc, body, "OwnershipControls", Sender::kClient));
  const pugi::xml_node ownership = root.child("Rule").child("ObjectOwnership");
  if (!ownership) {
    return Malformed("OwnershipControls", "no Rule with an ObjectOwnership", Sender::kClient);
  }
  return std::string(ownership.text().as_string());
}

Result<std::string> ParseVersioningConfiguration(std::string_view body) {
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(doc, body, "VersioningConfiguration", Sender::kClient));
  const std::string status = Text(root, "Status");
  if (status != "Enabled" && status != "Suspended") {
    return Malformed("VersioningConfiguration",
                     fmt::format("Status \"{}\" is not Enabled or Suspended", status),
                     Sender::kClient);
  }
  if (const std::string mfa = Text(root, "MfaDelete"); !mfa.empty() && mfa != "Disabled") {
    return UnimplementedError(
        fmt::format("NotImplemented: MfaDelete \"{}\" (MFA delete is not served)", mfa));
  }
  return status;
}

namespace {

// Unicode characters in UTF-8 text (its bytes that do not continue a character).
size_t Utf8Length(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

Result<std::vector<Tag>> ParseTagging(std::string_view body, size_t max_tags) {
  pugi::xml_document doc;
  Result<pugi::xml_node> root = Load(doc, body, "Tagging", Sender::kClient);
  if (!root.ok()) return InvalidArgumentError("MalformedXML: " + root.status().message());
  const pugi::xml_node set = root->child("TagSet");
  if (!set) return InvalidArgumentError("MalformedXML: a Tagging document without a TagSet");
  std::vector<Tag> tags;
  for (pugi::xml_node node : set.children("Tag")) {
    if (!node.child("Key") || !node.child("Value")) {
      return InvalidArgumentError("MalformedXML: a Tag needs a Key and a Value");
    }
    tags.push_back({Text(node, "Key"), Text(node, "Value")});
  }
  DEPOT_RETURN_IF_ERROR(ValidateTags(tags, max_tags));
  return tags;
}

Status ValidateTags(std::span<const Tag> tags, size_t max_tags) {
  auto invalid = [](std::string what) {
    return InvalidArgumentError(fmt::format("InvalidTag: {}", what));
  };
  for (size_t i = 0; i < tags.size(); ++i) {
    const Tag& tag = tags[i];
    if (tag.key.empty() || Utf8Length(tag.key) > 128) {
      return invalid(fmt::format("the tag key \"{}\" is not 1 to 128 characters long", tag.key));
    }
    if (Utf8Length(tag.value) > 256) {
      return invalid(fmt::format("the value of tag \"{}\" is longer than 256 characters", tag.key));
    }
    if (tag.key.starts_with("aws:")) {
      return invalid(
          fmt::format("the tag key \"{}\" uses the prefix aws:, which is reserved", tag.key));
    }
    if (std::any_of(tags.begin(), tags.begin() + static_cast<long>(i),
                    [&](const Tag& t) { return t.key == tag.key; })) {
      return invalid(fmt::format("the tag key \"{}\" is given twice", tag.key));
    }
  }
  if (tags.size() > max_tags) {
    return invalid(fmt::format("{} tags; at most {} are allowed here", tags.size(), max_tags));
  }
  return Status::Ok();
}

std::string TaggingXml(std::span<const Tag> tags) {
  std::string xml = "<Tagging><TagSet>";
  for (const Tag& tag : tags) {
    xml += fmt::format("<Tag><Key>{}</Key><Value>{}</Value></Tag>", XmlEscape(tag.key),
                       XmlEscape(tag.value));
  }
  return xml + "</TagSet></Tagging>";
}

std::string EncodeTagSet(std::span<const Tag> tags) {
  std::string text;
  for (const Tag& tag : tags) {
    if (!text.empty()) text += '&';
    text += PercentEncode(tag.key) + "=" + PercentEncode(tag.value);
  }
  return text;
}

Result<std::vector<Tag>> DecodeTagSet(std::string_view text) {
  std::vector<Tag> tags;
  while (!text.empty()) {
    const size_t amp = text.find('&');
    const std::string_view pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    const size_t equals = pair.find('=');
    DEPOT_ASSIGN_OR_RETURN(std::string key, UrlDecodeKey(std::string(pair.substr(0, equals))));
    std::string value;
    if (equals != std::string_view::npos) {
      DEPOT_ASSIGN_OR_RETURN(value, UrlDecodeKey(std::string(pair.substr(equals + 1))));
    }
    tags.push_back({std::move(key), std::move(value)});
  }
  return tags;
}

Result<std::vector<CorsRule>> ParseCorsConfiguration(std::string_view body) {
  constexpr std::string_view kDocument = "CORSConfiguration";
  pugi::xml_document doc;
  DEPOT_ASSIGN_OR_RETURN(pugi::xml_node root, Load(doc, body, kDocument, Sender::kClient));
  auto refuse = [&](std::string what) { return Malformed(kDocument, what, Sender::kClient); };
  std::vector<CorsRule> rules;
  for (pugi::xml_node node : root.children("CORSRule")) {
    CorsRule rule;
    rule.id = Text(node, "ID");
    const std::pair<const char*, std::vector<std::string>*> lists[] = {
        {"AllowedOrigin", &rule.allowed_origins},
        {"AllowedMethod", &rule.allowed_methods},
        {"AllowedHeader", &rule.allowed_headers},
        {"ExposeHeader", &rule.expose_headers}};
    for (const auto& [name, list] : lists) {
      for (pugi::xml_node item : node.children(name)) {
        std::string text = item.text().as_string();
        if (!IsPrintableAscii(text) || !IsPrintableAscii(rule.id)) {
          return refuse(fmt::format("{} \"{}\" is not printable ASCII", name, text));
        }
        const bool wildcarded = list == &rule.allowed_origins || list == &rule.allowed_headers;
        if (wildcarded && std::count(text.begin(), text.end(), '*') > 1) {
          return refuse(fmt::format("{} \"{}\" can have at most one * wildcard", name, text));
        }
        list->push_back(std::move(text));
      }
    }
    for (const std::string& method : rule.allowed_methods) {
      static constexpr std::string_view kMethods[] = {"GET", "PUT", "POST", "DELETE", "HEAD"};
      if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
        return refuse(fmt::format(
            "Found unsupported HTTP method in CORS config. Unsupported method is {}", method));
      }
    }
    if (rule.allowed_origins.empty() || rule.allowed_methods.empty()) {
      return refuse("every CORSRule needs an AllowedOrigin and an AllowedMethod");
    }
    if (pugi::xml_node age = node.child("MaxAgeSeconds")) {
      auto seconds = ParseUint(age.text().as_string(), "MaxAgeSeconds");
      if (!seconds.ok()) {
        return refuse(fmt::format("MaxAgeSeconds \"{}\" is not a number", age.text().as_string()));
      }
      rule.max_age_seconds = static_cast<int64_t>(std::min<uint64_t>(*seconds, INT32_MAX));
    }
    rules.push_back(std::move(rule));
  }
  if (rules.empty()) return refuse("no CORSRule");
  if (rules.size() > 100) return refuse(fmt::format("{} CORSRules (at most 100)", rules.size()));
  return rules;
}

std::string CorsConfigurationXml(std::span<const CorsRule> rules) {
  std::string xml = "<CORSConfiguration>";
  for (const CorsRule& rule : rules) {
    xml += "<CORSRule>";
    if (!rule.id.empty()) xml += fmt::format("<ID>{}</ID>", XmlEscape(rule.id));
    const std::pair<const char*, const std::vector<std::string>*> lists[] = {
        {"AllowedOrigin", &rule.allowed_origins},
        {"AllowedMethod", &rule.allowed_methods},
        {"AllowedHeader", &rule.allowed_headers},
        {"ExposeHeader", &rule.expose_headers}};
    for (const auto& [name, list] : lists) {
      for (const std::string& item : *list)
        xml += fmt::format("<{0}>{1}</{0}>", name, XmlEscape(item));
    }
    if (rule.max_age_seconds) {
      xml += fmt::format("<MaxAgeSeconds>{}</MaxAgeSeconds>", *rule.max_age_seconds);
    }
    xml += "</CORSRule>";
  }
  return xml + "</CORSConfiguration>";
}

namespace {

Status LifecycleMalformed(std::string_view what) {
  return InvalidArgumentError(
      fmt::format("MalformedXML: malformed LifecycleConfiguration document: {}", what));
}

Status LifecycleInvalid(std::string_view what) {
  return InvalidArgumentError(fmt::format("InvalidArgument: {}", what));
}

// Refuses children of `node` other than `known`, naming the first.
Status OnlyChildren(const pugi::xml_node& node, std::initializer_list<std::string_view> known) {
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    if (std::find(known.begin(), known.end(), child.name()) == known.end()) {
      return LifecycleMalformed(
          fmt::format("<{}> has an element <{}> it does not take", node.name(), child.name()));
    }
  }
  return Status::Ok();
}

// A whole number of days, 1 to 36500 (a century keeps every date within what clocks count).
Result<int> LifecycleDays(const pugi::xml_node& node, std::string_view what) {
  const std::string text = node.text().as_string();
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0 || value > 36500) {
    return LifecycleInvalid(
        fmt::format("{} \"{}\" is not a whole number of 1 to 36500", what, text));
  }
  return value;
}

Result<uint64_t> LifecycleSize(const pugi::xml_node& node) {
  const std::string text = node.text().as_string();
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return LifecycleInvalid(fmt::format("{} \"{}\" is not a size in bytes", node.name(), text));
  }
  return value;
}

Result<Tag> LifecycleTag(const pugi::xml_node& node) {
  DEPOT_RETURN_IF_ERROR(OnlyChildren(node, {"Key", "Value"}));
  if (!node.child("Key")) return LifecycleMalformed("a Tag needs a Key");
  return Tag{Text(node, "Key"), Text(node, "Value")};
}

// The predicates of a <Filter> or its <And> into `rule`. Several in a Filter without an And are
// taken as their And, as RGW takes them (S3 refuses them).
Status LifecyclePredicates(const pugi::xml_node& node, bool in_and, LifecycleRule& rule) {
  DEPOT_RETURN_IF_ERROR(OnlyChildren(
      node, {"Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", in_and ? "" : "And"}));
  std::vector<std::string_view> seen;
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    const std::string_view name = child.name();
    if (name != "Tag" && std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return LifecycleMalformed(fmt::format("<{}> names <{}> twice", node.name(), name));
    }
    seen.push_back(name);
    if (name == "Prefix") {
      rule.prefix = child.text().as_string();
    } else if (name == "Tag") {
      DEPOT_ASSIGN_OR_RETURN(Tag tag, LifecycleTag(child));
      rule.tags.push_back(std::move(tag));
    } else if (name == "ObjectSizeGreaterThan") {
      DEPOT_ASSIGN_OR_RETURN(rule.size_greater_than, LifecycleSize(child));
    } else if (name == "ObjectSizeLessThan") {
      DEPOT_ASSIGN_OR_RETURN(rule.size_less_than, LifecycleSize(child));
    } else {
      rule.and_form = true;
      DEPOT_RETURN_IF_ERROR(LifecyclePredicates(child, true, rule));
    }
  }
  return Status::Ok();
}

Result<LifecycleRule> ParseLifecycleRule(const pugi::xml_node& node) {
  DEPOT_RETURN_IF_ERROR(OnlyChildren(
      node, {"ID", "Status", "Prefix", "Filter", "Expiration", "NoncurrentVersionExpiration",
             "AbortIncompleteMultipartUpload", "Transition", "NoncurrentVersionTransition"}));
  LifecycleRule rule;
  for (const char* once : {"ID", "Status", "Prefix", "Filter", "Expiration",
                           "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"}) {
    const auto all = node.children(once);
    if (std::distance(all.begin(), all.end()) > 1) {
      return LifecycleMalformed(fmt::format("a Rule names <{}> twice", once));
    }
  }
  rule.id = Text(node, "ID");
  if (std::any_of(rule.id.begin(), rule.id.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return LifecycleInvalid("the rule ID has control characters");
  }
  if (Utf8Length(rule.id) > 255) {
    return LifecycleInvalid(
        fmt::format("the rule ID \"{}...\" is longer than 255 characters", rule.id.substr(0, 16)));
  }
  const std::string status = Text(node, "Status");
  if (status != "Enabled" && status != "Disabled") {
    return LifecycleMalformed(
        fmt::format("the rule Status \"{}\" is not Enabled or Disabled", status));
  }
  rule.enabled = status == "Enabled";
  if (node.child("Transition") || node.child("NoncurrentVersionTransition")) {
    return UnimplementedError(
        "NotImplemented: lifecycle transitions to other storage classes (depot keeps one, "
        "STANDARD)");
  }
  if (node.child("Prefix") && node.child("Filter")) {
    return LifecycleMalformed("a rule takes a Prefix or a Filter, not both");
  }
  if (pugi::xml_node prefix = node.child("Prefix")) {
    rule.form = LifecycleRule::Form::kPrefix;
    rule.prefix = prefix.text().as_string();
  } else if (pugi::xml_node filter = node.child("Filter")) {
    rule.form = LifecycleRule::Form::kFilter;
    if (filter.child("And") &&
        std::distance(filter.children().begin(), filter.children().end()) > 1) {
      return LifecycleMalformed("a Filter with an And has nothing else");
    }
    DEPOT_RETURN_IF_ERROR(LifecyclePredicates(filter, false, rule));
    DEPOT_RETURN_IF_ERROR(ValidateTags(rule.tags, 10));
    if (rule.size_greater_than && rule.size_less_than &&
        *rule.size_greater_than >= *rule.size_less_than) {
      return LifecycleInvalid(
          fmt::format("ObjectSizeGreaterThan {} is not below ObjectSizeLessThan {}",
                      *rule.size_greater_than, *rule.size_less_than));
    }
  } else {
    return LifecycleMalformed("a Rule needs a Filter (or a Prefix)");
  }
  if (pugi::xml_node expiration = node.child("Expiration")) {
    DEPOT_RETURN_IF_ERROR(OnlyChildren(expiration, {"Days", "Date", "ExpiredObjectDeleteMarker"}));
    const int given = static_cast<bool>(expiration.child("Days")) +
                      static_cast<bool>(expiration.child("Date")) +
                      static_cast<bool>(expiration.child("ExpiredObjectDeleteMarker"));
    if (given != 1) {
      return LifecycleMalformed(
          "an Expiration takes one of Days, Date and ExpiredObjectDeleteMarker");
    }
    if (pugi::xml_node days = expiration.child("Days")) {
      DEPOT_ASSIGN_OR_RETURN(rule.expiration_days, LifecycleDays(days, "Expiration Days"));
    } else if (pugi::xml_node date = expiration.child("Date")) {
      std::string text = date.text().as_string();
      if (text.size() == 10) text += "T00:00:00Z";  // a plain ISO 8601 date
      auto when = ParseIso8601(text);
      if (!when.ok() || *when != std::chrono::floor<std::chrono::days>(*when)) {
        return LifecycleInvalid(fmt::format(
            "the Expiration Date \"{}\" is not an ISO 8601 date at midnight UTC", text));
      }
      rule.expiration_date = *when;
    } else {
      const std::string marker = Text(expiration, "ExpiredObjectDeleteMarker");
      if (marker != "true" && marker != "false") {
        return LifecycleMalformed(
            fmt::format("ExpiredObjectDeleteMarker \"{}\" is not true or false", marker));
      }
      rule.expired_object_delete_marker = marker == "true";
      if (!rule.tags.empty()) {
        return LifecycleInvalid("ExpiredObjectDeleteMarker cannot be given with tag filters");
      }
    }
  }
  if (pugi::xml_node noncurrent = node.child("NoncurrentVersionExpiration")) {
    DEPOT_RETURN_IF_ERROR(OnlyChildren(noncurrent, {"NoncurrentDays", "NewerNoncurrentVersions"}));
    DEPOT_ASSIGN_OR_RETURN(rule.noncurrent_days,
                           LifecycleDays(noncurrent.child("NoncurrentDays"), "NoncurrentDays"));
    if (pugi::xml_node newer = noncurrent.child("NewerNoncurrentVersions")) {
      DEPOT_ASSIGN_OR_RETURN(rule.newer_noncurrent_versions,
                             LifecycleDays(newer, "NewerNoncurrentVersions"));
      if (rule.newer_noncurrent_versions > 100) {
        return LifecycleInvalid(fmt::format("NewerNoncurrentVersions {} is more than 100",
                                            rule.newer_noncurrent_versions));
      }
    }
  }
  if (pugi::xml_node abort = node.child("AbortIncompleteMultipartUpload")) {
    DEPOT_RETURN_IF_ERROR(OnlyChildren(abort, {"DaysAfterInitiation"}));
    DEPOT_ASSIGN_OR_RETURN(
        rule.abort_multipart_days,
        LifecycleDays(abort.child("DaysAfterInitiation"), "DaysAfterInitiation"));
    if (!rule.tags.empty() || rule.size_greater_than || rule.size_less_than) {
      return LifecycleInvalid(
          "AbortIncompleteMultipartUpload cannot be given with tag or size filters");
    }
  }
  if (rule.expiration_days == 0 && !rule.expiration_date && !node.child("Expiration") &&
      rule.noncurrent_days == 0 && rule.abort_multipart_days == 0) {
    return LifecycleInvalid(fmt::format("the rule \"{}\" has no action", rule.id));
  }
  return rule;
}

}  // namespace

Result<std::vector<LifecycleRule>> ParseLifecycleConfiguration(std::string_view body) {
  pugi::xml_document doc;
  Result<pugi::xml_node> root = Load(doc, body, "LifecycleConfiguration", Sender::kClient);
  if (!root.ok()) return LifecycleMalformed(root.status().message());
  DEPOT_RETURN_IF_ERROR(OnlyChildren(*root, {"Rule"}));
  std::vector<LifecycleRule> rules;
  for (pugi::xml_node node : root->children("Rule")) {
    DEPOT_ASSIGN_OR_RETURN(LifecycleRule rule, ParseLifecycleRule(node));
    for (const LifecycleRule& earlier : rules) {
      if (!rule.id.empty() && earlier.id == rule.id) {
        return LifecycleInvalid(fmt::format("the rule ID \"{}\" is given twice", rule.id));
      }
    }
    rules.push_back(std::move(rule));
  }
  if (rules.empty() || rules.size() > 1000) {
    return LifecycleMalformed(fmt::format("{} rules (1 to 1000 are allowed)", rules.size()));
  }
  // Rules without an ID get the first "rule-N" no other rule has.
  size_t next = 1;
  for (LifecycleRule& rule : rules) {
    while (rule.id.empty()) {
      std::string id = fmt::format("rule-{}", next++);
      if (std::none_of(rules.begin(), rules.end(),
                       [&](const LifecycleRule& other) { return other.id == id; })) {
        rule.id = std::move(id);
      }
    }
  }
  return rules;
}

std::string LifecycleConfigurationXml(std::span<const LifecycleRule> rules) {
  std::string xml = "<LifecycleConfiguration>";
  for (const LifecycleRule& rule : rules) {
    xml += fmt::format("<Rule><ID>{}</ID>", XmlEscape(rule.id));
    if (rule.form == LifecycleRule::Form::kPrefix) {
      xml += fmt::format("<Prefix>{}</Prefix>", XmlEscape(rule.prefix));
    } else if (rule.form == LifecycleRule::Form::kFilter) {
      std::string predicates;
      if (!rule.prefix.empty())
        predicates += fmt::format("<Prefix>{}</Prefix>", XmlEscape(rule.prefix));
      for (const Tag& tag : rule.tags) {
        predicates += fmt::format("<Tag><Key>{}</Key><Value>{}</Value></Tag>", XmlEscape(tag.key),
                                  XmlEscape(tag.value));
      }
      if (rule.size_greater_than) {
        predicates += fmt::format("<ObjectSizeGreaterThan>{}</ObjectSizeGreaterThan>",
                                  *rule.size_greater_than);
      }
      if (rule.size_less_than) {
        predicates +=
            fmt::format("<ObjectSizeLessThan>{}</ObjectSizeLessThan>", *rule.size_less_than);
      }
      xml += rule.and_form ? fmt::format("<Filter><And>{}</And></Filter>", predicates)
                           : fmt::format("<Filter>{}</Filter>", predicates);
    }
    xml += fmt::format("<Status>{}</Status>", rule.enabled ? "Enabled" : "Disabled");
    if (rule.expiration_days > 0) {
      xml += fmt::format("<Expiration><Days>{}</Days></Expiration>", rule.expiration_days);
    } else if (rule.expiration_date) {
      xml += fmt::format("<Expiration><Date>{}</Date></Expiration>",
                         FormatIso8601(*rule.expiration_date));
    } else if (rule.expired_object_delete_marker ||
               (rule.noncurrent_days == 0 && rule.abort_multipart_days == 0)) {
      xml += fmt::format(
          "<Expiration><ExpiredObjectDeleteMarker>{}</ExpiredObjectDeleteMarker>"
          "</Expiration>",
          rule.expired_object_delete_marker ? "true" : "false");
    }
    if (rule.noncurrent_days > 0) {
      xml += fmt::format(
          "<NoncurrentVersionExpiration><NoncurrentDays>{}</NoncurrentDays>{}"
          "</NoncurrentVersionExpiration>",
          rule.noncurrent_days,
          rule.newer_noncurrent_versions > 0
              ? fmt::format("<NewerNoncurrentVersions>{}</NewerNoncurrentVersions>",
                            rule.newer_noncurrent_versions)
              : "");
    }
    if (rule.abort_multipart_days > 0) {
      xml += fmt::format(
          "<AbortIncompleteMultipartUpload><DaysAfterInitiation>{}"
          "</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
          rule.abort_multipart_days);
    }
    xml += "</Rule>";
  }
  return xml + "</LifecycleConfiguration>";
}

Result<std::string> ParseServerSideEncryptionConfiguration(std::string_view body) {
  pugi::xml_document doc;
  Result<pugi::xml_node> root =
      Load(doc, body, "ServerSideEncryptionConfiguration", Sender::kClient);
  if (!root.ok()) return InvalidArgumentError("MalformedXML: " + root.status().message());
  const auto rules = root->children("Rule");
  if (std::distance(rules.begin(), rules.end()) != 1) {
    return InvalidArgumentError("MalformedXML: a ServerSideEncryptionConfiguration has one Rule");
  }
  const pugi::xml_node by_default = root->child("Rule").child("ApplyServerSideEncryptionByDefault");
  if (!by_default.child("SSEAlgorithm")) {
    return InvalidArgumentError(
        "MalformedXML: the Rule needs ApplyServerSideEncryptionByDefault with an SSEAlgorithm");
  }
  return Text(by_default, "SSEAlgorithm");
}

Result<Clock::time_point> ParseIso8601(std::string_view text) {
  std::tm tm{};
  unsigned millis = 0;
  int consumed = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return Malformed("timestamp", fmt::format("\"{}\"", text));
  }
  std::string_view rest = std::string_view(s).substr(consumed);
  if (rest.starts_with(".")) {
    rest.remove_prefix(1);
    size_t digits = 0;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
      if (digits < 3) millis = millis * 10 + (rest[digits] - '0');
      ++digits;
    }
    for (size_t i = digits; i < 3; ++i) millis *= 10;
    rest.remove_prefix(digits);
  }
  if (rest != "Z" && rest != "+00:00") return Malformed("timestamp", fmt::format("\"{}\"", text));
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return FromTm(tm, millis);
}

Result<Clock::time_point> ParseHttpDate(std::string_view text) {
  std::tm tm{};
  char weekday[4] = {};
  char month[4] = {};
  std::string s(text);
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", weekday, &tm.tm_mday, month,
                  &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 7 ||
      static_cast<size_t>(consumed) != s.size()) {
    return InvalidArgumentError(fmt::format("not an HTTP date: \"{}\"", text));
  }
  tm.tm_mon = -1;
  for (int i = 0; i < 12; ++i) {
    if (std::string_view(month) == kMonths[i]) tm.tm_mon = i;
  }
  if (tm.tm_mon < 0) return InvalidArgumentError(fmt::format("not an HTTP date: \"{}\"", text));
  tm.tm_year -= 1900;
  return FromTm(tm, 0);
}

std::string FormatHttpDate(Clock::time_point t) {
  std::time_t seconds = Clock::to_time_t(t);
  // A server answers many requests with the same Last-Modified: each thread keeps its last one.
  thread_local std::optional<std::time_t> last_seconds;
  thread_local std::string last_text;
  if (last_seconds == seconds) return last_text;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  last_text =
      fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kWeekdays[tm.tm_wday], tm.tm_mday,
                  kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  last_seconds = seconds;
  return last_text;
}

std::string FormatIso8601(Clock::time_point t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(ms);
  const std::chrono::year_month_day date{day};
  const std::chrono::hh_mm_ss time{ms - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     time.hours().count(), time.minutes().count(), time.seconds().count(),
                     time.subseconds().count());
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#13;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\t':
        out += "&#9;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Unquote(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

}  // namespace depot::s3
