// FaultProxy: how it works.
//
// Threads. The acceptor polls the listening socket and the stop event, an eventfd that the
// destructor writes once and nobody reads, so that it stays readable and wakes every poll from
// then on. Each accepted connection is served by its own thread, which alone reads, writes and
// closes its two sockets (client and upstream). A finished thread puts its id in finished_; the
// acceptor joins those whenever it wakes, the destructor joins the rest. Shared state (faults,
// stats, the thread table, stopping_) is guarded by mu_.
//
// Blocking. Every socket is non-blocking, and every read, write and connect first polls its
// socket together with the stop event, with a timeout as the backstop against a stalled peer; a
// delay fault waits on cv_ for stopping_. So a stop reaches every thread within one poll, and the
// destructor never waits for a peer.
//
// One exchange on a connection (Impl::Exchange): read the request head; pick the fault;
// answer or drop it here, or delay it; connect upstream (first time only); forward the head, then
// the body (for "Expect: 100-continue", after whichever comes first: the client's body or the
// upstream's answer); relay interim 1xx responses; forward the final response head and body,
// editing the body as the fault says. Any I/O or protocol error ends the connection by closing
// both sockets: to the client that is a network failure, which is what the faults are about.
#include "depot/object/s3/testing/fault_proxy.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "depot/core/mutex.h"
#include "depot/core/split_mix64.h"
#include "depot/core/unique_fd.h"
#include "depot/s3/xml.h"

