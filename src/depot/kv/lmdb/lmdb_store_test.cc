#include "depot/kv/lmdb/lmdb_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/keys.h"
#include "depot/kv/testing/conformance.h"

namespace depot::kv {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::KvBackend;
using testing::KvBackendName;
using testing::KvConformance;

TempDir& Parent() {
  static TempDir* parent = new TempDir();
  return *parent;
}

INSTANTIATE_TEST_SUITE_P(
    Lmdb, KvConformance,
    ::testing::Values(KvBackend{
        "lmdb",
        [](const std::vector<std::string>& spaces) -> Result<std::shared_ptr<Store>> {
          static int next = 0;
          LmdbStoreOptions options;
          options.path = (Parent().path() / std::to_string(next++)).string();
          options.spaces = spaces;
          DEPOT_ASSIGN_OR_RETURN(auto store, LmdbStore::Open(std::move(options)));
          return std::shared_ptr<Store>(std::move(store));
        }}),
    KvBackendName);

class LmdbStoreTest : public ::testing::Test {
 protected:
  Result<std::shared_ptr<LmdbStore>> OpenStore(std::vector<std::string> spaces,
                                               uint64_t map_bytes = uint64_t{1} << 30) {
    LmdbStoreOptions options;
    options.path = (dir_.path() / "env").string();
    options.spaces = std::move(spaces);
    options.initial_map_bytes = map_bytes;
    options.grow_wait = std::chrono::milliseconds(200);
    return LmdbStore::Open(std::move(options));
  }
  TempDir dir_;
};

TEST_F(LmdbStoreTest, CommittedBatchesSurviveAReopenWithTheirSpaces) {
  {
    auto store = OpenStore({"accounts", "ledger"});
    ASSERT_THAT(store, IsOk());
    WriteBatch batch;
    batch.Put("accounts", "alice", "10");
    batch.Put("ledger", "0001", "alice +10");
    ASSERT_THAT((*store)->Commit(batch), IsOk());
    ASSERT_THAT((*store)->CreateSpace("later"), IsOk());
    WriteBatch buffered;
    buffered.Put("later", "k", "v");
    ASSERT_THAT((*store)->Commit(buffered, Durability::kBuffered), IsOk());
  }
  auto store = OpenStore({});
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Spaces(), ElementsAre("accounts", "later", "ledger"));
  EXPECT_EQ(*(*store)->Get("accounts", "alice"), "10");
  EXPECT_EQ(*(*store)->Get("later", "k"), "v");
}

TEST_F(LmdbStoreTest, KeysAreLimitedTo511BytesWithAClearError) {
  auto store = OpenStore({"a"});
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ((*store)->capabilities().max_key_bytes, 511u);
  WriteBatch batch;
  batch.Put("a", std::string(512, 'k'), "v");
  EXPECT_THAT((*store)->Commit(batch),
              StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("512"), HasSubstr("511"))));
}

TEST_F(LmdbStoreTest, TheMapGrowsInsteadOfFillingUp) {
  auto store = OpenStore({"a"}, 1 << 20);  // 1 MiB
  ASSERT_THAT(store, IsOk());
  const uint64_t before = (*store)->map_bytes();
  for (int i = 0; i < 64; ++i) {  // 64 x 64 KiB = 4 MiB
    WriteBatch batch;
    batch.Put("a", EncodeU32(static_cast<uint32_t>(i)), std::string(64 << 10, 'v'));
    ASSERT_THAT((*store)->Commit(batch), IsOk()) << i;
  }
  EXPECT_GT((*store)->map_bytes(), before);
  auto stats = (*store)->Stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ((*stats)[0].approximate_keys, 64u);
}

TEST_F(LmdbStoreTest, AGrowthThatAnOpenScanBlocksFailsClearlyAndChangesNothing) {
  auto store = OpenStore({"a"}, 1 << 20);
  ASSERT_THAT(store, IsOk());
  auto scan = (*store)->Scan("a");  // a read transaction: the map cannot move under it
  ASSERT_THAT(scan, IsOk());
  WriteBatch batch;
  batch.Put("a", "big", std::string(4 << 20, 'v'));
  EXPECT_THAT((*store)->Commit(batch),
              StatusIs(StatusCode::kResourceExhausted, HasSubstr("scan and snapshot")));
  scan->reset();
  EXPECT_EQ(*(*store)->Get("a", "big"), std::nullopt);
  ASSERT_THAT((*store)->Commit(batch), IsOk());  // with the scan gone it grows
  EXPECT_EQ((*(*store)->Get("a", "big"))->size(), size_t{4 << 20});
}

TEST_F(LmdbStoreTest, ACorruptedFileIsRefused) {
  {
    auto store = OpenStore({"a"});
    ASSERT_THAT(store, IsOk());
  }
  {
    std::fstream file(dir_.path() / "env" / "data.mdb",
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(0);
    file.write(std::string(8192, 'x').data(), 8192);  // both meta pages
  }
  EXPECT_THAT(OpenStore({"a"}), StatusIs(StatusCode::kDataLoss, HasSubstr("env")));
}

}  // namespace
}  // namespace depot::kv
