#include "depot/core/checksum.h"

#include <openssl/evp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <utility>

#include "depot/core/base64.h"

namespace depot {
namespace {

// Eight 256-entry tables for a reflected CRC of width W (uint32_t or uint64_t) and reflected
// polynomial `poly`: table[k][b] is the CRC of byte b followed by k zero bytes.
template <typename W>
struct CrcTables {
  std::array<std::array<W, 256>, 8> t{};

  explicit CrcTables(W poly) {
    for (unsigned b = 0; b < 256; ++b) {
      W crc = static_cast<W>(b);
      for (int i = 0; i < 8; ++i) crc = (crc & 1) != 0 ? (crc >> 1) ^ poly : crc >> 1;
      t[0][b] = crc;
    }
    for (unsigned b = 0; b < 256; ++b) {
      for (size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
    }
  }

  W Update(W crc, const unsigned char* p, size_t n) const {
    while (n >= 8) {
      uint64_t word = 0;
      for (int i = 0; i < 8; ++i) word |= static_cast<uint64_t>(p[i]) << (8 * i);
      word ^= static_cast<uint64_t>(crc);
      W next = 0;
      for (size_t i = 0; i < 8; ++i) next ^= t[7 - i][(word >> (8 * i)) & 0xff];
      crc = next;
      p += 8;
      n -= 8;
    }
    while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    return crc;
  }
};

constexpr uint32_t kCrc32Poly = 0xEDB88320u;
constexpr uint32_t kCrc32cPoly = 0x82F63B78u;
constexpr uint64_t kCrc64NvmePoly = 0x9A6C9329AC4BC9B5ull;

const CrcTables<uint32_t>& Crc32Tables() {
  static const CrcTables<uint32_t> tables(kCrc32Poly);
  return tables;
}
const CrcTables<uint32_t>& Crc32cTables() {
  static const CrcTables<uint32_t> tables(kCrc32cPoly);
  return tables;
}
const CrcTables<uint64_t>& Crc64NvmeTables() {
  static const CrcTables<uint64_t> tables(kCrc64NvmePoly);
  return tables;
}

template <typename W>
std::string BigEndian(W value) {
  std::string bytes(sizeof(W), '\0');
  for (size_t i = 0; i < sizeof(W); ++i) {
    bytes[i] = static_cast<char>((value >> (8 * (sizeof(W) - 1 - i))) & 0xff);
  }
  return bytes;
}

template <typename W>
std::optional<W> FromBigEndian(std::string_view bytes) {
  if (bytes.size() != sizeof(W)) return std::nullopt;
  W value = 0;
  for (char c : bytes) value = static_cast<W>((value << 8) | static_cast<unsigned char>(c));
  return value;
}

// Polynomials over GF(2) modulo the CRC's polynomial, in the CRC's reflected form: the top bit
// of a W is the coefficient of x^0. MultiplyModP is a * b mod P.
template <typename W>
W MultiplyModP(W a, W b, W poly) {
  constexpr W kTop = W{1} << (8 * sizeof(W) - 1);
  W product = 0;
  for (W bit = kTop; bit != 0; bit >>= 1) {
    if ((a & bit) != 0) product ^= b;
    b = (b & 1) != 0 ? (b >> 1) ^ poly : b >> 1;
  }
  return product;
}

// x^(8 * bytes) mod P: appending `bytes` zero bytes multiplies a CRC's register by it.
template <typename W>
W ZeroBytesOperator(uint64_t bytes, W poly) {
  constexpr W kOne = W{1} << (8 * sizeof(W) - 1);  // x^0
  W result = kOne;
  W power = kOne >> 8;  // x^8: one zero byte
  for (; bytes != 0; bytes >>= 1) {
    if ((bytes & 1) != 0) result = MultiplyModP(result, power, poly);
    power = MultiplyModP(power, power, poly);
  }
  return result;
}

// CRC(A || B) for CRCs whose initial value and final XOR are equal (all ones here): the final
// XORs cancel, so it is CRC(A) carried over |B| zero bytes, plus CRC(B).
template <typename W>
std::optional<std::string> CombineCrc(std::string_view a, std::string_view b, uint64_t b_length,
                                      W poly) {
  const std::optional<W> crc_a = FromBigEndian<W>(a);
  const std::optional<W> crc_b = FromBigEndian<W>(b);
  if (!crc_a || !crc_b) return std::nullopt;
  return BigEndian<W>(MultiplyModP(ZeroBytesOperator(b_length, poly), *crc_a, poly) ^ *crc_b);
}

// CRC-32C with the SSE 4.2 crc32 instruction (x86-64), on the same raw register as
// CrcTables::Update. The instruction's latency is three times its issue rate, so long inputs run
// as three interleaved streams over consecutive stripes, joined by carrying the first stripes'
// registers over the later stripes' lengths (as CombineCrc does).
#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint64_t Crc32cStream(uint64_t crc, const unsigned char* p,
                                                        size_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    crc = __builtin_ia32_crc32di(crc, word);
  }
  for (; n > 0; ++p, --n) crc = __builtin_ia32_crc32qi(static_cast<uint32_t>(crc), *p);
  return crc;
}

__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(uint32_t crc, const unsigned char* p,
                                                          size_t n) {
  constexpr size_t kStripe = 16 * 1024;
  static const uint32_t kShift = ZeroBytesOperator<uint32_t>(kStripe, kCrc32cPoly);
  for (; n >= 3 * kStripe; p += 3 * kStripe, n -= 3 * kStripe) {
    uint64_t a = crc;
    uint64_t b = 0;
    uint64_t c = 0;
    for (size_t i = 0; i < kStripe; i += 8) {
      uint64_t wa;
      uint64_t wb;
      uint64_t wc;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, p + kStripe + i, 8);
      std::memcpy(&wc, p + 2 * kStripe + i, 8);
      a = __builtin_ia32_crc32di(a, wa);
      b = __builtin_ia32_crc32di(b, wb);
      c = __builtin_ia32_crc32di(c, wc);
    }
    const uint32_t ab =
        MultiplyModP(kShift, static_cast<uint32_t>(a), kCrc32cPoly) ^ static_cast<uint32_t>(b);
    crc = MultiplyModP(kShift, ab, kCrc32cPoly) ^ static_cast<uint32_t>(c);
  }
  return static_cast<uint32_t>(Crc32cStream(crc, p, n));
}
#endif

