// BLAKE3's compression function in portable C++: seven rounds of the G function over a 4x4 state
// of 32-bit words, the message words permuted between rounds (the specification, section 2.2).
#include <cstring>

#include "depot/core/blake3/blake3_impl.h"

namespace depot::blake3::internal {
namespace {

// The order in which round r + 1 takes the message words of round r.
constexpr int kPermutation[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline void G(uint32_t* s, int a, int b, int c, int d, uint32_t x, uint32_t y) {
  s[a] = s[a] + s[b] + x;
  s[d] = Rotr(s[d] ^ s[a], 16);
  s[c] = s[c] + s[d];
  s[b] = Rotr(s[b] ^ s[c], 12);
  s[a] = s[a] + s[b] + y;
  s[d] = Rotr(s[d] ^ s[a], 8);
  s[c] = s[c] + s[d];
  s[b] = Rotr(s[b] ^ s[c], 7);
}

inline void Round(uint32_t* s, const uint32_t* m) {
  // The columns, then the diagonals.
  G(s, 0, 4, 8, 12, m[0], m[1]);
  G(s, 1, 5, 9, 13, m[2], m[3]);
  G(s, 2, 6, 10, 14, m[4], m[5]);
  G(s, 3, 7, 11, 15, m[6], m[7]);
  G(s, 0, 5, 10, 15, m[8], m[9]);
  G(s, 1, 6, 11, 12, m[10], m[11]);
  G(s, 2, 7, 8, 13, m[12], m[13]);
  G(s, 3, 4, 9, 14, m[14], m[15]);
}

}  // namespace

void LoadWords(const uint8_t* bytes, uint32_t* words, int n) {
  for (int i = 0; i < n; ++i) {
    words[i] = static_cast<uint32_t>(bytes[4 * i]) | static_cast<uint32_t>(bytes[4 * i + 1]) << 8 |
               static_cast<uint32_t>(bytes[4 * i + 2]) << 16 |
               static_cast<uint32_t>(bytes[4 * i + 3]) << 24;
  }
}

void StoreWords(const uint32_t* words, uint8_t* bytes, int n) {
  for (int i = 0; i < n; ++i) {
    bytes[4 * i] = static_cast<uint8_t>(words[i]);
    bytes[4 * i + 1] = static_cast<uint8_t>(words[i] >> 8);
    bytes[4 * i + 2] = static_cast<uint8_t>(words[i] >> 16);
    bytes[4 * i + 3] = static_cast<uint8_t>(words[i] >> 24);
  }
}

void Compress(const uint32_t cv[8], const uint8_t block[64], uint8_t block_len, uint64_t counter,
              uint8_t flags, uint32_t out[16]) {
  uint32_t m[16];
  LoadWords(block, m, 16);
  uint32_t s[16] = {cv[0],
                    cv[1],
                    cv[2],
                    cv[3],
                    cv[4],
                    cv[5],
                    cv[6],
                    cv[7],
                    kIv[0],
                    kIv[1],
                    kIv[2],
                    kIv[3],
                    static_cast<uint32_t>(counter),
                    static_cast<uint32_t>(counter >> 32),
                    block_len,
                    flags};
  for (int round = 0; round < 7; ++round) {
    Round(s, m);
    if (round == 6) break;
    uint32_t permuted[16];
    for (int i = 0; i < 16; ++i) permuted[i] = m[kPermutation[i]];
    std::memcpy(m, permuted, sizeof(m));
  }
  for (int i = 0; i < 8; ++i) {
    out[i] = s[i] ^ s[i + 8];
    out[i + 8] = s[i + 8] ^ cv[i];
  }
}

void HashChunkPortable(const uint8_t* input, const uint32_t key[8], uint64_t counter, uint8_t flags,
                       uint32_t out[8]) {
  uint32_t cv[8];
  std::memcpy(cv, key, sizeof(cv));
  for (int block = 0; block < 16; ++block) {
    const uint8_t block_flags =
        flags | (block == 0 ? kChunkStart : 0) | (block == 15 ? kChunkEnd : 0);
    uint32_t words[16];
    Compress(cv, input + 64 * block, 64, counter, block_flags, words);
    std::memcpy(cv, words, sizeof(cv));
  }
  std::memcpy(out, cv, sizeof(cv));
}

}  // namespace depot::blake3::internal
