// depot::s3 wire formats: the XML documents S3 exchanges (parsed with pugixml) and the
// timestamps it writes in them and in headers.
//
// Parsers take the response body as received and return kInternal naming the document and the
// element when it is not what S3 sends (a gateway answering with an HTML error page, say); they
// never throw. Keys in listings requested with encoding-type=url are decoded here. ETags come back
// without their quotes. Builders escape every text they embed. Pure functions: thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"

namespace depot::s3 {

using Clock = std::chrono::system_clock;

// What the listings carry, in S3's own terms; the S3 backend and depot serve map them to and from
// depot::object's types.
struct ListedObject {  // a <Contents> entry of ListObjectsV2
  std::string key;
  uint64_t size = 0;
  Clock::time_point last_modified;
  std::string etag;
};
struct ListedUpload {  // an <Upload> entry of ListMultipartUploads
  std::string key;
  std::string upload_id;
  Clock::time_point initiated;
};
struct Part {  // a <Part> of ListParts (all fields), CompleteMultipartUpload (number, ETag and
               // checksum) or GetObjectAttributes (number, size and checksum)
  int part_number = 0;
  std::string etag;
  uint64_t size = 0;
  Clock::time_point last_modified;
  std::string checksum;  // the value of its <ChecksumCRC32> (or of another algorithm), if any
  std::string checksum_algorithm;  // "CRC32", ... : which element `checksum` came from
};

struct S3Error {
  std::string code;  // "NoSuchKey"
  std::string message;
  std::string request_id;
};
// The <Error> document in `body`, or nullopt when the body is not one (S3 can send an <Error>
// with status 200 for CompleteMultipartUpload and CopyObject).
std::optional<S3Error> ParseError(std::string_view body);

struct ListObjectsPage {
  std::vector<ListedObject> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_continuation_token;
};
Result<ListObjectsPage> ParseListObjectsV2(std::string_view body);

Result<std::string> ParseInitiateMultipartUpload(std::string_view body);  // the UploadId
// The ETag of CompleteMultipartUploadResult, CopyObjectResult or CopyPartResult; may be empty
// (RGW 16 leaves CompleteMultipartUploadResult's ETag empty).
Result<std::string> ParseResultEtag(std::string_view body, std::string_view root);

struct MultipartUploadsPage {
  std::vector<ListedUpload> uploads;
  bool truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};
Result<MultipartUploadsPage> ParseListMultipartUploads(std::string_view body);

struct PartsPage {
  std::vector<Part> parts;
  bool truncated = false;
  std::string next_part_number_marker;
};
Result<PartsPage> ParseListParts(std::string_view body);
// A CompleteMultipartUploadResult: the object's ETag and the checksum the service made (S3 sends
// ChecksumType since 2024; "" when absent).
struct CompletedUpload {
  std::string etag;
  std::string checksum;
  std::string checksum_algorithm;
  std::string checksum_type;  // "COMPOSITE" or "FULL_OBJECT"
};
Result<CompletedUpload> ParseCompleteMultipartResult(std::string_view body);
// The <ObjectParts> of a GetObjectAttributesResponse (no parts when it has none).
Result<PartsPage> ParseObjectAttributesParts(std::string_view body);

struct DeleteFailure {
  std::string key;
  S3Error error;
};
// The <Error> entries of a DeleteResult (quiet mode lists only failures).
Result<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view body);

struct BucketInfo {
  std::string name;
  Clock::time_point created;
};
Result<std::vector<BucketInfo>> ParseListBuckets(std::string_view body);

