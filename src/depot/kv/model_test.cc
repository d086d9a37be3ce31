// The memory store as the model (LevelDB's ModelDB): a random stream of batches (puts, deletes
// and range deletes over keys of a small alphabet that includes 0x00 and 0xFF bytes, across three
// spaces) is committed to the model and to each persistent backend, which is closed and reopened
// every few batches; after every batch, random gets, multi-gets, prefix scans and range scans
// (both ways) must answer the same on both. The seed is printed; DEPOT_MODEL_SEED replays it.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/memory/memory_store.h"
#include "depot/kv/open.h"

namespace depot::kv {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::TempDir;
using Pairs = std::vector<std::pair<std::string, std::string>>;

const std::vector<std::string> kSpaces = {"s0", "s1", "s2"};

std::string RandomKey(std::mt19937_64& rng) {
  static const std::string kAlphabet(
      "\x00\x01"
      "ab\x7f\xfe\xff",
      7);
  std::string key(1 + rng() % 4, '\0');
  for (char& c : key) c = kAlphabet[rng() % kAlphabet.size()];
  return key;
}

Pairs ScanAll(Store& store, std::string_view space, const ScanOptions& options) {
  auto it = store.Scan(space, options);
  EXPECT_THAT(it, IsOk());
  Pairs out;
  if (!it.ok()) return out;
  for (; (*it)->Valid(); (*it)->Next()) out.emplace_back((*it)->key(), (*it)->value());
  EXPECT_THAT((*it)->status(), IsOk());
  return out;
}

Pairs PrefixAll(Store& store, std::string_view space, std::string_view prefix, bool reverse) {
  auto it = store.PrefixScan(space, prefix, reverse);
  EXPECT_THAT(it, IsOk());
  Pairs out;
  if (!it.ok()) return out;
  for (; (*it)->Valid(); (*it)->Next()) out.emplace_back((*it)->key(), (*it)->value());
  return out;
}

class KvModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KvModelTest, ARandomStreamMatchesTheModelAcrossReopens) {
  uint64_t seed = std::random_device{}();
  if (const char* fixed = std::getenv("DEPOT_MODEL_SEED")) seed = std::strtoull(fixed, nullptr, 10);
  std::printf("kv model test seed: %llu (DEPOT_MODEL_SEED replays it)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string url = fmt::format(fmt::runtime(GetParam()), (dir.path() / "store").string());
  auto model = MemoryStore::Open(kSpaces);
  ASSERT_THAT(model, IsOk());
  auto real = Open(url, kSpaces);
  ASSERT_THAT(real, IsOk());
  for (int step = 0; step < 2000; ++step) {
    SCOPED_TRACE(fmt::format("step {}, seed {}", step, seed));
    WriteBatch batch;
    const int ops = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < ops; ++i) {
      const std::string& space = kSpaces[rng() % kSpaces.size()];
      const uint64_t kind = rng() % 10;
      if (kind < 6) {
        batch.Put(space, RandomKey(rng), std::string(rng() % 40, 'a' + rng() % 26));
      } else if (kind < 9) {
        batch.Delete(space, RandomKey(rng));
      } else {
        batch.DeleteRange(space, RandomKey(rng), RandomKey(rng));
      }
    }
    const Durability durability = rng() % 2 ? Durability::kSync : Durability::kBuffered;
    ASSERT_THAT((*model)->Commit(batch, durability), IsOk());
    ASSERT_THAT((*real)->Commit(batch, durability), IsOk());
    if (rng() % 25 == 0) {
      real->reset();  // closed, then opened again from its files
      real = Open(url);
      ASSERT_THAT(real, IsOk());
    }
    const std::string& space = kSpaces[rng() % kSpaces.size()];
    const std::string key = RandomKey(rng);
    ASSERT_EQ(*(*real)->Get(space, key), *(*model)->Get(space, key)) << "get";
    const std::vector<std::string> keys = {RandomKey(rng), key, RandomKey(rng)};
    ASSERT_EQ(*(*real)->MultiGet(space, keys), *(*model)->MultiGet(space, keys)) << "multi-get";
    const std::string prefix =
        rng() % 5 == 0 ? std::string() : RandomKey(rng).substr(0, 1 + rng() % 2);
    const bool reverse = rng() % 2 == 0;
    ASSERT_EQ(PrefixAll(**real, space, prefix, reverse), PrefixAll(**model, space, prefix, reverse))
        << "prefix scan";
    ScanOptions range{.begin = RandomKey(rng), .end = RandomKey(rng), .reverse = reverse};
    if (range.end < range.begin) std::swap(range.begin, range.end);
    if (rng() % 4 == 0) range.end.clear();
    ASSERT_EQ(ScanAll(**real, space, range), ScanAll(**model, space, range)) << "range scan";
  }
  for (const std::string& space : kSpaces) {
    EXPECT_EQ(ScanAll(**real, space, {}), ScanAll(**model, space, {})) << space;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, KvModelTest,
                         ::testing::Values("rocksdb://{}", "sqlite://{}.db", "lmdb://{}"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param.substr(0, info.param.find(':'));
                         });

}  // namespace
}  // namespace depot::kv
