// The S3 backend: each ObjectStore call is one or a few S3 REST requests (client.h does the
// addressing, signing, retries and error mapping).
//
// Consistency protocol. S3 itself provides the atomicity depot promises: a PUT, a completed
// multipart upload or a copy replaces the object whole; conditional writes use the service's
// If-None-Match: * and If-Match, so they are atomic wherever the service honours them (and
// refused with kUnimplemented where options say it does not). Nothing is staged on the client:
// a crash of this process leaves, at worst, an incomplete multipart upload, which
// ListMultipartUploads shows and AbortMultipart removes (BufferedUpload aborts its own on every
// failure path). Retries never change the outcome of an unconditional write; a conditional write
// whose first attempt succeeded but whose response was lost can come back as
// kAlreadyExists / kFailedPrecondition on the retry (the same ambiguity every S3 client has).
//
// Reads are verified: the body length must equal Content-Length and the Content-Range asked for;
// a whole single-part object must hash to its MD5 ETag. A body that breaks off is resumed from the
// first missing byte with If-Match on the ETag of the first response, so a resumed read never
// splices two versions of an object.
#include "depot/object/s3/s3_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "depot/core/ascii.h"
#include "depot/core/base64.h"
#include "depot/core/byte_buffer.h"
#include "depot/core/checksum.h"
#include "depot/core/md5.h"
#include "depot/core/mutex.h"
#include "depot/object/backend_util.h"
#include "depot/object/open.h"
#include "depot/object/prefix_store.h"
#include "depot/object/s3/client.h"

namespace depot::object {
namespace {

using depot::s3::Header;
using http::Response;
using s3::S3Request;

constexpr uint64_t kMaxSinglePut = 5ull << 30;
constexpr uint64_t kMaxPartSize = 5ull << 30;
constexpr int kMaxParts = 10'000;
constexpr size_t kDeleteBatch = 1000;
constexpr size_t kMaxListKeys = 1000;
// Continuation tokens handed out by List wrap the service's own, so a token that did not come
// from here is refused instead of being passed on (where a gateway may read it as a key).
constexpr std::string_view kTokenPrefix = "s3:";

std::string QuoteEtag(std::string_view etag) {
  if (etag == "*" || (etag.size() >= 2 && etag.front() == '"')) return std::string(etag);
  return fmt::format("\"{}\"", etag);
}

bool IsMd5Etag(std::string_view etag) {
  return etag.size() == 32 &&
         std::all_of(etag.begin(), etag.end(), [](char c) { return std::isxdigit(c) != 0; });
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Metadata travels in HTTP headers: names must be tokens, values printable ASCII.
Status ValidatePutOptions(std::string_view key, const PutOptions& options) {
  for (const auto& [name, value] : options.user_metadata) {
    bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (!token) {
      return InvalidArgumentError(
          fmt::format("{}: metadata name \"{}\" is not an HTTP token (letters, digits, - _ .)",
                      QuoteKey(key), name));
    }
    if (!IsPrintableAscii(value)) {
      return InvalidArgumentError(
          fmt::format("{}: metadata \"{}\" has a value S3 cannot carry (printable ASCII only)",
                      QuoteKey(key), name));
    }
  }
  if (!IsPrintableAscii(options.content_type)) {
    return InvalidArgumentError(fmt::format("{}: content type \"{}\" is not printable ASCII",
                                            QuoteKey(key), options.content_type));
  }
  for (const auto& [name, member] : kObjectHeaderFields) {
    if (!IsPrintableAscii(options.headers.*member)) {
      return InvalidArgumentError(fmt::format("{}: {} \"{}\" is not printable ASCII", QuoteKey(key),
                                              name, options.headers.*member));
    }
  }
  return Status::Ok();
}

// The algorithm as S3 names it ("crc32c": "CRC32C"); kInvalidArgument for what S3 does not name.
Result<std::string> AlgorithmName(std::string_view subject, std::string_view algorithm) {
  const auto known = PayloadChecksum::FromName(algorithm);
  if (!known) {
    return InvalidArgumentError(
        fmt::format("{}: checksum algorithm \"{}\" is not CRC32, CRC32C, CRC64NVME, SHA1 or SHA256",
                    subject, algorithm));
  }
  return std::string(PayloadChecksum::Name(*known));
}

// The header that carries a checksum of `algorithm` (S3's name: "CRC32" is x-amz-checksum-crc32).
std::string ChecksumHeader(std::string_view algorithm) {
  return "x-amz-checksum-" + ToLower(algorithm);
}

// The checksum of the algorithm named, with its type where the service gave it. Where it did not,
// a multipart object's is taken as composite (S3 writes those "<base64>-<parts>", but a service
// may leave the suffix out), so it is never checked against the whole object's bytes.
Checksum MakeChecksum(std::string algorithm, std::string value, std::string_view type,
                      bool multipart) {
  const bool composite =
      type.empty() ? multipart || value.find('-') != std::string::npos : type == "COMPOSITE";
  return {std::move(algorithm), std::move(value), composite};
}

// The object's checksum among a response's headers (x-amz-checksum-mode, or a PUT's echo).
Checksum ChecksumFromHeaders(const http::Response& response, bool multipart) {
  using Algorithm = PayloadChecksum::Algorithm;
  for (Algorithm algorithm : {Algorithm::kCrc32, Algorithm::kCrc32c, Algorithm::kCrc64Nvme,
                              Algorithm::kSha1, Algorithm::kSha256}) {
    const std::string name(PayloadChecksum::Name(algorithm));
    if (const std::string* value = response.Find(ChecksumHeader(name))) {
      const std::string* type = response.Find("x-amz-checksum-type");
      return MakeChecksum(name, *value, type != nullptr ? *type : "", multipart);
    }
  }
  return {};
}

void AddPutHeaders(const PutOptions& options, std::vector<depot::s3::Header>& headers) {
  if (!options.content_type.empty()) headers.emplace_back("Content-Type", options.content_type);
  const Checksum& checksum = options.checksum;
  // The algorithm was checked (ObjectStore::Put and CreateMultipart); S3 takes its own spelling.
  const auto algorithm = PayloadChecksum::FromName(checksum.algorithm);
  const std::string name = algorithm ? std::string(PayloadChecksum::Name(*algorithm)) : "";
  if (!checksum.empty() && checksum.value.empty()) {  // CreateMultipart: the algorithm and type
    headers.emplace_back("x-amz-checksum-algorithm", name);
    headers.emplace_back("x-amz-checksum-type", checksum.composite ? "COMPOSITE" : "FULL_OBJECT");
  } else if (!checksum.empty()) {
    headers.emplace_back(ChecksumHeader(name), checksum.value);
  }
  for (const auto& [name, member] : kObjectHeaderFields) {
    if (!(options.headers.*member).empty()) headers.emplace_back(name, options.headers.*member);
  }
  for (const auto& [name, value] : options.user_metadata) {
    headers.emplace_back("x-amz-meta-" + ToLower(name), value);
  }
}

// PutMode::kUnlessEtag: AWS refuses If-None-Match with an ETag on writes, and RGW 16 answers it
// wrongly (412 for a missing key, and the write goes ahead over the very ETag named), so no S3
// service can be trusted with it atomically.
Status UnimplementedUnlessEtag(std::string_view key) {
  return UnimplementedError(fmt::format(
      "{}: a write unless the object is at an ETag (If-None-Match: ETAG) is not something S3 "
      "services do reliably",
      QuoteKey(key)));
}

// A failed write condition, in depot's terms: create-only on an existing key is kAlreadyExists.
Status ConditionFailed(const Status& status, std::string_view subject, const PutOptions& options) {
  if (options.mode == PutMode::kCreate && status.code() == StatusCode::kFailedPrecondition) {
    return AlreadyExistsError(fmt::format("{}: already exists", subject));
  }
  if (options.mode == PutMode::kUpdate && status.code() == StatusCode::kNotFound) {
    return FailedPreconditionError(
        fmt::format("{}: no object to update (If-Match \"{}\")", subject, options.if_match));
  }
  return status;
}

Result<uint64_t> ParseNumber(std::string_view text, std::string_view what) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return DataLossError(fmt::format("S3 sent a malformed {}: \"{}\"", what, text));
  }
  return value;
}

// "bytes FIRST-LAST/TOTAL"
Result<std::pair<ResolvedRange, uint64_t>> ParseContentRange(std::string_view text) {
  auto bad = [&] {
    return DataLossError(fmt::format("S3 sent a malformed Content-Range \"{}\"", text));
  };
  if (!text.starts_with("bytes ")) return bad();
  text.remove_prefix(6);
  size_t dash = text.find('-');
  size_t slash = text.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return bad();
  }
  auto first = ParseNumber(text.substr(0, dash), "Content-Range");
  auto last = ParseNumber(text.substr(dash + 1, slash - dash - 1), "Content-Range");
  auto total = ParseNumber(text.substr(slash + 1), "Content-Range");
  if (!first.ok() || !last.ok() || !total.ok() || *last < *first || *last >= *total) return bad();
  return std::make_pair(ResolvedRange{*first, *last + 1}, *total);
}

