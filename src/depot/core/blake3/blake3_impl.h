// (internal to core/blake3/) BLAKE3's constants, its compression function, and the chunk hashers
// the hasher dispatches to: portable (blake3_portable.cc), SSE4.1, AVX2 and AVX-512 (4, 8 and 16
// chunks at once: blake3_simd.h), chosen at run time from the CPU's features.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

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

// One whole chunk (kChunkLen bytes) at chunk counter `counter`: its chaining value.
void HashChunkPortable(const uint8_t* input, const uint32_t key[8], uint64_t counter, uint8_t flags,
                       uint32_t out[8]);

// The SIMD chunk hashers: 4, 8 or 16 whole chunks at inputs[i], counters counter + i, their
// chaining values into out (8 words each). Only for a CPU with the instruction set.
void HashChunksSse41(const uint8_t* const* inputs, const uint32_t key[8], uint64_t counter,
                     uint8_t flags, uint32_t* out);
void HashChunksAvx2(const uint8_t* const* inputs, const uint32_t key[8], uint64_t counter,
                    uint8_t flags, uint32_t* out);
void HashChunksAvx512(const uint8_t* const* inputs, const uint32_t key[8], uint64_t counter,
                      uint8_t flags, uint32_t* out);

enum class Isa { kPortable, kSse41, kAvx2, kAvx512 };
std::string_view IsaName(Isa isa);
// The best chunk hasher this CPU runs.
Isa DetectIsa();
// The one in use: DetectIsa(), unless ForceIsa chose another (tests and benchmarks). Forcing one
// the CPU lacks is refused (returns false).
Isa ActiveIsa();
bool ForceIsa(Isa isa);

// `count` whole chunks, contiguous from `input`, at counters counter, counter + 1, ...: their
// chaining values into out (8 words each), through the active chunk hasher.
void HashChunks(const uint8_t* input, size_t count, const uint32_t key[8], uint64_t counter,
                uint8_t flags, uint32_t* out);

}  // namespace depot::blake3::internal
