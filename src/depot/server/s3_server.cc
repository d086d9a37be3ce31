#include "depot/server/s3_server.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <poll.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <limits>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "depot/core/ascii.h"
#include "depot/core/mutex.h"
#include "depot/s3/chunked_payload.h"
#include "depot/s3/sigv4_verifier.h"
#include "depot/s3/xml.h"
#include "depot/server/access.h"
#include "depot/server/byte_stream.h"
#include "depot/server/cors.h"
#include "depot/server/exchange.h"
#include "depot/server/form_data.h"
#include "depot/server/lifecycle.h"
#include "depot/server/operations.h"
#include "depot/server/request_features.h"

namespace depot::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// The largest body of a request to the node endpoint: a signed message, or a blob put through
// the node's admin route (held in memory).
constexpr uint64_t kMaxNodeBody = uint64_t{256} << 20;

std::string Str(beast::string_view v) { return std::string(v.data(), v.size()); }

// A request target fit for a log: a presigned URL's signature, credential and session token
// would let whoever reads the log replay it, so their values are cut.
std::string Redacted(std::string target) {
  // The node's admin routes carry their token as the path segment after this prefix.
  constexpr std::string_view kAdmin = "/_node/v1/admin/";
  if (target.starts_with(kAdmin)) {
    const size_t end = target.find('/', kAdmin.size());
    target.replace(kAdmin.size(),
                   end == std::string::npos ? std::string::npos : end - kAdmin.size(), "REDACTED");
  }
  for (std::string_view name : {"X-Amz-Signature=", "X-Amz-Credential=", "X-Amz-Security-Token="}) {
    const size_t at = target.find(name);
    if (at == std::string::npos) continue;
    const size_t begin = at + name.size();
    const size_t end = target.find('&', begin);
    target.replace(begin, end == std::string::npos ? std::string::npos : end - begin, "REDACTED");
  }
  return target;
}

// Each name belongs to a user among the credentials, and no two users show as the same id (a user
// without a name shows as its access key).
Status ValidateNames(const S3ServerOptions& options) {
  std::map<std::string, std::string> ids;  // id -> access key
  for (const auto& [access, secret] : options.credentials) {
    auto named = options.names.find(access);
    const std::string id = named != options.names.end() ? named->second.id : access;
    if (named != options.names.end() && (id.empty() || named->second.display_name.empty())) {
      return InvalidArgumentError(
          fmt::format("serve: user {} has an empty canonical id or display name", access));
    }
    if (auto [it, added] = ids.emplace(id, access); !added) {
      return InvalidArgumentError(fmt::format(
          "serve: users {} and {} would both show as owner id \"{}\"", it->second, access, id));
    }
  }
  for (const auto& [access, name] : options.names) {
    if (!options.credentials.contains(access)) {
      return InvalidArgumentError(fmt::format(
          "serve: a name (id \"{}\") is given for {}, which is not among the credentials", name.id,
          access));
    }
  }
  return Status::Ok();
}

}  // namespace

class S3Server::Impl {
 public:
  Impl(std::shared_ptr<object::ObjectStore> store, S3ServerOptions options)
      : store_(std::move(store)),
        options_(std::move(options)),
        access_(*store_, {options_.admins.begin(), options_.admins.end()}, AllNames(options_)),
        body_budget_(options_.max_body_memory),
        transfers_(options_.transfer_threads, 4 * options_.transfer_threads),
        limits_{options_.max_object_bytes,
                options_.max_part_bytes,
                &body_budget_,
                &transfers_,
                &completed_,
                options_.sse_master_key.empty()
                    ? std::nullopt
                    : std::optional<SealKey>(ServiceKey(options_.sse_master_key)),
                options_.allow_sse_c_over_http},
        lifecycle_(*store_, access_, options_.lifecycle_day),
        acceptor_(io_) {}

  ~Impl() { Stop(); }