namespace depot::object::s3::testing {
namespace {

constexpr int kMaxConnections = 256;
constexpr size_t kMaxHeadBytes = 64 << 10;
constexpr size_t kMaxLineBytes = 4 << 10;
constexpr size_t kReadBytes = 64 << 10;
constexpr int kMaxInterimResponses = 16;
// Backstops against a peer that stops moving; a stop never waits for them.
constexpr std::chrono::milliseconds kIoTimeout{60'000};
constexpr std::chrono::milliseconds kConnectTimeout{5'000};

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void SetNoDelay(int fd) {
  const int one = 1;
  // Best effort: without it small writes are merely slower.
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Waits until `fd` has `events`. kCancelled once the stop event fires, kDeadlineExceeded after
// `timeout`.
Status WaitFor(int fd, short events, int stop_fd, std::chrono::milliseconds timeout,
               std::string_view what) {
  pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
  while (true) {
    const int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, fmt::format("poll for {}", what));
    if (fds[1].revents != 0) return CancelledError("the proxy is stopping");
    if (n == 0) {
      return DeadlineExceededError(fmt::format("{}: nothing for {} ms", what, timeout.count()));
    }
    return Status::Ok();
  }
}

enum class Readable { kClient, kUpstream };

// Waits until the client or the upstream has bytes (or an end of stream) to read; the client
// wins a tie. kCancelled once the stop event fires, kDeadlineExceeded after kIoTimeout.
Result<Readable> WaitForEither(int client_fd, int upstream_fd, int stop_fd) {
  pollfd fds[3] = {{client_fd, POLLIN, 0}, {upstream_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  while (true) {
    const int n = ::poll(fds, 3, static_cast<int>(kIoTimeout.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, "poll for client and upstream");
    if (fds[2].revents != 0) return CancelledError("the proxy is stopping");
    if (n == 0) return DeadlineExceededError("client and upstream both idle");
    return fds[0].revents != 0 ? Readable::kClient : Readable::kUpstream;
  }
}

// Message framing (RFC 9112 section 6).
struct Framing {
  enum class Kind { kNone, kLength, kChunked, kUntilClose };
  Kind kind = Kind::kNone;
  uint64_t length = 0;  // kLength
};

// A request or response head: the bytes as received (they are forwarded unchanged) and what the
// proxy needs to know about them.
struct Head {
  std::string raw;
  std::string start_line;
  std::vector<std::pair<std::string, std::string>> fields;

  // Whether any field `name` holds `token` in its comma-separated list (case-insensitive).
  bool HasToken(std::string_view name, std::string_view token) const {
    for (const auto& [field, value] : fields) {
      if (!EqualsIgnoreCase(field, name)) continue;
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        if (EqualsIgnoreCase(Trim(rest.substr(0, comma)), token)) return true;
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
    return false;
  }
};

Result<Head> ParseHead(std::string raw) {
  Head head;
  std::string_view rest(raw);
  rest.remove_suffix(2);  // the empty line; every line below ends in CRLF
  bool first = true;
  while (!rest.empty()) {
    const size_t end = rest.find("\r\n");
    const std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    if (first) {
      head.start_line = std::string(line);
      first = false;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' ||
        line.front() == '\t' || line.substr(0, colon).find_first_of(" \t") != line.npos) {
      return InvalidArgumentError(fmt::format("malformed header line \"{}\"", line));
    }
    head.fields.emplace_back(line.substr(0, colon), Trim(line.substr(colon + 1)));
  }
  head.raw = std::move(raw);
  return head;
}

Result<uint64_t> ParseDecimal(std::string_view text, std::string_view what) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return InvalidArgumentError(fmt::format("bad {} \"{}\"", what, text));
  }
  return value;
}

// Framing from Transfer-Encoding and Content-Length; `fallback` when there is neither.
Result<Framing> BodyFraming(const Head& head, Framing::Kind fallback, bool is_request) {
  std::optional<uint64_t> length;
  bool transfer_encoding = false;
  for (const auto& [name, value] : head.fields) {
    if (EqualsIgnoreCase(name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (EqualsIgnoreCase(name, "content-length")) {
      DEPOT_ASSIGN_OR_RETURN(const uint64_t n, ParseDecimal(value, "Content-Length"));
      if (length && *length != n) {
        return InvalidArgumentError(
            fmt::format("conflicting Content-Length {} and {}", *length, n));
      }
      length = n;
    }
  }
  if (transfer_encoding) {
    std::string last;  // the final coding decides (RFC 9112 section 6.3)
    for (const auto& [name, value] : head.fields) {
      if (!EqualsIgnoreCase(name, "transfer-encoding")) continue;
      const size_t comma = value.rfind(',');
      last = Trim(comma == std::string::npos ? value : std::string_view(value).substr(comma + 1));
    }
    if (EqualsIgnoreCase(last, "chunked")) return Framing{Framing::Kind::kChunked};
    if (is_request) {
      return InvalidArgumentError(
          fmt::format("request Transfer-Encoding \"{}\" does not end in chunked", last));
    }
    return Framing{Framing::Kind::kUntilClose};
  }
  if (length) return Framing{Framing::Kind::kLength, *length};
  return Framing{fallback};
}

struct Request {
  Head head;
  std::string method;
  std::string target;
  Framing framing;
  bool keep_alive = true;
  bool expect_continue = false;  // and a body follows
};

Result<Request> ParseRequest(std::string raw) {
  Request request;
  DEPOT_ASSIGN_OR_RETURN(request.head, ParseHead(std::move(raw)));
  const std::string& line = request.head.start_line;
  const size_t a = line.find(' ');
  const size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
  if (b == std::string::npos || line.find(' ', b + 1) != std::string::npos || a == 0 ||
      b == a + 1 || line.compare(b + 1, 7, "HTTP/1.") != 0) {
    return InvalidArgumentError(fmt::format("malformed request line \"{}\"", line));
  }
  request.method = line.substr(0, a);
  request.target = line.substr(a + 1, b - a - 1);
  DEPOT_ASSIGN_OR_RETURN(request.framing, BodyFraming(request.head, Framing::Kind::kNone, true));
  request.keep_alive = line.compare(b + 1, std::string::npos, "HTTP/1.1") == 0 &&
                       !request.head.HasToken("connection", "close");
  const bool has_body =
      request.framing.kind == Framing::Kind::kChunked ||
      (request.framing.kind == Framing::Kind::kLength && request.framing.length > 0);
  request.expect_continue = has_body && request.head.HasToken("expect", "100-continue");
  return request;
}

struct Response {
  Head head;
  int status = 0;
  Framing framing;
  bool keep_alive = true;
};

Result<Response> ParseResponse(std::string raw, const Request& request) {
  Response response;
  DEPOT_ASSIGN_OR_RETURN(response.head, ParseHead(std::move(raw)));
  const std::string& line = response.head.start_line;
  if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ' ||
      (line.size() > 12 && line[12] != ' ')) {
    return InvalidArgumentError(fmt::format("malformed status line \"{}\"", line));
  }
  DEPOT_ASSIGN_OR_RETURN(const uint64_t status, ParseDecimal(line.substr(9, 3), "status"));
  response.status = static_cast<int>(status);
  const bool bodiless = request.method == "HEAD" || response.status < 200 ||
                        response.status == 204 || response.status == 304;
  if (bodiless) {
    response.framing = Framing{Framing::Kind::kNone};
  } else {
    DEPOT_ASSIGN_OR_RETURN(response.framing,
                           BodyFraming(response.head, Framing::Kind::kUntilClose, false));
  }
  response.keep_alive = line.compare(0, 8, "HTTP/1.1") == 0 &&
                        !response.head.HasToken("connection", "close") &&
                        response.framing.kind != Framing::Kind::kUntilClose;
  return response;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

// A complete response made by the proxy itself.
std::string MakeResponse(int status, std::string_view content_type, std::string_view body,
                         bool keep_alive, bool head_request) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "x-amz-request-id: depot-fault-proxy\r\n{}\r\n{}",
      status, ReasonPhrase(status), content_type, body.size(),
      keep_alive ? "" : "Connection: close\r\n", head_request ? std::string_view() : body);
}

std::string S3ErrorResponse(const Fault& fault, const Request& request, bool keep_alive) {
  const std::string body = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>injected by "
      "depot's FaultProxy</Message><Resource>{}</Resource><RequestId>depot-fault-proxy"
      "</RequestId></Error>",
      fault.code, depot::s3::XmlEscape(request.target));
  return MakeResponse(fault.status, "application/xml", body, keep_alive, request.method == "HEAD");
}

// Where a fault edits a body: the data byte at offset `at`, chosen once the body's size (or its
// first chunk's) is known.
struct BodyEdit {
  enum class Kind { kNone, kFlip, kCut };
  Kind kind = Kind::kNone;
  std::optional<uint64_t> at;
};

enum class Copied { kWhole, kCut };

// One socket of a relayed connection and the bytes read from it that nobody consumed yet.
class Peer {
 public:
  Peer(std::string_view role, int stop_fd) : role_(role), stop_fd_(stop_fd) {}

  void Attach(UniqueFd fd) {
    fd_ = std::move(fd);
    buffer_.clear();
  }
  bool open() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  std::string& buffer() { return buffer_; }

  // Appends what arrives next (at least one byte) to buffer(); false at end of stream.
  Result<bool> Fill() {
    while (true) {
      DEPOT_RETURN_IF_ERROR(WaitFor(fd_.get(), POLLIN, stop_fd_, kIoTimeout, role_));
      const size_t old = buffer_.size();
      buffer_.resize(old + kReadBytes);
      const ssize_t n = ::recv(fd_.get(), buffer_.data() + old, kReadBytes, 0);
      buffer_.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
      if (n > 0) return true;
      if (n == 0) return false;
      if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        return ErrnoToStatus(errno, fmt::format("reading from the {}", role_));
      }
    }
  }

  Status Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        DEPOT_RETURN_IF_ERROR(WaitFor(fd_.get(), POLLOUT, stop_fd_, kIoTimeout, role_));
      } else if (errno != EINTR) {
        return ErrnoToStatus(errno, fmt::format("sending to the {}", role_));
      }
    }
    return Status::Ok();
  }

