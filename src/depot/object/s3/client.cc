#include "depot/object/s3/client.h"

#include <fmt/format.h>
#include <strings.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "depot/core/base64.h"
#include "depot/core/md5.h"
#include "depot/s3/xml.h"

namespace depot::object::s3 {
namespace {

bool IsRetryableCode(std::string_view code) {
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
         code == "ServiceUnavailable" || code == "ConditionalRequestConflict" ||
         code == "BadDigest" || code == "XAmzContentSHA256Mismatch";
}

Status MapError(int status, const depot::s3::S3Error& error, std::string_view subject,
                bool retryable) {
  std::string detail = error.code.empty() ? fmt::format("HTTP {}", status) : error.code;
  if (!error.message.empty()) detail += ": " + error.message;
  if (!error.request_id.empty()) detail += fmt::format(" (request id {})", error.request_id);
  std::string message = fmt::format("{}: {}", subject, detail);
  const std::string& code = error.code;
  if (code == "BadDigest" || code == "XAmzContentSHA256Mismatch") return DataLossError(message);
  if (retryable) return UnavailableError(message);
  switch (status) {
    case 404:
      return NotFoundError(message);
    case 412:
      return FailedPreconditionError(message);
    case 416:
      return OutOfRangeError(message);
    case 403:
      if (code == "AccessDenied" || code.empty()) return PermissionDeniedError(message);
      return UnauthenticatedError(message);
    case 409:
      if (code == "BucketNotEmpty") return FailedPreconditionError(message);
      return AlreadyExistsError(message);
    case 501:
      return UnimplementedError(message);
    default:
      return InvalidArgumentError(message);
  }
}

}  // namespace

bool IsRetryable(const Status& status) {
  return status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kDataLoss;
}

S3Client::S3Client(S3ClientOptions options) : options_(std::move(options)), http_(options_.http) {}

std::pair<std::string, std::string> S3Client::Address(std::string_view bucket,
                                                      std::string_view key) const {
  std::string host = options_.endpoint.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // an IPv6 literal
  if (options_.endpoint.port) host += fmt::format(":{}", *options_.endpoint.port);
  std::string path = "/";
  if (bucket.empty()) return {host, path};
  if (options_.virtual_hosted) {
    host = fmt::format("{}.{}", bucket, host);
  } else {
    path += bucket;
    if (!key.empty()) path += "/";
  }
  path += key;
  return {host, path};
}

Result<http::Response> S3Client::Attempt(const S3Request& request, std::string_view subject,
                                         const Context& ctx) {
  auto [host, path] = Address(request.bucket, request.key);
  depot::s3::SignableRequest signable;
  signable.method = request.method;
  signable.host = host;
  signable.path = path;
  signable.query = request.query;
  signable.headers = request.headers;
  signable.payload_sha256 = options_.sign_payload ? depot::s3::Sha256Hex(request.body.view())
                                                  : std::string(depot::s3::kUnsignedPayload);
  DEPOT_ASSIGN_OR_RETURN(
      depot::s3::SignedRequest signed_request,
      depot::s3::SignHeaders(signable, options_.credentials, {.region = options_.region},
                             std::chrono::system_clock::now()));

  http::Request http;
  http.method = request.method;
  http.url = fmt::format("{}://{}{}", options_.endpoint.scheme, host, signed_request.target);
  http.headers = request.headers;
  http.headers.emplace_back("Host", host);
  for (auto& header : signed_request.headers) http.headers.push_back(std::move(header));
  http.body = request.body;

  DEPOT_ASSIGN_OR_RETURN(http::Response response, http_.Send(http, request.sink, ctx));
  bool success = (response.status >= 200 && response.status < 300) || response.status == 304;
  std::optional<depot::s3::S3Error> error;
  if (!success) {
    error = depot::s3::ParseError(response.body.view());
  } else if (request.may_carry_error_in_200) {
    error = depot::s3::ParseError(response.body.view());
    if (!error) return response;
  } else {
    return response;
  }
  depot::s3::S3Error e = error.value_or(depot::s3::S3Error{});
  if (e.request_id.empty()) {
    if (const std::string* id = response.Find("x-amz-request-id")) e.request_id = *id;
  }
  int status = response.status;
  bool retryable = status >= 500 || status == 429 || status == 408 || IsRetryableCode(e.code);
  return MapError(status, e, subject, retryable);
}

Result<http::Response> S3Client::Execute(const S3Request& request, std::string_view subject,
                                         const Context& ctx) {
  // An unsigned payload is covered by nothing else: Content-MD5 lets the service refuse a body
  // damaged on the way (BadDigest, retried). A signed one is checked against its SHA-256.
  std::optional<S3Request> with_md5;
  if (!options_.sign_payload && !request.body.empty() &&
      std::none_of(request.headers.begin(), request.headers.end(), [](const depot::s3::Header& h) {
        return strcasecmp(h.first.c_str(), "Content-MD5") == 0;
      })) {
    with_md5 = request;
    Md5 md5;
    md5.Update(request.body.view());
    const auto digest = md5.Finish();
    with_md5->headers.emplace_back(
        "Content-MD5", Base64Encode(std::string_view(reinterpret_cast<const char*>(digest.data()),
                                                     digest.size())));
  }
  const S3Request& sent = with_md5 ? *with_md5 : request;
  Backoff backoff(options_.retry);
  while (true) {
    DEPOT_RETURN_IF_ERROR(ctx.Check(subject));
    Result<http::Response> result = Attempt(sent, subject, ctx);
    if (result.ok() || !request.retry || request.sink != nullptr || !IsRetryable(result.status())) {
      return result;
    }
    std::optional<std::chrono::milliseconds> delay = backoff.Next();
    if (!delay) {
      return Status(result.status().code(),
                    fmt::format("{} (gave up after {} attempts)", result.status().message(),
                                backoff.attempts() + 1));
    }
    DEPOT_RETURN_IF_ERROR(ctx.SleepFor(*delay, subject));
  }
}

Result<std::string> S3Client::Presign(std::string_view method, std::string_view bucket,
                                      std::string_view key, std::chrono::seconds expires) {
  auto [host, path] = Address(bucket, key);
  depot::s3::SignableRequest signable;
  signable.method = std::string(method);
  signable.host = host;
  signable.path = path;
  DEPOT_ASSIGN_OR_RETURN(
      std::string target,
      depot::s3::Presign(signable, options_.credentials, {.region = options_.region},
                         std::chrono::system_clock::now(), expires));
  return fmt::format("{}://{}{}", options_.endpoint.scheme, host, target);
}

}  // namespace depot::object::s3