  Status Listen() {
    if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
      return InvalidArgumentError(fmt::format(
          "serve: TLS needs both a certificate and a key (got certificate \"{}\", key \"{}\")",
          options_.tls_cert_file, options_.tls_key_file));
    }
    if (!options_.tls_cert_file.empty()) {
      DEPOT_ASSIGN_OR_RETURN(tls_, MakeTlsContext(options_.tls_cert_file, options_.tls_key_file));
    }
    if (!options_.access_log.empty()) {
      try {
        if (options_.access_log == "-") {
          access_log_ = std::make_shared<spdlog::logger>(
              "depot-access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
        } else {
          access_log_ = std::make_shared<spdlog::logger>(
              "depot-access",
              std::make_shared<spdlog::sinks::basic_file_sink_mt>(options_.access_log));
        }
      } catch (const spdlog::spdlog_ex& e) {
        return UnavailableError(
            fmt::format("serve: access log \"{}\": {}", options_.access_log, e.what()));
      }
      access_log_->set_pattern("%v");
      access_log_->flush_on(spdlog::level::info);
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(options_.host, ec);
    if (ec) {
      return InvalidArgumentError(
          fmt::format("serve: host \"{}\": {}", options_.host, ec.message()));
    }
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return UnavailableError(fmt::format("serve: cannot listen on {}:{}: {}", options_.host,
                                          options_.port, ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    DEPOT_RETURN_IF_ERROR(ReportOwnerlessBuckets());
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    reaper_thread_ = std::thread([this] { ReapLoop(); });
    // A pass every tenth of a day, at most an hour apart.
    lifecycle_.Start(std::clamp<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.lifecycle_day) / 10,
        std::chrono::milliseconds(100), std::chrono::hours(1)));
    return Status::Ok();
  }

  uint16_t port() const { return port_; }

  // Buckets made before owners were recorded belong to the admins: say so, once, at start-up.
  Status ReportOwnerlessBuckets() {
    auto buckets = access_.ListBuckets(Context(stop_.token()));
    if (!buckets.ok()) return buckets.status().WithContext("serve: listing buckets");
    std::vector<std::string> ownerless;
    for (const BucketInfo& bucket : *buckets) {
      if (bucket.owner.empty()) ownerless.push_back(bucket.name);
    }
    if (ownerless.empty()) return Status::Ok();
    if (options_.admins.empty()) {
      spdlog::warn(
          "serve: {} bucket(s) made before owners were recorded belong to the admins, and no user "
          "is an admin (mark one \"admin\" in the credentials file): {}",
          ownerless.size(), fmt::join(ownerless, ", "));
    } else {
      spdlog::info(
          "serve: {} bucket(s) made before owners were recorded belong to the admins ({}): {}",
          ownerless.size(), fmt::join(options_.admins, ", "), fmt::join(ownerless, ", "));
    }
    return Status::Ok();
  }

  void Stop() {
    stop_.Cancel();  // store calls in progress end now (an S3 backend's retries included)
    {
      MutexLock lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& connection : connections_) ::shutdown(connection.fd, SHUT_RDWR);
    }
    reaper_cv_.NotifyAll();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    if (reaper_thread_.joinable()) reaper_thread_.join();
    lifecycle_.Stop();
    MutexLock lock(mu_);
    while (!(threads_ == 0)) all_closed_.Wait(lock);
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (access_log_) access_log_->flush();
  }

