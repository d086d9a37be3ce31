// depot::server::S3Server: any ObjectStore behind the S3 REST protocol (`depot serve`).
//
//   S3ServerOptions options;
//   options.credentials = {{"ACCESS", "SECRET"}};
//   DEPOT_ASSIGN_OR_RETURN(auto server, S3Server::Start(store, options));   // serves at once
//   ... server->port() ...
//   server->Stop();                                                          // or destroy it
//
// Protocol: HTTP/1.1 with keep-alive over Boost.Beast, or HTTPS (TLS 1.2 and later, OpenSSL)
// when a certificate and key are given, on the same port (no plain HTTP beside it); path-style
// addressing (http://host:port/BUCKET/KEY), and virtual-hosted (http://BUCKET.localhost:port/KEY,
// the domain is `virtual_host_domain`) for clients set to address buckets that way. Every
// request must carry SigV4 (headers, presigned URL, or aws-chunked bodies, signed or with a
// trailing checksum that x-amz-trailer names, verified before anything is stored): see
// sigv4_verifier.h and chunked_payload.h; every x-amz-* header but x-amz-content-sha256 must be
// among the signed ones. A body is checked against the signed x-amz-content-sha256, Content-MD5 and
// any x-amz-checksum-* header (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) before the object becomes
// visible; a mismatch stores nothing (XAmzContentSHA256Mismatch, BadDigest). Where the store keeps
// checksums (capabilities().checksums), the verified x-amz-checksum-* is kept with the object or
// part, a multipart object gets the COMPOSITE or FULL_OBJECT one CreateMultipartUpload named
// (x-amz-checksum-algorithm, -type), and GET and HEAD answer it to x-amz-checksum-mode: ENABLED.
//
// Operations: ListBuckets; Create/Head/DeleteBucket (BucketNotEmpty while objects or uploads
// remain); GetBucketLocation; Put/Get/DeleteBucketCors
// (the rules kept in the bucket's marker; preflight OPTIONS, unsigned, answered from them, and a
// request with an Origin that a rule allows answered with its Access-Control-* headers, see
// cors.h); Put/Get/DeleteBucketTagging (at most 50 tags, kept in the marker; NoSuchTagSet for
// none); POST Object (browser uploads: an HTML form whose signed policy authorizes it instead of
// SigV4, s3/post_policy.h; the file streamed to the store, nothing stored when refused); PutObject
// (content type, Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires,
// user metadata, If-None-Match: * or ETAG, If-Match; the same on CompleteMultipartUpload);
// GetObject and HeadObject (one range, suffix ranges, partNumber, If-Match / If-None-Match /
// If-Modified-Since / If-Unmodified-Since with 304 and 412, response-* overrides);
// GetObjectAttributes (ETag, Checksum, ObjectParts paged, StorageClass, ObjectSize); DeleteObject;
// DeleteObjects (Content-MD5 or a checksum required, as S3 does); CopyObject (metadata COPY or
// REPLACE, x-amz-copy-source-if-*); ListObjectsV2 and V1 (prefix, delimiter, start-after, marker,
// max-keys, continuation tokens, encoding-type=url); multipart uploads on the backing store's own
// (Create, UploadPart, UploadPartCopy with a range, Complete with EntityTooSmall / InvalidPart /
// InvalidPartOrder, Abort, ListParts, ListMultipartUploads). Issue 19's: ACLs and bucket policies
// (access.h), versioning (versions.h), object tags and object lock (object_attributes.h), and
// Put/Get/DeleteBucketLifecycleConfiguration with x-amz-expiration and a background worker that
// applies the rules (lifecycle.h). Anything else is answered with S3's NotImplemented.
//
// Buckets on the backing store: bucket B's objects are the keys "B/KEY"; the bucket itself is the
// marker object "_buckets/B" (bucket names cannot contain '_', so no bucket's keys can collide
// with the markers). A store served by depot is still an ordinary store, readable directly.
//
// Users are kept apart: each bucket belongs to the user who made it, and only its owner and the
// admins may use it or its objects (copy sources and presigned URLs included, checked against
// the user who signed); ListBuckets shows each user its own. Making a bucket another user owns
// is 409 BucketAlreadyExists; making your own again is 200 in us-east-1, 409
// BucketAlreadyOwnedByYou elsewhere, as on S3. Buckets from before owners were recorded belong
// to the admins (Start logs them). Owners show by their canonical id and display name
// (S3ServerOptions::names; by default the access key). x-amz-expected-bucket-owner (an owner's
// canonical id or access key) is checked: a mismatch is 403. See access.h.
//
// Nothing that would change a request's meaning is ignored: server-side encryption, storage
// classes, redirects, requester pays and unknown x-amz-*
// headers answer 501 NotImplemented naming the header (request_features.h); unknown query
// sub-resources too.
//
// Errors are S3 error XML with AWS's code and status. Limits (S3ServerOptions): request headers;
// a single PUT or copy (EntityTooLarge); a part (held in memory unless the store streams parts,
// as the local store does); concurrent connections
// (past the cap the longest-idle keep-alive connection is closed to make room, or, when every
// connection is busy, the newcomer gets 503 SlowDown); idle keep-alive connections, request
// headers that take longer than idle_timeout to arrive, and bodies or responses that move less
// than 256 KiB (bodies) or 1 MiB (responses) per idle_timeout (slow clients) are closed; a
// request busy in the store is never timed out. Request bodies the server holds in memory (whole
// PUTs, parts) share `max_body_memory`; past it they get 503 SlowDown.
//
// Logging: one line per request at info through spdlog's default logger (client, method, target,
// status, error code, bytes, time, access key; presigned signatures and credentials redacted);
// with access_log set, also one JSON object per line in that file ("-": stdout). `region` is what
// GetBucketLocation and HeadBucket report; requests signed for any region are accepted (s3cmd
// signs for "US" until it has asked for the bucket's location). Thread-safe; one thread per
// connection, and one pool of transfer_threads for the parts of streamed uploads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::server {

