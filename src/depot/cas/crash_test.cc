// Crash test of the blob store: a child process (cas_crash_writer) puts, pins, unpins and
// collects until it is killed with SIGKILL at a random moment, 200 times per index backend (over
// the local object store); after each kill the store is reopened and checked:
//   - every blob the writer acknowledged is there, pinned, and reads back whole and verified;
//   - every blob the store lists reads back whole and verified: nothing half-written is visible;
//   - after a collection (every fifth kill, and at the end), the object store holds exactly the
//     bytes and trees of the listed blobs: nothing a crash left behind survives it.
// The seed is printed; DEPOT_CRASH_SEED=<n> replays a run. A kill keeps the page cache, so this
// tests the protocol's order of steps, not fsync ordering under power loss.
#include <fmt/format.h>
#include <gmock/gmock.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>

#include "depot/cas/open.h"
#include "depot/cas/outboard.h"
#include "depot/core/testing/kill_child.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/object/open.h"

namespace depot::cas {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::TempDir;

constexpr int kKills = 200;

// Reads the blob whole, verified, and checks its size and hash.
void ExpectWhole(BlobStore& blobs, const ContentId& id, uint64_t size) {
  auto data = blobs.Get(id);
  ASSERT_THAT(data.status(), IsOk()) << id.ToHex();
  EXPECT_EQ(data->size(), size) << id.ToHex();
  EXPECT_EQ(ContentId{blake3::Hash(*data)}, id);
}

// Collects, then compares the object store's keys with the listed blobs'.
void ExpectNoLeftovers(BlobStore& blobs, const std::string& objects_url) {
  ASSERT_THAT(blobs.CollectGarbage().status(), IsOk());
  auto listed = blobs.List({}, 1 << 20);
  ASSERT_THAT(listed.status(), IsOk());
  std::set<std::string> expected;
  for (const BlobInfo& info : *listed) {
    const std::string hex = info.id.ToHex();
    expected.insert(fmt::format("blobs/{}/{}", hex.substr(0, 2), hex));
    if (info.size > kGroupLen)
      expected.insert(fmt::format("outboards/{}/{}", hex.substr(0, 2), hex));
  }
  auto objects = object::Open(objects_url);
  ASSERT_THAT(objects.status(), IsOk());
  std::set<std::string> found;
  object::ListOptions list;
  do {
    auto page = (*objects)->List(list);
    ASSERT_THAT(page.status(), IsOk());
    for (const auto& meta : page->objects) found.insert(meta.key);
    list.continuation_token = page->next_continuation_token;
  } while (!list.continuation_token.empty());
  EXPECT_EQ(found, expected);
}

class CasCrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CasCrashTest, AcknowledgedBlobsSurviveKill9AndNothingHalfWrittenIsVisible) {
  uint64_t seed = std::random_device{}();
  if (const char* fixed = std::getenv("DEPOT_CRASH_SEED")) seed = std::strtoull(fixed, nullptr, 10);
  std::printf("cas crash test seed: %llu (DEPOT_CRASH_SEED replays it)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string url = fmt::format(fmt::runtime(GetParam()), (dir.path() / "cas").string());
  const std::string objects_url = "file://" + (dir.path() / "cas" / "objects").string();
  std::map<ContentId, uint64_t> kept;  // every acknowledged put: id -> size
  uint64_t acknowledged = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE(fmt::format("kill {}, seed {}", kill, seed));
    const depot::testing::KilledChild child =
        depot::testing::RunAndKill({DEPOT_CAS_CRASH_WRITER, url, std::to_string(rng())},
                                   std::chrono::milliseconds(5 + rng() % 60));
    ASSERT_TRUE(child.killed) << "the writer ended on its own: " << child.output;
    std::vector<std::pair<ContentId, uint64_t>> fresh;
    for (const std::string& line : child.lines) {
      ASSERT_TRUE(line.starts_with("K ")) << line;
      auto id = ContentId::FromHex(line.substr(2, 64));
      ASSERT_THAT(id.status(), IsOk());
      fresh.emplace_back(*id, std::strtoull(line.c_str() + 67, nullptr, 10));
    }
    acknowledged += fresh.size();

    auto blobs = Open(url);
    ASSERT_THAT(blobs.status(), IsOk());
    for (const auto& [id, size] : fresh) {
      kept.emplace(id, size);
      ExpectWhole(**blobs, id, size);
    }
    for (const auto& [id, size] : kept) {
      auto info = (*blobs)->Stat(id);
      ASSERT_THAT(info.status(), IsOk()) << "acknowledged blob " << id.ToHex() << " is gone";
      EXPECT_EQ(info->size, size);
      EXPECT_GE(info->pins, 1u) << id.ToHex();
    }
    auto listed = (*blobs)->List({}, 1 << 20);
    ASSERT_THAT(listed.status(), IsOk());
    for (const BlobInfo& info : *listed) {
      if (!kept.contains(info.id) || kill % 25 == 24) ExpectWhole(**blobs, info.id, info.size);
    }
    if (kill % 5 == 4 || kill == kKills - 1) ExpectNoLeftovers(**blobs, objects_url);
    if (::testing::Test::HasFailure()) return;
  }
  std::printf("%d kills, %llu acknowledged puts\n", kKills,
              static_cast<unsigned long long>(acknowledged));
  EXPECT_GT(acknowledged, static_cast<uint64_t>(kKills));  // the kills did land mid-stream
}

INSTANTIATE_TEST_SUITE_P(Indexes, CasCrashTest,
                         ::testing::Values("cas://{}", "cas://{}?index=sqlite"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return std::string(info.index == 0 ? "rocksdb" : "sqlite");
                         });

}  // namespace
}  // namespace depot::cas
