#include "depot/server/request_features.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

#include "depot/core/ascii.h"

namespace depot::server {
namespace {

bool OneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// x-amz-* headers depot honours whatever their value (the operations read and check them), or
// that are hints S3 itself acts on no differently (docs/decisions.md gives each one's reason).
bool KnownAmzHeader(std::string_view name) {
  return name.starts_with("x-amz-meta-") || name.starts_with("x-amz-copy-source-if-") ||
         name.starts_with("x-amz-grant-") ||
         OneOf(name, {
                         // Signing and framing (sigv4_verifier.h, chunked_payload.h).
                         "x-amz-date",
                         "x-amz-content-sha256",
                         "x-amz-decoded-content-length",
                         "x-amz-trailer",
                         // Copies (CopyObject, UploadPartCopy).
                         "x-amz-copy-source",
                         "x-amz-copy-source-range",
                         "x-amz-metadata-directive",
                         // Integrity: the body is checked against each before it is stored.
                         "x-amz-checksum-crc32",
                         "x-amz-checksum-crc32c",
                         "x-amz-checksum-crc64nvme",
                         "x-amz-checksum-sha1",
                         "x-amz-checksum-sha256",
                         // Hints: which algorithm the checksum header above uses, that the
                         // client would check checksums the response carries, the SDK's name.
                         "x-amz-sdk-checksum-algorithm",
                         "x-amz-checksum-algorithm",
                         "x-amz-checksum-type",
                         "x-amz-checksum-mode",
                         // GetObjectAttributes: what it answers, and its paging of the parts.
                         "x-amz-object-attributes",
                         "x-amz-max-parts",
                         "x-amz-part-number-marker",
                         "x-amz-user-agent",
                         // Deletes and retention changes of GOVERNANCE-locked versions.
                         "x-amz-bypass-governance-retention",
                         // ACLs and object ownership (acl.h, access.h).
                         "x-amz-acl",
                         "x-amz-object-ownership",
                         // Object tags and object lock (object_attributes.h).
                         "x-amz-tagging",
                         "x-amz-bucket-object-lock-enabled",
                         "x-amz-object-lock-mode",
                         "x-amz-object-lock-retain-until-date",
                         "x-amz-object-lock-legal-hold",
                         // Checked by AccessControl.
                         "x-amz-expected-bucket-owner",
                         "x-amz-source-expected-bucket-owner",
                     });
}

Status Refuse(std::string_view name, std::string_view value, std::string_view why) {
  return UnimplementedError(fmt::format(
      "NotImplemented: {}: {} \"{}\" is refused rather than ignored", why, name, value));
}

// The query parameters an operation on `resource` with `method` takes, besides SigV4's presigning
// parameters and "x-id" (the SDK's name of the operation).
bool TakesParameter(Resource resource, std::string_view method, std::string_view name) {
  if (name.starts_with("X-Amz-")) {
    return OneOf(name, {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                        "X-Amz-SignedHeaders", "X-Amz-Signature"});
  }
  if (name == "x-id") return true;
  switch (resource) {
    case Resource::kService:  // ListBuckets' paging
      return method == "GET" && OneOf(name, {"max-buckets", "continuation-token", "prefix"});
    case Resource::kBucket:
      if (method == "GET") {
        return OneOf(
            name,
            {// ListObjects V1 and V2
             "list-type", "prefix", "delimiter", "marker", "max-keys", "start-after",
             "continuation-token", "encoding-type", "fetch-owner", "allow-unordered",
             // ListMultipartUploads
             "uploads", "key-marker", "upload-id-marker", "max-uploads",
             // GetBucketLocation, GetBucketVersioning, GetBucketCors,
             // GetBucketTagging, GetBucketAcl, GetBucketOwnershipControls
             "location", "versioning", "cors", "tagging", "acl", "ownershipControls", "policy",
             "policyStatus", "publicAccessBlock", "object-lock", "lifecycle", "encryption",
             // ListObjectVersions
             "versions", "version-id-marker"});
      }
      if (method == "PUT") {  // PutBucket{Cors,Tagging,Versioning,Acl,OwnershipControls}
        return OneOf(name, {"cors", "tagging", "versioning", "acl", "ownershipControls", "policy",
                            "publicAccessBlock", "object-lock", "lifecycle", "encryption"});
      }
      if (method == "DELETE") {  // DeleteBucket{Cors,Tagging,OwnershipControls}
        return OneOf(name, {"cors", "tagging", "ownershipControls", "policy", "publicAccessBlock",
                            "lifecycle", "encryption"});
      }
      return method == "POST" && name == "delete";
    case Resource::kObject:
      if (method == "GET" || method == "HEAD") {
        const bool overrides =
            OneOf(name, {"response-content-type", "response-content-language", "response-expires",
                         "response-cache-control", "response-content-disposition",
                         "response-content-encoding"});
        // A version or part of the object (GetObject, HeadObject); GetObjectTagging (none kept),
        // GetObjectAttributes, GetObjectAcl, ListParts.
        return overrides || name == "partNumber" || name == "versionId" ||
               (method == "GET" &&
                OneOf(name, {"tagging", "attributes", "acl", "uploadId", "max-parts",
                             "part-number-marker", "retention", "legal-hold"}));
      }
      if (method == "PUT") {
        return OneOf(name, {"partNumber", "uploadId", "acl", "tagging", "versionId", "retention",
                            "legal-hold"});
      }
      if (method == "POST") return OneOf(name, {"uploads", "uploadId"});
      return method == "DELETE" && OneOf(name, {"uploadId", "versionId", "tagging"});
  }
  return false;
}

}  // namespace

Status RefuseUnhonoured(const RequestShape& request) {
  for (const auto& [name, value] : request.query) {
    if (!TakesParameter(request.resource, request.method, name)) {
      return UnimplementedError(fmt::format(
          "NotImplemented: query parameter {}=\"{}\" is not served on {} of {}; refused rather "
          "than ignored",
          name, value, request.method,
          request.resource == Resource::kService
              ? "the service"
              : (request.resource == Resource::kBucket ? "a bucket" : "an object")));
    }
  }
  for (const auto& [raw_name, raw_value] : request.headers) {
    const std::string name = AsciiLower(raw_name);
    const std::string value(TrimBlanks(raw_value));
    // Values that ask for exactly what depot does anyway.
    if (name == "x-amz-storage-class") {
      if (value == "STANDARD") continue;
      return Refuse(raw_name, raw_value, "storage classes other than STANDARD are not served");
    }
    if (name == "x-amz-tagging-directive") {
      if (value == "COPY" || value == "REPLACE") continue;
      return Refuse(raw_name, raw_value, "tagging directives other than COPY and REPLACE");
    }
    // Served on object writes and reads (encryption.h); refused on the rest.
    if (name.starts_with("x-amz-server-side-encryption")) {
      if (request.resource == Resource::kObject && request.method != "DELETE") continue;
      return Refuse(raw_name, raw_value, "server-side encryption is for objects");
    }
    if (name.starts_with("x-amz-copy-source-server-side-encryption")) {
      const bool part = std::any_of(request.query.begin(), request.query.end(),
                                    [](const auto& q) { return q.first == "uploadId"; });
      if (request.resource == Resource::kObject && request.method == "PUT" && !part) continue;
      return Refuse(raw_name, raw_value, "encrypted copy sources of parts are not served yet");
    }
    if (name == "x-amz-website-redirect-location") {
      return Refuse(raw_name, raw_value, "website redirects are not served");
    }
    if (name == "x-amz-request-payer") {
      return Refuse(raw_name, raw_value, "requester pays is not served");
    }
    if (name == "x-amz-mfa") return Refuse(raw_name, raw_value, "MFA delete is not served");
    if (name == "x-amz-write-offset-bytes") {
      return Refuse(raw_name, raw_value, "appends are not served");
    }
    if (name.starts_with("x-amz-") && !KnownAmzHeader(name)) {
      return Refuse(raw_name, raw_value, "a header depot serve does not know");
    }
  }
  return Status::Ok();
}

}  // namespace depot::server