  // A message head, up to and including its empty line; std::nullopt when the peer closed
  // before sending any byte of it.
  Result<std::optional<std::string>> ReadHead() {
    size_t searched = 0;
    while (true) {
      const size_t end = buffer_.find("\r\n\r\n", searched);
      if (end != std::string::npos) {
        std::string head = buffer_.substr(0, end + 4);
        buffer_.erase(0, end + 4);
        return head;
      }
      if (buffer_.size() > kMaxHeadBytes) {
        return InvalidArgumentError(
            fmt::format("{} sent a head longer than {} bytes", role_, kMaxHeadBytes));
      }
      searched = buffer_.size() < 3 ? 0 : buffer_.size() - 3;
      DEPOT_ASSIGN_OR_RETURN(const bool more, Fill());
      if (!more) {
        if (buffer_.empty()) return std::optional<std::string>();
        return UnavailableError(fmt::format("{} closed the connection inside a head", role_));
      }
    }
  }

  // One line, CRLF included (chunk sizes and trailers).
  Result<std::string> ReadLine() {
    while (true) {
      const size_t end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end + 2);
        buffer_.erase(0, end + 2);
        return line;
      }
      if (buffer_.size() > kMaxLineBytes) {
        return InvalidArgumentError(
            fmt::format("{} sent a line longer than {} bytes", role_, kMaxLineBytes));
      }
      DEPOT_ASSIGN_OR_RETURN(const bool more, Fill());
      if (!more) {
        return UnavailableError(fmt::format("{} closed the connection inside a body", role_));
      }
    }
  }

  // Moves `n` body bytes to `to` (nullptr: drops them), counting `offset` and applying `edit`.
  Result<Copied> CopyData(Peer* to, uint64_t n, uint64_t& offset, const BodyEdit& edit) {
    while (n > 0) {
      if (buffer_.empty()) {
        DEPOT_ASSIGN_OR_RETURN(const bool more, Fill());
        if (!more) {
          return UnavailableError(
              fmt::format("{} closed the connection {} bytes before the end of a body", role_, n));
        }
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), n));
      const bool edit_here = edit.at && *edit.at >= offset && *edit.at < offset + take;
      bool cut = false;
      if (edit_here && edit.kind == BodyEdit::Kind::kCut) {
        take = static_cast<size_t>(*edit.at - offset);
        cut = true;
      } else if (edit_here && edit.kind == BodyEdit::Kind::kFlip) {
        buffer_[static_cast<size_t>(*edit.at - offset)] ^= static_cast<char>(0xff);
      }
      if (to != nullptr) DEPOT_RETURN_IF_ERROR(to->Send(std::string_view(buffer_).substr(0, take)));
      buffer_.erase(0, take);
      offset += take;
      n -= take;
      if (cut) return Copied::kCut;
    }
    return Copied::kWhole;
  }

  // Moves one body framed as `framing` to `to` (nullptr: drops it), applying `edit`.
  Result<Copied> CopyBody(Peer* to, const Framing& framing, BodyEdit edit) {
    uint64_t offset = 0;
    switch (framing.kind) {
      case Framing::Kind::kNone:
        return Copied::kWhole;
      case Framing::Kind::kLength:
        edit.at = framing.length / 2;
        return CopyData(to, framing.length, offset, edit);
      case Framing::Kind::kUntilClose:
        while (true) {
          if (buffer_.empty()) {
            DEPOT_ASSIGN_OR_RETURN(const bool more, Fill());
            if (!more) return Copied::kWhole;
          }
          if (!edit.at) edit.at = buffer_.size() / 2;
          DEPOT_ASSIGN_OR_RETURN(const Copied copied, CopyData(to, buffer_.size(), offset, edit));
          if (copied == Copied::kCut) return copied;
        }
      case Framing::Kind::kChunked:
        return CopyChunked(to, edit);
    }
    return InternalError("unknown framing");
  }

 private:
  Result<Copied> CopyChunked(Peer* to, BodyEdit edit) {
    uint64_t offset = 0;
    while (true) {
      DEPOT_ASSIGN_OR_RETURN(const std::string line, ReadLine());
      // chunk-size [ws] [";" extensions] CRLF
      const size_t digits = line.find_first_not_of("0123456789abcdefABCDEF");
      uint64_t size = 0;
      const auto [end, error] = std::from_chars(line.data(), line.data() + digits, size, 16);
      const std::string_view after =
          Trim(std::string_view(line).substr(digits, line.size() - 2 - digits));
      if (digits == 0 || error != std::errc() || end != line.data() + digits ||
          (!after.empty() && after.front() != ';')) {
        return InvalidArgumentError(fmt::format("{} sent a bad chunk size line", role_));
      }
      if (!edit.at) edit.at = size / 2;
      if (to != nullptr) DEPOT_RETURN_IF_ERROR(to->Send(line));
      if (size == 0) break;
      DEPOT_ASSIGN_OR_RETURN(const Copied copied, CopyData(to, size, offset, edit));
      if (copied == Copied::kCut) return copied;
      DEPOT_ASSIGN_OR_RETURN(const std::string crlf, ReadLine());
      if (crlf != "\r\n") return InvalidArgumentError(fmt::format("{}: chunk too long", role_));
      if (to != nullptr) DEPOT_RETURN_IF_ERROR(to->Send(crlf));
    }
    // The trailer section, up to its empty line.
    size_t trailer_bytes = 0;
    while (true) {
      DEPOT_ASSIGN_OR_RETURN(const std::string line, ReadLine());
      trailer_bytes += line.size();
      if (trailer_bytes > kMaxHeadBytes) {
        return InvalidArgumentError(fmt::format("{} sent too long a trailer", role_));
      }
      if (to != nullptr) DEPOT_RETURN_IF_ERROR(to->Send(line));
      if (line == "\r\n") return Copied::kWhole;
    }
  }

  std::string_view role_;
  int stop_fd_;
  UniqueFd fd_;
  std::string buffer_;
};

