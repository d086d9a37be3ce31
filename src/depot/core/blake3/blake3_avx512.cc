// BLAKE3's chunk hasher for AVX-512: 16 chunks at once (blake3_simd.h). This file alone is compiled
// for that instruction set (CMakeLists.txt); blake3.cc calls it only when the CPU has it.
#include "depot/core/blake3/blake3_simd.h"

namespace depot::blake3::internal {

namespace {
typedef uint32_t Lanes __attribute__((vector_size(64)));
}  // namespace

void HashChunksAvx512(const uint8_t* const* inputs, const uint32_t key[8], uint64_t counter,
                      uint8_t flags, uint32_t* out) {
  HashChunksSimd<Lanes, 16>(inputs, key, counter, flags, out);
}

}  // namespace depot::blake3::internal
