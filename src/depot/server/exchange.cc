#include "depot/server/exchange.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <charconv>

#include "depot/core/ascii.h"
#include "depot/core/base64.h"
#include "depot/core/checksum.h"
#include "depot/core/md5.h"
#include "depot/s3/chunked_payload.h"
#include "depot/s3/signer.h"
#include "depot/s3/xml.h"

namespace depot::server {
namespace {

namespace beast = boost::beast;
using s3::XmlEscape;

constexpr size_t kIoChunk = 256 << 10;
// Bodies up to this size are sent with their headers, in one write (StartObject).
constexpr uint64_t kHeadersWithBody = 64 << 10;

std::string Str(beast::string_view v) { return std::string(v.data(), v.size()); }

bool IsSha256Hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A digest the client sent for the body, and the running digest to compare it with.
struct ExpectedDigest {
  std::string name;  // "Content-MD5", "CRC32", ...
  std::string value;
  std::optional<Md5> md5;
  std::optional<PayloadChecksum> checksum;

  void Update(std::string_view data) {
    if (md5) md5->Update(data);
    if (checksum) checksum->Update(data);
  }
  bool Matches() {
    if (md5) {
      const auto digest = md5->Finish();
      return Base64Encode(std::string_view(reinterpret_cast<const char*>(digest.data()), 16)) ==
             value;
    }
    return checksum->Base64Finish() == value;
  }
};

// Marks the connection as waiting on its socket for a scope: the only time the server's reaper may
// close it for being stalled (a long store call is not a stall).
class SocketWait {
 public:
  explicit SocketWait(const std::function<void(bool)>& activity) : activity_(activity) {
    activity_(true);
  }
  ~SocketWait() { activity_(false); }
  SocketWait(const SocketWait&) = delete;
  SocketWait& operator=(const SocketWait&) = delete;