bool Matches(const Fault& fault, std::string_view method, std::string_view target) {
  return (fault.method.empty() || EqualsIgnoreCase(fault.method, method)) &&
         target.find(fault.target_contains) != std::string_view::npos;
}

Status ValidateFault(const Fault& fault) {
  // 200 as well: S3 can send an <Error> document with status 200 (CompleteMultipartUpload).
  if (fault.status != 200 && (fault.status < 400 || fault.status > 599)) {
    return InvalidArgumentError(fmt::format("fault {}: status {} is not 200 or in 400..599",
                                            FaultKindName(fault.kind), fault.status));
  }
  const bool code_ok =
      !fault.code.empty() && std::all_of(fault.code.begin(), fault.code.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      });
  if (!code_ok) {
    return InvalidArgumentError(fmt::format("fault {}: error code \"{}\" is not letters and digits",
                                            FaultKindName(fault.kind), fault.code));
  }
  if (fault.delay.count() < 0) {
    return InvalidArgumentError(fmt::format("fault {}: negative delay {} ms",
                                            FaultKindName(fault.kind), fault.delay.count()));
  }
  return Status::Ok();
}

}  // namespace

std::string_view FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kDropConnection:
      return "DropConnection";
    case FaultKind::kDropResponse:
      return "DropResponse";
    case FaultKind::kCutResponseBody:
      return "CutResponseBody";
    case FaultKind::kErrorResponse:
      return "ErrorResponse";
    case FaultKind::kDelay:
      return "Delay";
    case FaultKind::kCorruptResponseBody:
      return "CorruptResponseBody";
    case FaultKind::kCorruptRequestBody:
      return "CorruptRequestBody";
  }
  return "Unknown";
}