Result<ObjectMeta> MetaFromHeaders(std::string_view key, const http::Response& response) {
  ObjectMeta meta;
  meta.key = std::string(key);
  if (const std::string* etag = response.Find("etag")) meta.etag = depot::s3::Unquote(*etag);
  if (const std::string* modified = response.Find("last-modified")) {
    auto parsed = depot::s3::ParseHttpDate(*modified);
    if (parsed.ok()) meta.last_modified = *parsed;
  }
  if (const std::string* type = response.Find("content-type")) meta.content_type = *type;
  for (const auto& [name, member] : kObjectHeaderFields) {
    if (const std::string* value = response.Find(ToLower(name))) meta.headers.*member = *value;
  }
  if (const std::string* version = response.Find("x-amz-version-id")) meta.version = *version;
  for (const auto& [name, value] : response.headers) {
    if (name.starts_with("x-amz-meta-")) meta.user_metadata[name.substr(11)] = value;
  }
  if (const std::string* length = response.Find("content-length")) {
    DEPOT_ASSIGN_OR_RETURN(meta.size, ParseNumber(*length, "Content-Length"));
  }
  // A ranged response may carry a part's checksum, which is not the object's.
  if (response.status != 206) {
    meta.checksum = ChecksumFromHeaders(response, meta.etag.find('-') != std::string::npos);
  }
  return meta;
}

// DataLoss unless a whole object's bytes match what the service says of them: its MD5 ETag (a
// single-part object) and, when the whole object was asked for (no Range), its full-object
// checksum (x-amz-checksum-mode).
Status CheckWholeObject(std::string_view subject, const GetResult& result, bool asked_whole) {
  const ObjectMeta& meta = result.meta;
  if (IsMd5Etag(meta.etag) && Md5::HexOf(result.data.view()) != ToLower(meta.etag)) {
    return DataLossError(fmt::format("{}: the bytes received do not match the object's MD5 ETag {}",
                                     subject, meta.etag));
  }
  const auto algorithm = PayloadChecksum::FromName(meta.checksum.algorithm);
  if (asked_whole && algorithm && !meta.checksum.composite) {
    PayloadChecksum sum(*algorithm);
    sum.Update(result.data.view());
    if (sum.Base64Finish() != meta.checksum.value) {
      return DataLossError(fmt::format("{}: the bytes received do not match the object's {} {}",
                                       subject, meta.checksum.algorithm, meta.checksum.value));
    }
  }
  return Status::Ok();
}

// A read's preconditions, and x-amz-checksum-mode where the service keeps checksums.
std::vector<depot::s3::Header> ReadHeaders(const GetOptions& options, bool checksum_mode) {
  std::vector<depot::s3::Header> headers;
  if (checksum_mode) headers.emplace_back("x-amz-checksum-mode", "ENABLED");
  if (options.if_match) headers.emplace_back("If-Match", QuoteEtag(*options.if_match));
  if (options.if_none_match) {
    headers.emplace_back("If-None-Match", QuoteEtag(*options.if_none_match));
  }
  if (options.if_modified_since) {
    headers.emplace_back("If-Modified-Since",
                         depot::s3::FormatHttpDate(*options.if_modified_since));
  }
  if (options.if_unmodified_since) {
    headers.emplace_back("If-Unmodified-Since",
                         depot::s3::FormatHttpDate(*options.if_unmodified_since));
  }
  return headers;
}

// Receives a GET body into one buffer across attempts: the first response fixes the object (size,
// ETag) and the range; a resumed response must continue exactly where the bytes stopped.
class GetSink final : public http::BodySink {
 public:
  GetSink(std::string key, ByteRange requested) : key_(std::move(key)), requested_(requested) {}

  Status Begin(const http::Response& head) override {
    if (!started_) return First(head);
    // A resumed response: 206 with the range starting at the first missing byte.
    const std::string* content_range = head.Find("content-range");
    if (head.status != 206 || content_range == nullptr) {
      return DataLossError(
          fmt::format("{}: resumed read got HTTP {} without a range", QuoteKey(key_), head.status));
    }
    DEPOT_ASSIGN_OR_RETURN(auto parsed, ParseContentRange(*content_range));
    if (parsed.first.begin != range_.begin + buffer_.size() || parsed.second != meta_.size) {
      return DataLossError(
          fmt::format("{}: resumed read got \"{}\"", QuoteKey(key_), *content_range));
    }
    skip_ = 0;
    return Status::Ok();
  }