 private:
  const std::function<void(bool)>& activity_;
};

}  // namespace

S3Error FromStatus(const Status& status, std::string_view not_found_code) {
  std::string message = status.message();
  std::string code;
  const size_t colon = message.find(": ");
  // An S3 code is a CamelCase word ("NoSuchBucket"); a store's own prefix ("list: ...") is not.
  if (colon != std::string::npos && colon > 0 &&
      std::isupper(static_cast<unsigned char>(message[0])) &&
      std::all_of(message.begin(), message.begin() + static_cast<long>(colon),
                  [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; })) {
    code = message.substr(0, colon);
    message.erase(0, colon + 2);
  }
  auto coded = [&](int http_status, std::string_view fallback) {
    return S3Error{http_status, code.empty() ? std::string(fallback) : code, message};
  };
  switch (status.code()) {
    case StatusCode::kNotFound:
      return coded(404, not_found_code);
    case StatusCode::kFailedPrecondition:
      // A condition that did not hold (412), or a bucket that is not empty (409, as S3 names it).
      if (code == "BucketNotEmpty") return {409, code, message};
      return {412, "PreconditionFailed", message};
    case StatusCode::kAlreadyExists:
      // A create-only write that found the key (412, as S3 answers If-None-Match: *), or a
      // conflict S3 names (BucketAlreadyExists: 409).
      return code.empty() ? S3Error{412, "PreconditionFailed", message} : coded(409, "");
    case StatusCode::kOutOfRange:
      return {416, "InvalidRange", message};
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return coded(403, "AccessDenied");
    case StatusCode::kInvalidArgument:
      return coded(400, "InvalidArgument");
    case StatusCode::kUnimplemented:
      return {501, "NotImplemented", message};
    case StatusCode::kUnavailable:
      return coded(503, "ServiceUnavailable");
    default:
      return {500, "InternalError", message};
  }
}

Result<Target> SplitTarget(const s3::RequestTarget& target, std::string_view host,
                           std::string_view domain) {
  Target out;
  const std::string& path = target.path;
  if (path.empty() || path[0] != '/') {
    return InvalidArgumentError(fmt::format("path \"{}\" does not start with /", path));
  }
  // Virtual-hosted: "BUCKET.DOMAIN[:PORT]" names the bucket and the whole path is the key.
  std::string_view name = host.substr(
      0, host.rfind(':') == std::string_view::npos || host.find(']') != std::string_view::npos
             ? host.size()
             : host.rfind(':'));
  if (!domain.empty() && name.size() > domain.size() + 1 && name.ends_with(domain) &&
      name[name.size() - domain.size() - 1] == '.') {
    out.bucket = std::string(name.substr(0, name.size() - domain.size() - 1));
    out.key = path.substr(1);
  } else {
    const size_t slash = path.find('/', 1);
    out.bucket = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
    if (slash != std::string::npos) out.key = path.substr(slash + 1);
  }
  for (const auto& [name, value] : target.query) out.query[name] = value;
  return out;
}

Exchange::Exchange(ByteStream& stream, beast::flat_buffer& buffer, Request& parser,
                   std::function<void(bool)> activity, std::string request_id, Context ctx)
    : stream_(stream),
      buffer_(buffer),
      parser_(parser),
      activity_(std::move(activity)),
      request_id_(std::move(request_id)),
      ctx_(std::move(ctx)) {}

std::optional<std::string> Exchange::Header(std::string_view name) const {
  const auto& fields = parser_.get();
  auto it = fields.find(beast::string_view(name.data(), name.size()));
  if (it == fields.end()) return std::nullopt;
  return Str(it->value());
}

std::optional<uint64_t> Exchange::DeclaredLength() const {
  for (const char* name : {"x-amz-decoded-content-length", "content-length"}) {
    if (auto text = Header(name)) {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
      if (ec == std::errc() && end == text->data() + text->size()) return n;
    }
  }
  return std::nullopt;
}

void Exchange::Authenticate(s3::Authenticated who, Target target) {
  who_ = std::move(who);
  target_ = std::move(target);
}

std::string Exchange::Query(std::string_view name) const {
  auto it = target_.query.find(name);
  return it == target_.query.end() ? "" : it->second;
}

Status Exchange::ReadBody(Checksums checksums,
                          const std::function<Status(std::string_view)>& sink) {
  const auto& fields = parser_.get();
  const std::string& payload_hash = who_.payload_sha256;
  const bool check_sha = IsSha256Hex(payload_hash);
  std::optional<s3::ChunkedPayloadDecoder> chunked;
  if (s3::IsChunkedPayload(payload_hash)) {
    std::optional<uint64_t> decoded;
    if (auto value = Header("x-amz-decoded-content-length")) {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
      if (ec != std::errc() || end != value->data() + value->size()) {
        return InvalidArgumentError(fmt::format(
            "InvalidArgument: x-amz-decoded-content-length \"{}\" is not a number", *value));
      }
      decoded = n;
    }
    chunked.emplace(who_, decoded);
  } else if (!check_sha && payload_hash != s3::kUnsignedPayload) {
    return UnimplementedError(
        fmt::format("x-amz-content-sha256 \"{}\" is not served (only a SHA-256, UNSIGNED-PAYLOAD, "
                    "{}, {} or {})",
                    payload_hash, s3::kStreamingPayload, s3::kStreamingPayloadTrailer,
                    s3::kStreamingUnsignedTrailer));
  }
  std::vector<ExpectedDigest> digests;
  for (const auto& field : fields) {
    const std::string name = Str(field.name_string());
    if (beast::iequals(name, "content-md5")) {
      auto md5 = Base64Decode(Str(field.value()));
      if (!md5.ok() || md5->size() != 16) {
        return InvalidArgumentError(fmt::format(
            "InvalidDigest: the Content-MD5 you specified (\"{}\") is not the base64 of 16 bytes",
            Str(field.value())));
      }
      digests.push_back({"Content-MD5", Str(field.value()), Md5(), std::nullopt});
    } else if (auto algorithm = PayloadChecksum::FromHeader(name);
               algorithm && checksums == Checksums::kOfBody) {
      digests.push_back({std::string(PayloadChecksum::Name(*algorithm)), Str(field.value()),
                         std::nullopt, PayloadChecksum(*algorithm)});
    }
  }
  // x-amz-trailer names the checksum header that follows the body (aws-chunked trailers), whose
  // value is known only at the end.
  std::optional<size_t> trailed;
  std::string trailer_name;  // lower-cased
  if (auto trailer = Header("x-amz-trailer")) {
    trailer_name = AsciiLower(*trailer);
    const auto algorithm = PayloadChecksum::FromHeader(trailer_name);
    if (!chunked || payload_hash == s3::kStreamingPayload || !algorithm) {
      return InvalidArgumentError(fmt::format(
          "InvalidRequest: x-amz-trailer \"{}\" must name an x-amz-checksum-* header of an "
          "aws-chunked body with a trailer",
          *trailer));
    }
    trailed = digests.size();
    digests.push_back({std::string(PayloadChecksum::Name(*algorithm)), "", std::nullopt,
                       PayloadChecksum(*algorithm)});
  }
  if (beast::iequals(fields[http::field::expect], "100-continue")) {
    // The client waits for this before it sends the body (awscli does, for a second). It is
    // sent for empty bodies too: botocore reads the next response wrong otherwise.
    http::response<http::empty_body> proceed{http::status::continue_, 11};
    boost::system::error_code ec;
    {
      const SocketWait wait(activity_);
      http::write(stream_, proceed, ec);
    }
    if (ec) return UnavailableError(fmt::format("IncompleteBody: {}", ec.message()));
  }
  PayloadChecksum sha(PayloadChecksum::Algorithm::kSha256);
  Status failed;
  // One receive buffer per connection thread, reused by every request it serves; the parser's
  // own buffer grows so the socket is read in large pieces.
  thread_local std::unique_ptr<char[]> chunk(new char[kIoChunk]);
  buffer_.reserve(kIoChunk);
  std::string decoded;
  while (!parser_.is_done()) {
    auto& body = parser_.get().body();
    body.data = chunk.get();
    body.size = kIoChunk;
    boost::system::error_code ec;
    {
      const SocketWait wait(activity_);
      http::read(stream_, buffer_, parser_, ec);
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return UnavailableError(fmt::format("IncompleteBody: {}", ec.message()));
    const std::string_view got(chunk.get(), kIoChunk - body.size);
    activity_(false);
    if (!failed.ok()) continue;  // drain
    if (check_sha) sha.Update(got);
    std::string_view payload = got;
    if (chunked) {
      decoded.clear();
      failed = chunked->Feed(got, decoded);
      payload = decoded;
    }
    outcome_.bytes_in += payload.size();
    for (auto& digest : digests) digest.Update(payload);
    if (failed.ok()) failed = sink(payload);
  }
  if (!failed.ok()) return failed;
  if (chunked) {
    DEPOT_RETURN_IF_ERROR(chunked->Finish());
    if (trailed) {
      for (const auto& [name, value] : chunked->trailers()) {
        if (name == trailer_name) digests[*trailed].value = value;
      }
      if (digests[*trailed].value.empty()) {
        return InvalidArgumentError(fmt::format(
            "InvalidRequest: the body ended without the trailer {} that x-amz-trailer names",
            trailer_name));
      }
    }
  }
  if (check_sha) {
    const std::string digest = sha.Finish();
    if (HexEncode(reinterpret_cast<const uint8_t*>(digest.data()), digest.size()) != payload_hash) {
      return InvalidArgumentError(
          "XAmzContentSHA256Mismatch: the provided x-amz-content-sha256 header does not match what "
          "was computed");
    }
  }
  for (auto& digest : digests) {
    if (!digest.Matches()) {
      return InvalidArgumentError(
          fmt::format("BadDigest: the {} you specified (\"{}\") did not match the body received",
                      digest.name, digest.value));
    }
    if (digest.checksum && body_checksum_.empty()) body_checksum_ = {digest.name, digest.value};
  }
  return Status::Ok();
}

Result<std::string> Exchange::ReadAll(Checksums checksums, uint64_t limit) {
  std::string into;
  if (auto length = DeclaredLength(); length && *length <= limit) into.reserve(*length);
  DEPOT_RETURN_IF_ERROR(ReadBody(checksums, [&](std::string_view data) {
    if (into.size() + data.size() > limit) {
      return InvalidArgumentError(
          fmt::format("EntityTooLarge: the body is larger than the {} bytes served here", limit));
    }
    into.append(data);
    return Status::Ok();
  }));
  return into;
}

bool Exchange::Send(http::response<http::string_body>& response) {
  response.set(http::field::server, "depot");
  response.set("x-amz-request-id", request_id_);
  for (const auto& [name, value] : answer_headers_) response.set(name, value);
  const bool reusable = Reusable();
  response.keep_alive(reusable);
  response.prepare_payload();
  outcome_.status = response.result_int();
  outcome_.bytes_out += response.body().size();
  boost::system::error_code ec;
  {
    const SocketWait wait(activity_);
    http::write(stream_, response, ec);
  }
  activity_(false);
  return !ec && reusable;
}

bool Exchange::Reply(int status, std::string xml, const HeaderList& headers) {
  http::response<http::string_body> response{static_cast<http::status>(status), 11};
  for (const auto& [name, value] : headers) response.set(name, value);
  if (!xml.empty()) {
    response.set(http::field::content_type, "application/xml");
    response.body() = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + std::move(xml);
  }
  return Send(response);
}

bool Exchange::ReplyBytes(int status, std::string body, std::string_view content_type) {
  http::response<http::string_body> response{static_cast<http::status>(status), 11};
  response.set(http::field::content_type, std::string(content_type));
  response.body() = std::move(body);
  return Send(response);
}

bool Exchange::Fail(const S3Error& error) {
  outcome_.error_code = error.code;
  DrainSmallBody();
  http::response<http::string_body> response{static_cast<http::status>(error.status), 11};
  response.set(http::field::content_type, "application/xml");
  if (parser_.get().method() != http::verb::head) {
    response.body() = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>"
        "<Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        XmlEscape(error.code), XmlEscape(error.message), XmlEscape(Str(parser_.get().target())),
        request_id_);
  }
  return Send(response);
}

void Exchange::DrainSmallBody() {
  // An answer sent before a small body was read would leave the body unread, and closing with
  // unread bytes makes the kernel reset the connection before the client sees the answer. A
  // client that waits for 100 Continue has sent nothing yet, so that case needs no draining.
  constexpr uint64_t kMaxDrained = 1 << 20;
  if (parser_.is_done() || beast::iequals(parser_.get()[http::field::expect], "100-continue")) {
    return;
  }
  const auto length = DeclaredLength();
  if (!length || *length > kMaxDrained) return;
  char sink[16 << 10];
  while (!parser_.is_done()) {
    auto& body = parser_.get().body();
    body.data = sink;
    body.size = sizeof(sink);
    boost::system::error_code ec;
    {
      const SocketWait wait(activity_);
      http::read(stream_, buffer_, parser_, ec);
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return;
  }
}

Status Exchange::StartObject(http::response<http::buffer_body>& response, uint64_t length) {
  response.set(http::field::server, "depot");
  response.set("x-amz-request-id", request_id_);
  for (const auto& [name, value] : answer_headers_) response.set(name, value);
  response.keep_alive(Reusable());
  outcome_.status = response.result_int();
  const bool head = parser_.get().method() == http::verb::head;
  object_response_ = &response;
  object_left_ = head ? 0 : length;
  serializer_.emplace(response);
  response.body().data = nullptr;
  response.body().more = object_left_ > 0;
  // A small body follows at once: its headers go out with it, in one write (one segment, one
  // wake-up of the client instead of two).
  if (object_left_ > 0 && object_left_ <= kHeadersWithBody) return Status::Ok();
  boost::system::error_code ec;
  {
    const SocketWait wait(activity_);
    http::write_header(stream_, *serializer_, ec);
  }
  if (ec) return UnavailableError(fmt::format("sending headers: {}", ec.message()));
  return Status::Ok();
}

Status Exchange::WriteObject(std::string_view piece) {
  // Sent in slices, so a slow reader is timed per slice (idle_timeout), not per piece.
  constexpr size_t kSlice = 1 << 20;
  if (piece.size() > object_left_) {
    return InternalError(
        fmt::format("{} more bytes than the response declared", piece.size() - object_left_));
  }
  auto& body = object_response_->body();
  while (!piece.empty()) {
    const size_t n = std::min(piece.size(), kSlice);
    body.data = const_cast<char*>(piece.data());
    body.size = n;
    object_left_ -= n;
    body.more = object_left_ > 0;
    boost::system::error_code ec;
    {
      const SocketWait wait(activity_);
      http::write(stream_, *serializer_, ec);
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return UnavailableError(fmt::format("sending the body: {}", ec.message()));
    outcome_.bytes_out += n;
    piece.remove_prefix(n);
    activity_(false);
  }
  return Status::Ok();
}

bool Exchange::FinishObject() {
  if (!serializer_ || object_left_ > 0) return false;
  if (!serializer_->is_done()) {
    auto& body = object_response_->body();
    body.data = nullptr;
    body.size = 0;
    body.more = false;
    boost::system::error_code ec;
    {
      const SocketWait wait(activity_);
      http::write(stream_, *serializer_, ec);
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return false;
  }
  return Reusable();
}

}  // namespace depot::server