std::string CompleteMultipartXml(std::span<const Part> parts);
// The part list of a CompleteMultipartUpload request body (sizes are left 0).
Result<std::vector<Part>> ParseCompleteMultipartUpload(std::string_view body);
std::string DeleteObjectsXml(std::span<const std::string> keys);  // quiet mode
struct DeleteRequest {
  bool quiet = false;
  std::vector<std::string> keys;
  std::vector<std::string> version_ids;  // one per key; "" where none was named
};
Result<DeleteRequest> ParseDeleteObjects(std::string_view body);  // a <Delete> document
std::string CreateBucketXml(std::string_view region);             // empty for us-east-1
// The LocationConstraint of a CreateBucket body ("" for an empty body or none named).
Result<std::string> ParseCreateBucketXml(std::string_view body);
// An AccessControlPolicy document (PutBucketAcl, PutObjectAcl), as written: each grantee's
// xsi:type (CanonicalUser, Group or AmazonCustomerByEmail) with its ID, URI or EmailAddress.
// kInvalidArgument ("MalformedACLError: ...") for a document that is not one.
struct AclDocumentGrant {
  std::string type;
  std::string id;
  std::string uri;
  std::string email;
  std::string permission;
};
struct AclDocument {
  std::string owner_id;
  std::vector<AclDocumentGrant> grants;
};
Result<AclDocument> ParseAccessControlPolicy(std::string_view body);
// A PublicAccessBlockConfiguration (PutPublicAccessBlock): its four flags, false where absent.
// kInvalidArgument for another document or a flag that is not true or false.
Result<std::array<bool, 4>> ParsePublicAccessBlock(std::string_view body);
// Object lock documents (PutObjectLockConfiguration, PutObjectRetention, PutObjectLegalHold).
// kInvalidArgument "MalformedXML: ..." for a document that is not one (a mode other than
// GOVERNANCE or COMPLIANCE, a status other than Enabled / ON / OFF, Days and Years together),
// "InvalidRetentionPeriod: ..." for a period that is not positive.
struct ObjectLockConfiguration {
  std::string mode;  // of the default retention; empty: none
  int days = 0;
  int years = 0;
};
Result<ObjectLockConfiguration> ParseObjectLockConfiguration(std::string_view body);
struct Retention {
  std::string mode;  // empty with no date: none (a GOVERNANCE retention removed)
  std::optional<Clock::time_point> retain_until;
};
Result<Retention> ParseRetention(std::string_view body);
Result<bool> ParseLegalHold(std::string_view body);  // ON: true
// The ObjectOwnership of a PutBucketOwnershipControls body (as written: the caller checks it).
// kInvalidArgument for another document or none.
Result<std::string> ParseOwnershipControls(std::string_view body);
// The Status of a PutBucketVersioning body: "Enabled" or "Suspended". kInvalidArgument for
// another document, status or none; kUnimplemented for MfaDelete
// Enabled (MFA delete needs a device depot has no way to check).
Result<std::string> ParseVersioningConfiguration(std::string_view body);

// A bucket's CORS configuration (PutBucketCors), as S3 keeps it: rules in order, the first
// that matches a request applies (see server/cors.h).
struct CorsRule {
  std::string id;
  std::vector<std::string> allowed_origins;  // each with at most one '*' wildcard
  std::vector<std::string> allowed_methods;  // GET, PUT, POST, DELETE, HEAD
  std::vector<std::string> allowed_headers;  // each with at most one '*' wildcard
  std::vector<std::string> expose_headers;
  std::optional<int64_t> max_age_seconds;
  friend bool operator==(const CorsRule&, const CorsRule&) = default;
};
// The rules of a <CORSConfiguration> document. kInvalidArgument naming what S3 refuses: no rule,
// more than 100, a rule without an origin or a method, a method S3 does not allow, an origin or
// header with two wildcards, text that is not printable ASCII.
Result<std::vector<CorsRule>> ParseCorsConfiguration(std::string_view body);
// The document again, on one line (what GetBucketCors answers, and what depot stores).
std::string CorsConfigurationXml(std::span<const CorsRule> rules);

