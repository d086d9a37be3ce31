#include "depot/server/s3_server.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <condition_variable>
#include <functional>
#include <limits>
#include <list>
#include <mutex>
#include <thread>

#include "depot/core/base64.h"
#include "depot/core/md5.h"
#include "depot/core/url.h"
#include "depot/object/backend_util.h"
#include "depot/object/buffered_upload.h"
#include "depot/object/s3/signer.h"
#include "depot/object/s3/xml.h"
#include "depot/server/chunked_payload.h"
#include "depot/server/sigv4_verifier.h"

namespace depot::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using object::s3::XmlEscape;

constexpr std::string_view kBucketMarkers = "_buckets/";
constexpr size_t kIoChunk = 256 << 10;
constexpr uint64_t kGetChunk = 8 << 20;
// UploadPart bodies are held whole before they go to the store: parts above this are refused
// (EntityTooLarge) rather than risk the server's memory. awscli and boto3 send 8 MiB parts.
constexpr uint64_t kMaxServedPart = uint64_t{512} << 20;

// An S3 error to answer with.
struct S3Error {
  int status = 500;
  std::string code = "InternalError";
  std::string message;
};

S3Error FromStatus(const Status& status, std::string_view not_found_code = "NoSuchKey") {
  std::string message = status.message();
  // Errors from the verifier and the decoder carry S3's code first: "Code: detail".
  std::string code;
  const size_t colon = message.find(": ");
  if (colon != std::string::npos && colon > 0 &&
      std::all_of(message.begin(), message.begin() + static_cast<long>(colon),
                  [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; })) {
    code = message.substr(0, colon);
    message.erase(0, colon + 2);
  }
  switch (status.code()) {
    case StatusCode::kNotFound:
      return {404, std::string(not_found_code), message};
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      return {412, "PreconditionFailed", message};
    case StatusCode::kOutOfRange:
      return {416, "InvalidRange", message};
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return {403, code.empty() ? "AccessDenied" : code, message};
    case StatusCode::kInvalidArgument:
      return {400, code.empty() ? "InvalidArgument" : code, message};
    case StatusCode::kUnimplemented:
      return {501, "NotImplemented", message};
    case StatusCode::kUnavailable:
      return {503, "ServiceUnavailable", message};
    default:
      return {500, "InternalError", message};
  }
}

bool ValidBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                              c == '.';
                     }) &&
         name.front() != '-' && name.front() != '.' && name.back() != '-' && name.back() != '.';
}

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
  std::string HexFinish() {
    unsigned char digest[32];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_, digest, &length);
    std::string hex;
    for (unsigned i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
    return hex;
  }

 private:
  EVP_MD_CTX* ctx_;
};

using Request = http::request_parser<http::buffer_body>;

std::string Str(beast::string_view v) { return std::string(v.data(), v.size()); }

// One parsed request target: bucket, key and decoded query.
struct Target {
  std::string bucket;
  std::string key;
  std::map<std::string, std::string> query;
};

// Path-style: "/BUCKET/KEY"; the query as a map (the last of a repeated name wins).
Result<Target> SplitTarget(const RequestTarget& target) {
  Target out;
  const std::string& path = target.path;
  if (path.empty() || path[0] != '/') {
    return InvalidArgumentError(fmt::format("path \"{}\" does not start with /", path));
  }
  const size_t slash = path.find('/', 1);
  out.bucket = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  if (slash != std::string::npos) out.key = path.substr(slash + 1);
  for (const auto& [name, value] : target.query) out.query[name] = value;
  return out;
}

}  // namespace

class S3Server::Impl {
 public:
  Impl(std::shared_ptr<object::ObjectStore> store, S3ServerOptions options)
      : store_(std::move(store)), options_(std::move(options)), acceptor_(io_) {}

  ~Impl() { Stop(); }

  Status Listen() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(options_.host, ec);
    if (ec)
      return InvalidArgumentError(
          fmt::format("serve: host \"{}\": {}", options_.host, ec.message()));
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(options_.max_connections, ec);
    if (ec) {
      return UnavailableError(fmt::format("serve: cannot listen on {}:{}: {}", options_.host,
                                          options_.port, ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    reaper_thread_ = std::thread([this] { ReapLoop(); });
    return Status::Ok();
  }

  uint16_t port() const { return port_; }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& connection : connections_) ::shutdown(connection.fd, SHUT_RDWR);
    }
    reaper_cv_.notify_all();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    if (reaper_thread_.joinable()) reaper_thread_.join();
    std::unique_lock lock(mu_);
    all_closed_.wait(lock, [&] { return threads_ == 0; });
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  struct Connection {
    int fd = -1;
    std::chrono::steady_clock::time_point last_active;
  };

