// depot::s3::PayloadChecksum: the x-amz-checksum-* algorithms S3 clients send with a body
// (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), computed incrementally and encoded as S3 encodes them:
// base64 of the big-endian digest.
//
//   auto checksum = PayloadChecksum::ForHeader("x-amz-checksum-crc32c");   // nullopt: not one
//   checksum->Update(data); ...
//   if (checksum->Base64Finish() != header_value) ... BadDigest
//
// CRCs are the reflected ones S3 documents (CRC-32/ISO-HDLC, CRC-32C/Castagnoli, CRC-64/NVME),
// table-driven eight bytes at a time. Not thread-safe; cheap to create.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace depot::s3 {

class PayloadChecksum {
 public:
  enum class Algorithm { kCrc32, kCrc32c, kCrc64Nvme, kSha1, kSha256 };

  explicit PayloadChecksum(Algorithm algorithm);
  ~PayloadChecksum();
  PayloadChecksum(PayloadChecksum&&) noexcept;
  PayloadChecksum& operator=(PayloadChecksum&&) noexcept;

  // The algorithm a header (any case) such as "x-amz-checksum-crc32" names; nullopt for any
  // other header.
  static std::optional<Algorithm> FromHeader(std::string_view header);
  // "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256" (as in x-amz-sdk-checksum-algorithm).
  static std::string_view Name(Algorithm algorithm);

  void Update(std::string_view data);
  // The digest's bytes (big-endian for the CRCs); Base64Finish is how S3 headers carry it.
  // Either, once.
  std::string Finish();
  std::string Base64Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace depot::s3
