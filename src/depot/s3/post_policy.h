// depot::s3 browser uploads: the form of a POST Object request (an HTML form that uploads a file
// straight to a bucket) checked against the SigV4-signed policy document it carries, as S3 checks
// it. This is how a web application lets a browser upload without holding credentials: it signs
// a policy (expiration, bucket, key prefix, size range, content type...) and hands the form out.
//
// A form passes when:
//   - it carries policy (base64 JSON), x-amz-algorithm AWS4-HMAC-SHA256, x-amz-credential
//     (ACCESS/DATE/REGION/s3/aws4_request), x-amz-date and x-amz-signature, the hex HMAC-SHA256
//     of the base64 policy under the SigV4 signing key of the credential's scope; or, signed the
//     older way that S3 still takes for forms, AWSAccessKeyId and signature, the base64
//     HMAC-SHA1 of the base64 policy under the user's secret;
//   - the policy has not expired (its "expiration", ISO 8601);
//   - every condition holds: {"field": "value"} and ["eq", "$field", "value"] (exact),
//     ["starts-with", "$field", "prefix"] ("" matches anything), ["content-length-range", min,
//     max] (the file's size, checked as it arrives: see PostGrant), {"bucket": "..."};
//   - every form field but x-amz-signature (or AWSAccessKeyId and signature), policy, file and
//     x-ignore-* is named by a condition.
// Field names compare case-insensitively (forms are lower-cased here); values exactly. The key's
// "${filename}" is replaced by the uploaded file's name first.
//
// Errors name what failed: kUnauthenticated "SignatureDoesNotMatch: ..." or
// "InvalidAccessKeyId: ..."; kPermissionDenied "AccessDenied: Invalid according to Policy: ..."
// (expired, or the condition that failed, or the field no condition covers); kInvalidArgument
// "InvalidPolicyDocument: ..." or "InvalidArgument: ..." for what is missing or malformed.
// Pure functions: thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "depot/core/result.h"
#include "depot/s3/sigv4_verifier.h"

namespace depot::s3 {

// The form's fields before the file, names lower-cased.
using PostFields = std::map<std::string, std::string>;

// What a verified form allows: the user who signed, the key, the size range of the file.
struct PostGrant {
  std::string access_key;
  std::string key;
  uint64_t min_length = 0;
  uint64_t max_length = UINT64_MAX;
};

Result<PostGrant> VerifyPostForm(const PostFields& fields, std::string_view bucket,
                                 std::string_view filename, const SecretLookup& secrets,
                                 std::chrono::system_clock::time_point now);

// A policy and the form fields that sign it, as a web application makes them (tests, and
// depot's own users): `conditions` is the JSON array's text.
struct PostSigning {
  std::string policy;  // base64
  std::string credential;
  std::string amz_date;
  std::string signature;
};
PostSigning SignPostPolicy(std::string_view access_key, std::string_view secret,
                           std::string_view region, std::string_view conditions,
                           std::chrono::system_clock::time_point now, std::chrono::seconds expires);

}  // namespace depot::s3
