#include "depot/core/blake3/blake3.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace depot::blake3 {
namespace {

// The official vectors (github.com/BLAKE3-team/BLAKE3, test_vectors.json), copied into testdata/.
nlohmann::json Vectors() {
  std::ifstream in(DEPOT_BLAKE3_VECTORS);
  EXPECT_TRUE(in.good()) << "cannot read " << DEPOT_BLAKE3_VECTORS;
  return nlohmann::json::parse(in);
}

// The vectors' input: 0, 1, ..., 250, 0, 1, ...
std::string VectorInput(size_t n) {
  std::string input(n, '\0');
  for (size_t i = 0; i < n; ++i) input[i] = static_cast<char>(i % 251);
  return input;
}

std::string Extended(const Hasher& hasher, size_t n, uint64_t offset = 0) {
  std::vector<uint8_t> out(n);
  hasher.Finalize(out, offset);
  return ToHex(out);
}

TEST(Blake3Test, EveryOfficialVectorInEveryMode) {
  const nlohmann::json vectors = Vectors();
  const std::string key_text = vectors["key"];
  Key key;
  ASSERT_EQ(key_text.size(), key.size());
  std::copy(key_text.begin(), key_text.end(), key.begin());
  const std::string context = vectors["context_string"];
  ASSERT_GE(vectors["cases"].size(), 35u);
  for (const auto& test : vectors["cases"]) {
    const size_t n = test["input_len"];
    const std::string input = VectorInput(n);
    const std::string hash = test["hash"], keyed = test["keyed_hash"], derived = test["derive_key"];
    SCOPED_TRACE("input_len " + std::to_string(n));
    // The full extended output (131 bytes) and the default 32.
    EXPECT_EQ(Extended(Hasher().Update(input), hash.size() / 2), hash);
    EXPECT_EQ(ToHex(Hash(input)), hash.substr(0, 64));
    EXPECT_EQ(Extended(Hasher::Keyed(key).Update(input), keyed.size() / 2), keyed);
    EXPECT_EQ(Extended(Hasher::DeriveKey(context).Update(input), derived.size() / 2), derived);
    // Any offset into the output stream gives the same bytes.
    for (uint64_t offset : {1, 31, 64, 65, 100}) {
      EXPECT_EQ(Extended(Hasher().Update(input), 131 - offset, offset), hash.substr(2 * offset));
    }
  }
}

TEST(Blake3Test, UpdatesInAnyPiecesGiveTheSameHash) {
  std::mt19937_64 random(7);
  const std::string input = VectorInput(102400);
  const std::string whole = ToHex(Hash(input));
  for (int trial = 0; trial < 50; ++trial) {
    Hasher hasher;
    size_t at = 0;
    while (at < input.size()) {
      const size_t piece = std::min<size_t>(input.size() - at, random() % 3000);
      hasher.Update(std::string_view(input).substr(at, piece));
      at += piece;
    }
    EXPECT_EQ(ToHex(hasher.Finalize()), whole) << "trial " << trial;
  }
}

TEST(Blake3Test, FinalizeLeavesTheHasherGoingAndResetStartsAgain) {
  const std::string input = VectorInput(5000);
  Hasher hasher;
  hasher.Update(std::string_view(input).substr(0, 2000));
  EXPECT_EQ(ToHex(hasher.Finalize()), ToHex(Hash(input.substr(0, 2000))));
  hasher.Update(std::string_view(input).substr(2000));
  EXPECT_EQ(ToHex(hasher.Finalize()), ToHex(Hash(input)));
  hasher.Reset();
  EXPECT_EQ(ToHex(hasher.Finalize()), ToHex(Hash("")));
  // A hash of nothing: the first official vector.
  EXPECT_EQ(ToHex(Hash("")), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
}

}  // namespace
}  // namespace depot::blake3
