// depot::object::s3::testing::FaultProxy: an HTTP/1.1 proxy for tests that sits between an S3
// client and its server on 127.0.0.1 and, on the test's command, drops, delays, cuts, corrupts or
// answers requests itself.
//
//   DEPOT_ASSIGN_OR_RETURN(auto proxy, FaultProxy::Start("127.0.0.1", 7480));
//   client options: endpoint = proxy->endpoint();          // "http://127.0.0.1:<ephemeral>"
//   DEPOT_RETURN_IF_ERROR(proxy->InjectOnce({.kind = FaultKind::kCutResponseBody,
//                                            .method = "GET"}));
//
// Forwarding. Each client connection gets its own upstream connection, opened at its first
// forwarded request and kept for the next ones (keep-alive). Requests and responses pass byte for
// byte, Host header included, so SigV4 signatures made for the proxy's address stay valid. Bodies
// are streamed (never held whole): Content-Length and chunked request bodies, "Expect:
// 100-continue" (the upstream's interim 100 is relayed; a final answer instead of it is relayed
// and the connection closed), and Content-Length, chunked, until-close or no bodies in responses
// (HEAD, 1xx, 204, 304). When the upstream closes a connection, idle or not, the proxy closes the
// client's as well, as the server would have. An upstream that cannot be reached is answered with
// 502 and the connection closed; a request the proxy cannot parse gets 400 and is closed.
//
// Faults. A request is matched against the faults when its head has arrived: first the InjectOnce
// queue (oldest matching fault first, used up when it fires), then the random mode. The random
// mode draws two numbers from a SplitMix64 seeded by SetRandomFaults for every request, matched
// or not, so one client that sends the same requests in the same order sees the same faults.
// Where a fault changes a body "in the middle", that is byte size/2 of a Content-Length body and
// byte n/2 of the first chunk (of size n) of a chunked one; a message without body bytes passes
// whole (a cut one is followed by the close).
//
// Threads: one acceptor and one thread per client connection, at most 256 connections (more are
// accepted and closed at once); a connection on which nothing moves for 60 s is closed. Every wait
// polls a stop event, so the destructor returns promptly, also with idle, delayed or half-sent
// connections open, and joins every thread. All public methods are thread-safe. Plain HTTP only
// (no TLS, no protocol upgrades).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"
#include "depot/core/status.h"

namespace depot::object::s3::testing {

enum class FaultKind {
  // Reads the request (its body too, unless the client waits for 100-continue), does not forward
  // it, and closes the connection without a response byte.
  kDropConnection,
  // Forwards the request, so the upstream carries it out, waits for the response head, then
  // closes the connection without a response byte: "did my PUT happen?".
  kDropResponse,
  // Forwards the request and sends the response head and the first half of the body, then closes.
  kCutResponseBody,
  // Answers `status` with an S3 <Error> document naming `code`, without forwarding. The request
  // body is read and dropped and the connection kept, unless the client waits for 100-continue
  // (then the connection is closed after the answer).
  kErrorResponse,
  // Waits `delay`, then forwards.
  kDelay,
  // Forwards, inverting the bits of the response body's middle byte (lengths unchanged).
  kCorruptResponseBody,
  // Forwards, inverting the bits of the request body's middle byte (lengths unchanged).
  kCorruptRequestBody,
};

std::string_view FaultKindName(FaultKind kind);

struct Fault {
  FaultKind kind = FaultKind::kErrorResponse;
  int status = 503;                    // kErrorResponse: 200 or 400..599
  std::string code = "SlowDown";       // kErrorResponse: the <Code> of the error document
  std::chrono::milliseconds delay{0};  // kDelay
  std::string method;                  // matches requests of this method only; "" = any
  std::string target_contains;         // matches targets containing this; "" = any
};

class FaultProxy {
 public:
  struct Stats {
    uint64_t connections = 0;  // client connections served (refused ones not counted)
    uint64_t requests = 0;     // request heads received
    uint64_t faults = 0;       // faults applied
  };

  // Listens on 127.0.0.1 at an ephemeral port, forwarding to upstream_host:upstream_port, where
  // upstream_host is a dotted IPv4 address or "localhost" (no name lookups). kInvalidArgument for
  // another host or port 0; the socket call's error when listening fails.
  static Result<std::unique_ptr<FaultProxy>> Start(std::string upstream_host,
                                                   uint16_t upstream_port);
  // Stops accepting, closes every connection and joins every thread (promptly: see above).
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t port() const;
  // "http://127.0.0.1:<port>".
  std::string endpoint() const;

  // Queues `fault` for the next matching request. kInvalidArgument (nothing queued) for a status
  // outside 400..599, an error code that is not one or more letters and digits, or a negative
  // delay (checked whatever the kind).
  Status InjectOnce(Fault fault);
  // From now on every request (not taken by InjectOnce) gets a fault with `probability`, chosen
  // uniformly among `choices`; applied only if the chosen fault matches the request. Restarts the
  // sequence. kInvalidArgument (mode unchanged) for a probability outside [0, 1], no choices, or
  // a choice InjectOnce would refuse.
  Status SetRandomFaults(uint64_t seed, double probability, std::vector<Fault> choices);
  // Empties the InjectOnce queue and stops the random mode.
  void ClearFaults();

  Stats stats() const;

 private:
  class Impl;
  explicit FaultProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot::object::s3::testing
