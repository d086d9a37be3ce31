// depot serve's server-side encryption of requests: which encryption a request asks for (SSE-C,
// SSE-S3, a bucket's default), and reads of encrypted objects as their plaintext (internal; sse.h
// has the format at rest).
//
//   - SSE-C: x-amz-server-side-encryption-customer-algorithm (AES256), -key (base64 of 32 bytes)
//     and -key-MD5 (base64 of the key's MD5), all three, on the write and on every read (GET,
//     HEAD). Refused over plain HTTP (400 InvalidRequest, as S3 does) unless the operator allows
//     it (S3ServerOptions::allow_sse_c_over_http). A read without the key is 400 InvalidRequest;
//     with another key, 400 InvalidArgument (as ceph/s3-tests expect of S3).
//   - SSE-S3: x-amz-server-side-encryption: AES256 on the write, or the bucket's default
//     encryption; reads need nothing. Served when depot serve has a master key
//     (S3ServerOptions::sse_master_key), else 501.
//   - SSE-KMS (aws:kms, aws:kms:dsse) answers 501 NotImplemented: no key service is configured.
//     Its key id and context headers without it are 400; x-amz-server-side-encryption-bucket-key-
//     enabled, a hint of KMS's costs, changes nothing and is taken.
// Encrypted objects answer with S3's headers (x-amz-server-side-encryption, or the customer
// algorithm and key MD5); their ETag is the stored object's (not the MD5 of the plaintext, as S3's
// are for SSE-C and SSE-KMS); no checksum is kept with them. Listings of a bucket that ever held an
// encrypted object read each object's metadata for its plaintext size.
//
// CopyObject decrypts an encrypted source (SSE-C: x-amz-copy-source-server-side-encryption-
// customer-*) and encrypts the copy as the request or the bucket's default asks, streaming.
// Multipart uploads are encrypted part by part (sse.h), each UploadPart sending the upload's
// customer key again as S3 has it; they need a store that keeps part sizes (local, memory; 501 on
// the S3 backend). Not served yet (501 NotImplemented, never stored unencrypted): UploadPartCopy
// from an encrypted source or into an encrypted upload, and POST uploads that are encrypted or
// into a bucket with default encryption.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "depot/core/result.h"
#include "depot/object/forwarding_store.h"
#include "depot/server/exchange.h"
#include "depot/server/sse.h"

namespace depot::server {

struct RequestedEncryption {
  enum class Kind { kNone, kCustomer, kService };
  Kind kind = Kind::kNone;
  SealKey customer_key{};
  std::string customer_key_md5;  // base64, as sent
};

// The encryption a request's headers ask for. `write`: a PutObject, which may ask for SSE-S3
// (x-amz-server-side-encryption); on reads that header is refused, as S3 does. kInvalidArgument
// naming the header for anything S3 refuses (a key of another length, an MD5 that is not the
// key's, a key without its algorithm, SSE-C with SSE-S3, a KMS key id without aws:kms),
// kUnimplemented for SSE-KMS.
// With `prefix` "x-amz-copy-source-", the SSE-C headers of a copy's source instead (which has no
// SSE-S3 header).
Result<RequestedEncryption> EncryptionOfRequest(const Exchange& exchange, bool write,
                                                bool allow_sse_c_over_http,
                                                std::string_view prefix = "x-amz-");

// Whether any header of SSE-C, SSE-S3 or SSE-KMS is on the request (those of copy sources too).
bool AsksForEncryption(const Exchange& exchange);

// The response headers that name how an object is encrypted.
HeaderList EncryptionHeaders(Sealing::Kind kind, const RequestedEncryption& request);

// One stretch of an encrypted object sealed as a whole: the object, or one of its parts.
struct SealedSegment {
  uint64_t stored_offset = 0;
  uint64_t stored_size = 0;
  uint64_t plain_offset = 0;
  uint64_t plain_size = 0;
  SealKey key{};
};

// The plaintext size of an encrypted object (its record in `meta`, and its parts' sizes for a
// multipart one); kDataLoss for sizes no encrypted object has.
Result<uint64_t> PlainSizeOf(const object::ObjectMeta& meta);

// The store as a read of one encrypted object sees it: GetStream, Get and Head of `key` answer
// its plaintext (its size, parts and the range asked for, its metadata without the encryption
// record), decrypting only the chunks the range needs; every other call passes through. A read
// finding another object there than the one opened (replaced meanwhile) fails with 503 SlowDown.
class UnsealedView final : public object::ForwardingStore {
 public:
  // `segments` cover the object in order; `parts` are the plaintext's parts (none: one).
  UnsealedView(object::ObjectStore& target, std::string key, std::string record,
               std::vector<SealedSegment> segments, std::vector<object::ObjectPart> parts);

 protected:
  Result<object::GetResult> DoGet(std::string_view key, const object::GetOptions& options,
                                  const Context& ctx) override;
  Result<object::ObjectMeta> DoHead(std::string_view key, const Context& ctx) override;
  Status DoGetStream(std::string_view key, const object::GetOptions& options,
                     const std::function<Status(const object::GetResult&)>& on_head,
                     const std::function<Status(std::string_view)>& on_data,
                     const Context& ctx) override;

 private:
  // The plaintext's metadata, from the stored object's.
  Result<object::ObjectMeta> Shown(object::ObjectMeta meta) const;

  const std::string key_;
  const std::string record_;  // the encryption record the object was opened with
  const std::vector<SealedSegment> segments_;
  const std::vector<object::ObjectPart> parts_;
  uint64_t size_ = 0;
};

// The base key of an object or upload encrypted as `sealing` says, for a request asking for
// `request`: the customer's key (checked against the record; kInvalidArgument naming what is
// wrong) or the service's (kUnimplemented without a master key).
Result<SealKey> BaseKeyOf(const Sealing& sealing, const RequestedEncryption& request,
                          const std::optional<SealKey>& service_key);

// A read of an encrypted object: the view to read it through and the headers to answer.
struct SealedRead {
  std::unique_ptr<UnsealedView> view;
  HeaderList headers;
};
// Opens `meta` (the object at `store_key`) for a read asking for `request`: nullopt when it is
// not encrypted (kInvalidArgument when the request sent SSE-C for it), kInvalidArgument
// ("InvalidRequest: ...") when the object needs a customer key the request did not send, or
// ("InvalidArgument: ...") sent another; kUnimplemented for an SSE-S3 object without a master key.
Result<std::optional<SealedRead>> OpenSealed(object::ObjectStore& store,
                                             const std::string& store_key,
                                             const object::ObjectMeta& meta,
                                             const RequestedEncryption& request,
                                             const std::optional<SealKey>& service_key);

}  // namespace depot::server
