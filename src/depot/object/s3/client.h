// depot::object::s3::S3Client: one S3 request at a time, done properly: addressed (path-style or
// virtual-hosted), signed (SigV4, re-signed on every attempt), sent over the pooled http::Client,
// retried, and its failure mapped to a depot Status. Internal to the S3 backend.
//
// Retries: jittered exponential backoff bounded by BackoffOptions (attempts and total time), on
// transport failures, 5xx, 429, RequestTimeout, SlowDown, and BadDigest / content-SHA-256
// mismatches (a body corrupted on the way; the body held here is the right one). Other 4xx are
// never retried. A 200 response whose body is an <Error> document (CompleteMultipartUpload and
// CopyObject may send one) is treated as that error when the request says it may carry one.
//
// Error mapping (the message names the operation's subject, S3's code, message and request id):
//   404 NoSuchKey / NoSuchBucket / NoSuchUpload -> kNotFound; 412 PreconditionFailed ->
//   kFailedPrecondition; 416 InvalidRange -> kOutOfRange; 403 SignatureDoesNotMatch,
//   InvalidAccessKeyId, RequestTimeTooSkewed, ExpiredToken -> kUnauthenticated; other 403 ->
//   kPermissionDenied; 409 BucketAlreadyExists / BucketAlreadyOwnedByYou -> kAlreadyExists;
//   BucketNotEmpty -> kFailedPrecondition; 501 -> kUnimplemented; BadDigest and SHA-256
//   mismatches -> kDataLoss; retryable failures after the last attempt -> kUnavailable; other 4xx
//   -> kInvalidArgument. 304 is a success: the caller looks at the status.
//
// Thread-safe: any number of concurrent Execute()s.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/backoff.h"
#include "depot/core/bytes.h"
#include "depot/core/result.h"
#include "depot/core/url.h"
#include "depot/http/client.h"
#include "depot/s3/credentials.h"
#include "depot/s3/signer.h"

namespace depot::object::s3 {

struct S3ClientOptions {
  Url endpoint;  // scheme, host and port only
  std::string region = "us-east-1";
  depot::s3::Credentials credentials;
  bool virtual_hosted = false;  // bucket.host/key instead of host/bucket/key
  bool sign_payload = true;     // SHA-256 of every body in the signature, checked by the service
  http::ClientOptions http;
  BackoffOptions retry;
};

struct S3Request {
  std::string method;
  std::string bucket;  // empty: the service itself (ListBuckets)
  std::string key;     // empty: the bucket
  std::vector<depot::s3::Header> query;
  std::vector<depot::s3::Header> headers;
  Bytes body;
  // Where a 2xx body goes; a request with a sink is tried once (the caller resumes).
  http::BodySink* sink = nullptr;
  bool may_carry_error_in_200 = false;
  bool retry = true;
};

class S3Client {
 public:
  explicit S3Client(S3ClientOptions options);

  // The response of the last attempt when its status is 2xx or 304, else the mapped error.
  // `subject` names what the request is about in messages ("s3://bucket/key").
  // Every attempt runs under `ctx`, and the backoff between attempts sleeps through it.
  Result<http::Response> Execute(const S3Request& request, std::string_view subject,
                                 const Context& ctx);

  // A presigned URL for `method` on bucket/key, valid for `expires`.
  Result<std::string> Presign(std::string_view method, std::string_view bucket,
                              std::string_view key, std::chrono::seconds expires);

  const S3ClientOptions& options() const { return options_; }

 private:
  Result<http::Response> Attempt(const S3Request& request, std::string_view subject,
                                 const Context& ctx);
  // Host header value and decoded path for a bucket and key.
  std::pair<std::string, std::string> Address(std::string_view bucket, std::string_view key) const;

  S3ClientOptions options_;
  http::Client http_;
};

// kUnavailable and kDataLoss from Execute are worth another attempt.
bool IsRetryable(const Status& status);

}  // namespace depot::object::s3