  Status Append(std::string_view data) override {
    size_t skipped = std::min<uint64_t>(skip_, data.size());
    skip_ -= skipped;
    data.remove_prefix(skipped);
    size_t take = std::min(data.size(), buffer_.remaining());
    buffer_.Append(data.substr(0, take));
    return Status::Ok();
  }

  void Reset() {
    started_ = false;
    skip_ = 0;
    buffer_ = ByteBuffer();
  }
  bool started() const { return started_; }
  bool complete() const { return started_ && buffer_.size() == buffer_.capacity(); }
  uint64_t next_offset() const { return range_.begin + buffer_.size(); }
  const ResolvedRange& range() const { return range_; }
  ObjectMeta& meta() { return meta_; }
  Bytes Take() { return std::move(buffer_).Freeze(); }

 private:
  Status First(const http::Response& head) {
    DEPOT_ASSIGN_OR_RETURN(meta_, MetaFromHeaders(key_, head));
    if (head.status == 206) {
      const std::string* content_range = head.Find("content-range");
      if (content_range == nullptr) {
        return DataLossError(fmt::format("{}: HTTP 206 without Content-Range", QuoteKey(key_)));
      }
      DEPOT_ASSIGN_OR_RETURN(auto parsed, ParseContentRange(*content_range));
      range_ = parsed.first;
      meta_.size = parsed.second;
      skip_ = 0;
    } else {
      // The whole object (the service may ignore a Range header): keep the part asked for.
      DEPOT_ASSIGN_OR_RETURN(range_, requested_.Validate(meta_.size));
      skip_ = range_.begin;
    }
    buffer_ = ByteBuffer(range_.length(), ByteBuffer::Fill::kWhole);
    started_ = true;
    return Status::Ok();
  }

  std::string key_;
  ByteRange requested_;
  bool started_ = false;
  ObjectMeta meta_;
  ResolvedRange range_;
  uint64_t skip_ = 0;  // bytes of the current response before the range
  ByteBuffer buffer_;
};

}  // namespace

S3Store::S3Store(S3StoreOptions options, std::unique_ptr<s3::S3Client> client)
    : options_(std::move(options)), client_(std::move(client)) {}

S3Store::~S3Store() = default;

Result<std::shared_ptr<S3Store>> S3Store::Open(S3StoreOptions options) {
  if (options.bucket.empty()) return InvalidArgumentError("S3 store: no bucket given");
  if (options.min_part_size < 1 || options.min_part_size > kMaxPartSize) {
    return InvalidArgumentError(
        fmt::format("S3 store: min_part_size {} is outside 1..5 GiB", options.min_part_size));
  }
  if (options.max_single_copy < 1 || options.max_single_copy > kMaxSinglePut) {
    return InvalidArgumentError(
        fmt::format("S3 store: max_single_copy {} is outside 1..5 GiB", options.max_single_copy));
  }
  if (options.max_connections < 1) {
    return InvalidArgumentError(
        fmt::format("S3 store: max_connections {} must be at least 1", options.max_connections));
  }
  s3::S3ClientOptions client;
  DEPOT_ASSIGN_OR_RETURN(client.region, depot::s3::ResolveRegion(options.credentials));
  std::string endpoint = options.endpoint;
  if (endpoint.empty()) endpoint = fmt::format("https://s3.{}.amazonaws.com", client.region);
  DEPOT_ASSIGN_OR_RETURN(client.endpoint, Url::Parse(endpoint));
  if ((client.endpoint.scheme != "http" && client.endpoint.scheme != "https") ||
      client.endpoint.host.empty() ||
      (!client.endpoint.path.empty() && client.endpoint.path != "/") ||
      !client.endpoint.query.empty()) {
    return InvalidArgumentError(fmt::format(
        "S3 endpoint \"{}\" must be http(s)://host[:port] with no path or query", endpoint));
  }
  // Credentials last: a malformed option is reported as such, even where no credentials exist.
  DEPOT_ASSIGN_OR_RETURN(client.credentials, depot::s3::ResolveCredentials(options.credentials));
  switch (options.addressing) {
    case S3Addressing::kAuto:
      client.virtual_hosted = options.endpoint.empty();
      break;
    case S3Addressing::kPath:
      client.virtual_hosted = false;
      break;
    case S3Addressing::kVirtualHosted:
      client.virtual_hosted = true;
      break;
  }
  client.sign_payload = options.sign_payload;
  client.http.connect_timeout = options.connect_timeout;
  client.http.idle_timeout = options.idle_timeout;
  client.http.max_idle_handles = options.max_connections;
  client.http.ca_file = options.ca_file;
  if (const char* bundle = std::getenv("AWS_CA_BUNDLE"); client.http.ca_file.empty() && bundle) {
    client.http.ca_file = bundle;
  }
  client.retry = options.retry;
  auto made = std::make_unique<s3::S3Client>(std::move(client));
  return std::shared_ptr<S3Store>(new S3Store(std::move(options), std::move(made)));
}

std::string S3Store::Subject(std::string_view key) const {
  return fmt::format("s3://{}/{}", options_.bucket, QuoteKey(key));
}

Capabilities S3Store::capabilities() const {
  Capabilities caps;
  caps.conditional_put = options_.conditional_put;
  caps.multipart = true;
  caps.delimiter_list = true;
  caps.copy = true;
  caps.buckets = true;
  caps.min_part_size = options_.min_part_size;
  caps.max_part_size = kMaxPartSize;
  caps.max_parts = kMaxParts;
  caps.max_delete_batch = kDeleteBatch;
  caps.retries_transient = options_.retry.max_attempts > 1;
  caps.checksums = options_.checksums;
  return caps;
}

std::string S3Store::ToString() const {
  const s3::S3ClientOptions& client = client_->options();
  return fmt::format("s3://{}?endpoint={}&region={}{}", options_.bucket,
                     PercentEncode(client.endpoint.ToString(), "/:"), client.region,
                     options_.checksums ? "&checksums=1" : "");
}

