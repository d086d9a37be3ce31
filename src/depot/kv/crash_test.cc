// Crash test of the persistent kv backends: a child process (kv_crash_writer) commits batches
// across two spaces until it is killed with SIGKILL at a random moment, 200 times per backend;
// after each kill the store is reopened and checked:
//   - every batch is there whole or not at all (its marker in "b" and exactly its pairs in "a",
//     with their values), deletes included (a batch that deleted another did so whole);
//   - every acknowledged batch is there (or was deleted by an acknowledged later batch), and
//     nothing past the batch in flight at the kill.
// The seed is printed; DEPOT_CRASH_SEED=<n> replays a run. A kill keeps the page cache, so this
// tests atomicity and the replay of each backend's log, not fsync ordering under power loss.
#include <fmt/format.h>
#include <gmock/gmock.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>

#include "depot/core/testing/kill_child.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/keys.h"
#include "depot/kv/open.h"

namespace depot::kv {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::TempDir;

constexpr int kKills = 200;

// Whether batch `id` is deleted by a later batch, and which.
std::optional<uint64_t> DeleterOf(uint64_t id) {
  const uint64_t deleter = id + 5;
  if (deleter % 7 == 0) return deleter;
  return std::nullopt;
}

// Runs the writer for `run_for`, kills it, returns the ids it acknowledged.
std::vector<uint64_t> RunAndKill(const std::string& url, uint64_t first, uint64_t seed,
                                 std::chrono::milliseconds run_for) {
  const depot::testing::KilledChild child = depot::testing::RunAndKill(
      {DEPOT_KV_CRASH_WRITER, url, std::to_string(first), std::to_string(seed)}, run_for);
  EXPECT_TRUE(child.killed) << "the writer ended on its own: " << child.output;
  std::vector<uint64_t> acked;
  for (const std::string& line : child.lines) {
    EXPECT_TRUE(line.starts_with("A ")) << line;
    if (line.starts_with("A ")) acked.push_back(std::strtoull(line.c_str() + 2, nullptr, 10));
  }
  return acked;
}

// The batch ids a store holds after batches 1..applied: each one not deleted by then.
std::set<uint64_t> Model(uint64_t applied) {
  std::set<uint64_t> ids;
  for (uint64_t id = 1; id <= applied; ++id) {
    const auto deleter = DeleterOf(id);
    if (!deleter || *deleter > applied) ids.insert(id);
  }
  return ids;
}

// Checks the store after a kill whose last acknowledged batch was `last` (0: none ever); returns
// the next batch id to write.
uint64_t Verify(const std::string& url, uint64_t last) {
  auto store = Open(url, {"a", "b"});
  EXPECT_THAT(store, IsOk());
  if (!store.ok()) return 0;
  std::map<uint64_t, uint32_t> markers;  // batch id -> its pair count
  auto b = (*store)->Scan("b");
  EXPECT_THAT(b, IsOk());
  for (; (*b)->Valid(); (*b)->Next()) {
    markers[*DecodeU64((*b)->key())] =
        static_cast<uint32_t>(std::strtoul(std::string((*b)->value()).c_str(), nullptr, 10));
  }
  EXPECT_THAT((*b)->status(), IsOk());
  std::map<uint64_t, uint32_t> pairs;  // batch id -> pairs found
  auto a = (*store)->Scan("a");
  EXPECT_THAT(a, IsOk());
  for (; (*a)->Valid(); (*a)->Next()) {
    const uint64_t id = *DecodeU64((*a)->key());
    const uint32_t j = *DecodeU32((*a)->key().substr(8));
    EXPECT_EQ((*a)->value(), fmt::format("value {} {}", id, j)) << "batch " << id;
    ++pairs[id];
  }
  EXPECT_THAT((*a)->status(), IsOk());
  for (const auto& [id, count] : pairs) {
    EXPECT_TRUE(markers.contains(id)) << "pairs of batch " << id << " without its marker";
  }
  for (const auto& [id, count] : markers) {
    EXPECT_EQ(pairs[id], count) << "batch " << id << " is torn";
  }
  // Batches up to `last` were acknowledged; the next one may have landed before the kill.
  const uint64_t applied = markers.contains(last + 1) ? last + 1 : last;
  std::set<uint64_t> held;
  for (const auto& [id, count] : markers) held.insert(id);
  EXPECT_EQ(held, Model(applied)) << "after batches 1.." << applied;
  return applied + 1;
}

class KvCrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KvCrashTest, EveryBatchIsWholeAndEveryAcknowledgedBatchSurvivesKill9) {
  uint64_t seed = std::random_device{}();
  if (const char* fixed = std::getenv("DEPOT_CRASH_SEED")) seed = std::strtoull(fixed, nullptr, 10);
  std::printf("kv crash test seed: %llu (DEPOT_CRASH_SEED replays it)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string url = fmt::format(fmt::runtime(GetParam()), (dir.path() / "store").string());
  uint64_t next = 1;
  uint64_t acknowledged = 0;
  std::set<uint64_t> ever_acked;
  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE(fmt::format("kill {}, seed {}", kill, seed));
    const std::vector<uint64_t> acked =
        RunAndKill(url, next, rng(), std::chrono::milliseconds(1 + rng() % 12));
    acknowledged += acked.size();
    for (size_t i = 0; i < acked.size(); ++i) ASSERT_EQ(acked[i], next + i) << "acks out of order";
    if (!acked.empty()) {
      ASSERT_EQ(acked.back(), next + acked.size() - 1);
    }
    next = Verify(url, next - 1 + acked.size());
    ever_acked.insert(acked.begin(), acked.end());
    if (::testing::Test::HasFailure()) return;
  }
  std::printf("%d kills, %llu acknowledged batches, %zu distinct\n", kKills,
              static_cast<unsigned long long>(acknowledged), ever_acked.size());
  EXPECT_GT(acknowledged, static_cast<uint64_t>(kKills));  // the kills did land mid-stream
}

INSTANTIATE_TEST_SUITE_P(Backends, KvCrashTest,
                         ::testing::Values("rocksdb://{}", "sqlite://{}.db", "lmdb://{}"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param.substr(0, info.param.find(':'));
                         });

}  // namespace
}  // namespace depot::kv
