#include "depot/cas/open.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"

namespace depot::cas {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::IsOkAndHolds;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::testing::HasSubstr;

TEST(CasOpenTest, ADirectoryKeepsItsBlobsAcrossOpens) {
  TempDir dir;
  for (const std::string query : {"", "?index=sqlite"}) {
    const std::string url = "cas://" + dir.path().string() + "/store" + query;
    ContentId id;
    {
      auto blobs = Open(url);
      ASSERT_THAT(blobs.status(), IsOk()) << url;
      auto put = (*blobs)->Put("kept across opens");
      ASSERT_THAT(put.status(), IsOk());
      id = put->id;
    }
    auto again = Open(url);
    ASSERT_THAT(again.status(), IsOk());
    EXPECT_THAT((*again)->Get(id), IsOkAndHolds(std::string("kept across opens")));
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "store" / "index" / "CURRENT"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "store" / "index.db"));
}

TEST(CasOpenTest, StoresByTheirOwnUrls) {
  auto blobs = Open("cas://?objects=mem%3A%2F%2Fcas-open-test&index=mem%3A%2F%2F&window=65536");
  ASSERT_THAT(blobs.status(), IsOk());
  EXPECT_THAT((*blobs)->Put("x").status(), IsOk());
  EXPECT_THAT((*blobs)->ToString(), HasSubstr("mem://cas-open-test"));
}

TEST(CasOpenTest, BadUrlsAreRefusedNamingWhatIsWrong) {
  EXPECT_THAT(Open("file:///x").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a cas:// URL")));
  EXPECT_THAT(Open("cas://").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("names no store")));
  EXPECT_THAT(Open("cas:///tmp/x?colour=red").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"colour\"")));
  EXPECT_THAT(Open("cas:///tmp/x?window=big").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"big\"")));
  EXPECT_THAT(Open("cas://?objects=mem%3A%2F%2F&index=mem%3A%2F%2F&window=1099511627776").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("1099511627776")));
  EXPECT_THAT(Open("cas:///tmp/x?index=lmdb").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("index=rocksdb or index=sqlite")));
  EXPECT_THAT(Open("cas://?objects=mem%3A%2F%2F&index=nosuch%3A%2F%2F").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("nosuch")));
  EXPECT_THAT(Open("cas://host/x").status(), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace depot::cas