Result<PutResult> S3Store::DoPut(std::string_view key, Bytes data, const PutOptions& options,
                                 const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  DEPOT_RETURN_IF_ERROR(ValidatePutOptions(key, options));
  if (options.mode != PutMode::kOverwrite && !options_.conditional_put) {
    return UnimplementedError(
        fmt::format("{}: conditional put is off for this store (conditional_put=0)", Subject(key)));
  }
  if (options.mode == PutMode::kUnlessEtag) {
    return UnimplementedUnlessEtag(key);
  }
  if (data.size() > kMaxSinglePut) {
    return InvalidArgumentError(
        fmt::format("{}: {} bytes is more than one S3 PUT takes (5 GiB); use a multipart upload",
                    Subject(key), data.size()));
  }
  if (options.checksum.composite) {
    return UnimplementedError(fmt::format(
        "{}: S3 makes a composite checksum ({}) only when it completes a multipart upload; a PUT "
        "cannot carry one",
        Subject(key), options.checksum.value));
  }
  S3Request request{.method = "PUT", .bucket = options_.bucket, .key = std::string(key)};
  AddPutHeaders(options, request.headers);
  request.body = std::move(data);
  auto response = ExecuteWrite(std::move(request), key, options, Subject(key), true, ctx);
  if (!response.ok()) return response.status();
  PutResult result;
  if (const std::string* etag = response->Find("etag")) result.etag = depot::s3::Unquote(*etag);
  if (const std::string* version = response->Find("x-amz-version-id")) result.version = *version;
  // The checksum the service verified and kept echoes back; one that ignores them echoes none.
  if (!options.checksum.empty()) result.checksum = ChecksumFromHeaders(*response, false);
  return result;
}

Result<GetResult> S3Store::DoGet(std::string_view key, const GetOptions& options,
                                 const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  // Refuses a range that no object size can satisfy (start after end) before any request.
  DEPOT_RETURN_IF_ERROR(options.range.Validate(std::numeric_limits<uint64_t>::max()).status());
  std::string subject = Subject(key);

  // Requests that need the size first: head-only, and ranges that cannot be written as an HTTP
  // range (empty ones).
  std::string range_header = options.range.ToHttpHeader();
  bool empty_range = !options.range.is_full() && range_header.empty();
  if (options.head || empty_range) {
    S3Request request{.method = "HEAD", .bucket = options_.bucket, .key = std::string(key)};
    request.headers = ReadHeaders(options, options_.checksums);
    Result<http::Response> answered = client_->Execute(request, subject, ctx);
    if (options_.checksums && answered.status().code() == StatusCode::kPermissionDenied) {
      // AWS wants kms:Decrypt for the checksum of a KMS-encrypted object, and a plain HEAD not.
      request.headers = ReadHeaders(options, false);
      answered = client_->Execute(request, subject, ctx);
    }
    DEPOT_ASSIGN_OR_RETURN(http::Response response, std::move(answered));
    GetResult result;
    DEPOT_ASSIGN_OR_RETURN(result.meta, MetaFromHeaders(key, response));
    result.not_modified = response.status == 304;
    if (result.not_modified && result.meta.etag.empty()) {
      DEPOT_ASSIGN_OR_RETURN(result.meta, Head(key, ctx));
    }
    DEPOT_ASSIGN_OR_RETURN(result.range, options.range.Validate(result.meta.size));
    return result;
  }

  Backoff backoff(options_.retry);
  GetSink sink{std::string(key), options.range};
  while (true) {
    S3Request request{.method = "GET", .bucket = options_.bucket, .key = std::string(key)};
    request.sink = &sink;
    if (!sink.started()) {
      request.headers = ReadHeaders(options, options_.checksums);
      if (!range_header.empty()) request.headers.emplace_back("Range", range_header);
    } else {
      // Resume: the rest of the range, of the same version only.
      request.headers.emplace_back("If-Match", QuoteEtag(sink.meta().etag));
      request.headers.emplace_back(
          "Range", fmt::format("bytes={}-{}", sink.next_offset(), sink.range().end - 1));
    }
    Result<http::Response> response = client_->Execute(request, subject, ctx);
    if (response.ok() && response->status == 304) {
      GetResult result;
      DEPOT_ASSIGN_OR_RETURN(result.meta, MetaFromHeaders(key, *response));
      if (result.meta.etag.empty()) {
        // RGW's 304 carries no metadata: fetch it (the caller asked about this version).
        DEPOT_ASSIGN_OR_RETURN(result.meta, Head(key, ctx));
      }
      result.not_modified = true;
      return result;
    }
    Status failure = response.status();
    if (response.ok() && !sink.complete()) {
      failure =
          DataLossError(fmt::format("{}: body ended at byte {} of range [{}, {})", subject,
                                    sink.next_offset(), sink.range().begin, sink.range().end));
    }
    if (failure.ok()) {
      GetResult result;
      result.meta = std::move(sink.meta());
      result.range = sink.range();
      result.data = sink.Take();
      const bool whole = result.range.begin == 0 && result.range.end == result.meta.size;
      failure = whole ? CheckWholeObject(subject, result, range_header.empty()) : Status::Ok();
      if (failure.ok()) return result;
      sink.Reset();  // start over
    }
    if (failure.code() == StatusCode::kOutOfRange) {
      // 416: the range starts at or past the end. An empty object satisfies suffix and
      // from-zero ranges with no bytes, which S3 cannot express: answer from its metadata.
      GetOptions head = options;
      head.head = true;
      head.range = ByteRange();
      DEPOT_ASSIGN_OR_RETURN(GetResult meta, Get(key, head, ctx));
      if (meta.not_modified) return meta;
      DEPOT_ASSIGN_OR_RETURN(meta.range, options.range.Validate(meta.meta.size));
      return meta;
    }
    if (sink.started() && failure.code() == StatusCode::kFailedPrecondition) {
      return FailedPreconditionError(
          fmt::format("{}: the object changed while it was being read (ETag {} is gone)", subject,
                      sink.meta().etag));
    }
    if (!s3::IsRetryable(failure)) return failure;
    std::optional<std::chrono::milliseconds> delay = backoff.Next();
    if (!delay) {
      return Status(failure.code(), fmt::format("{} (gave up after {} attempts)", failure.message(),
                                                backoff.attempts() + 1));
    }
    DEPOT_RETURN_IF_ERROR(ctx.SleepFor(*delay, subject));
  }
}