class FaultProxy::Impl {
 public:
  Impl(sockaddr_in upstream, std::string upstream_name, UniqueFd listener, UniqueFd stop,
       uint16_t port)
      : upstream_(upstream),
        upstream_name_(std::move(upstream_name)),
        listener_(std::move(listener)),
        stop_(std::move(stop)),
        port_(port) {}

  ~Impl() {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    cv_.NotifyAll();
    const uint64_t one = 1;
    // Adding 1 to a fresh eventfd cannot fail (and the polls' timeouts would end every wait).
    [[maybe_unused]] const ssize_t written = ::write(stop_.get(), &one, sizeof(one));
    if (acceptor_.joinable()) acceptor_.join();
    std::map<uint64_t, std::thread> threads;
    {
      MutexLock lock(mu_);
      threads.swap(threads_);
    }
    for (auto& [id, thread] : threads) thread.join();
  }

  void StartAcceptor() {
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  uint16_t port() const { return port_; }

  Status InjectOnce(Fault fault) {
    DEPOT_RETURN_IF_ERROR(ValidateFault(fault));
    MutexLock lock(mu_);
    once_.push_back(std::move(fault));
    return Status::Ok();
  }

  Status SetRandomFaults(uint64_t seed, double probability, std::vector<Fault> choices) {
    if (!(probability >= 0.0 && probability <= 1.0)) {
      return InvalidArgumentError(
          fmt::format("fault probability {} is not in [0, 1]", probability));
    }
    if (choices.empty()) return InvalidArgumentError("random faults need at least one choice");
    for (const Fault& fault : choices) DEPOT_RETURN_IF_ERROR(ValidateFault(fault));
    MutexLock lock(mu_);
    random_.emplace(RandomFaults{SplitMix64(seed), probability, std::move(choices)});
    return Status::Ok();
  }

  void ClearFaults() {
    MutexLock lock(mu_);
    once_.clear();
    random_.reset();
  }

  Stats stats() const {
    MutexLock lock(mu_);
    return stats_;
  }

 private:
  struct RandomFaults {
    SplitMix64 rng;
    double probability;
    std::vector<Fault> choices;
  };

  void AcceptLoop();
  void JoinFinished();
  void Serve(uint64_t id, UniqueFd socket);
  // Relays one request and its response. Returns whether the connection stays open.
  Result<bool> Exchange(Peer& client, Peer& upstream);
  // The response to `request` from the upstream, after relaying any interim (1xx) ones.
  Result<Response> ReadFinalResponse(Peer& upstream, Peer& client, const Request& request);
  Result<UniqueFd> ConnectUpstream();
  std::optional<Fault> TakeFault(std::string_view method, std::string_view target);
  // Waits `delay`; false if the proxy began stopping meanwhile.
  bool Sleep(std::chrono::milliseconds delay);

  const sockaddr_in upstream_;
  const std::string upstream_name_;  // "upstream 127.0.0.1:7480", for messages
  const UniqueFd listener_;
  const UniqueFd stop_;  // eventfd; readable once the destructor runs
  const uint16_t port_;

  mutable Mutex mu_;
  CondVar cv_;  // signalled when stopping_ is set
  bool stopping_ DEPOT_GUARDED_BY(mu_) = false;
  std::deque<Fault> once_ DEPOT_GUARDED_BY(mu_);
  std::optional<RandomFaults> random_ DEPOT_GUARDED_BY(mu_);
  Stats stats_ DEPOT_GUARDED_BY(mu_);
  std::map<uint64_t, std::thread> threads_ DEPOT_GUARDED_BY(mu_);  // connection threads by id
  std::vector<uint64_t> finished_ DEPOT_GUARDED_BY(mu_);           // ids of threads that are done
  int active_ DEPOT_GUARDED_BY(mu_) = 0;
  uint64_t next_id_ DEPOT_GUARDED_BY(mu_) = 0;

  std::thread acceptor_;  // started last, joined first
};

void FaultProxy::Impl::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    const int n = ::poll(fds, 2, 1000);
    JoinFinished();
    if (fds[1].revents != 0) return;
    if (n <= 0 || (fds[0].revents & POLLIN) == 0) continue;
    UniqueFd socket(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!socket.valid()) continue;
    SetNoDelay(socket.get());
    MutexLock lock(mu_);
    if (active_ >= kMaxConnections) continue;  // refused: closed right away
    const uint64_t id = next_id_++;
    try {
      threads_.emplace(id, std::thread(&Impl::Serve, this, id, std::move(socket)));
    } catch (const std::system_error&) {
      continue;  // no thread to be had: refused like one over the limit
    }
    ++active_;
    ++stats_.connections;
  }
}

