// Test helpers for depot serve: a plain TCP connection and SigV4-signed requests as raw bytes,
// for requests depot's own S3 client never sends (headers it does not know, other users,
// anonymous and presigned requests), and a snapshot of a store to show a refused request changed
// nothing. Loopback only; every read is bounded (5 s).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "depot/object/store.h"
#include "depot/s3/signer.h"

namespace depot::server::testing {

class RawConnection {
 public:
  explicit RawConnection(uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  // Whether every byte went (a connection the server reset takes no more).
  bool Send(std::string_view bytes);
  // Everything the server sends until it closes the connection or goes quiet for 5 s.
  std::string ReadUntilClosed();
  // One response: headers, then Content-Length bytes of body (none for the answer to a HEAD).
  std::string ReadResponse(bool head = false);
  // Whether the server closed the connection (recv sees the end, not a timeout).
  bool ClosedByServer();

 private:
  int fd_;
  bool connected_ = false;
};

// Who signs a request.
struct Signer {
  std::string access_key = "KEY";
  std::string secret_key = "SECRET";
};

// A SigV4-signed request (headers), as bytes. `payload_sha256` may differ from the body's on
// purpose; `headers` are sent and signed.
std::string SignedRequest(uint16_t port, std::string method, std::string path, std::string body,
                          std::string payload_sha256, std::vector<s3::Header> headers = {},
                          std::vector<s3::Header> query = {}, const Signer& signer = {});
// A presigned URL's request target (path and query) for `method` on `path`.
std::string PresignedTarget(uint16_t port, std::string method, std::string path,
                            const Signer& signer = {});
// Every key of `store` with its ETag, and every multipart upload with its part count, as lines:
// what a refused request must leave as it was.
std::vector<std::string> StoreSnapshot(object::ObjectStore& store);
// The base64 of the MD5 of `data`: a Content-MD5 header's value.
std::string Md5Base64(std::string_view data);
// The status code of a raw HTTP response ("HTTP/1.1 403 Forbidden" -> 403), 0 if none.
int StatusOf(std::string_view response);
// The value of header `name` (any case) in a raw response ("" when absent), and its body.
std::string HeaderOf(const std::string& response, const std::string& name);
std::string BodyOf(const std::string& response);

}  // namespace depot::server::testing
