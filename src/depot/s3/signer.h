// depot::s3 signer: AWS Signature Version 4 for S3, written from the specification.
//
// Signs a request either in headers (Authorization, x-amz-date, x-amz-content-sha256,
// x-amz-security-token) or as a presigned URL (X-Amz-* query parameters, payload UNSIGNED-PAYLOAD).
// The signer also produces the request target (encoded path and canonical query string) that the
// caller must send verbatim, so that what is signed and what goes on the wire cannot differ.
//
// S3 rules kept here: each path segment is URI-encoded once (RFC 3986 unreserved characters stay,
// '/' separates segments, everything else is %XX in upper-case hex); query names and values are
// encoded the same way ('/' encoded too) and sorted by encoded name, then encoded value (byte
// order); a parameter without a value ("?uploads") is signed and sent as "uploads="; header names
// are lower-cased, values trimmed and inner runs of blanks (spaces, tabs) folded to one space; a
// header given several times is signed as its values joined by ','; the host header is always
// signed.
//
// Failures are kInvalidArgument naming the offending value (never a secret or session token), and
// nothing is signed: see SignHeaders for the list.
//
// Pure functions of their inputs (the time is a parameter): thread-safe, no global state.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/result.h"
#include "depot/s3/credentials.h"

namespace depot::s3 {

using Header = std::pair<std::string, std::string>;

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// SHA-256 of the empty string, the payload hash of a bodiless request.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SignableRequest {
  std::string method;  // "GET", "PUT", ...
  std::string host;    // the Host header as sent: "127.0.0.1:7480", "bucket.s3.amazonaws.com"
  std::string path;    // decoded absolute path: "/bucket/a key+1" (encoded by the signer)
  // Decoded names and values, in any order; an empty value is a bare subresource ("uploads").
  std::vector<Header> query;
  // Headers to sign besides host and the x-amz-* the signer adds (content-md5, content-type,
  // range, if-match, x-amz-meta-*, ...). Names in any case.
  std::vector<Header> headers;
  // Lower-case hex SHA-256 of the body, or kUnsignedPayload. Ignored by Presign.
  std::string payload_sha256 = std::string(kUnsignedPayload);
};

struct SignedRequest {
  // Encoded path plus "?" and the canonical query string when there is one: the request target.
  std::string target;
  // Headers to add to the request: x-amz-date, x-amz-content-sha256, x-amz-security-token (with
  // a session token), Authorization. Host is not among them: the HTTP client sends it.
  std::vector<Header> headers;
};

struct SigningScope {
  std::string region = "us-east-1";
  std::string service = "s3";
};

// Signs in headers. kInvalidArgument for an empty method, host or path, a path not starting with
// '/', or credentials without an access key or secret; also for a method or header name that is not
// an HTTP token, a host with blanks, controls, non-ASCII or any of "/?#@", a header value holding
// a control character other than tab (CR and LF included), a session token holding anything but
// printable ASCII without blanks, a header the signer or the HTTP client sets itself (host,
// authorization, x-amz-date, x-amz-content-sha256, x-amz-security-token), a query parameter with an
// empty name or named like a presigning parameter (X-Amz-Algorithm, -Credential, -Date, -Expires,
// -SignedHeaders, -Security-Token, -Signature, in any case), a payload hash that is neither
// kUnsignedPayload nor 64 lower-case hex digits, an access key id with blanks, controls, non-ASCII,
// '/', ',' or '=', a region or service outside [A-Za-z0-9._-]+, or a time outside years 1970..9999.
Result<SignedRequest> SignHeaders(const SignableRequest& request, const Credentials& credentials,
                                  const SigningScope& scope,
                                  std::chrono::system_clock::time_point now);

// A presigned URL's target (path and query, with X-Amz-Algorithm, -Credential, -Date, -Expires,
// -SignedHeaders, -Security-Token when needed, and -Signature last). The signed headers are host
// and request.headers, which the user of the URL must then send with the same values.
// kInvalidArgument as for SignHeaders (the payload hash is not looked at: it is always
// UNSIGNED-PAYLOAD), for a query parameter named like one of the X-Amz-* above (in any case),
// and for `expires` outside 1 s .. 7 days.
Result<std::string> Presign(const SignableRequest& request, const Credentials& credentials,
                            const SigningScope& scope, std::chrono::system_clock::time_point now,
                            std::chrono::seconds expires);

// Building blocks, exposed for tests and for the server's verifier. They do not validate.

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept, '/' kept unless
// `encode_slash`, every other byte %XX in upper-case hex.
std::string UriEncode(std::string_view s, bool encode_slash);
// The canonical request of `request`. The signed headers are host (request.host), request.headers
// and extra_signed_headers (none of them may be host), plus x-amz-date = `amz_date` when it is not
// empty (header signing; a presigned request carries its date in the query instead, so passes "").
std::string CanonicalRequest(const SignableRequest& request, std::string_view amz_date,
                             const std::vector<Header>& extra_signed_headers);
// The signature (lower-case hex) of `canonical_request` made at `amz_date` ("20130524T000000Z")
// in `scope` with the secret access key `secret`.
std::string SignatureOf(std::string_view secret, const SigningScope& scope,
                        std::string_view amz_date, std::string_view canonical_request);
// The derived signing key (32 raw bytes) for `secret` on amz_date's day in `scope`.
std::string SigningKey(std::string_view secret, const SigningScope& scope,
                       std::string_view amz_date);
// Lower-case hex HMAC-SHA256 of `data` under `key`.
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// "20130524/us-east-1/s3/aws4_request".
std::string CredentialScope(std::string_view amz_date, const SigningScope& scope);
// Lower-case hex SHA-256.
std::string Sha256Hex(std::string_view data);
// "20130524T000000Z": UTC, whole seconds (truncated); for years 0..9999.
std::string FormatAmzDate(std::chrono::system_clock::time_point t);

}  // namespace depot::s3
