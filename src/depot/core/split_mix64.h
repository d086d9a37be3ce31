// depot::SplitMix64: a tiny, fast, deterministic generator of pseudo-random bytes, for generated
// test and benchmark data (never for anything secret). The same seed always gives the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace depot {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Fills `n` bytes: whole 8-byte words of Next() in native byte order, then one word per byte.
  void Fill(char* out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const uint64_t word = Next();
      std::memcpy(out + i, &word, 8);
    }
    for (; i < n; ++i) out[i] = static_cast<char>(Next());
  }

 private:
  uint64_t state_;
};

}  // namespace depot