void FaultProxy::Impl::JoinFinished() {
  std::vector<std::thread> done;
  {
    MutexLock lock(mu_);
    for (const uint64_t id : finished_) {
      auto it = threads_.find(id);
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_.clear();
  }
  for (std::thread& thread : done) thread.join();
}

void FaultProxy::Impl::Serve(uint64_t id, UniqueFd socket) {
  {
    Peer client("client", stop_.get());
    Peer upstream("upstream", stop_.get());
    client.Attach(std::move(socket));
    while (true) {
      const Result<bool> keep = Exchange(client, upstream);
      if (!keep.ok() || !*keep) break;
    }
  }  // both sockets closed here
  MutexLock lock(mu_);
  --active_;
  finished_.push_back(id);
}

std::optional<Fault> FaultProxy::Impl::TakeFault(std::string_view method, std::string_view target) {
  MutexLock lock(mu_);
  ++stats_.requests;
  std::optional<Fault> fault;
  for (auto it = once_.begin(); it != once_.end(); ++it) {
    if (Matches(*it, method, target)) {
      fault = std::move(*it);
      once_.erase(it);
      break;
    }
  }
  if (random_) {
    // Both numbers are drawn for every request, so the sequence depends on the count alone.
    const double draw = static_cast<double>(random_->rng.Next() >> 11) * 0x1.0p-53;
    const Fault& choice = random_->choices[random_->rng.Next() % random_->choices.size()];
    if (!fault && draw < random_->probability && Matches(choice, method, target)) fault = choice;
  }
  if (fault) ++stats_.faults;
  return fault;
}

bool FaultProxy::Impl::Sleep(std::chrono::milliseconds delay) {
  const auto deadline = std::chrono::steady_clock::now() + delay;
  MutexLock lock(mu_);
  while (!stopping_ && cv_.WaitUntil(lock, deadline)) {
  }
  return !stopping_;
}

Result<UniqueFd> FaultProxy::Impl::ConnectUpstream() {
  UniqueFd socket(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket.valid()) return ErrnoToStatus(errno, "socket for the upstream");
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&upstream_), sizeof(upstream_)) !=
          0 &&
      errno != EINPROGRESS) {
    return ErrnoToStatus(errno, fmt::format("connecting to {}", upstream_name_));
  }
  DEPOT_RETURN_IF_ERROR(
      WaitFor(socket.get(), POLLOUT, stop_.get(), kConnectTimeout, upstream_name_));
  int error = 0;
  socklen_t size = sizeof(error);
  if (::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
  if (error != 0) return ErrnoToStatus(error, fmt::format("connecting to {}", upstream_name_));
  SetNoDelay(socket.get());
  return socket;
}

