// (internal to core/blake3/) BLAKE3's constants and compression function, shared by the hasher
// (blake3.cc) and the implementations of the compression function (blake3_portable.cc).
#pragma once

#include <cstdint>

namespace depot::blake3::internal {

// The IV is SHA-256's.
inline constexpr uint32_t kIv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// Domain flags.
enum : uint8_t {
  kChunkStart = 1 << 0,
  kChunkEnd = 1 << 1,
  kParent = 1 << 2,
  kRoot = 1 << 3,
  kKeyedHash = 1 << 4,
  kDeriveKeyContext = 1 << 5,
  kDeriveKeyMaterial = 1 << 6,
};

// The compression function: `cv` and one 64-byte block (of which `block_len` bytes are input,
// the rest zeros) at `counter` with `flags`, into the 16 words of output. The first 8 are the
// next chaining value; all 16 are one block of extendable output when kRoot is set.
void Compress(const uint32_t cv[8], const uint8_t block[64], uint8_t block_len, uint64_t counter,
              uint8_t flags, uint32_t out[16]);

// Little-endian words of `bytes` (n words), and back.
void LoadWords(const uint8_t* bytes, uint32_t* words, int n);
void StoreWords(const uint32_t* words, uint8_t* bytes, int n);

}  // namespace depot::blake3::internal