#if defined(__x86_64__)
// CRC-32C of long inputs by carry-less multiplication (AVX-512 VPCLMULQDQ): the input is folded,
// 64 bytes per 512-bit register and four registers at a time, into one 16-byte value that leaves
// the same remainder, whose CRC the crc32 instruction then takes.
//
// The arithmetic, in the CRC's reflected bit order: a 16-byte block X read as two little-endian
// words lo (its first 8 bytes) and hi stands for X(x) = lo(x) x^64 + hi(x), where bit i of a word
// is the coefficient of x^(63-i). Followed by d more bytes, X leaves the remainder of
// X(x) x^(8d), which is that of lo(x) (x^(8d+64) mod P) + hi(x) (x^(8d) mod P): a polynomial of
// degree < 96 that takes X's place d bytes later. A carry-less product of two such words has bit k
// for x^(126-k), which a 16-byte block reads as x^(127-k): the product times x. So each constant
// is kept divided by x, as x^(n-1) mod P in the upper half of its word (bit 32 + i for the
// register's bit i).
struct FoldConstants {
  // x^(8 * bytes - 1) mod P, in ZeroBytesOperator's form.
  static uint32_t PowerBelow(uint64_t bytes) {
    constexpr uint32_t kX7 = uint32_t{1} << (31 - 7);
    return MultiplyModP(ZeroBytesOperator<uint32_t>(bytes - 1, kCrc32cPoly), kX7, kCrc32cPoly);
  }
  // For a fold over d bytes: the constants of lo and of hi.
  static std::pair<uint64_t, uint64_t> For(uint64_t d) {
    return {uint64_t{PowerBelow(d + 8)} << 32, uint64_t{PowerBelow(d)} << 32};
  }
};

#define DEPOT_CRC_VPCLMUL_TARGET \
  __attribute__((target("avx512f,avx512dq,vpclmulqdq,pclmul,sse4.2")))

// A fold's constants as one 16-byte lane (lo64 first), and in every lane of a register.
DEPOT_CRC_VPCLMUL_TARGET inline __m128i Narrow(std::pair<uint64_t, uint64_t> k) {
  return _mm_set_epi64x(static_cast<long long>(k.second), static_cast<long long>(k.first));
}
DEPOT_CRC_VPCLMUL_TARGET inline __m512i Wide(std::pair<uint64_t, uint64_t> k) {
  const auto lo = static_cast<long long>(k.first);
  const auto hi = static_cast<long long>(k.second);
  return _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo);
}

