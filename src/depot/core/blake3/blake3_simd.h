// (internal to core/blake3/) The body of the SIMD chunk hashers: N chunks at once, one per lane
// of a vector of N 32-bit words (GCC's vector extensions), for N = 4 (SSE4.1), 8 (AVX2) and 16
// (AVX-512). Each of blake3_sse41.cc, blake3_avx2.cc and blake3_avx512.cc includes this file and
// is compiled for its instruction set; everything here has internal linkage, so no function
// compiled for one instruction set can be picked by the linker for a caller on another.
//
// Lane j hashes chunk j: the same sequence of compressions as the portable ChunkState (16 blocks,
// kChunkStart on the first, kChunkEnd on the last, counter + j), so outputs are equal by
// construction and by test (blake3_test.cc forces each path).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "depot/core/blake3/blake3_impl.h"

namespace depot::blake3::internal {
namespace {

// The message word order of each round: round r + 1 applies kPermutation to round r's order.
struct Schedule {
  int order[7][16];
  constexpr Schedule() : order() {
    constexpr int kPermutation[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};
    for (int i = 0; i < 16; ++i) order[0][i] = i;
    for (int r = 1; r < 7; ++r) {
      for (int i = 0; i < 16; ++i) order[r][i] = order[r - 1][kPermutation[i]];
    }
  }
};
constexpr Schedule kSchedule;

template <typename V, int kBits>
inline V Rotr(V x) {
  return (x >> kBits) | (x << (32 - kBits));
}

template <typename V>
inline void G(V* s, int a, int b, int c, int d, V x, V y) {
  s[a] = s[a] + s[b] + x;
  s[d] = Rotr<V, 16>(s[d] ^ s[a]);
  s[c] = s[c] + s[d];
  s[b] = Rotr<V, 12>(s[b] ^ s[c]);
  s[a] = s[a] + s[b] + y;
  s[d] = Rotr<V, 8>(s[d] ^ s[a]);
  s[c] = s[c] + s[d];
  s[b] = Rotr<V, 7>(s[b] ^ s[c]);
}

inline uint32_t Load32(const uint8_t* p) {
  uint32_t word;
  std::memcpy(&word, p, sizeof(word));  // little-endian machines only (x86)
  return word;
}

// One step of LoadTransposed at distance kD: rows i and i + kD (bit kD of i clear) exchange their
// off-diagonal kD-wide halves. Row i keeps its words where bit kD of the index is clear and takes
// row i + kD's lower ones where it is set; row i + kD the other halves. Indexes >= kLanes name
// the second vector of the two-source shuffle (__builtin_shufflevector: GCC 12 and clang).
template <typename V, int kLanes, int kD, int... K>
inline void TransposeStep(V* rows, std::integer_sequence<int, K...> lanes) {
#pragma GCC unroll 16
  for (int i = 0; i < kLanes; ++i) {
    if (i & kD) continue;
    const V a = rows[i], b = rows[i + kD];
    rows[i] = __builtin_shufflevector(a, b, ((K & kD) ? kLanes + (K - kD) : K)...);
    rows[i + kD] = __builtin_shufflevector(a, b, ((K & kD) ? kLanes + K : K + kD)...);
  }
  if constexpr (kD > 1) TransposeStep<V, kLanes, kD / 2>(rows, lanes);
}

// Message words of one block for every lane: m[w] holds word w of each lane's block at
// `offset`. Each lane's block is loaded whole (16 / kLanes vectors) and each kLanes x kLanes
// square of words transposed by log2(kLanes) steps of constant shuffles.
template <typename V, int kLanes>
inline void LoadTransposed(const uint8_t* const* inputs, size_t offset, V m[16]) {
#pragma GCC unroll 4
  for (int group = 0; group < 16 / kLanes; ++group) {
    V rows[kLanes];
#pragma GCC unroll 16
    for (int lane = 0; lane < kLanes; ++lane) {
      std::memcpy(&rows[lane], inputs[lane] + offset + sizeof(V) * group, sizeof(V));
    }
    TransposeStep<V, kLanes, kLanes / 2>(rows, std::make_integer_sequence<int, kLanes>{});
#pragma GCC unroll 16
    for (int k = 0; k < kLanes; ++k) m[group * kLanes + k] = rows[k];
  }
}

// kLanes whole chunks at inputs[0..kLanes) with counters counter + lane: their chaining values,
// 8 words per chunk, into out.
template <typename V, int kLanes>
void HashChunksSimd(const uint8_t* const* inputs, const uint32_t key[8], uint64_t counter,
                    uint8_t flags, uint32_t* out) {
  V cv[8];
  for (int i = 0; i < 8; ++i) {
    V broadcast;
    for (int lane = 0; lane < kLanes; ++lane) broadcast[lane] = key[i];
    cv[i] = broadcast;
  }
  V counter_low, counter_high, iv[4];
  for (int lane = 0; lane < kLanes; ++lane) {
    const uint64_t c = counter + static_cast<uint64_t>(lane);
    counter_low[lane] = static_cast<uint32_t>(c);
    counter_high[lane] = static_cast<uint32_t>(c >> 32);
    for (int i = 0; i < 4; ++i) iv[i][lane] = kIv[i];
  }
  constexpr int kBlocks = 16;  // kChunkLen / kBlockLen
  for (int block = 0; block < kBlocks; ++block) {
    V m[16];
    LoadTransposed<V, kLanes>(inputs, 64 * block, m);
    const uint32_t block_flags =
        flags | (block == 0 ? kChunkStart : 0) | (block == kBlocks - 1 ? kChunkEnd : 0);
    V block_len{};
    V flag_words{};
    for (int lane = 0; lane < kLanes; ++lane) {
      block_len[lane] = 64;
      flag_words[lane] = block_flags;
    }
    V s[16] = {cv[0], cv[1], cv[2], cv[3], cv[4],       cv[5],        cv[6],     cv[7],
               iv[0], iv[1], iv[2], iv[3], counter_low, counter_high, block_len, flag_words};
#pragma GCC unroll 7
    for (int r = 0; r < 7; ++r) {
      const int* o = kSchedule.order[r];
      G(s, 0, 4, 8, 12, m[o[0]], m[o[1]]);
      G(s, 1, 5, 9, 13, m[o[2]], m[o[3]]);
      G(s, 2, 6, 10, 14, m[o[4]], m[o[5]]);
      G(s, 3, 7, 11, 15, m[o[6]], m[o[7]]);
      G(s, 0, 5, 10, 15, m[o[8]], m[o[9]]);
      G(s, 1, 6, 11, 12, m[o[10]], m[o[11]]);
      G(s, 2, 7, 8, 13, m[o[12]], m[o[13]]);
      G(s, 3, 4, 9, 14, m[o[14]], m[o[15]]);
    }
    for (int i = 0; i < 8; ++i) cv[i] = s[i] ^ s[i + 8];
  }
  for (int lane = 0; lane < kLanes; ++lane) {
    for (int i = 0; i < 8; ++i) out[8 * lane + i] = cv[i][lane];
  }
}

}  // namespace
}  // namespace depot::blake3::internal
