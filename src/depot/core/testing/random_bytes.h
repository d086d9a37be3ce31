// Deterministic pseudo-random test data: the same (n, seed) always gives the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace depot::testing {

inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

}  // namespace depot::testing