Result<http::Response> S3Store::ExecuteWrite(S3Request request, std::string_view key,
                                             const PutOptions& options, const std::string& subject,
                                             bool learns_etag_form, const Context& ctx) {
  if (options.mode == PutMode::kOverwrite) return client_->Execute(request, subject, ctx);
  if (options.mode == PutMode::kCreate) {
    request.headers.emplace_back("If-None-Match", "*");
    auto response = client_->Execute(request, subject, ctx);
    return response.ok() ? response : ConditionFailed(response.status(), Subject(key), options);
  }
  const EtagForm form = write_etag_form_.load();
  std::string bare = depot::s3::Unquote(options.if_match);
  request.headers.emplace_back("If-Match", form == EtagForm::kBare ? bare : QuoteEtag(bare));
  auto response = client_->Execute(request, subject, ctx);
  if (!learns_etag_form) {
    return response.ok() ? response : ConditionFailed(response.status(), Subject(key), options);
  }
  if (response.ok()) {
    EtagForm unknown = EtagForm::kUnknown;
    write_etag_form_.compare_exchange_strong(unknown, EtagForm::kQuoted);
    return response;
  }
  if (form != EtagForm::kUnknown || response.status().code() != StatusCode::kFailedPrecondition) {
    return ConditionFailed(response.status(), Subject(key), options);
  }
  // Refused while the form is unknown: if the object does carry this ETag, the service wants the
  // bare form. The retry is as conditional as the first attempt.
  auto current = Head(key, ctx);
  if (!current.ok() && current.status().code() != StatusCode::kNotFound) {
    return current.status();  // cannot tell a mismatch from a form problem
  }
  if (!current.ok() || current->etag != bare) {
    return ConditionFailed(response.status(), Subject(key), options);
  }
  request.headers.back().second = bare;
  response = client_->Execute(request, subject, ctx);
  if (response.ok()) write_etag_form_ = EtagForm::kBare;
  return response.ok() ? response : ConditionFailed(response.status(), Subject(key), options);
}

Result<ObjectMeta> S3Store::DoHead(std::string_view key, const Context& ctx) {
  GetOptions options;
  options.head = true;
  DEPOT_ASSIGN_OR_RETURN(GetResult result, Get(key, options, ctx));
  // The parts of a composite checksum's object (a full-object one says nothing of its parts).
  if (options_.checksums && result.meta.checksum.composite) {
    DEPOT_ASSIGN_OR_RETURN(result.meta.parts, ObjectParts(key, result.meta, ctx));
  }
  return std::move(result.meta);
}

Result<std::vector<ObjectPart>> S3Store::ObjectParts(std::string_view key, const ObjectMeta& meta,
                                                     const Context& ctx) {
  std::vector<ObjectPart> parts;
  std::string marker;
  while (true) {
    S3Request request{.method = "GET", .bucket = options_.bucket, .key = std::string(key)};
    request.query = {{"attributes", ""}};
    // The parts of the version headed: its id where the bucket keeps versions, else its ETag.
    if (meta.version) request.query.emplace_back("versionId", *meta.version);
    request.headers = {{"x-amz-object-attributes", "ObjectParts"},
                       {"If-Match", QuoteEtag(meta.etag)}};
    if (!marker.empty()) request.headers.emplace_back("x-amz-part-number-marker", marker);
    Result<http::Response> answered =
        client_->Execute(request, Subject(key) + " (attributes)", ctx);
    if (answered.status().code() == StatusCode::kPermissionDenied ||
        answered.status().code() == StatusCode::kUnimplemented) {
      return std::vector<ObjectPart>();  // not allowed (s3:GetObjectAttributes) or not served
    }
    DEPOT_ASSIGN_OR_RETURN(http::Response response, std::move(answered));
    DEPOT_ASSIGN_OR_RETURN(depot::s3::PartsPage page,
                           depot::s3::ParseObjectAttributesParts(response.body.view()));
    for (depot::s3::Part& part : page.parts) {
      parts.push_back({part.size, std::move(part.checksum)});
    }
    if (!page.truncated) return parts;
    if (page.next_part_number_marker.empty() || page.next_part_number_marker == marker) {
      return InternalError(
          fmt::format("{}: the service repeated part marker \"{}\"", Subject(key), marker));
    }
    marker = page.next_part_number_marker;
  }
}

Status S3Store::DoDelete(std::string_view key, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  S3Request request{.method = "DELETE", .bucket = options_.bucket, .key = std::string(key)};
  return client_->Execute(request, Subject(key), ctx).status();
}

std::vector<Status> S3Store::DoDeleteMany(std::span<const std::string> keys, const Context& ctx) {
  std::vector<Status> results(keys.size());
  std::vector<size_t> valid;
  for (size_t i = 0; i < keys.size(); ++i) {
    results[i] = ValidateKey(keys[i]);
    if (results[i].ok()) valid.push_back(i);
  }
  for (size_t first = 0; first < valid.size(); first += kDeleteBatch) {
    size_t count = std::min(kDeleteBatch, valid.size() - first);
    std::vector<std::string> batch;
    for (size_t i = 0; i < count; ++i) batch.push_back(keys[valid[first + i]]);
    std::string xml = depot::s3::DeleteObjectsXml(batch);
    auto digest = Md5();
    digest.Update(xml);
    auto md5 = digest.Finish();
    S3Request request{.method = "POST", .bucket = options_.bucket};
    request.query = {{"delete", ""}};
    request.headers = {
        {"Content-MD5", Base64Encode(std::string_view(reinterpret_cast<char*>(md5.data()), 16))},
        {"Content-Type", "application/xml"}};
    request.body = Bytes::FromString(std::move(xml));
    auto response =
        client_->Execute(request, fmt::format("s3://{} (DeleteObjects)", options_.bucket), ctx);
    auto failures = response.ok()
                        ? depot::s3::ParseDeleteResult(response->body.view())
                        : Result<std::vector<depot::s3::DeleteFailure>>(response.status());
    for (size_t i = 0; i < count; ++i) {
      results[valid[first + i]] = failures.status();
    }
    if (!failures.ok()) continue;
    for (const depot::s3::DeleteFailure& failure : *failures) {
      for (size_t i = 0; i < count; ++i) {
        if (batch[i] != failure.key) continue;
        std::string message =
            fmt::format("{}: {}: {}", Subject(batch[i]), failure.error.code, failure.error.message);
        results[valid[first + i]] = failure.error.code == "AccessDenied"
                                        ? PermissionDeniedError(message)
                                        : UnavailableError(message);
      }
    }
  }
  return results;
}

