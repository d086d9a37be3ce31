// depot::http::Client: HTTP/1.1 requests over libcurl: the S3 backend's network seam and the
// storage network's way between nodes.
//
// A pool of reusable curl handles, each keeping its connection alive between requests, so steady
// traffic opens no new connections; at most `max_idle_handles` handles are kept between requests
// (more may exist while that many requests run at once). Every body goes out with Content-Length
// (never chunked) and without "Expect: 100-continue".
//
// Send() reports any HTTP status as success: interpreting statuses is the caller's business. A
// transport failure (refused or reset connection, a connection that goes idle longer than
// `idle_timeout`, a body shorter than its Content-Length) is kUnavailable naming the method, URL
// and curl's reason; bytes of a 2xx body received before the failure have already reached the
// BodySink, so a caller can resume from there. A Send whose Context is cancelled or whose deadline
// passes is aborted on the wire (within about a second: curl's progress callback, which checks
// the token, runs at least that often) and fails with kCancelled / kDeadlineExceeded; its
// connection is closed. Thread-safe: any number of concurrent Send()s.
//
// libcurl's process-wide initialisation is done once, on first use, and never undone (no global
// shutdown to order against static destructors).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/bytes.h"
#include "depot/core/context.h"
#include "depot/core/mutex.h"
#include "depot/core/result.h"

namespace depot::http {

using Header = std::pair<std::string, std::string>;

struct Request {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // absolute: scheme://host[:port]/target
  std::vector<Header> headers;
  Bytes body;
};

struct Response {
  int status = 0;
  std::vector<Header> headers;  // names lower-cased, in arrival order
  Bytes body;                   // empty when a BodySink took a 2xx body

  // The first header of that (lower-case) name.
  const std::string* Find(std::string_view name) const;
};

// Receives a 2xx response's body as it arrives (bodies of other statuses are kept in
// Response::body, where error documents live). An error returned here aborts the transfer and
// becomes Send()'s result.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Once per 2xx response, before any data: its status and headers (body still empty).
  virtual Status Begin(const Response& head) = 0;
  virtual Status Append(std::string_view data) = 0;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  // A transfer that moves no byte for this long fails (kUnavailable).
  std::chrono::milliseconds idle_timeout{30'000};
  int max_idle_handles = 16;
  bool verify_tls = true;
  // PEM file of the certificate authorities to trust for https (empty: the system's).
  std::string ca_file;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<Response> Send(const Request& request, BodySink* sink, const Context& ctx);

 private:
  struct Handle;
  std::unique_ptr<Handle> Acquire();
  void Release(std::unique_ptr<Handle> handle);

  ClientOptions options_;
  Mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_ DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot::http
