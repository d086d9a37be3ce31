#include "depot/kv/open.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"

namespace depot::kv {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(KvOpenTest, MemoryStoresHaveTheSpacesAsked) {
  auto store = Open("mem://", {"a", "b"});
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Spaces(), ElementsAre("a", "b"));
  EXPECT_THAT(Open("mem://?x=1"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"x\"")));
}

TEST(KvOpenTest, PersistentStoresReopenByTheirUrl) {
  TempDir dir;
  const std::vector<std::string> urls = {
      "rocksdb://" + (dir.path() / "rocks").string() + "?compression=zstd",
      "sqlite://" + (dir.path() / "kv.db").string(),
      "lmdb://" + (dir.path() / "env").string() + "?map_size=2097152"};
  for (const std::string& url : urls) {
    SCOPED_TRACE(url);
    {
      auto store = Open(url, {"accounts"});
      ASSERT_THAT(store, IsOk());
      WriteBatch batch;
      batch.Put("accounts", "alice", "10");
      ASSERT_THAT((*store)->Commit(batch), IsOk());
      // ToString opens it again.
      EXPECT_THAT((*store)->ToString(), HasSubstr(dir.path().string()));
    }
    auto again = Open(url);
    ASSERT_THAT(again, IsOk());
    EXPECT_THAT((*again)->Spaces(), ElementsAre("accounts"));
    EXPECT_EQ(*(*again)->Get("accounts", "alice"), "10");
  }
}

TEST(KvOpenTest, BadUrlsNameTheProblem) {
  TempDir dir;
  EXPECT_THAT(Open("lmdbx:///x"), StatusIs(StatusCode::kInvalidArgument,
                                           AllOf(HasSubstr("\"lmdbx\""), HasSubstr("rocksdb"))));
  EXPECT_THAT(Open("rocksdb:///x?compression=lzma"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"lzma\"")));
  EXPECT_THAT(Open("rocksdb://host/x"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("three slashes")));
  EXPECT_THAT(Open("sqlite://" + (dir.path() / "none.db").string() + "?create=0"),
              StatusIs(StatusCode::kNotFound, HasSubstr("none.db")));
  EXPECT_THAT(Open("sqlite:///x.db?create=maybe"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"maybe\"")));
  EXPECT_THAT(Open("mem://", {"bad name"}), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace depot::kv
