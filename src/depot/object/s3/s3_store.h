// depot::object::S3Store: the object-store interface over one bucket of any S3-compatible service
// (AWS S3, Ceph RADOS Gateway, MinIO, depot serve), plus the bucket operations.
//
//   S3StoreOptions options;
//   options.bucket = "photos";
//   options.endpoint = "http://127.0.0.1:7480";   // empty: AWS, https://s3.REGION.amazonaws.com
//   DEPOT_ASSIGN_OR_RETURN(auto store, S3Store::Open(options));
//
// Or by URL: object::Open("s3://photos/prefix?endpoint=http://127.0.0.1:7480&region=us-east-1").
// URL options: endpoint, region, profile, access_key + secret_key (+ session_token),
// addressing=path|virtual, payload=signed|unsigned, min_part_size, conditional_put=0|1,
// checksums=0|1, ca_bundle=FILE (CAs for an https endpoint). Credentials
// and region otherwise come from the environment and ~/.aws files (see credentials.h); the
// instance-metadata service is never contacted.
//
// Durability: an OK Put, CompleteMultipart or Copy is whatever the service acknowledges (S3: stored
// redundantly). Integrity: every request body is covered by its SHA-256 in the SigV4 signature,
// which the service checks (payload=unsigned turns that off); every response body's length is
// checked against Content-Length / Content-Range; a whole-object Get of a single-part object is
// checked against its MD5 ETag. A mismatch is retried, then kDataLoss. S3 gives a client nothing to
// check a ranged read or a multipart object's bytes against (its ETag is an MD5 of part MD5s, and
// RGW 16 has no x-amz-checksum-mode), so those rely on the transport (use https), unless the
// service keeps checksums (below) and the object has a full-object one.
//
// Checksums (checksums=1, for services that keep S3's x-amz-checksum-*: AWS, depot serve, MinIO,
// RGW 18 and later; off by default, because RGW 16 ignores the headers): capabilities().checksums
// is true, and a checksum given to Put, FinishChecked or a part's FinishChecked is sent for the
// service to verify and keep (a composite one cannot be put: S3 makes those only at completion);
// CreateMultipart names the algorithm and type; CompleteMultipart lists each part's. Reads ask for
// the object's checksum (x-amz-checksum-mode; a ranged read's answer keeps none, as it may carry a
// part's), a Get of the whole object is checked against a full-object one, and Head of an object
// with a composite checksum lists its parts with one more request (GetObjectAttributes; none
// where the credentials may not ask).
//
// Reads: a Get that breaks mid-body resumes from the failed offset with If-Match on the ETag seen
// first, so the bytes returned always belong to one version; use ObjectReader for parallel chunked
// reads of large objects with bounded memory, and GetRanges (helpers.h) for coalesced multi-range
// reads.
//
// Retries, timeouts and error mapping: see client.h. Capabilities: multipart (5 MiB .. 5 GiB parts
// by default, 10,000 parts), conditional put (If-None-Match: * / If-Match; on by default, turn off
// for services that ignore those headers), copy (UploadPartCopy beyond 5 GiB), batch delete of 1000
// keys, buckets. Not supported (kUnimplemented): atomic rename, copy-if-absent.
//
// Thread-safe: all calls may run concurrently; they share a pool of keep-alive connections.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "depot/core/backoff.h"
#include "depot/core/result.h"
#include "depot/core/url.h"
#include "depot/object/store.h"
#include "depot/s3/credentials.h"
#include "depot/s3/xml.h"

namespace depot::http {
struct Response;
}  // namespace depot::http

namespace depot::object {

namespace s3 {
class S3Client;
struct S3Request;
}  // namespace s3

enum class S3Addressing {
  kAuto,           // path-style for an explicit endpoint, virtual-hosted for AWS
  kPath,           // http://host/bucket/key
  kVirtualHosted,  // http://bucket.host/key
};

struct S3StoreOptions {
  std::string bucket;
  std::string endpoint;  // "http://127.0.0.1:7480"; empty: https://s3.<region>.amazonaws.com
  depot::s3::CredentialOptions
      credentials;  // explicit keys, profile and region; else the usual chain
  S3Addressing addressing = S3Addressing::kAuto;
  bool sign_payload = true;     // false: UNSIGNED-PAYLOAD (no SHA-256 pass over bodies)
  bool conditional_put = true;  // the service honours If-None-Match: * and If-Match on writes
  uint64_t min_part_size = 5ull << 20;  // the service's minimum for non-final parts
  // Copies of larger objects go part by part (UploadPartCopy); S3 copies at most 5 GiB at once.
  uint64_t max_single_copy = 5ull << 30;
  int max_connections = 16;  // idle keep-alive connections kept
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds idle_timeout{30'000};  // a transfer silent this long fails
  BackoffOptions retry;                            // 10 attempts within 180 s by default
  // PEM file of the certificate authorities an https endpoint is checked against (a private
  // CA, a self-signed depot serve). Empty: $AWS_CA_BUNDLE if set, as the AWS tools do, else the
  // system's.
  std::string ca_file;
  // The service keeps S3's checksums (see above): RGW 16 does not.
  bool checksums = false;
};

class S3Store final : public ObjectStore {
 public:
  // Resolves credentials and region (kUnauthenticated when there are none) and validates the
  // options (kInvalidArgument naming the value). Contacts nothing: a missing bucket shows up on
  // the first request (kNotFound) or through BucketExists().
  static Result<std::shared_ptr<S3Store>> Open(S3StoreOptions options);
  // From an s3:// URL (see above).
  static Result<std::shared_ptr<S3Store>> OpenUrl(const Url& url);
  ~S3Store() override;