  void AcceptLoop() {
    while (true) {
      auto socket = std::make_unique<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      std::unique_lock lock(mu_);
      if (stopping_) return;
      if (ec) continue;
      connections_.push_back({socket->native_handle(), std::chrono::steady_clock::now()});
      auto self = std::prev(connections_.end());
      ++threads_;
      lock.unlock();
      std::thread([this, self, socket = std::move(socket)]() mutable {
        Serve(*socket, self);
        {
          // Forgotten before the descriptor is closed, so the reaper never shuts down a number
          // the kernel has handed out again.
          std::lock_guard lock(mu_);
          connections_.erase(self);
        }
        socket.reset();
        std::lock_guard lock(mu_);
        --threads_;
        all_closed_.notify_all();
      }).detach();
    }
  }

  // Closes connections idle (or stalled mid-request) for longer than idle_timeout.
  void ReapLoop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      reaper_cv_.wait_for(lock, std::chrono::seconds(1));
      const auto now = std::chrono::steady_clock::now();
      for (auto& connection : connections_) {
        if (now - connection.last_active > options_.idle_timeout)
          ::shutdown(connection.fd, SHUT_RDWR);
      }
    }
  }

  void Touch(std::list<Connection>::iterator self) {
    std::lock_guard lock(mu_);
    self->last_active = std::chrono::steady_clock::now();
  }

  void Serve(tcp::socket& socket, std::list<Connection>::iterator self) {
    beast::flat_buffer buffer;
    while (true) {
      Request parser;
      parser.header_limit(static_cast<uint32_t>(options_.max_header_bytes));
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      boost::system::error_code ec;
      http::read_header(socket, buffer, parser, ec);
      if (ec == http::error::end_of_stream || ec == asio::error::eof) return;
      if (ec) {
        if (&ec.category() == &http::make_error_code(http::error::bad_target).category()) {
          (void)SendError(socket, {400, "BadRequest", ec.message()}, "", false);
        }
        return;
      }
      Touch(self);
      const bool keep_alive = Handle(socket, buffer, parser, self);
      Touch(self);
      if (!keep_alive) return;
    }
  }

  bool SendError(tcp::socket& socket, const S3Error& error, std::string_view resource,
                 bool keep_alive, bool head = false) {
    const std::string request_id = fmt::format("{:016x}", ++request_ids_);
    http::response<http::string_body> response{static_cast<http::status>(error.status), 11};
    response.set(http::field::server, "depot");
    response.set("x-amz-request-id", request_id);
    response.set(http::field::content_type, "application/xml");
    if (!head) {
      response.body() = fmt::format(
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>"
          "<Resource>{}</Resource><RequestId>{}</RequestId></Error>",
          XmlEscape(error.code), XmlEscape(error.message), XmlEscape(resource), request_id);
    }
    response.keep_alive(keep_alive);
    response.prepare_payload();
    boost::system::error_code ec;
    http::write(socket, response, ec);
    return !ec && keep_alive;
  }

  bool SendXml(tcp::socket& socket, int status, std::string body, bool keep_alive,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::response<http::string_body> response{static_cast<http::status>(status), 11};
    response.set(http::field::server, "depot");
    for (const auto& [name, value] : headers) response.set(name, value);
    if (!body.empty()) {
      response.set(http::field::content_type, "application/xml");
      response.body() = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body;
    }
    response.keep_alive(keep_alive);
    response.prepare_payload();
    boost::system::error_code ec;
    http::write(socket, response, ec);
    return !ec && keep_alive;
  }

  // Reads the request body (whatever its size) into `sink`, decoding aws-chunked and checking the
  // signed payload hash and Content-MD5. Returns the S3 error, if any; the body is always drained
  // or the connection marked for closing.
  Status ReadBody(tcp::socket& socket, beast::flat_buffer& buffer, Request& parser,
                  const Authenticated& who, std::list<Connection>::iterator self,
                  const std::function<Status(std::string_view)>& sink) {
    const auto& fields = parser.get();
    std::optional<ChunkedPayloadDecoder> chunked;
    if (who.payload_sha256 == kStreamingPayload) {
      std::optional<uint64_t> decoded;
      if (auto it = fields.find("x-amz-decoded-content-length"); it != fields.end()) {
        uint64_t n = 0;
        const auto value = it->value();
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || end != value.data() + value.size()) {
          return InvalidArgumentError(
              "InvalidArgument: x-amz-decoded-content-length is not a number");
        }
        decoded = n;
      }
      chunked.emplace(who, decoded);
    }
    const bool check_sha = who.payload_sha256.size() == 64;
    Sha256 sha;
    std::optional<Md5> md5;
    std::string expected_md5;
    if (auto it = fields.find(http::field::content_md5); it != fields.end()) {
      expected_md5 = Str(it->value());
      md5.emplace();
    }
    Status failed;
    std::string chunk(kIoChunk, '\0');
    std::string decoded;
    while (!parser.is_done()) {
      auto& body = parser.get().body();
      body.data = chunk.data();
      body.size = chunk.size();
      boost::system::error_code ec;
      http::read(socket, buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return UnavailableError(fmt::format("IncompleteBody: {}", ec.message()));
      const std::string_view got(chunk.data(), chunk.size() - body.size);
      Touch(self);
      if (!failed.ok()) continue;  // drain
      if (check_sha) sha.Update(got);
      std::string_view payload = got;
      if (chunked) {
        decoded.clear();
        failed = chunked->Feed(got, decoded);
        payload = decoded;
      }
      if (failed.ok() && md5) md5->Update(payload);
      if (failed.ok()) failed = sink(payload);
    }
    if (!failed.ok()) return failed;
    if (chunked) DEPOT_RETURN_IF_ERROR(chunked->Finish());
    if (check_sha && sha.HexFinish() != who.payload_sha256) {
      return InvalidArgumentError(
          "XAmzContentSHA256Mismatch: the provided x-amz-content-sha256 header does not match "
          "what was computed");
    }
    if (md5) {
      const auto digest = md5->Finish();
      const std::string actual =
          Base64Encode(std::string_view(reinterpret_cast<const char*>(digest.data()), 16));
      if (actual != expected_md5) {
        return InvalidArgumentError(
            "BadDigest: the Content-MD5 you specified did not match what we received");
      }
    }
    return Status::Ok();
  }

  Result<bool> BucketExists(const std::string& bucket) {
    auto marker = store_->Head(std::string(kBucketMarkers) + bucket);
    if (marker.ok()) return true;
    if (marker.status().code() == StatusCode::kNotFound) return false;
    return marker.status();
  }

  bool Handle(tcp::socket& socket, beast::flat_buffer& buffer, Request& parser,
              std::list<Connection>::iterator self) {
    const auto& request = parser.get();
    const bool keep_alive = request.keep_alive();
    const std::string raw_target = Str(request.target());
    const std::string method(Str(request.method_string()));
    const bool head = request.method() == http::verb::head;
    const bool has_body = !parser.is_done();
    // A body not read is not drained: the connection closes after the answer.
    auto fail = [&](const S3Error& error) {
      return SendError(socket, error, raw_target, keep_alive && !has_body, head);
    };

    IncomingRequest incoming{method, raw_target, {}};
    for (const auto& field : request) {
      incoming.headers.emplace_back(Str(field.name_string()), Str(field.value()));
    }
    auto who = VerifySigV4(incoming,
                           [&](std::string_view key) -> std::optional<std::string> {
                             auto it = options_.credentials.find(std::string(key));
                             if (it == options_.credentials.end()) return std::nullopt;
                             return it->second;
                           },
                           std::chrono::system_clock::now(), {});
    if (!who.ok()) return fail(FromStatus(who.status()));
    auto target = SplitTarget(who->target);
    if (!target.ok()) return fail({400, "InvalidURI", target.status().message()});
    if (has_body && beast::iequals(request[http::field::expect], "100-continue")) {
      // The client waits for this before it sends the body (awscli does, for a second).
      http::response<http::empty_body> proceed{http::status::continue_, 11};
      boost::system::error_code ec;
      http::write(socket, proceed, ec);
      if (ec) return false;
    }

    if (target->bucket.empty()) {
      if (request.method() != http::verb::get) return fail({405, "MethodNotAllowed", "on /"});
      return ListBuckets(socket, keep_alive);
    }
    if (!ValidBucketName(target->bucket)) {
      return fail({400, "InvalidBucketName", fmt::format("\"{}\"", target->bucket)});
    }
    if (target->key.empty())
      return BucketRequest(socket, buffer, parser, *who, *target, self, fail);
    return ObjectRequest(socket, buffer, parser, *who, *target, self, fail);
  }

  bool ListBuckets(tcp::socket& socket, bool keep_alive) {
    std::string xml =
        "<ListAllMyBucketsResult><Owner><ID>depot</ID><DisplayName>depot</DisplayName></Owner>"
        "<Buckets>";
    std::string token;
    do {
      object::ListOptions list{.prefix = std::string(kBucketMarkers), .continuation_token = token};
      auto page = store_->List(list);
      if (!page.ok()) return SendError(socket, FromStatus(page.status()), "/", keep_alive);
      for (const auto& marker : page->objects) {
        xml += fmt::format("<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                           XmlEscape(marker.key.substr(kBucketMarkers.size())),
                           object::s3::FormatIso8601(marker.last_modified));
      }
      token = page->next_continuation_token;
    } while (!token.empty());
    xml += "</Buckets></ListAllMyBucketsResult>";
    return SendXml(socket, 200, std::move(xml), keep_alive);
  }

  template <typename Fail>
  bool BucketRequest(tcp::socket& socket, beast::flat_buffer& buffer, Request& parser,
                     const Authenticated& who, const Target& target,
                     std::list<Connection>::iterator self, Fail& fail) {
    const auto& request = parser.get();
    const bool keep_alive = request.keep_alive();
    const std::string marker = std::string(kBucketMarkers) + target.bucket;
    const std::string location = "/" + target.bucket;
    switch (request.method()) {
      case http::verb::put: {
        // The body (a CreateBucketConfiguration) is read and checked, its region not enforced.
        Status body = ReadBody(socket, buffer, parser, who, self,
                               [](std::string_view) { return Status::Ok(); });
        if (!body.ok()) return fail(FromStatus(body));
        auto created = store_->Put(marker, Bytes(), {.mode = object::PutMode::kCreate});
        if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) {
          return SendError(socket,
                           {409, "BucketAlreadyOwnedByYou",
                            fmt::format("bucket {} already exists and is yours", target.bucket)},
                           location, keep_alive);
        }
        if (!created.ok())
          return SendError(socket, FromStatus(created.status()), location, keep_alive);
        return SendXml(socket, 200, "", keep_alive, {{"Location", location}});
      }
      case http::verb::head:
      case http::verb::get:
      case http::verb::delete_: {
        auto exists = BucketExists(target.bucket);
        if (!exists.ok()) return fail(FromStatus(exists.status()));
        if (!*exists) {
          return fail(
              {404, "NoSuchBucket", fmt::format("bucket {} does not exist", target.bucket)});
        }
        if (request.method() == http::verb::head) return SendXml(socket, 200, "", keep_alive);
        if (request.method() == http::verb::get)
          return ListObjects(socket, target, keep_alive, fail);
        auto page = store_->List({.prefix = target.bucket + "/", .max_keys = 1});
        if (!page.ok()) return fail(FromStatus(page.status()));
        if (!page->objects.empty()) {
          return fail(
              {409, "BucketNotEmpty", fmt::format("bucket {} holds objects", target.bucket)});
        }
        Status deleted = store_->Delete(marker);
        if (!deleted.ok()) return fail(FromStatus(deleted));
        return SendXml(socket, 204, "", keep_alive);
      }
      default:
        return fail(
            {501, "NotImplemented", fmt::format("{} on a bucket", Str(request.method_string()))});
    }
  }

  template <typename Fail>
  bool ListObjects(tcp::socket& socket, const Target& target, bool keep_alive, Fail& fail) {
    auto param = [&](const char* name) -> std::string {
      auto it = target.query.find(name);
      return it == target.query.end() ? "" : it->second;
    };
    // ListObjectsV2 (list-type=2) pages by continuation token, V1 by marker (the last key seen).
    const bool v2 = param("list-type") == "2";
    const bool url_encode = param("encoding-type") == "url";
    auto encode = [&](std::string_view s) {
      return XmlEscape(url_encode ? PercentEncode(s, "/") : std::string(s));
    };
    size_t max_keys = 1000;
    if (const std::string text = param("max-keys"); !text.empty()) {
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), max_keys);
      if (ec != std::errc() || end != text.data() + text.size()) {
        return fail({400, "InvalidArgument", fmt::format("max-keys \"{}\" is not a number", text)});
      }
      max_keys = std::min<size_t>(max_keys, 1000);
    }
    const std::string root = target.bucket + "/";
    object::ListOptions list;
    list.prefix = root + param("prefix");
    list.delimiter = param("delimiter");
    if (const std::string after = param(v2 ? "start-after" : "marker"); !after.empty()) {
      list.start_after = root + after;
    }
    if (v2) list.continuation_token = param("continuation-token");
    list.max_keys = std::max<size_t>(max_keys, 1);
    object::ListResult page;
    if (max_keys > 0) {
      auto listed = store_->List(list);
      if (!listed.ok()) return fail(FromStatus(listed.status()));
      page = std::move(*listed);
    }
    const bool truncated = !page.next_continuation_token.empty();
    std::string xml = fmt::format(
        "<ListBucketResult><Name>{}</Name><Prefix>{}</Prefix><MaxKeys>{}</MaxKeys>"
        "<IsTruncated>{}</IsTruncated>",
        XmlEscape(target.bucket), encode(param("prefix")), max_keys, truncated ? "true" : "false");
    if (v2) {
      xml +=
          fmt::format("<KeyCount>{}</KeyCount>", page.objects.size() + page.common_prefixes.size());
      if (!list.continuation_token.empty()) {
        xml += fmt::format("<ContinuationToken>{}</ContinuationToken>",
                           XmlEscape(list.continuation_token));
      }
      if (truncated) {
        xml += fmt::format("<NextContinuationToken>{}</NextContinuationToken>",
                           XmlEscape(page.next_continuation_token));
      }
      if (const std::string after = param("start-after"); !after.empty()) {
        xml += fmt::format("<StartAfter>{}</StartAfter>", encode(after));
      }
    } else {
      xml += fmt::format("<Marker>{}</Marker>", encode(param("marker")));
      // The last key or prefix of the page, whichever sorts last: where the next page starts.
      std::string last = page.objects.empty() ? "" : page.objects.back().key;
      if (!page.common_prefixes.empty()) last = std::max(last, page.common_prefixes.back());
      if (truncated && !last.empty()) {
        xml += fmt::format("<NextMarker>{}</NextMarker>",
                           encode(std::string_view(last).substr(root.size())));
      }
    }
    if (!list.delimiter.empty()) {
      xml += fmt::format("<Delimiter>{}</Delimiter>", encode(list.delimiter));
    }
    if (url_encode) xml += "<EncodingType>url</EncodingType>";
    for (const auto& object : page.objects) {
      xml += fmt::format(
          "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag>"
          "<Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
          encode(std::string_view(object.key).substr(root.size())),
          object::s3::FormatIso8601(object.last_modified), XmlEscape(object.etag), object.size);
    }
    for (const auto& prefix : page.common_prefixes) {
      xml += fmt::format("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                         encode(std::string_view(prefix).substr(root.size())));
    }
    xml += "</ListBucketResult>";
    return SendXml(socket, 200, std::move(xml), keep_alive);
  }

  template <typename Fail>
  bool ObjectRequest(tcp::socket& socket, beast::flat_buffer& buffer, Request& parser,
                     const Authenticated& who, const Target& target,
                     std::list<Connection>::iterator self, Fail& fail) {
    const auto& request = parser.get();
    const bool keep_alive = request.keep_alive();
    const bool multipart = target.query.contains("uploads") || target.query.contains("uploadId");
    if (!multipart && std::any_of(target.query.begin(), target.query.end(), [](const auto& q) {
          return !q.first.starts_with("X-Amz-") && !q.first.starts_with("x-id") &&
                 !q.first.starts_with("response-");
        })) {
      return fail(
          {501, "NotImplemented",
           fmt::format("{} with ?{}", Str(request.method_string()), target.query.begin()->first)});
    }
    auto exists = BucketExists(target.bucket);
    if (!exists.ok()) return fail(FromStatus(exists.status()));
    if (!*exists) {
      return fail({404, "NoSuchBucket", fmt::format("bucket {} does not exist", target.bucket)});
    }
    const std::string key = target.bucket + "/" + target.key;
    if (multipart) return Multipart(socket, buffer, parser, who, target, key, self, fail);
    switch (request.method()) {
      case http::verb::put:
        return PutObject(socket, buffer, parser, who, key, self, fail);
      case http::verb::get:
      case http::verb::head:
        return GetObject(socket, request, key, fail);
      case http::verb::delete_: {
        Status deleted = store_->Delete(key);
        if (!deleted.ok()) return fail(FromStatus(deleted));
        return SendXml(socket, 204, "", keep_alive);
      }
      default:
        return fail(
            {501, "NotImplemented", fmt::format("{} on an object", Str(request.method_string()))});
    }
  }

  // CreateMultipartUpload (POST ?uploads), UploadPart (PUT ?partNumber&uploadId),
  // CompleteMultipartUpload (POST ?uploadId) and AbortMultipartUpload (DELETE ?uploadId), on the
  // backing store's own multipart uploads.
  template <typename Fail>
  bool Multipart(tcp::socket& socket, beast::flat_buffer& buffer, Request& parser,
                 const Authenticated& who, const Target& target, const std::string& key,
                 std::list<Connection>::iterator self, Fail& fail) {
    const auto& request = parser.get();
    const bool keep_alive = request.keep_alive();
    auto no_upload = [&](const Status& status) {
      if (status.code() == StatusCode::kNotFound) {
        return S3Error{404, "NoSuchUpload", status.message()};
      }
      S3Error error = FromStatus(status);
      for (const char* code : {"InvalidPartOrder", "InvalidPart", "EntityTooSmall"}) {
        if (status.code() == StatusCode::kInvalidArgument &&
            status.message().find(code) != std::string::npos) {
          error.code = code;
          break;
        }
      }
      return error;
    };
    // A small body held whole (a part, or a part list).
    auto read_all = [&](std::string& into, uint64_t limit) {
      return ReadBody(socket, buffer, parser, who, self, [&](std::string_view data) {
        if (into.size() + data.size() > limit) {
          return InvalidArgumentError(
              fmt::format("EntityTooLarge: the body is larger than the {} bytes served", limit));
        }
        into.append(data);
        return Status::Ok();
      });
    };
    const std::string bucket_xml = XmlEscape(target.bucket);
    const std::string key_xml = XmlEscape(target.key);
    if (target.query.contains("uploads") && request.method() == http::verb::post) {
      object::PutOptions put;
      for (const auto& field : request) {
        const std::string name = Lower(Str(field.name_string()));
        if (name == "content-type") put.content_type = Str(field.value());
        if (name.starts_with("x-amz-meta-"))
          put.user_metadata[name.substr(11)] = Str(field.value());
      }
      std::string ignored;
      if (Status body = read_all(ignored, 1 << 20); !body.ok()) return fail(FromStatus(body));
      auto id = store_->CreateMultipart(key, put);
      if (!id.ok()) return fail(FromStatus(id.status()));
      return SendXml(socket, 200,
                     fmt::format("<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key>"
                                 "<UploadId>{}</UploadId></InitiateMultipartUploadResult>",
                                 bucket_xml, key_xml, XmlEscape(*id)),
                     keep_alive);
    }
    const auto id = target.query.find("uploadId");
    if (id == target.query.end()) return fail({400, "InvalidRequest", "no uploadId"});
    const std::string& upload_id = id->second;
    switch (request.method()) {
      case http::verb::put: {
        const auto number_it = target.query.find("partNumber");
        int number = 0;
        if (number_it != target.query.end()) {
          const std::string& text = number_it->second;
          std::from_chars(text.data(), text.data() + text.size(), number);
        }
        if (number < 1 || number > 10000) {
          return fail({400, "InvalidArgument",
                       fmt::format("partNumber \"{}\" is not 1..10000",
                                   number_it == target.query.end() ? "" : number_it->second)});
        }
        if (request.find("x-amz-copy-source") != request.end()) {
          return fail({501, "NotImplemented", "UploadPartCopy"});
        }
        std::string data;
        if (Status body = read_all(data, kMaxServedPart); !body.ok()) {
          return SendError(socket, FromStatus(body), key, keep_alive && parser.is_done());
        }
        auto part = store_->PutPart(key, upload_id, number, Bytes::FromString(std::move(data)));
        if (!part.ok()) return SendError(socket, no_upload(part.status()), key, keep_alive);
        return SendXml(socket, 200, "", keep_alive, {{"ETag", fmt::format("\"{}\"", part->etag)}});
      }
      case http::verb::post: {
        std::string body_xml;
        if (Status body = read_all(body_xml, 4 << 20); !body.ok()) {
          return SendError(socket, FromStatus(body), key, keep_alive && parser.is_done());
        }
        auto parts = object::s3::ParseCompleteMultipartUpload(body_xml);
        if (!parts.ok()) {
          return SendError(socket, {400, "MalformedXML", parts.status().message()}, key,
                           keep_alive);
        }
        auto done = store_->CompleteMultipart(key, upload_id, *parts);
        if (!done.ok()) return SendError(socket, no_upload(done.status()), key, keep_alive);
        return SendXml(socket, 200,
                       fmt::format("<CompleteMultipartUploadResult><Location>/{}/{}</Location>"
                                   "<Bucket>{}</Bucket><Key>{}</Key><ETag>&quot;{}&quot;</ETag>"
                                   "</CompleteMultipartUploadResult>",
                                   bucket_xml, key_xml, bucket_xml, key_xml, XmlEscape(done->etag)),
                       keep_alive);
      }
      case http::verb::delete_: {
        Status aborted = store_->AbortMultipart(key, upload_id);
        if (!aborted.ok()) return fail(no_upload(aborted));
        return SendXml(socket, 204, "", keep_alive);
      }
      default:
        return fail({501, "NotImplemented", "ListParts"});
    }
  }

  template <typename Fail>
  bool PutObject(tcp::socket& socket, beast::flat_buffer& buffer, Request& parser,
                 const Authenticated& who, const std::string& key,
                 std::list<Connection>::iterator self, Fail& fail) {
    const auto& request = parser.get();
    const bool keep_alive = request.keep_alive();
    object::BufferedUploadOptions upload_options;
    object::PutOptions& put = upload_options.put_options;
    for (const auto& field : request) {
      std::string name = Lower(Str(field.name_string()));
      if (name == "content-type") put.content_type = Str(field.value());
      if (name.starts_with("x-amz-meta-")) put.user_metadata[name.substr(11)] = Str(field.value());
      if (name == "if-none-match") {
        if (field.value() != "*")
          return fail({501, "NotImplemented", "If-None-Match other than *"});
        put.mode = object::PutMode::kCreate;
      }
      if (name == "if-match") {
        put.mode = object::PutMode::kUpdate;
        put.if_match = object::s3::Unquote(Str(field.value()));
      }
      if (name == "x-amz-copy-source") return fail({501, "NotImplemented", "CopyObject"});
    }
    auto upload = object::BufferedUpload::Start(*store_, key, upload_options);
    if (!upload.ok()) return fail(FromStatus(upload.status()));
    Status body = ReadBody(socket, buffer, parser, who, self,
                           [&](std::string_view data) { return (*upload)->Write(data); });
    if (!body.ok()) {
      (void)(*upload)->Abort();
      return SendError(socket, FromStatus(body), key, keep_alive && parser.is_done());
    }
    auto done = (*upload)->Finish();
    if (!done.ok()) return SendError(socket, FromStatus(done.status()), key, keep_alive);
    return SendXml(socket, 200, "", keep_alive, {{"ETag", fmt::format("\"{}\"", done->etag)}});
  }

  template <typename Fail>
  bool GetObject(tcp::socket& socket, const http::request<http::buffer_body>& request,
                 const std::string& key, Fail& fail) {
    const bool keep_alive = request.keep_alive();
    const bool head = request.method() == http::verb::head;
    object::GetOptions options;
    options.head = true;
    if (auto it = request.find(http::field::if_match); it != request.end()) {
      options.if_match = object::s3::Unquote(Str(it->value()));
    }
    if (auto it = request.find(http::field::if_none_match); it != request.end()) {
      options.if_none_match = object::s3::Unquote(Str(it->value()));
    }
    if (auto it = request.find(http::field::if_modified_since); it != request.end()) {
      if (auto t = object::s3::ParseHttpDate(Str(it->value())); t.ok())
        options.if_modified_since = *t;
    }
    if (auto it = request.find(http::field::if_unmodified_since); it != request.end()) {
      if (auto t = object::s3::ParseHttpDate(Str(it->value())); t.ok())
        options.if_unmodified_since = *t;
    }
    auto meta = store_->Get(key, options);
    if (!meta.ok()) return fail(FromStatus(meta.status()));
    ResolvedRange range{0, meta->meta.size};
    bool partial = false;
    if (auto it = request.find(http::field::range); it != request.end() && !meta->not_modified) {
      auto parsed = ByteRange::ParseHttp(Str(it->value()));
      if (!parsed.ok()) return fail({400, "InvalidArgument", parsed.status().message()});
      auto resolved = parsed->Validate(meta->meta.size);
      if (!resolved.ok()) return fail(FromStatus(resolved.status()));
      range = *resolved;
      partial = true;
    }
    http::response<http::buffer_body> response{
        meta->not_modified ? http::status::not_modified
                           : (partial ? http::status::partial_content : http::status::ok),
        11};
    response.set(http::field::server, "depot");
    response.set(http::field::etag, fmt::format("\"{}\"", meta->meta.etag));
    response.set(http::field::last_modified, object::s3::FormatHttpDate(meta->meta.last_modified));
    response.set(http::field::accept_ranges, "bytes");
    if (!meta->not_modified) {
      response.set(http::field::content_type, meta->meta.content_type.empty()
                                                  ? "binary/octet-stream"
                                                  : meta->meta.content_type);
      for (const auto& [name, value] : meta->meta.user_metadata)
        response.set("x-amz-meta-" + name, value);
      if (partial) {
        response.set(
            http::field::content_range,
            fmt::format("bytes {}-{}/{}", range.begin,
                        range.length() == 0 ? range.begin : range.end - 1, meta->meta.size));
      }
      response.content_length(range.length());
    }
    response.keep_alive(keep_alive);
    boost::system::error_code ec;
    http::response_serializer<http::buffer_body> serializer{response};
    response.body().data = nullptr;
    response.body().more = !head && !meta->not_modified && range.length() > 0;
    http::write_header(socket, serializer, ec);
    if (ec) return false;
    for (uint64_t at = range.begin; response.body().more && at < range.end;) {
      object::GetOptions piece;
      piece.if_match = meta->meta.etag;
      piece.range = ByteRange::Bounded(at, std::min(range.end, at + kGetChunk));
      auto got = store_->Get(key, piece);
      if (!got.ok() || got->data.empty()) return false;  // mid-body: all we can do is close
      at += got->data.size();
      response.body().data = const_cast<char*>(got->data.data());
      response.body().size = got->data.size();
      response.body().more = at < range.end;
      http::write(socket, serializer, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return false;
    }
    if (!serializer.is_done()) {
      response.body().data = nullptr;
      response.body().size = 0;
      response.body().more = false;
      http::write(socket, serializer, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return false;
    }
    return keep_alive;
  }

  static std::string Lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  }

  std::shared_ptr<object::ObjectStore> store_;
  const S3ServerOptions options_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::thread reaper_thread_;
  std::atomic<uint64_t> request_ids_{0};

  std::mutex mu_;
  std::condition_variable all_closed_;
  std::condition_variable reaper_cv_;
  std::list<Connection> connections_;  // guarded by mu_
  int threads_ = 0;                    // connection threads still running; guarded by mu_
  bool stopping_ = false;              // guarded by mu_
};

Result<std::unique_ptr<S3Server>> S3Server::Start(std::shared_ptr<object::ObjectStore> store,
                                                  S3ServerOptions options) {
  if (store == nullptr) return InvalidArgumentError("serve: no store");
  if (options.credentials.empty()) {
    return InvalidArgumentError("serve: no credentials (anonymous access is not served)");
  }
  if (options.max_connections < 1) {
    return InvalidArgumentError(
        fmt::format("serve: max_connections {} must be at least 1", options.max_connections));
  }
  auto impl = std::make_unique<Impl>(std::move(store), std::move(options));
  DEPOT_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<S3Server>(new S3Server(std::move(impl)));
}

S3Server::S3Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3Server::~S3Server() { Stop(); }
uint16_t S3Server::port() const { return impl_->port(); }
void S3Server::Stop() { impl_->Stop(); }

}  // namespace depot::server
