#include "depot/core/checksum.h"

#include <gtest/gtest.h>

#include <string>

namespace depot {
namespace {

using Algorithm = PayloadChecksum::Algorithm;

std::string Of(Algorithm algorithm, std::string_view data, size_t piece = 0) {
  PayloadChecksum checksum(algorithm);
  if (piece == 0) piece = data.size() + 1;
  for (size_t at = 0; at < data.size(); at += piece) checksum.Update(data.substr(at, piece));
  return checksum.Base64Finish();
}

// 1000 bytes that exercise the eight-at-a-time path and its tail.
std::string Pattern() {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>((i * 7 + 3) % 256);
  return data;
}

TEST(PayloadChecksumTest, MatchesTheCatalogueCheckValues) {
  // The "123456789" check values of CRC-32/ISO-HDLC, CRC-32C and CRC-64/NVME, big-endian base64.
  EXPECT_EQ(Of(Algorithm::kCrc32, "123456789"), "y/Q5Jg==");
  EXPECT_EQ(Of(Algorithm::kCrc32c, "123456789"), "4waSgw==");
  EXPECT_EQ(Of(Algorithm::kCrc64Nvme, "123456789"), "rosUhgp5mIg=");
  EXPECT_EQ(Of(Algorithm::kSha1, "123456789"), "98O8HYCOBHMq32eZZczDTKeuNEE=");
  EXPECT_EQ(Of(Algorithm::kSha256, "123456789"), "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=");
  EXPECT_EQ(Of(Algorithm::kSha256, ""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

TEST(PayloadChecksumTest, LongInputsInAnyPiecesAgreeWithABitwiseCrc) {
  // Expected values from a bit-at-a-time CRC (and zlib's crc32) over the same bytes.
  const std::string data = Pattern();
  for (size_t piece : {size_t{0}, size_t{1}, size_t{3}, size_t{8}, size_t{13}, size_t{999}}) {
    SCOPED_TRACE(piece);
    EXPECT_EQ(Of(Algorithm::kCrc32, data, piece), "F7wqRg==");
    EXPECT_EQ(Of(Algorithm::kCrc32c, data, piece), "3S7f9w==");
    EXPECT_EQ(Of(Algorithm::kCrc64Nvme, data, piece), "OH6Gi9FN6+0=");
  }
}

// A bit-at-a-time CRC-32C: the reference for inputs long enough to take the interleaved path.
std::string BitwiseCrc32c(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  crc = ~crc;
  std::string digest;
  for (int shift = 24; shift >= 0; shift -= 8) digest += static_cast<char>((crc >> shift) & 0xff);
  return digest;
}

TEST(PayloadChecksumTest, Crc32cOfLongInputsAtAnyOffsetAgreesWithABitwiseCrc) {
  std::string data;
  uint64_t state = 88172645463325252ull;
  for (int i = 0; i < 200'000; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    data += static_cast<char>(state & 0xff);
  }
  // Lengths around the folding rounds (256 bytes, from 512) and the three-stripe rounds
  // (48 KiB), unaligned starts, and several pieces.
  for (size_t length : {size_t{511}, size_t{512}, size_t{513}, size_t{767}, size_t{4'103},
                        size_t{49'151}, size_t{49'152}, size_t{49'161}, size_t{150'001}}) {
    for (size_t start : {size_t{0}, size_t{3}}) {
      SCOPED_TRACE(::testing::Message() << length << " bytes from " << start);
      const std::string_view input = std::string_view(data).substr(start, length);
      for (size_t piece : {size_t{0}, size_t{50'000}, size_t{49'152}}) {
        PayloadChecksum checksum(Algorithm::kCrc32c);
        if (piece == 0) piece = length;
        for (size_t at = 0; at < length; at += piece) checksum.Update(input.substr(at, piece));
        EXPECT_EQ(checksum.Finish(), BitwiseCrc32c(input)) << "in pieces of " << piece;
      }
    }
  }
}

TEST(PayloadChecksumTest, NamesTheHeaders) {
  EXPECT_EQ(PayloadChecksum::FromHeader("x-amz-checksum-crc32"), Algorithm::kCrc32);
  EXPECT_EQ(PayloadChecksum::FromHeader("X-Amz-Checksum-CRC32C"), Algorithm::kCrc32c);
  EXPECT_EQ(PayloadChecksum::FromHeader("x-amz-checksum-crc64nvme"), Algorithm::kCrc64Nvme);
  EXPECT_EQ(PayloadChecksum::FromHeader("x-amz-checksum-sha1"), Algorithm::kSha1);
  EXPECT_EQ(PayloadChecksum::FromHeader("x-amz-checksum-sha256"), Algorithm::kSha256);
  EXPECT_EQ(PayloadChecksum::FromHeader("x-amz-checksum-md5"), std::nullopt);
  EXPECT_EQ(PayloadChecksum::FromHeader("x-amz-checksum-"), std::nullopt);
  EXPECT_EQ(PayloadChecksum::FromHeader("x-amz-checksum-algorithm"), std::nullopt);
  EXPECT_EQ(PayloadChecksum::Name(Algorithm::kCrc64Nvme), "CRC64NVME");
}

// Combine against the bytes: every split of the pattern, the empty halves included, for each CRC;
// SHAs cannot be combined.
TEST(PayloadChecksumTest, CombinesCrcsOfPartsIntoTheCrcOfTheWhole) {
  const std::string data = Pattern();
  for (Algorithm algorithm : {Algorithm::kCrc32, Algorithm::kCrc32c, Algorithm::kCrc64Nvme}) {
    SCOPED_TRACE(PayloadChecksum::Name(algorithm));
    auto digest = [&](std::string_view bytes) {
      PayloadChecksum checksum(algorithm);
      checksum.Update(bytes);
      return checksum.Finish();
    };
    const std::string whole = digest(data);
    for (size_t split : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{500}, data.size()}) {
      const std::string_view a = std::string_view(data).substr(0, split);
      const std::string_view b = std::string_view(data).substr(split);
      EXPECT_EQ(PayloadChecksum::Combine(algorithm, digest(a), digest(b), b.size()), whole)
          << split;
    }
    EXPECT_EQ(PayloadChecksum::Combine(algorithm, "short", digest(data), 1), std::nullopt);
  }
  EXPECT_EQ(PayloadChecksum::Combine(Algorithm::kSha256, "", "", 0), std::nullopt);
  EXPECT_EQ(PayloadChecksum::FromName("crc64nvme"), Algorithm::kCrc64Nvme);
  EXPECT_EQ(PayloadChecksum::FromName("MD5"), std::nullopt);
}

}  // namespace
}  // namespace depot