Result<ListResult> S3Store::DoList(const ListOptions& options, const Context& ctx) {
  if (options.max_keys < 1) {
    return InvalidArgumentError(
        fmt::format("list of s3://{}: max_keys must be at least 1", options_.bucket));
  }
  S3Request request{.method = "GET", .bucket = options_.bucket};
  request.query = {{"list-type", "2"},
                   {"encoding-type", "url"},
                   {"max-keys", std::to_string(std::min(options.max_keys, kMaxListKeys))}};
  if (!options.prefix.empty()) request.query.emplace_back("prefix", options.prefix);
  if (!options.delimiter.empty()) request.query.emplace_back("delimiter", options.delimiter);
  if (!options.start_after.empty()) request.query.emplace_back("start-after", options.start_after);
  if (!options.continuation_token.empty()) {
    if (!options.continuation_token.starts_with(kTokenPrefix)) {
      return InvalidArgumentError(
          fmt::format("list of s3://{}: continuation token \"{}\" did not come from this store",
                      options_.bucket, options.continuation_token));
    }
    request.query.emplace_back("continuation-token",
                               options.continuation_token.substr(kTokenPrefix.size()));
  }
  DEPOT_ASSIGN_OR_RETURN(
      http::Response response,
      client_->Execute(request, fmt::format("list of s3://{}", options_.bucket), ctx));
  DEPOT_ASSIGN_OR_RETURN(depot::s3::ListObjectsPage page,
                         depot::s3::ParseListObjectsV2(response.body.view()));
  ListResult result;
  result.objects.reserve(page.objects.size());
  for (depot::s3::ListedObject& listed : page.objects) {
    ObjectMeta& meta = result.objects.emplace_back();
    meta.key = std::move(listed.key);
    meta.size = listed.size;
    meta.last_modified = listed.last_modified;
    meta.etag = std::move(listed.etag);
  }
  result.common_prefixes = std::move(page.common_prefixes);
  if (page.truncated) {
    result.next_continuation_token = std::string(kTokenPrefix) + page.next_continuation_token;
  }
  return result;
}

Result<PutResult> S3Store::DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                                  const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(from));
  DEPOT_RETURN_IF_ERROR(ValidateKey(to));
  if (mode == CopyMode::kCreate) {
    return UnimplementedError(
        fmt::format("copy {} -> {}: S3 has no atomic copy-if-absent", Subject(from), Subject(to)));
  }
  DEPOT_ASSIGN_OR_RETURN(ObjectMeta source, Head(from, ctx));
  if (source.size > options_.max_single_copy) return CopyMultipart(source, to, ctx);
  S3Request request{.method = "PUT", .bucket = options_.bucket, .key = std::string(to)};
  request.headers = {{"x-amz-copy-source",
                      depot::s3::UriEncode("/" + options_.bucket + "/" + std::string(from), false)},
                     {"x-amz-copy-source-if-match", QuoteEtag(source.etag)}};
  request.may_carry_error_in_200 = true;
  auto response =
      client_->Execute(request, fmt::format("copy {} -> {}", Subject(from), Subject(to)), ctx);
  if (!response.ok()) {
    if (response.status().code() == StatusCode::kFailedPrecondition) {
      return FailedPreconditionError(
          fmt::format("copy {}: the source changed during the copy", Subject(from)));
    }
    return response.status();
  }
  DEPOT_ASSIGN_OR_RETURN(std::string etag,
                         depot::s3::ParseResultEtag(response->body.view(), "CopyObjectResult"));
  return PutResult{etag, std::nullopt};
}

Result<PutResult> S3Store::CopyMultipart(const ObjectMeta& source, std::string_view to,
                                         const Context& ctx) {
  PutOptions put;
  put.content_type = source.content_type;
  put.headers = source.headers;
  put.user_metadata = source.user_metadata;
  uint64_t part_size =
      std::max({std::min<uint64_t>(options_.max_single_copy, 1ull << 30),
                (source.size + kMaxParts - 1) / kMaxParts, options_.min_part_size});
  DEPOT_ASSIGN_OR_RETURN(std::string upload_id, CreateMultipart(to, put));
  std::vector<PartInfo> parts;
  Status failed;
  for (uint64_t offset = 0; offset < source.size && failed.ok(); offset += part_size) {
    uint64_t end = std::min(source.size, offset + part_size);
    int number = static_cast<int>(parts.size()) + 1;
    S3Request request{.method = "PUT", .bucket = options_.bucket, .key = std::string(to)};
    request.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
    request.headers = {{"x-amz-copy-source",
                        depot::s3::UriEncode("/" + options_.bucket + "/" + source.key, false)},
                       {"x-amz-copy-source-if-match", QuoteEtag(source.etag)},
                       {"x-amz-copy-source-range", fmt::format("bytes={}-{}", offset, end - 1)}};
    request.may_carry_error_in_200 = true;
    auto response = client_->Execute(
        request, fmt::format("copy part {} of {}", number, Subject(source.key)), ctx);
    Result<std::string> etag =
        response.ok() ? depot::s3::ParseResultEtag(response->body.view(), "CopyPartResult")
                      : Result<std::string>(response.status());
    if (!etag.ok()) {
      failed = etag.status();
      break;
    }
    parts.push_back(PartInfo{number, *etag, end - offset});
  }
  if (failed.ok()) {
    auto done = CompleteMultipart(to, upload_id, parts);
    if (done.ok()) return done;
    failed = done.status();
  }
  (void)AbortMultipart(to, upload_id);  // the copy's error is the one worth reporting
  return failed;
}

Status S3Store::DoRename(std::string_view from, std::string_view to, CopyMode,
                         const Context& /*ctx*/) {
  return UnimplementedError(
      fmt::format("rename {} -> {}: S3 has no atomic rename", Subject(from), Subject(to)));
}

Result<std::string> S3Store::DoCreateMultipart(std::string_view key, const PutOptions& options,
                                               const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  DEPOT_RETURN_IF_ERROR(CheckNoCreateCondition(key, options));
  DEPOT_RETURN_IF_ERROR(ValidatePutOptions(key, options));
  S3Request request{.method = "POST", .bucket = options_.bucket, .key = std::string(key)};
  request.query = {{"uploads", ""}};
  AddPutHeaders(options, request.headers);
  DEPOT_ASSIGN_OR_RETURN(http::Response response, client_->Execute(request, Subject(key), ctx));
  return depot::s3::ParseInitiateMultipartUpload(response.body.view());
}

Result<PartInfo> S3Store::DoPutPart(std::string_view key, std::string_view upload_id,
                                    int part_number, Bytes data, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return UploadPart(key, upload_id, part_number, std::move(data), {}, ctx);
}

Result<std::unique_ptr<PartWriter>> S3Store::DoOpenPartWriter(std::string_view key,
                                                              std::string_view upload_id,
                                                              int part_number, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  PartStorer upload = [this, key = std::string(key), upload_id = std::string(upload_id),
                       part_number, ctx](Bytes data, const Checksum& checksum) {
    return UploadPart(key, upload_id, part_number, std::move(data), checksum, ctx);
  };
  return NewGatheringPartWriter(std::string(key), std::string(upload_id), part_number, ctx,
                                std::move(upload));
}