 private:
  // One open connection. The list is guarded by mu_; the fields its thread updates on every
  // request are atomics, so the hot path takes no lock.
  struct Connection {
    int fd = -1;
    std::atomic<int64_t> last_active{0};  // steady clock, ns
    std::atomic<bool> idle{true};         // waiting for a request
    std::atomic<bool> in_io{false};       // blocked on its socket mid-request
  };
  using ConnectionRef = std::list<Connection>::iterator;

  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               SteadyClock::now().time_since_epoch())
        .count();
  }

  // Room for one more connection: true if there is (closing the longest-idle keep-alive
  // connection if that is what it takes).
  bool MakeRoomLocked() DEPOT_REQUIRES(mu_) {
    if (connections_.size() < static_cast<size_t>(options_.max_connections)) return true;
    ConnectionRef oldest = connections_.end();
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->idle && (oldest == connections_.end() || it->last_active < oldest->last_active)) {
        oldest = it;
      }
    }
    if (oldest == connections_.end()) return false;
    ::shutdown(oldest->fd, SHUT_RDWR);
    oldest->idle = false;  // closing: not a candidate again
    return true;
  }

  void AcceptLoop() {
    while (true) {
      auto socket = std::make_unique<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      MutexLock lock(mu_);
      if (stopping_) return;
      if (ec) {
        // Out of descriptors or memory, most likely: wait for connections to close.
        lock.Unlock();
        spdlog::warn("serve: accept failed: {}", ec.message());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      // Headers and bodies go out in separate writes: no Nagle delay between them.
      socket->set_option(tcp::no_delay(true), ec);
      if (!MakeRoomLocked()) {
        lock.Unlock();
        // Over TLS an answer would need a handshake first, on this thread: just close.
        if (tls_ == nullptr) RefuseBusy(*socket);
        continue;
      }
      connections_.emplace_back();
      auto self = std::prev(connections_.end());
      self->fd = socket->native_handle();
      self->last_active = NowNs();
      ++threads_;
      lock.Unlock();
      // Shared so that this loop still holds the socket if the thread cannot start.
      std::shared_ptr<tcp::socket> shared = std::move(socket);
      try {
        std::thread([this, self, shared]() mutable {
          ServeGuarded(*shared, self);
          Forget(self);
          shared.reset();
          MutexLock lock(mu_);
          --threads_;
          all_closed_.NotifyAll();
        }).detach();
      } catch (const std::system_error& e) {
        spdlog::warn("serve: cannot start a connection thread: {}", e.what());
        Forget(self);
        shared.reset();
        MutexLock relock(mu_);
        --threads_;
        all_closed_.NotifyAll();
      }
    }
  }

  // Forgotten before the descriptor is closed, so the reaper never shuts down a number the kernel
  // has handed out again.
  void Forget(ConnectionRef self) {
    MutexLock lock(mu_);
    connections_.erase(self);
  }

  // Serve, with any exception (allocation failure, a header Beast refuses) ending this connection
  // rather than the process.
  void ServeGuarded(tcp::socket& socket, ConnectionRef self) {
    try {
      std::optional<ByteStream> stream;
      if (tls_ != nullptr) {
        stream.emplace(socket, *tls_);
        // A handshake that stalls is timed out by the reaper, as a stalled read is.
        Activity(self, true);
        boost::system::error_code ec;
        stream->Handshake(ec);
        Activity(self, false);
        if (ec) {
          spdlog::debug("serve: TLS handshake failed: {}", ec.message());
          return;
        }
      } else {
        stream.emplace(socket);
      }
      Serve(*stream, self);
    } catch (const std::exception& e) {
      spdlog::error("serve: connection closed after an error: {}", e.what());
    }
  }

  // Every connection is busy: S3's answer for "try again later", and close.
  void RefuseBusy(tcp::socket& socket) {
    http::response<http::string_body> response{http::status::service_unavailable, 11};
    response.set(http::field::server, "depot");
    response.set(http::field::content_type, "application/xml");
    response.body() = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>all {} "
        "connections are busy; please retry</Message></Error>",
        options_.max_connections);
    response.keep_alive(false);
    response.prepare_payload();
    boost::system::error_code ec;
    http::write(socket, response, ec);
    spdlog::warn("serve: refused a connection: all {} connections are busy",
                 options_.max_connections);
  }

  // Closes connections idle, or blocked on their socket mid-request, for longer than
  // idle_timeout. A request busy in the store (a long CompleteMultipart, a big fsync) is left
  // alone: its connection is neither idle nor waiting on the client.
  void ReapLoop() {
    MutexLock lock(mu_);
    const int64_t timeout =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.idle_timeout).count();
    while (!stopping_) {
      reaper_cv_.WaitFor(lock, std::chrono::seconds(1));
      const int64_t now = NowNs();
      for (auto& connection : connections_) {
        if ((connection.idle || connection.in_io) && now - connection.last_active > timeout) {
          ::shutdown(connection.fd, SHUT_RDWR);
        }
      }
    }
  }

  static void Activity(ConnectionRef self, bool in_io) {
    self->last_active = NowNs();
    self->in_io = in_io;
  }

  void Serve(ByteStream& stream, ConnectionRef self) {
    boost::system::error_code ec;
    const auto remote = stream.socket().remote_endpoint(ec);
    const std::string address = ec ? "" : remote.address().to_string();
    const std::string client = ec ? "?" : fmt::format("{}:{}", address, remote.port());
    beast::flat_buffer buffer;
    while (true) {
      Request parser;
      parser.header_limit(static_cast<uint32_t>(options_.max_header_bytes));
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      http::read_header(stream, buffer, parser, ec);
      if (ec == http::error::end_of_stream || ec == asio::error::eof) return;
      if (ec) {
        if (&ec.category() == &http::make_error_code(http::error::bad_target).category()) {
          // Malformed or oversized headers: S3's answer, then close (the rest is unreadable).
          Exchange exchange(
              stream, buffer, parser, [](bool) {}, NextRequestId(), Context(stop_.token()));
          const bool too_big = ec == http::error::header_limit;
          (void)exchange.Fail(
              {400, too_big ? "RequestHeaderSectionTooLarge" : "BadRequest", ec.message()});
        }
        return;
      }
      self->idle = false;
      Activity(self, false);
      const auto started = SteadyClock::now();
      Exchange exchange(
          stream, buffer, parser, [self](bool in_io) { Activity(self, in_io); }, NextRequestId(),
          Context(stop_.token()));
      exchange.SetPeer(address, stream.secure());
      const bool keep_alive = Handle(exchange);
      Log(exchange, client, started);
      Activity(self, false);
      self->idle = true;
      if (!keep_alive) {
        if (!parser.is_done()) LingeringClose(stream.socket());
        return;
      }
    }
  }

  std::string NextRequestId() { return fmt::format("{:016x}", ++request_ids_); }

  // An answer sent before the request's body was read (an early refusal of a large body): the
  // client may still be sending it, and closing with unread bytes makes the kernel reset the
  // connection, so the client's send fails before it reads the answer. As nginx's lingering
  // close: no more writes (the answer, then FIN), then read and drop what comes until the client
  // closes, 5 s pass or 1 GiB has been dropped.
  static void LingeringClose(tcp::socket& socket) {
    boost::system::error_code ec;
    socket.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return;
    const auto deadline = SteadyClock::now() + std::chrono::seconds(5);
    std::vector<char> sink(256 << 10);
    for (uint64_t dropped = 0; dropped < (uint64_t{1} << 30);) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return;
      pollfd ready{socket.native_handle(), POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) return;
      const ssize_t n = ::recv(socket.native_handle(), sink.data(), sink.size(), 0);
      if (n <= 0) return;
      dropped += static_cast<uint64_t>(n);
    }
  }

  bool Handle(Exchange& exchange) {
    const auto& request = exchange.request();
    if (options_.node_endpoint && request.target().starts_with("/_node/")) {
      return HandleNode(exchange);
    }
    if (request.method() == http::verb::options) return Preflight(exchange);
    if (request.method() == http::verb::post &&
        !FormDataReader::BoundaryOf(Str(request[http::field::content_type])).empty()) {
      return Post(exchange);
    }
    s3::IncomingRequest incoming{Str(request.method_string()), Str(request.target()), {}};
    for (const auto& field : request) {
      incoming.headers.emplace_back(Str(field.name_string()), Str(field.value()));
    }
    auto who = Anonymous(incoming)
                   ? AnonymousRequest(incoming)
                   : s3::VerifySigV4(incoming, [this](std::string_view key) { return Secret(key); },
                                     std::chrono::system_clock::now(), {});
    if (!who.ok()) return exchange.Fail(FromStatus(who.status()));
    auto target =
        SplitTarget(who->target, Str(request[http::field::host]), options_.virtual_host_domain);
    if (!target.ok()) return exchange.Fail({400, "InvalidURI", target.status().message()});
    exchange.Authenticate(std::move(*who), std::move(*target));
    return Dispatch(exchange, incoming.headers);
  }

  // A request that carries no signature at all, in its headers or its query: anonymous, allowed
  // where ACLs grant AllUsers (access.h).
  static bool Anonymous(const s3::IncomingRequest& request) {
    for (const auto& [name, value] : request.headers) {
      if (AsciiLower(name) == "authorization") return false;
    }
    const std::string_view target = request.target;
    const size_t query = target.find('?');
    if (query == std::string_view::npos) return true;
    const std::string_view parameters = target.substr(query);
    return parameters.find("X-Amz-Signature=") == std::string_view::npos &&
           parameters.find("X-Amz-Credential=") == std::string_view::npos &&
           parameters.find("Signature=") == std::string_view::npos;
  }
  static Result<s3::Authenticated> AnonymousRequest(const s3::IncomingRequest& request) {
    s3::Authenticated who;
    DEPOT_ASSIGN_OR_RETURN(who.target, s3::ParseRequestTarget(request.target));
    who.payload_sha256 = std::string(s3::kUnsignedPayload);
    for (const auto& [name, value] : request.headers) {
      // An unsigned aws-chunked body with a trailing checksum is still unsigned.
      if (AsciiLower(name) == "x-amz-content-sha256" && value == s3::kStreamingUnsignedTrailer) {
        who.payload_sha256 = value;
      }
    }
    return who;
  }

  // Every user's canonical id and display name (its access key twice when it has none).
  static std::map<std::string, UserName, std::less<>> AllNames(const S3ServerOptions& options) {
    std::map<std::string, UserName, std::less<>> names;
    for (const auto& [key, secret] : options.credentials) {
      auto named = options.names.find(key);
      names[key] = named != options.names.end() ? named->second : UserName{key, key};
    }
    return names;
  }

  std::optional<std::string> Secret(std::string_view access_key) const {
    auto it = options_.credentials.find(std::string(access_key));
    if (it == options_.credentials.end()) return std::nullopt;
    return it->second;
  }

  // The bucket and key of a request that carries no SigV4 (a preflight, a POST upload).
  Result<Target> UnsignedTarget(const Exchange& exchange) const {
    const auto& request = exchange.request();
    auto parsed = s3::ParseRequestTarget(Str(request.target()));
    if (!parsed.ok())
      return InvalidArgumentError(fmt::format("InvalidURI: {}", parsed.status().message()));
    auto target =
        SplitTarget(*parsed, Str(request[http::field::host]), options_.virtual_host_domain);
    if (!target.ok())
      return InvalidArgumentError(fmt::format("InvalidURI: {}", target.status().message()));
    if (target->bucket.empty() || !ValidBucketName(target->bucket)) {
      return InvalidArgumentError(
          fmt::format("InvalidBucketName: \"{}\" is not a bucket", target->bucket));
    }
    return target;
  }

  // POST /BUCKET with a form: a browser upload, authorized by the form's signed policy.
  bool Post(Exchange& exchange) {
    auto target = UnsignedTarget(exchange);
    if (!target.ok()) return exchange.Fail(FromStatus(target.status()));
    if (!target->key.empty()) {
      return exchange.Fail(
          {405, "MethodNotAllowed", "a POST upload goes to the bucket; its key is a form field"});
    }
    s3::Authenticated by_policy;
    by_policy.payload_sha256 = std::string(s3::kUnsignedPayload);
    exchange.Authenticate(std::move(by_policy), std::move(*target));
    return PostObject(
        exchange, *store_, access_, [this](std::string_view key) { return Secret(key); }, limits_);
  }

  // A CORS preflight: unsigned (browsers send no credentials), answered from the bucket's CORS
  // rules (cors.h) as S3 answers it.
  bool Preflight(Exchange& exchange) {
    const auto origin = exchange.Header("origin");
    if (!origin) {
      return exchange.Fail(
          {400, "BadRequest", "Insufficient information. Origin request header needed."});
    }
    const auto method = exchange.Header("access-control-request-method");
    if (!method) {
      return exchange.Fail({400, "BadRequest", "Invalid Access-Control-Request-Method: null"});
    }
    auto target = UnsignedTarget(exchange);
    if (!target.ok()) return exchange.Fail(FromStatus(target.status()));
    auto rules = access_.Cors(target->bucket, exchange.context());
    if (!rules.ok()) return exchange.Fail(FromStatus(rules.status(), "NoSuchBucket"));
    if (rules->empty()) {
      return exchange.Fail(
          {403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket."});
    }
    const CorsRequest cors{
        *origin, *method,
        SplitCommaList(exchange.Header("access-control-request-headers").value_or(""))};
    const s3::CorsRule* rule = MatchCors(*rules, cors);
    if (rule == nullptr) {
      return exchange.Fail({403, "AccessForbidden",
                            "CORSResponse: This CORS request is not allowed. This is usually "
                            "because the evalution of Origin, request method / "
                            "Access-Control-Request-Method or Access-Control-Request-Headers are "
                            "not whitelisted by the resource's CORS spec."});
    }
    return exchange.Reply(200, "", CorsHeaders(*rule, cors, /*preflight=*/true));
  }

  bool HandleNode(Exchange& exchange) {
    s3::Authenticated unsigned_body;
    unsigned_body.payload_sha256 = std::string(s3::kUnsignedPayload);
    exchange.Authenticate(std::move(unsigned_body), Target{});
    auto body = exchange.ReadAll(Exchange::Checksums::kNotOfBody, kMaxNodeBody);
    if (!body.ok()) return exchange.Fail(FromStatus(body.status()));
    const auto& request = exchange.request();
    RawResponse response = options_.node_endpoint(
        {Str(request.method_string()), Str(request.target()), std::move(*body)});
    return exchange.ReplyBytes(response.status, std::move(response.body), response.content_type);
  }

  // What the request asks for that depot would not honour is refused first (that depends on the
  // request alone); then the user's access to the bucket; then the operation.
  // `headers` are the request's, as the verifier read them (copied once per request).
  bool Dispatch(Exchange& exchange, const std::vector<s3::Header>& headers) {
    const Target& target = exchange.target();
    const auto& request = exchange.request();
    if (!target.bucket.empty() && !ValidBucketName(target.bucket)) {
      return exchange.Fail({400, "InvalidBucketName", fmt::format("\"{}\"", target.bucket)});
    }
    const Resource resource = target.bucket.empty()
                                  ? Resource::kService
                                  : (target.key.empty() ? Resource::kBucket : Resource::kObject);
    const std::string method = Str(request.method_string());
    if (Status honoured = RefuseUnhonoured({resource, method, target.query, headers});
        !honoured.ok()) {
      return exchange.Fail(FromStatus(honoured));
    }
    if (resource == Resource::kService) return ListBuckets(exchange, access_);
    // A PUT on a bucket with no subresource (presigning parameters aside) makes it.
    const bool creates_bucket =
        resource == Resource::kBucket && method == "PUT" &&
        std::all_of(target.query.begin(), target.query.end(), [](const auto& parameter) {
          return parameter.first.starts_with("X-Amz-") || parameter.first == "x-id";
        });
    BucketInfo info;  // none yet for CreateBucket
    PolicyRequest policy_request = PolicyRequestOf(exchange, access_);
    const Permission permission = creates_bucket ? Permission::kOwn : NeededPermission(exchange);
    if (!creates_bucket) {
      auto allowed = access_.Authorize(exchange.who().access_key, target.bucket, permission,
                                       exchange.Header("x-amz-expected-bucket-owner"),
                                       exchange.context(), &policy_request);
      if (!allowed.ok()) return exchange.Fail(FromStatus(allowed.status()));
      info = std::move(*allowed);
      AddCorsHeaders(exchange, access_);
    }
    // Writes ask again right before they reach the store (access.h).
    AuthorizedStore store(*store_, access_, exchange.who().access_key, target.bucket, permission,
                          std::move(policy_request));
    if (resource == Resource::kBucket) {
      return ServeBucket(exchange, store, access_, info, options_.region,
                         limits_.service_key.has_value());
    }
    return ServeObject(exchange, store, access_, info, limits_);
  }

  void Log(Exchange& exchange, const std::string& client, SteadyClock::time_point started) {
    const Outcome& outcome = exchange.outcome();
    const double ms =
        std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count();
    const auto& request = exchange.request();
    const std::string method = Str(request.method_string());
    const std::string target = Redacted(Str(request.target()));
    const std::string& access_key = exchange.who().access_key;
    spdlog::info("{} {} {} {}{}{} in={} out={} {:.3f}ms key={} id={}", client, method, target,
                 outcome.status, outcome.error_code.empty() ? "" : " ", outcome.error_code,
                 outcome.bytes_in, outcome.bytes_out, ms, access_key.empty() ? "-" : access_key,
                 exchange.request_id());
    if (access_log_) {
      nlohmann::json line = {
          {"time", s3::FormatIso8601(std::chrono::system_clock::now())},
          {"client", client},
          {"method", method},
          {"target", target},
          {"status", outcome.status},
          {"error", outcome.error_code},
          {"bytes_in", outcome.bytes_in},
          {"bytes_out", outcome.bytes_out},
          {"ms", ms},
          {"access_key", access_key},
          {"request_id", exchange.request_id()},
      };
      access_log_->info(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }

  std::shared_ptr<object::ObjectStore> store_;
  const S3ServerOptions options_;
  AccessControl access_;
  MemoryBudget body_budget_;
  CompletedUploads completed_;
  Executor transfers_;  // joined after Stop() has joined every connection
  const OperationLimits limits_;
  LifecycleWorker lifecycle_;
  std::shared_ptr<spdlog::logger> access_log_;
  std::shared_ptr<TlsContext> tls_;  // set by Listen for HTTPS
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::thread reaper_thread_;
  std::atomic<uint64_t> request_ids_{0};
  CancellationSource stop_;  // cancelled by Stop(): every request's Context has its token

  Mutex mu_;
  CondVar all_closed_;
  CondVar reaper_cv_;
  std::list<Connection> connections_ DEPOT_GUARDED_BY(mu_);
  int threads_ DEPOT_GUARDED_BY(mu_) = 0;  // connection threads still running
  bool stopping_ DEPOT_GUARDED_BY(mu_) = false;
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
  DEPOT_RETURN_IF_ERROR(ValidateNames(options));
  if (options.transfer_threads < 1) {
    return InvalidArgumentError(
        fmt::format("serve: transfer_threads {} must be at least 1", options.transfer_threads));
  }
  if (!options.sse_master_key.empty() && options.sse_master_key.size() < 32) {
    return InvalidArgumentError(
        fmt::format("serve: the SSE master key has {} bytes; it needs 32 or more (random ones)",
                    options.sse_master_key.size()));
  }
  if (options.lifecycle_day.count() < 1) {
    return InvalidArgumentError(
        fmt::format("serve: lifecycle_day {}s must be at least 1s", options.lifecycle_day.count()));
  }
  if (options.idle_timeout.count() < 1) {
    return InvalidArgumentError(
        fmt::format("serve: idle_timeout {}s must be at least 1s", options.idle_timeout.count()));
  }
  // Every connection holds a descriptor: past the process's limit accept() fails instead of the
  // cap making room, so the cap stays below it.
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    const auto room = static_cast<int>(std::max<rlim_t>(limit.rlim_cur, 128) - 64);
    if (options.max_connections > room) {
      spdlog::warn("serve: max_connections {} lowered to {} (the descriptor limit is {})",
                   options.max_connections, room, limit.rlim_cur);
      options.max_connections = room;
    }
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
