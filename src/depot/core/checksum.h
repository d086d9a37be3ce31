// depot::PayloadChecksum: the checksum algorithms S3 keeps with objects (x-amz-checksum-*: CRC32,
// CRC32C, CRC64NVME, SHA1, SHA256), computed incrementally and encoded as S3 encodes them: base64
// of the big-endian digest. Also how S3 makes a multipart object's checksum from its parts': the
// CRC of the whole from the parts' CRCs (FULL_OBJECT), or the checksum of the parts' digests
// (COMPOSITE).
//
//   auto algorithm = PayloadChecksum::FromHeader("x-amz-checksum-crc32c");   // nullopt: not one
//   PayloadChecksum checksum(*algorithm);
//   checksum.Update(data); ...
//   if (checksum.Base64Finish() != header_value) ... BadDigest
//
// CRCs are the reflected ones S3 documents (CRC-32/ISO-HDLC, CRC-32C/Castagnoli, CRC-64/NVME),
// table-driven eight bytes at a time; CRC-32C with the SSE 4.2 instruction where the CPU has it.
// Not thread-safe; cheap to create. The static functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace depot {

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
  // The algorithm Name gives `name` (any case); nullopt for another name.
  static std::optional<Algorithm> FromName(std::string_view name);
  static bool IsCrc(Algorithm algorithm) {
    return algorithm == Algorithm::kCrc32 || algorithm == Algorithm::kCrc32c ||
           algorithm == Algorithm::kCrc64Nvme;
  }
  // The digest (Finish's bytes) of A followed by B, from A's digest, B's digest and B's length,
  // without the bytes: the CRCs only (nullopt for SHA, or a digest of the wrong size).
  static std::optional<std::string> Combine(Algorithm algorithm, std::string_view a,
                                            std::string_view b, uint64_t b_length);

  void Update(std::string_view data);
  // The digest's bytes (big-endian for the CRCs); Base64Finish is how S3 headers carry it.
  // Either, once.
  std::string Finish();
  std::string Base64Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace depot