Result<Response> FaultProxy::Impl::ReadFinalResponse(Peer& upstream, Peer& client,
                                                     const Request& request) {
  for (int interim = 0; interim <= kMaxInterimResponses; ++interim) {
    DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> raw, upstream.ReadHead());
    if (!raw) return UnavailableError("the upstream closed the connection before answering");
    DEPOT_ASSIGN_OR_RETURN(Response response, ParseResponse(*std::move(raw), request));
    if (response.status >= 200) return response;
    if (response.status == 101) return InvalidArgumentError("protocol upgrades are not relayed");
    DEPOT_RETURN_IF_ERROR(client.Send(response.head.raw));
  }
  return InvalidArgumentError(
      fmt::format("the upstream sent more than {} interim responses", kMaxInterimResponses));
}

Result<bool> FaultProxy::Impl::Exchange(Peer& client, Peer& upstream) {
  // Between requests an upstream that closes its end (or speaks unasked) ends the connection, as
  // the server would have ended it without the proxy.
  if (client.buffer().empty() && upstream.open()) {
    DEPOT_ASSIGN_OR_RETURN(const Readable first,
                           WaitForEither(client.fd(), upstream.fd(), stop_.get()));
    if (first == Readable::kUpstream) return false;
  }
  DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> raw, client.ReadHead());
  if (!raw) return false;  // the client closed between requests
  Result<Request> parsed = ParseRequest(*std::move(raw));
  if (!parsed.ok()) {
    (void)client.Send(MakeResponse(400, "text/plain", parsed.status().message(), false, false));
    return false;
  }
  const Request& request = *parsed;
  const std::optional<Fault> fault = TakeFault(request.method, request.target);
  const auto is = [&](FaultKind kind) { return fault && fault->kind == kind; };

  if (is(FaultKind::kDropConnection)) {
    if (!request.expect_continue) {
      DEPOT_RETURN_IF_ERROR(client.CopyBody(nullptr, request.framing, {}));
    }
    return false;
  }
  if (is(FaultKind::kErrorResponse)) {
    // The client waiting for 100-continue may or may not send its body now: only closing the
    // connection keeps the two ends in step.
    if (!request.expect_continue) {
      DEPOT_RETURN_IF_ERROR(client.CopyBody(nullptr, request.framing, {}));
    }
    const bool keep = request.keep_alive && !request.expect_continue;
    DEPOT_RETURN_IF_ERROR(client.Send(S3ErrorResponse(*fault, request, keep)));
    return keep;
  }
  if (is(FaultKind::kDelay) && !Sleep(fault->delay)) return false;

  if (!upstream.open()) {
    Result<UniqueFd> socket = ConnectUpstream();
    if (!socket.ok()) {
      // The body is read first: closing a socket with unread bytes resets the connection, and
      // the client might never see the answer.
      if (!request.expect_continue) {
        DEPOT_RETURN_IF_ERROR(client.CopyBody(nullptr, request.framing, {}));
      }
      (void)client.Send(MakeResponse(502, "text/plain", socket.status().ToString(), false,
                                     request.method == "HEAD"));
      return false;
    }
    upstream.Attach(*std::move(socket));
  }
  DEPOT_RETURN_IF_ERROR(upstream.Send(request.head.raw));

  // With "Expect: 100-continue" the upstream may answer before the body: 100 (relayed, then the
  // body follows) or a final status (relayed instead, the body never sent). A client that stops
  // waiting sends its body anyway, which is forwarded.
  std::optional<Response> early;
  if (request.expect_continue && client.buffer().empty()) {
    DEPOT_ASSIGN_OR_RETURN(const Readable first,
                           WaitForEither(client.fd(), upstream.fd(), stop_.get()));
    if (first == Readable::kUpstream) {
      DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> head, upstream.ReadHead());
      if (!head) return false;
      DEPOT_ASSIGN_OR_RETURN(Response response, ParseResponse(*std::move(head), request));
      if (response.status < 200) {
        DEPOT_RETURN_IF_ERROR(client.Send(response.head.raw));
      } else {
        early = std::move(response);
      }
    }
  }
  if (!early) {
    const BodyEdit edit{is(FaultKind::kCorruptRequestBody) ? BodyEdit::Kind::kFlip
                                                           : BodyEdit::Kind::kNone};
    DEPOT_RETURN_IF_ERROR(client.CopyBody(&upstream, request.framing, edit));
  }

  Response response;
  if (early) {
    response = *std::move(early);
  } else {
    DEPOT_ASSIGN_OR_RETURN(response, ReadFinalResponse(upstream, client, request));
  }
  if (is(FaultKind::kDropResponse)) return false;
  DEPOT_RETURN_IF_ERROR(client.Send(response.head.raw));
  BodyEdit edit;
  if (is(FaultKind::kCutResponseBody)) edit.kind = BodyEdit::Kind::kCut;
  if (is(FaultKind::kCorruptResponseBody)) edit.kind = BodyEdit::Kind::kFlip;
  DEPOT_ASSIGN_OR_RETURN(const Copied copied, upstream.CopyBody(&client, response.framing, edit));
  if (copied == Copied::kCut || is(FaultKind::kCutResponseBody)) return false;
  return request.keep_alive && response.keep_alive && !early;
}