// A request under /_node/ and its answer (see S3ServerOptions::node_endpoint).
struct RawRequest {
  std::string method;
  std::string target;
  std::string body;
};
struct RawResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/octet-stream";
};

// How S3 shows a user as an owner (<Owner><ID>...</ID><DisplayName>...</DisplayName>).
struct UserName {
  std::string id;            // the canonical user id
  std::string display_name;  // for people
};

struct S3ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;                            // 0: a free port (see port())
  std::map<std::string, std::string> credentials;  // access key -> secret key; at least one
  // Access keys (among the credentials) that may do everything with every bucket; the others
  // may use only the buckets they made.
  std::set<std::string> admins;
  // Canonical ids and display names (access key ->) for users who have them: S3 shows an owner
  // by them (ListBuckets, listings, uploads). A user not here shows as its access key. Ids are
  // unique among all users.
  std::map<std::string, UserName> names;
  std::string region = "us-east-1";
  // Host "BUCKET.<domain>" addresses BUCKET virtual-hosted style (empty: path style only).
  std::string virtual_host_domain = "localhost";
  int max_connections = 256;
  std::chrono::seconds idle_timeout{60};
  size_t max_header_bytes = 16 << 10;
  uint64_t max_object_bytes = uint64_t{5} << 30;  // S3's own limit for a single PUT
  // Held in memory while it is stored, unless the store streams parts (Capabilities::
  // streaming_writes); part copies are always held.
  uint64_t max_part_bytes = uint64_t{512} << 20;
  // Memory for request bodies, shared by every connection: whole PUTs of declared length (then
  // stored with one Put), parts, and 40 MiB per streamed PUT. A body that finds no room gets
  // 503 SlowDown.
  uint64_t max_body_memory = uint64_t{2} << 30;
  // Threads of the one pool where streamed PUTs and copies upload their parts (each upload keeps
  // at most 4 in flight), shared by every connection: the server runs about max_connections +
  // transfer_threads threads however many uploads are streaming.
  size_t transfer_threads = 32;
  std::string access_log;  // JSON lines: a file path, "-" or none
  // Server-side encryption (encryption.h): the master key SSE-S3 keys are derived from (32 or
  // more random bytes; empty: SSE-S3 is not served), and whether SSE-C is taken over plain HTTP
  // (S3 refuses it there; for tests and loopback).
  std::string sse_master_key;
  bool allow_sse_c_over_http = false;
  // How long a day of buckets' lifecycle rules is (lifecycle.h): S3's 24 hours, or less for tests
  // (as RGW's rgw_lc_debug_interval), when expiry is not rounded to midnight. The lifecycle worker
  // runs a pass every tenth of it (at least 100 ms, at most an hour apart).
  std::chrono::seconds lifecycle_day{std::chrono::hours(24)};
  // HTTPS: a PEM certificate chain (the server's first) and its PEM private key. Both or neither;
  // Start refuses a file it cannot use, naming it.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Where requests whose path starts with /_node/ go instead of the S3 protocol: the storage
  // network's data endpoint (`depot node run`). They carry no SigV4 (node messages are signed
  // themselves); bodies up to 256 MiB, held in memory. No bucket can be named "_node" ('_' is not
  // allowed), so no S3 request is taken. Unset: such paths are S3 requests like any other. The
  // segment after /_node/v1/admin/ is a secret (the node's admin token): logs show REDACTED.
  std::function<RawResponse(const RawRequest&)> node_endpoint;
};

class S3Server {
 public:
  // Binds and starts serving (kInvalidArgument for bad options, kUnavailable if the address is
  // taken or the access log cannot be opened). `store` is shared with the caller.
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
