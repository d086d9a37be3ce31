#include "depot/core/blake3/blake3.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "depot/core/blake3/blake3_impl.h"
#include "depot/core/executor.h"

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

TEST(Blake3Test, UpdateParallelEqualsUpdate) {
  constexpr size_t kSubtree = 512 * kChunkLen;
  std::mt19937_64 random(5);
  std::string input(9 * kSubtree + 3000, '\0');
  for (char& c : input) c = static_cast<char>(random());
  const auto span = [&](size_t from, size_t n) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(input.data()) + from, n);
  };
  Key key{};
  key[0] = 1;
  for (size_t threads : {1, 3}) {
    Executor executor(threads);
    for (size_t prefix : {size_t{0}, size_t{1000}, kChunkLen, kSubtree + 5}) {
      for (size_t n : {size_t{0}, size_t{1}, kSubtree - 1, kSubtree, kSubtree + 1, 2 * kSubtree + 1,
                       5 * kSubtree + 1000, input.size() - prefix}) {
        if (prefix + n > input.size()) continue;
        SCOPED_TRACE(fmt::format("{} threads, {} bytes after {}", threads, n, prefix));
        Hasher serial, parallel;
        serial.Update(span(0, prefix + n));
        parallel.Update(span(0, prefix)).UpdateParallel(span(prefix, n), executor);
        EXPECT_EQ(ToHex(parallel.Finalize()), ToHex(serial.Finalize()));
        Hasher keyed_serial = Hasher::Keyed(key), keyed_parallel = Hasher::Keyed(key);
        keyed_serial.Update(span(0, prefix + n));
        keyed_parallel.Update(span(0, prefix)).UpdateParallel(span(prefix, n), executor);
        EXPECT_EQ(ToHex(keyed_parallel.Finalize()), ToHex(keyed_serial.Finalize()));
        // And more input after it.
        parallel.Update(span(0, 100));
        serial.Update(span(0, 100));
        EXPECT_EQ(ToHex(parallel.Finalize()), ToHex(serial.Finalize()));
      }
    }
  }
}

TEST(Blake3Test, LeftSubtreeLengthIsTheLargestPowerOfTwoChunksBelow) {
  EXPECT_EQ(LeftSubtreeLength(0), 0u);
  EXPECT_EQ(LeftSubtreeLength(kChunkLen), 0u);
  EXPECT_EQ(LeftSubtreeLength(kChunkLen + 1), kChunkLen);
  EXPECT_EQ(LeftSubtreeLength(2 * kChunkLen), kChunkLen);
  EXPECT_EQ(LeftSubtreeLength(2 * kChunkLen + 1), 2 * kChunkLen);
  EXPECT_EQ(LeftSubtreeLength(4 * kChunkLen), 2 * kChunkLen);
  EXPECT_EQ(LeftSubtreeLength(5 * kChunkLen), 4 * kChunkLen);
  EXPECT_EQ(LeftSubtreeLength(uint64_t{1} << 40), uint64_t{1} << 39);
}

// The tree helpers rebuild the hash from nodes: the root of the whole input, and the parent of
// its two children, in every mode.
TEST(Blake3Test, NodesOfTheTreeMakeTheHash) {
  std::mt19937_64 random(3);
  std::string input(100000, '\0');
  for (char& c : input) c = static_cast<char>(random());
  Key key{};
  key[9] = 42;
  for (const Hasher& mode :
       {Hasher(), Hasher::Keyed(key), Hasher::DeriveKey("depot blake3_test nodes")}) {
    for (size_t n : {size_t{0}, size_t{1}, kChunkLen, kChunkLen + 1, size_t{5000},
                     size_t{3 * 16384 + 7}, input.size()}) {
      SCOPED_TRACE(n);
      const auto data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(input.data()), n);
      Hasher whole = mode;
      whole.Update(data);
      const Digest hash = whole.Finalize();
      Hasher::NodeValue root = mode.SubtreeValue(data, 0, /*root=*/true);
      EXPECT_TRUE(std::equal(root.begin(), root.end(), hash.begin()));
      if (n <= kChunkLen) continue;
      const size_t left = LeftSubtreeLength(n);
      const Hasher::NodeValue parent =
          mode.ParentValue(mode.SubtreeValue(data.first(left), 0, false),
                           mode.SubtreeValue(data.subspan(left), left / kChunkLen, false), true);
      EXPECT_TRUE(std::equal(parent.begin(), parent.end(), hash.begin()));
      // A non-root value differs from the root's (the root flag is part of the hash).
      EXPECT_NE(mode.SubtreeValue(data, 0, false), root);
    }
  }
}

// Every chunk hasher on its own, the dispatch forced: the official vectors, and inputs of sizes
// around every batch boundary (4, 8, 16, 64 chunks), equal to the portable code's hashes.
class Blake3IsaTest : public ::testing::TestWithParam<internal::Isa> {
 protected:
  void SetUp() override {
    if (!internal::ForceIsa(GetParam())) {
      GTEST_SKIP() << "this CPU has no " << internal::IsaName(GetParam());
    }
  }
  void TearDown() override { internal::ForceIsa(internal::DetectIsa()); }
};

TEST_P(Blake3IsaTest, EqualsThePortableCodeAndTheVectors) {
  const nlohmann::json vectors = Vectors();
  for (const auto& test : vectors["cases"]) {
    const std::string input = VectorInput(test["input_len"]);
    const std::string hash = test["hash"];
    EXPECT_EQ(Extended(Hasher().Update(input), hash.size() / 2), hash)
        << "input_len " << test["input_len"];
  }
  std::mt19937_64 random(11);
  std::string input(70 * kChunkLen + 100, '\0');
  for (char& c : input) c = static_cast<char>(random());
  std::vector<std::string> expected;
  const std::vector<size_t> sizes = {3 * kChunkLen,      4 * kChunkLen + 1,   8 * kChunkLen,
                                     8 * kChunkLen + 1,  16 * kChunkLen + 1,  17 * kChunkLen,
                                     64 * kChunkLen + 1, 70 * kChunkLen + 100};
  internal::ForceIsa(internal::Isa::kPortable);
  for (size_t n : sizes) expected.push_back(ToHex(Hash(std::string_view(input).substr(0, n))));
  ASSERT_TRUE(internal::ForceIsa(GetParam()));
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::string_view part = std::string_view(input).substr(0, sizes[i]);
    EXPECT_EQ(ToHex(Hash(part)), expected[i]) << sizes[i] << " bytes";
    // Keyed too: the key reaches every lane.
    Key key{};
    key[3] = 7;
    internal::ForceIsa(internal::Isa::kPortable);
    const std::string keyed = ToHex(Hasher::Keyed(key).Update(part).Finalize());
    internal::ForceIsa(GetParam());
    EXPECT_EQ(ToHex(Hasher::Keyed(key).Update(part).Finalize()), keyed) << sizes[i] << " bytes";
  }
}

INSTANTIATE_TEST_SUITE_P(Each, Blake3IsaTest,
                         ::testing::Values(internal::Isa::kPortable, internal::Isa::kSse41,
                                           internal::Isa::kAvx2, internal::Isa::kAvx512),
                         [](const auto& info) {
                           std::string name(internal::IsaName(info.param));
                           name.erase(std::remove(name.begin(), name.end(), '.'), name.end());
                           return name;
                         });

}  // namespace
}  // namespace depot::blake3