Result<std::unique_ptr<FaultProxy>> FaultProxy::Start(std::string upstream_host,
                                                      uint16_t upstream_port) {
  sockaddr_in upstream{};
  upstream.sin_family = AF_INET;
  upstream.sin_port = htons(upstream_port);
  const std::string address = upstream_host == "localhost" ? "127.0.0.1" : upstream_host;
  if (::inet_pton(AF_INET, address.c_str(), &upstream.sin_addr) != 1) {
    return InvalidArgumentError(fmt::format(
        "upstream host \"{}\" is not a dotted IPv4 address or \"localhost\"", upstream_host));
  }
  if (upstream_port == 0) {
    return InvalidArgumentError(fmt::format("upstream {}: port 0", upstream_host));
  }

  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener.valid()) return ErrnoToStatus(errno, "socket for the fault proxy");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  local.sin_port = 0;
  socklen_t size = sizeof(local);
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    return ErrnoToStatus(errno, "binding the fault proxy to 127.0.0.1");
  }
  if (::listen(listener.get(), 128) != 0) return ErrnoToStatus(errno, "listen (fault proxy)");
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&local), &size) != 0) {
    return ErrnoToStatus(errno, "getsockname (fault proxy)");
  }
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return ErrnoToStatus(errno, "eventfd (fault proxy)");

  auto impl =
      std::make_unique<Impl>(upstream, fmt::format("upstream {}:{}", address, upstream_port),
                             std::move(listener), std::move(stop), ntohs(local.sin_port));
  impl->StartAcceptor();
  return std::unique_ptr<FaultProxy>(new FaultProxy(std::move(impl)));
}

FaultProxy::FaultProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FaultProxy::~FaultProxy() = default;

uint16_t FaultProxy::port() const { return impl_->port(); }
std::string FaultProxy::endpoint() const { return fmt::format("http://127.0.0.1:{}", port()); }
Status FaultProxy::InjectOnce(Fault fault) { return impl_->InjectOnce(std::move(fault)); }
Status FaultProxy::SetRandomFaults(uint64_t seed, double probability, std::vector<Fault> choices) {
  return impl_->SetRandomFaults(seed, probability, std::move(choices));
}
void FaultProxy::ClearFaults() { impl_->ClearFaults(); }
FaultProxy::Stats FaultProxy::stats() const { return impl_->stats(); }

}  // namespace depot::object::s3::testing