// A tag of a bucket or an object (PutBucketTagging, PutObjectTagging, x-amz-tagging).
struct Tag {
  std::string key;    // 1 to 128 characters, not beginning with "aws:"
  std::string value;  // 0 to 256 characters
  friend bool operator==(const Tag&, const Tag&) = default;
};
// The tags of a <Tagging><TagSet> document, in order, checked as S3 checks them: at most
// `max_tags` (50 on a bucket, 10 on an object), keys of 1 to 128 and values of up to 256 Unicode
// characters (UTF-8), no key twice, none beginning with "aws:". kInvalidArgument: "MalformedXML:
// ..." for a document that is not one, "InvalidTag: ..." naming the tag for the rest.
Result<std::vector<Tag>> ParseTagging(std::string_view body, size_t max_tags);
// The same checks of tags from elsewhere (x-amz-tagging): OK, or "InvalidTag: ..." naming one.
Status ValidateTags(std::span<const Tag> tags, size_t max_tags);
// The document again (what GetBucketTagging answers); an empty <TagSet/> for none.
std::string TaggingXml(std::span<const Tag> tags);
// Tags as x-amz-tagging carries them, "k1=v1&k2=v2" form-encoded, and back (kInvalidArgument when
// the text is not that form).
std::string EncodeTagSet(std::span<const Tag> tags);
Result<std::vector<Tag>> DecodeTagSet(std::string_view text);

// A rule of a bucket's lifecycle configuration (PutBucketLifecycleConfiguration), as S3 keeps it.
// Its filter is kept in the form it was written in, so GetBucketLifecycleConfiguration answers it
// the same way.
struct LifecycleRule {
  std::string id;  // 1 to 255 characters, unique in the configuration (made when none is given)
  bool enabled = true;
  // kPrefix: a <Prefix> of the rule itself (S3's first grammar); kFilter: a <Filter>, its
  // predicates inside an <And> when `and_form` (several without one are taken as their And, as
  // RGW takes them; S3 refuses them). A rule needs one or the other.
  enum class Form { kPrefix, kFilter };
  Form form = Form::kFilter;
  bool and_form = false;
  std::string prefix;
  std::vector<Tag> tags;
  std::optional<uint64_t> size_greater_than;
  std::optional<uint64_t> size_less_than;
  // Actions: 0 / nullopt / false where absent.
  int expiration_days = 0;
  std::optional<Clock::time_point> expiration_date;  // midnight UTC
  bool expired_object_delete_marker = false;
  int noncurrent_days = 0;
  int newer_noncurrent_versions = 0;  // how many noncurrent versions NoncurrentDays spares
  int abort_multipart_days = 0;
  friend bool operator==(const LifecycleRule&, const LifecycleRule&) = default;
};
// The rules of a <LifecycleConfiguration> document, checked as S3 checks them. kInvalidArgument
// "MalformedXML: ..." for a document that is not one (a Status other than Enabled or Disabled, a
// rule with both a Prefix and a Filter or neither, an element twice, an unknown element, a
// predicate twice (but tags), Days and Date in one Expiration, no rule or more than 1000),
// "InvalidArgument: ..." for values S3 refuses (an ID longer than 255 characters or given twice,
// Days that are not positive, a Date that is not midnight UTC, a rule without an action, tags with
// ExpiredObjectDeleteMarker or AbortIncompleteMultipartUpload), "InvalidTag: ..." for bad tags;
// kUnimplemented for transitions to other storage classes (depot keeps one).
Result<std::vector<LifecycleRule>> ParseLifecycleConfiguration(std::string_view body);
// The document again, on one line (what GetBucketLifecycleConfiguration answers, what depot
// stores).
std::string LifecycleConfigurationXml(std::span<const LifecycleRule> rules);

// The SSEAlgorithm of a PutBucketEncryption body's one rule (as written: the caller checks it).
// kInvalidArgument "MalformedXML: ..." for another document, no rule or more than one.
Result<std::string> ParseServerSideEncryptionConfiguration(std::string_view body);

// "2013-05-24T00:00:00.000Z" (fractional seconds optional).
Result<Clock::time_point> ParseIso8601(std::string_view text);
// "2013-05-24T00:00:00.000Z": UTC, milliseconds.
std::string FormatIso8601(Clock::time_point t);
// RFC 9110 IMF-fixdate: "Fri, 24 May 2013 00:00:00 GMT".
Result<Clock::time_point> ParseHttpDate(std::string_view text);
std::string FormatHttpDate(Clock::time_point t);

std::string XmlEscape(std::string_view text);
std::string Unquote(std::string_view etag);  // "\"abc\"" -> "abc"

}  // namespace depot::s3