Result<PartInfo> S3Store::UploadPart(std::string_view key, std::string_view upload_id,
                                     int part_number, Bytes data, const Checksum& checksum,
                                     const Context& ctx) {
  if (!checksum.empty() && !options_.checksums) {
    return UnimplementedError(
        fmt::format("{}: part {}: this store does not keep checksums ({} given; see checksums=1)",
                    Subject(key), part_number, checksum.algorithm));
  }
  if (part_number < 1 || part_number > kMaxParts) {
    return InvalidArgumentError(
        fmt::format("{}: part number {} is outside 1..{}", Subject(key), part_number, kMaxParts));
  }
  if (data.size() > kMaxPartSize) {
    return InvalidArgumentError(fmt::format("{}: part {} has {} bytes, more than 5 GiB",
                                            Subject(key), part_number, data.size()));
  }
  uint64_t size = data.size();
  S3Request request{.method = "PUT", .bucket = options_.bucket, .key = std::string(key)};
  request.query = {{"partNumber", std::to_string(part_number)},
                   {"uploadId", std::string(upload_id)}};
  std::string algorithm;
  if (!checksum.empty()) {
    DEPOT_ASSIGN_OR_RETURN(algorithm, AlgorithmName(Subject(key), checksum.algorithm));
    request.headers = {{ChecksumHeader(algorithm), checksum.value}};
  }
  request.body = std::move(data);
  DEPOT_ASSIGN_OR_RETURN(
      http::Response response,
      client_->Execute(request,
                       fmt::format("{} (upload {}, part {})", Subject(key), upload_id, part_number),
                       ctx));
  const std::string* etag = response.Find("etag");
  if (etag == nullptr || etag->empty()) {
    return DataLossError(
        fmt::format("{}: part {} stored without an ETag", Subject(key), part_number));
  }
  PartInfo part{part_number, depot::s3::Unquote(*etag), size};
  if (!checksum.empty()) {
    // Kept where the service echoes it: an upload that named no algorithm keeps none.
    if (const std::string* kept = response.Find(ChecksumHeader(algorithm))) {
      part.checksum = *kept;
      part.checksum_algorithm = algorithm;
    }
  }
  return part;
}

Result<PutResult> S3Store::DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                               std::span<const PartInfo> parts,
                                               const WriteCondition& condition,
                                               const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  if (condition.mode != PutMode::kOverwrite && !options_.conditional_put) {
    return UnimplementedError(
        fmt::format("{}: conditional put is off for this store (conditional_put=0)", Subject(key)));
  }
  if (condition.mode == PutMode::kUnlessEtag) {
    return UnimplementedUnlessEtag(key);
  }
  if (parts.empty()) {
    return InvalidArgumentError(fmt::format("{}: complete with no parts", Subject(key)));
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].part_number <= parts[i - 1].part_number) {
      // Some services (RGW) sort the list themselves; S3 refuses it. Refuse it everywhere.
      return InvalidArgumentError(fmt::format(
          "{}: InvalidPartOrder: part {} follows part {}; parts must be listed in ascending order",
          Subject(key), parts[i].part_number, parts[i - 1].part_number));
    }
  }
  const PutOptions options = ConditionedPut({}, condition);
  if (options.mode != PutMode::kOverwrite) {
    // The condition goes with the request (AWS honours it atomically since 2024), but RGW 16
    // ignores conditions on CompleteMultipartUpload: checking first keeps a create-only or
    // ETag-matched upload from replacing an object that was already there when it finished.
    // Only a writer racing into the gap between this check and the completion can slip past.
    // Credentials allowed to write but not to read (HEAD: 403) leave it to the header alone.
    auto current = Head(key, ctx);
    const bool checked = current.ok() || current.status().code() == StatusCode::kNotFound;
    if (!checked && current.status().code() != StatusCode::kPermissionDenied) {
      return current.status();
    }
    if (checked && options.mode == PutMode::kCreate && current.ok()) {
      return AlreadyExistsError(fmt::format("{}: already exists", Subject(key)));
    }
    if (checked && options.mode == PutMode::kUpdate &&
        (!current.ok() || current->etag != depot::s3::Unquote(options.if_match))) {
      return FailedPreconditionError(
          fmt::format("{}: not at ETag \"{}\" (If-Match)", Subject(key), options.if_match));
    }
  }
  S3Request request{.method = "POST", .bucket = options_.bucket, .key = std::string(key)};
  request.query = {{"uploadId", std::string(upload_id)}};
  request.headers = {{"Content-Type", "application/xml"}};
  std::vector<depot::s3::Part> wire_parts;
  wire_parts.reserve(parts.size());
  for (const PartInfo& part : parts) {
    std::string algorithm;
    if (!part.checksum.empty()) {
      DEPOT_ASSIGN_OR_RETURN(algorithm, AlgorithmName(Subject(key), part.checksum_algorithm));
    }
    wire_parts.push_back({part.part_number, part.etag, part.size, {}, part.checksum, algorithm});
  }
  request.body = Bytes::FromString(depot::s3::CompleteMultipartXml(wire_parts));
  request.may_carry_error_in_200 = true;
  auto response = ExecuteWrite(std::move(request), key, options,
                               fmt::format("{} (upload {})", Subject(key), upload_id), false, ctx);
  if (!response.ok()) return response.status();
  DEPOT_ASSIGN_OR_RETURN(depot::s3::CompletedUpload done,
                         depot::s3::ParseCompleteMultipartResult(response->body.view()));
  PutResult result{std::move(done.etag), std::nullopt, {}};
  if (!done.checksum_algorithm.empty()) {
    result.checksum = MakeChecksum(std::move(done.checksum_algorithm), std::move(done.checksum),
                                   done.checksum_type, /*multipart=*/true);
  }
  if (result.etag.empty()) {
    // RGW 16 answers with an empty ETag; the object's own is the one to report.
    DEPOT_ASSIGN_OR_RETURN(ObjectMeta meta, Head(key, ctx));
    result.etag = meta.etag;
  }
  return result;
}

Status S3Store::DoAbortMultipart(std::string_view key, std::string_view upload_id,
                                 const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  S3Request request{.method = "DELETE", .bucket = options_.bucket, .key = std::string(key)};
  request.query = {{"uploadId", std::string(upload_id)}};
  return client_->Execute(request, fmt::format("{} (upload {})", Subject(key), upload_id), ctx)
      .status();
}

