// depot::s3::VerifySigV4: checks an incoming S3 request's AWS Signature Version 4, in the
// Authorization header or in a presigned URL's query, the way S3 does.
//
//   DEPOT_ASSIGN_OR_RETURN(Authenticated who,
//                          VerifySigV4(request, secrets, std::chrono::system_clock::now()));
//
// The canonical request is rebuilt from what arrived (method, the request target decoded and
// encoded again the one way SigV4 allows, the headers the client says it signed) with the
// signer's own building blocks (object/s3/signer.h), and signed with the secret `secrets` holds
// for the access key. The body is not read here: `payload_sha256` tells the server what to check
// it against (a hex SHA-256, UNSIGNED-PAYLOAD, or STREAMING-AWS4-HMAC-SHA256-PAYLOAD for
// aws-chunked bodies, whose chunk signatures chain from `signature`).
//
// Failures carry S3's error code first in the message ("SignatureDoesNotMatch: ..."), so the
// server can answer with the error AWS would give:
//   AccessDenied (kPermissionDenied): no credentials at all; a presigned URL that has expired or
//     is not valid yet;
//   InvalidAccessKeyId (kUnauthenticated): an access key `secrets` does not know;
//   SignatureDoesNotMatch (kUnauthenticated): anything signed differs, or the wrong secret;
//   RequestTimeTooSkewed (kUnauthenticated): x-amz-date more than `max_skew` from now (this is
//     also what refuses a request replayed later);
//   AuthorizationHeaderMalformed, AuthorizationQueryParametersError (kInvalidArgument): the
//     Authorization header or the X-Amz-* parameters cannot be parsed, or name another algorithm,
//     service or region; AuthorizationQueryParametersError (kPermissionDenied, 403 as on S3): an
//     X-Amz-Expires over a week;
//   InvalidRequest (kInvalidArgument): a header-signed request without x-amz-content-sha256.
// Pure function of its inputs: thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"
#include "depot/s3/signer.h"

namespace depot::s3 {

struct IncomingRequest {
  std::string method;
  std::string target;               // the request target as received: "/bucket/a%20key?uploads="
  std::vector<s3::Header> headers;  // as received; names in any case
};

// A request target, percent-decoded: the path, and the query's name/value pairs in order.
struct RequestTarget {
  std::string path;
  std::vector<s3::Header> query;
};

// The target as received ("/bucket/a%20key?uploads="), decoded; kInvalidArgument when its
// percent-encoding is broken.
Result<RequestTarget> ParseRequestTarget(std::string_view target);

struct Authenticated {
  RequestTarget target;  // the request's target, decoded once here for the server
  std::string access_key;
  std::string region;          // from the credential scope
  std::string payload_sha256;  // what the body must hash to, or UNSIGNED-PAYLOAD / STREAMING-...
  std::string amz_date;        // "20130524T000000Z"
  std::string signature;       // the request's signature: the seed of aws-chunked signatures
  std::string signing_key;     // derived key (raw bytes) that signs the chunks of aws-chunked
  bool presigned = false;
};

// The secret for an access key, or nullopt when the key is unknown.
using SecretLookup = std::function<std::optional<std::string>(std::string_view access_key)>;

struct VerifyOptions {
  std::string region;  // empty: any region the client signed for
  std::chrono::seconds max_skew{15 * 60};
};

// Equal strings, compared in a time that depends only on their lengths (for signatures).
bool ConstantTimeEqual(std::string_view a, std::string_view b);

Result<Authenticated> VerifySigV4(const IncomingRequest& request, const SecretLookup& secrets,
                                  std::chrono::system_clock::time_point now,
                                  const VerifyOptions& options = {});

}  // namespace depot::s3