// Folds each 16-byte lane of `x` over `k`'s distance and adds `data`.
DEPOT_CRC_VPCLMUL_TARGET inline __m512i Fold512(__m512i x, __m512i k, __m512i data) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                   _mm512_clmulepi64_epi128(x, k, 0x11), data, 0x96);
}

DEPOT_CRC_VPCLMUL_TARGET inline __m128i Fold128(__m128i x, __m128i k, __m128i data) {
  return _mm_xor_si128(
      _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), data);
}

DEPOT_CRC_VPCLMUL_TARGET uint32_t Crc32cVpclmul(uint32_t crc, const unsigned char* p, size_t n) {
  constexpr size_t kRound = 256;  // four registers of 64 bytes
  if (n < 2 * kRound) return Crc32cHardware(crc, p, n);
  static const auto kFold256 = FoldConstants::For(256);
  static const auto kFold64 = FoldConstants::For(64);
  static const auto kFold48 = FoldConstants::For(48);
  static const auto kFold32 = FoldConstants::For(32);
  static const auto kFold16 = FoldConstants::For(16);
  // The register's value is the same as its bits added to the first four bytes from zero.
  __m512i a0 = _mm512_xor_si512(_mm512_loadu_si512(p),
                                _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(crc))));
  __m512i a1 = _mm512_loadu_si512(p + 64);
  __m512i a2 = _mm512_loadu_si512(p + 128);
  __m512i a3 = _mm512_loadu_si512(p + 192);
  p += kRound;
  n -= kRound;
  const __m512i k256 = Wide(kFold256);
  for (; n >= kRound; p += kRound, n -= kRound) {
    a0 = Fold512(a0, k256, _mm512_loadu_si512(p));
    a1 = Fold512(a1, k256, _mm512_loadu_si512(p + 64));
    a2 = Fold512(a2, k256, _mm512_loadu_si512(p + 128));
    a3 = Fold512(a3, k256, _mm512_loadu_si512(p + 192));
  }
  const __m512i k64 = Wide(kFold64);
  __m512i a = Fold512(Fold512(Fold512(a0, k64, a1), k64, a2), k64, a3);
  // The four lanes of the last 64 bytes, each over the lanes after it.
  __m128i r =
      Fold128(_mm512_extracti64x2_epi64(a, 0), Narrow(kFold48), _mm512_extracti64x2_epi64(a, 3));
  r = Fold128(_mm512_extracti64x2_epi64(a, 1), Narrow(kFold32), r);
  r = Fold128(_mm512_extracti64x2_epi64(a, 2), Narrow(kFold16), r);
  uint64_t reg = __builtin_ia32_crc32di(0, static_cast<uint64_t>(_mm_cvtsi128_si64(r)));
  reg = __builtin_ia32_crc32di(reg, static_cast<uint64_t>(_mm_extract_epi64(r, 1)));
  return Crc32cHardware(static_cast<uint32_t>(reg), p, n);
}
#endif

uint32_t Crc32cUpdate(uint32_t crc, const unsigned char* p, size_t n) {
#if defined(__x86_64__)
  static const bool kFolding = __builtin_cpu_supports("avx512f") &&
                               __builtin_cpu_supports("avx512dq") &&
                               __builtin_cpu_supports("vpclmulqdq");
  if (kFolding) return Crc32cVpclmul(crc, p, n);
  static const bool kHardware = __builtin_cpu_supports("sse4.2");
  if (kHardware) return Crc32cHardware(crc, p, n);
#endif
  return Crc32cTables().Update(crc, p, n);
}

// Digests fetched once: OpenSSL 3's EVP_sha1() / EVP_sha256() look the algorithm up, under
// locks, each time a context is initialised with them.
const EVP_MD* FetchedMd(PayloadChecksum::Algorithm algorithm) {
  static EVP_MD* const sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return algorithm == PayloadChecksum::Algorithm::kSha1 ? sha1 : sha256;
}

}  // namespace