Result<std::vector<PartInfo>> S3Store::DoListParts(std::string_view key, std::string_view upload_id,
                                                   const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  std::vector<PartInfo> parts;
  std::string marker;
  while (true) {
    S3Request request{.method = "GET", .bucket = options_.bucket, .key = std::string(key)};
    request.query = {{"uploadId", std::string(upload_id)}};
    if (!marker.empty()) request.query.emplace_back("part-number-marker", marker);
    DEPOT_ASSIGN_OR_RETURN(
        http::Response response,
        client_->Execute(request, fmt::format("{} (upload {})", Subject(key), upload_id), ctx));
    DEPOT_ASSIGN_OR_RETURN(depot::s3::PartsPage page,
                           depot::s3::ParseListParts(response.body.view()));
    for (depot::s3::Part& part : page.parts) {
      parts.push_back({part.part_number, std::move(part.etag), part.size, part.last_modified,
                       std::move(part.checksum), std::move(part.checksum_algorithm)});
    }
    if (!page.truncated) return parts;
    if (page.next_part_number_marker.empty() || page.next_part_number_marker == marker) {
      return InternalError(fmt::format("{} (upload {}): the service repeated part marker \"{}\"",
                                       Subject(key), upload_id, marker));
    }
    marker = page.next_part_number_marker;
  }
}

Result<std::vector<MultipartUploadInfo>> S3Store::DoListMultipartUploads(std::string_view prefix,
                                                                         const Context& ctx) {
  std::vector<MultipartUploadInfo> uploads;
  std::string key_marker;
  std::string upload_id_marker;
  while (true) {
    S3Request request{.method = "GET", .bucket = options_.bucket};
    request.query = {{"uploads", ""}};
    if (!prefix.empty()) request.query.emplace_back("prefix", std::string(prefix));
    if (!key_marker.empty()) request.query.emplace_back("key-marker", key_marker);
    if (!upload_id_marker.empty()) request.query.emplace_back("upload-id-marker", upload_id_marker);
    DEPOT_ASSIGN_OR_RETURN(
        http::Response response,
        client_->Execute(request, fmt::format("multipart uploads of s3://{}", options_.bucket),
                         ctx));
    DEPOT_ASSIGN_OR_RETURN(depot::s3::MultipartUploadsPage page,
                           depot::s3::ParseListMultipartUploads(response.body.view()));
    for (depot::s3::ListedUpload& upload : page.uploads) {
      uploads.push_back({std::move(upload.key), std::move(upload.upload_id), upload.initiated});
    }
    if (!page.truncated) return uploads;
    if (page.next_key_marker == key_marker && page.next_upload_id_marker == upload_id_marker) {
      return InternalError(
          fmt::format("multipart uploads of s3://{}: the service repeated marker \"{}\"",
                      options_.bucket, key_marker));
    }
    key_marker = page.next_key_marker;
    upload_id_marker = page.next_upload_id_marker;
  }
}

Status S3Store::CreateBucket(const Context& ctx) {
  S3Request request{.method = "PUT", .bucket = options_.bucket};
  std::string body = depot::s3::CreateBucketXml(client_->options().region);
  if (!body.empty()) request.body = Bytes::FromString(std::move(body));
  return client_->Execute(request, fmt::format("bucket s3://{}", options_.bucket), ctx).status();
}

Status S3Store::DeleteBucket(const Context& ctx) {
  S3Request request{.method = "DELETE", .bucket = options_.bucket};
  return client_->Execute(request, fmt::format("bucket s3://{}", options_.bucket), ctx).status();
}

Result<bool> S3Store::BucketExists(const Context& ctx) {
  S3Request request{.method = "HEAD", .bucket = options_.bucket};
  auto response = client_->Execute(request, fmt::format("bucket s3://{}", options_.bucket), ctx);
  if (response.ok()) return true;
  if (response.status().code() == StatusCode::kNotFound) return false;
  return response.status();
}

Result<std::vector<depot::s3::BucketInfo>> S3Store::ListBuckets(const Context& ctx) {
  S3Request request{.method = "GET"};
  DEPOT_ASSIGN_OR_RETURN(http::Response response, client_->Execute(request, "bucket list", ctx));
  return depot::s3::ParseListBuckets(response.body.view());
}

Result<std::string> S3Store::PresignGet(std::string_view key, std::chrono::seconds expires) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return client_->Presign("GET", options_.bucket, key, expires);
}

Result<std::string> S3Store::PresignPut(std::string_view key, std::chrono::seconds expires) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return client_->Presign("PUT", options_.bucket, key, expires);
}

Result<std::shared_ptr<S3Store>> S3Store::OpenUrl(const Url& url) {
  S3StoreOptions options;
  options.bucket = url.host;
  if (url.port) {
    return InvalidArgumentError(
        fmt::format("\"{}\": an s3:// URL names a bucket, not a host and port (use ?endpoint=)",
                    url.ToString()));
  }
  auto flag = [&](const std::string& name, const std::string& value) -> Result<bool> {
    if (value == "1" || value == "true") return true;
    if (value == "0" || value == "false") return false;
    return InvalidArgumentError(
        fmt::format("\"{}\": option {}={} must be 0 or 1", url.ToString(), name, value));
  };
  for (const auto& [name, value] : url.query) {
    if (name == "endpoint") {
      options.endpoint = value;
    } else if (name == "region") {
      options.credentials.region = value;
    } else if (name == "profile") {
      options.credentials.profile = value;
    } else if (name == "access_key") {
      options.credentials.access_key_id = value;
    } else if (name == "secret_key") {
      options.credentials.secret_access_key = value;
    } else if (name == "session_token") {
      options.credentials.session_token = value;
    } else if (name == "addressing") {
      if (value == "path") {
        options.addressing = S3Addressing::kPath;
      } else if (value == "virtual") {
        options.addressing = S3Addressing::kVirtualHosted;
      } else {
        return InvalidArgumentError(
            fmt::format("\"{}\": addressing={} must be path or virtual", url.ToString(), value));
      }
    } else if (name == "payload") {
      if (value != "signed" && value != "unsigned") {
        return InvalidArgumentError(
            fmt::format("\"{}\": payload={} must be signed or unsigned", url.ToString(), value));
      }
      options.sign_payload = value == "signed";
    } else if (name == "ca_bundle") {
      options.ca_file = value;
    } else if (name == "conditional_put") {
      DEPOT_ASSIGN_OR_RETURN(options.conditional_put, flag(name, value));
    } else if (name == "checksums") {
      DEPOT_ASSIGN_OR_RETURN(options.checksums, flag(name, value));
    } else if (name == "min_part_size") {
      auto parsed = ParseNumber(value, "min_part_size");
      if (!parsed.ok()) {
        return InvalidArgumentError(
            fmt::format("\"{}\": min_part_size={} is not a number", url.ToString(), value));
      }
      options.min_part_size = *parsed;
    } else {
      return InvalidArgumentError(
          fmt::format("\"{}\": unknown option \"{}\" for an s3:// store", url.ToString(), name));
    }
  }
  return Open(std::move(options));
}

}  // namespace depot::object
