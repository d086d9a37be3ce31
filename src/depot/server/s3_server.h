// depot::server::S3Server: any ObjectStore behind the S3 REST protocol (`depot serve`).
//
//   S3ServerOptions options;
//   options.credentials = {{"ACCESS", "SECRET"}};
//   DEPOT_ASSIGN_OR_RETURN(auto server, S3Server::Start(store, options));   // serves at once
//   ... server->port() ...
//   server->Stop();                                                          // or destroy it
//
// Protocol: HTTP/1.1 with keep-alive over Boost.Beast, path-style addressing
// (http://host:port/BUCKET/KEY). Every request must carry SigV4 (headers, presigned URL, or
// aws-chunked bodies): see sigv4_verifier.h and chunked_payload.h. A body is checked against the
// signed x-amz-content-sha256 and against Content-MD5 before the object becomes visible; a
// mismatch stores nothing (XAmzContentSHA256Mismatch, BadDigest).
//
// Operations so far: ListBuckets, CreateBucket, HeadBucket, DeleteBucket (BucketNotEmpty),
// PutObject (content type, user metadata, If-None-Match: *, If-Match), GetObject and HeadObject
// (one range, suffix ranges, If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since
// with 304 and 412), DeleteObject, ListObjectsV2 (prefix, delimiter, start-after, max-keys,
// continuation tokens, encoding-type=url), ListObjects V1 (marker), and multipart uploads on the
// backing store's own (Create, UploadPart of up to 512 MiB, Complete, Abort). Anything else is
// answered with S3's NotImplemented.
//
// Buckets on the backing store: bucket B's objects are the keys "B/KEY"; the bucket itself is the
// marker object "_buckets/B" (bucket names cannot contain '_', so no bucket's keys can collide
// with the markers). So a store served by depot is still an ordinary store, readable directly.
//
// Errors are S3 error XML with AWS's code and status. Limits: request headers (16 KiB by default),
// idle connections and stalled transfers (`idle_timeout`). `max_connections` is only the listen
// backlog so far: concurrent connections are not capped yet. Thread-safe; one thread per
// connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::server {

struct S3ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;                            // 0: a free port (see port())
  std::map<std::string, std::string> credentials;  // access key -> secret key; at least one
  std::string region = "us-east-1";
  int max_connections = 128;  // listen backlog
  std::chrono::seconds idle_timeout{60};
  size_t max_header_bytes = 16 << 10;
};

class S3Server {
 public:
  // Binds and starts serving (kInvalidArgument for bad options, kUnavailable if the address is
  // taken). `store` is shared with the caller.
  static Result<std::unique_ptr<S3Server>> Start(std::shared_ptr<object::ObjectStore> store,
                                                 S3ServerOptions options);
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  uint16_t port() const;
  // Stops accepting, closes every connection and waits for their threads. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit S3Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot::server