struct PayloadChecksum::State {
  Algorithm algorithm;
  uint64_t crc = ~uint64_t{0};  // CRCs start from all ones (the 32-bit ones use the low half)
  EVP_MD_CTX* md = nullptr;     // SHA1 and SHA256

  explicit State(Algorithm a) : algorithm(a) {
    if (a == Algorithm::kSha1 || a == Algorithm::kSha256) {
      md = EVP_MD_CTX_new();
      EVP_DigestInit_ex(md, FetchedMd(a), nullptr);
    }
  }
  ~State() { EVP_MD_CTX_free(md); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

PayloadChecksum::PayloadChecksum(Algorithm algorithm)
    : state_(std::make_unique<State>(algorithm)) {}
PayloadChecksum::~PayloadChecksum() = default;
PayloadChecksum::PayloadChecksum(PayloadChecksum&&) noexcept = default;
PayloadChecksum& PayloadChecksum::operator=(PayloadChecksum&&) noexcept = default;

std::optional<PayloadChecksum::Algorithm> PayloadChecksum::FromHeader(std::string_view header) {
  constexpr std::string_view kPrefix = "x-amz-checksum-";
  if (header.size() <= kPrefix.size()) return std::nullopt;
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kPrefix[i]) return std::nullopt;
  }
  return FromName(header.substr(kPrefix.size()));
}

std::string_view PayloadChecksum::Name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kCrc32:
      return "CRC32";
    case Algorithm::kCrc32c:
      return "CRC32C";
    case Algorithm::kCrc64Nvme:
      return "CRC64NVME";
    case Algorithm::kSha1:
      return "SHA1";
    case Algorithm::kSha256:
      return "SHA256";
  }
  return "";
}

std::optional<PayloadChecksum::Algorithm> PayloadChecksum::FromName(std::string_view name) {
  for (Algorithm a : {Algorithm::kCrc32, Algorithm::kCrc32c, Algorithm::kCrc64Nvme,
                      Algorithm::kSha1, Algorithm::kSha256}) {
    const std::string_view known = Name(a);
    if (name.size() == known.size() &&
        std::equal(name.begin(), name.end(), known.begin(), [](char x, char y) {
          return std::toupper(static_cast<unsigned char>(x)) == y;
        })) {
      return a;
    }
  }
  return std::nullopt;
}

std::optional<std::string> PayloadChecksum::Combine(Algorithm algorithm, std::string_view a,
                                                    std::string_view b, uint64_t b_length) {
  switch (algorithm) {
    case Algorithm::kCrc32:
      return CombineCrc<uint32_t>(a, b, b_length, kCrc32Poly);
    case Algorithm::kCrc32c:
      return CombineCrc<uint32_t>(a, b, b_length, kCrc32cPoly);
    case Algorithm::kCrc64Nvme:
      return CombineCrc<uint64_t>(a, b, b_length, kCrc64NvmePoly);
    case Algorithm::kSha1:
    case Algorithm::kSha256:
      return std::nullopt;
  }
  return std::nullopt;
}

void PayloadChecksum::Update(std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  State& s = *state_;
  switch (s.algorithm) {
    case Algorithm::kCrc32:
      s.crc = Crc32Tables().Update(static_cast<uint32_t>(s.crc), p, data.size());
      break;
    case Algorithm::kCrc32c:
      s.crc = Crc32cUpdate(static_cast<uint32_t>(s.crc), p, data.size());
      break;
    case Algorithm::kCrc64Nvme:
      s.crc = Crc64NvmeTables().Update(s.crc, p, data.size());
      break;
    case Algorithm::kSha1:
    case Algorithm::kSha256:
      EVP_DigestUpdate(s.md, data.data(), data.size());
      break;
  }
}

std::string PayloadChecksum::Finish() {
  State& s = *state_;
  switch (s.algorithm) {
    case Algorithm::kCrc32:
    case Algorithm::kCrc32c:
      return BigEndian(static_cast<uint32_t>(~s.crc));
    case Algorithm::kCrc64Nvme:
      return BigEndian(~s.crc);
    case Algorithm::kSha1:
    case Algorithm::kSha256: {
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int length = 0;
      EVP_DigestFinal_ex(s.md, digest, &length);
      return std::string(reinterpret_cast<const char*>(digest), length);
    }
  }
  return "";
}

std::string PayloadChecksum::Base64Finish() { return Base64Encode(Finish()); }

}  // namespace depot