  // Buckets. CreateBucket of a bucket this account already owns is kAlreadyExists; DeleteBucket of
  // a bucket with objects is kFailedPrecondition ("BucketNotEmpty").
  Status CreateBucket(const Context& ctx = {});
  Status DeleteBucket(const Context& ctx = {});
  Result<bool> BucketExists(const Context& ctx = {});
  Result<std::vector<depot::s3::BucketInfo>> ListBuckets(const Context& ctx = {});

  // A URL that anyone holding it can GET (or PUT) for `expires` (1 s .. 7 days).
  Result<std::string> PresignGet(std::string_view key, std::chrono::seconds expires);
  Result<std::string> PresignPut(std::string_view key, std::chrono::seconds expires);

  const std::string& bucket() const { return options_.bucket; }

  Capabilities capabilities() const override;
  std::string ToString() const override;

 protected:
  Result<PutResult> DoPut(std::string_view key, Bytes data, const PutOptions& options,
                          const Context& ctx) override;
  Result<GetResult> DoGet(std::string_view key, const GetOptions& options,
                          const Context& ctx) override;
  Result<ObjectMeta> DoHead(std::string_view key, const Context& ctx) override;
  Status DoDelete(std::string_view key, const Context& ctx) override;
  std::vector<Status> DoDeleteMany(std::span<const std::string> keys, const Context& ctx) override;
  Result<ListResult> DoList(const ListOptions& options, const Context& ctx) override;
  Result<PutResult> DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                           const Context& ctx) override;
  Status DoRename(std::string_view from, std::string_view to, CopyMode mode,
                  const Context& ctx) override;

  Result<std::string> DoCreateMultipart(std::string_view key, const PutOptions& options,
                                        const Context& ctx) override;
  Result<PartInfo> DoPutPart(std::string_view key, std::string_view upload_id, int part_number,
                             Bytes data, const Context& ctx) override;
  Result<std::unique_ptr<PartWriter>> DoOpenPartWriter(std::string_view key,
                                                       std::string_view upload_id, int part_number,
                                                       const Context& ctx) override;
  Result<PutResult> DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                        std::span<const PartInfo> parts,
                                        const WriteCondition& condition,
                                        const Context& ctx) override;
  Status DoAbortMultipart(std::string_view key, std::string_view upload_id,
                          const Context& ctx) override;
  Result<std::vector<PartInfo>> DoListParts(std::string_view key, std::string_view upload_id,
                                            const Context& ctx) override;
  Result<std::vector<MultipartUploadInfo>> DoListMultipartUploads(std::string_view prefix,
                                                                  const Context& ctx) override;

 private:
  S3Store(S3StoreOptions options, std::unique_ptr<s3::S3Client> client);
  std::string Subject(std::string_view key) const;
  Result<PutResult> CopyMultipart(const ObjectMeta& source, std::string_view to,
                                  const Context& ctx);
  // UploadPart, with the part's checksum for the service to verify when one is given.
  Result<PartInfo> UploadPart(std::string_view key, std::string_view upload_id, int part_number,
                              Bytes data, const Checksum& checksum, const Context& ctx);
  // A multipart object's parts (GetObjectAttributes), for Head.
  // None where the service does not let these credentials ask, or does not answer.
  Result<std::vector<ObjectPart>> ObjectParts(std::string_view key, const ObjectMeta& meta,
                                              const Context& ctx);
  // Sends a write (PUT or CompleteMultipartUpload) with the write condition of `options`. Only a
  // PUT learns the service's If-Match form: a service may ignore conditions on other writes.
  Result<http::Response> ExecuteWrite(s3::S3Request request, std::string_view key,
                                      const PutOptions& options, const std::string& subject,
                                      bool learns_etag_form, const Context& ctx);

  S3StoreOptions options_;
  std::unique_ptr<s3::S3Client> client_;

  // How the service wants the ETag in a write's If-Match: AWS S3 takes the quoted entity tag of
  // RFC 9110, RGW 16 compares the header with its stored ETag byte for byte, so only the bare
  // hex matches there. The first conditional write that meets a 412 for the current ETag learns
  // which (see ExecuteWrite).
  enum class EtagForm { kUnknown, kQuoted, kBare };
  std::atomic<EtagForm> write_etag_form_{EtagForm::kUnknown};
};

}  // namespace depot::object
