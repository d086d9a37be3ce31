#include "depot/kv/sqlite/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
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
    Sqlite, KvConformance,
    ::testing::Values(KvBackend{
        "sqlite",
        [](const std::vector<std::string>& spaces) -> Result<std::shared_ptr<Store>> {
          static int next = 0;
          SqliteStoreOptions options;
          options.path = (Parent().path() / (std::to_string(next++) + ".db")).string();
          options.spaces = spaces;
          DEPOT_ASSIGN_OR_RETURN(auto store, SqliteStore::Open(std::move(options)));
          return std::shared_ptr<Store>(std::move(store));
        }}),
    KvBackendName);

class SqliteStoreTest : public ::testing::Test {
 protected:
  Result<std::shared_ptr<SqliteStore>> OpenStore(std::vector<std::string> spaces) {
    return SqliteStore::Open({.path = path_, .spaces = std::move(spaces)});
  }
  TempDir dir_;
  const std::string path_ = (dir_.path() / "kv.db").string();
};

TEST_F(SqliteStoreTest, CommittedBatchesSurviveAReopenWithTheirSpaces) {
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

TEST_F(SqliteStoreTest, AFileThatIsNoDatabaseIsDataLossNamingIt) {
  std::ofstream(path_) << std::string(8192, 'x');
  EXPECT_THAT(OpenStore({"a"}), StatusIs(StatusCode::kDataLoss, HasSubstr("kv.db")));
}

TEST_F(SqliteStoreTest, AMissingFileIsNotFoundWithoutCreate) {
  EXPECT_THAT(
      SqliteStore::Open({.path = path_, .spaces = {"a"}, .create_if_missing = false}),
      StatusIs(StatusCode::kNotFound, AllOf(HasSubstr("kv.db"), HasSubstr("does not exist"))));
}

TEST_F(SqliteStoreTest, TwoStoresOnOneFileSeeEachOthersCommits) {
  auto first = OpenStore({"a"});
  auto second = OpenStore({"a"});
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  WriteBatch batch;
  batch.Put("a", "k", "from the first");
  ASSERT_THAT((*first)->Commit(batch), IsOk());
  EXPECT_EQ(*(*second)->Get("a", "k"), "from the first");
}

}  // namespace
}  // namespace depot::kv
