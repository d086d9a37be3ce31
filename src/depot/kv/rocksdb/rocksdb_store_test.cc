#include "depot/kv/rocksdb/rocksdb_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/testing/conformance.h"

namespace depot::kv {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::testing::Each;
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
    RocksDb, KvConformance,
    ::testing::Values(KvBackend{
        "rocksdb",
        [](const std::vector<std::string>& spaces) -> Result<std::shared_ptr<Store>> {
          static int next = 0;
          RocksDbStoreOptions options;
          options.path = (Parent().path() / std::to_string(next++)).string();
          options.spaces = spaces;
          DEPOT_ASSIGN_OR_RETURN(auto store, RocksDbStore::Open(std::move(options)));
          return std::shared_ptr<Store>(std::move(store));
        }}),
    KvBackendName);

class RocksDbStoreTest : public ::testing::Test {
 protected:
  Result<std::shared_ptr<RocksDbStore>> OpenStore(std::vector<std::string> spaces,
                                                  Compression compression = Compression::kLz4) {
    RocksDbStoreOptions options;
    options.path = (dir_.path() / "db").string();
    options.spaces = std::move(spaces);
    options.compression = compression;
    return RocksDbStore::Open(std::move(options));
  }
  TempDir dir_;
};

TEST_F(RocksDbStoreTest, CommittedBatchesSurviveAReopenWithTheirSpaces) {
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
  auto store = OpenStore({});  // the spaces it has are opened without being named
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Spaces(), ElementsAre("accounts", "later", "ledger"));
  EXPECT_EQ(*(*store)->Get("accounts", "alice"), "10");
  EXPECT_EQ(*(*store)->Get("ledger", "0001"), "alice +10");
  EXPECT_EQ(*(*store)->Get("later", "k"), "v");
}

TEST_F(RocksDbStoreTest, TheDefaultColumnFamilyIsNoSpace) {
  EXPECT_THAT(OpenStore({"default"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("reserved")));
  auto store = OpenStore({"a"});
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Get("default", "k"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT((*store)->CreateSpace("default"), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(RocksDbStoreTest, EachCompressionIsInEffectInTheTablesWritten) {
  const std::vector<std::pair<Compression, std::string>> expected = {
      {Compression::kNone, "NoCompression"},
      {Compression::kSnappy, "Snappy"},
      {Compression::kLz4, "LZ4"},
      {Compression::kZstd, "ZSTD"},
      {Compression::kZlib, "Zlib"},
      {Compression::kBzip2, "BZip2"}};
  for (const auto& [compression, name] : expected) {
    SCOPED_TRACE(std::string(CompressionName(compression)));
    std::filesystem::remove_all(dir_.path() / "db");
    auto store = OpenStore({"a"}, compression);
    ASSERT_THAT(store, IsOk());
    WriteBatch batch;
    for (int i = 0; i < 2000; ++i) batch.Put("a", "key" + std::to_string(i), std::string(200, 'x'));
    ASSERT_THAT((*store)->Commit(batch), IsOk());
    ASSERT_THAT((*store)->Flush(), IsOk());
    auto tables = (*store)->TableCompressions("a");
    ASSERT_THAT(tables, IsOk());
    ASSERT_FALSE(tables->empty());
    EXPECT_THAT(*tables, Each(name));
    EXPECT_THAT((*store)->ToString(), HasSubstr(std::string(CompressionName(compression))));
  }
  EXPECT_THAT(ParseCompression("lzma"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"lzma\"")));
}

TEST_F(RocksDbStoreTest, ASecondOpenOfAHeldDatabaseIsRefusedNamingIt) {
  auto first = OpenStore({"a"});
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(OpenStore({"a"}), StatusIs(StatusCode::kUnavailable, HasSubstr("db")));
}

TEST_F(RocksDbStoreTest, ACorruptedTableIsDataLossAndNeverWrongBytes) {
  {
    auto store = OpenStore({"a"}, Compression::kNone);
    ASSERT_THAT(store, IsOk());
    WriteBatch batch;
    for (int i = 0; i < 500; ++i) batch.Put("a", "key" + std::to_string(i), std::string(100, 'v'));
    ASSERT_THAT((*store)->Commit(batch), IsOk());
    ASSERT_THAT((*store)->Flush(), IsOk());
  }
  // Flip bytes in the middle of every table file.
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path() / "db")) {
    if (entry.path().extension() != ".sst") continue;
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(entry.path());
    file.seekp(static_cast<std::streamoff>(size / 3));
    file.write("CORRUPTCORRUPT", 14);
  }
  auto store = OpenStore({"a"}, Compression::kNone);
  if (!store.ok()) {
    EXPECT_THAT(store, StatusIs(StatusCode::kDataLoss));  // found at open: also fine
    return;
  }
  bool saw_error = false;
  for (int i = 0; i < 500; ++i) {
    auto got = (*store)->Get("a", "key" + std::to_string(i));
    if (!got.ok()) {
      EXPECT_THAT(got, StatusIs(StatusCode::kDataLoss));
      saw_error = true;
    } else if (got->has_value()) {
      EXPECT_EQ(**got, std::string(100, 'v'));
    }
  }
  EXPECT_TRUE(saw_error);
}

}  // namespace
}  // namespace depot::kv
