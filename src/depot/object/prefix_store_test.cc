#include "depot/object/prefix_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"

namespace depot::object {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Keys(const ListResult& page) {
  std::vector<std::string> keys;
  for (const auto& meta : page.objects) keys.push_back(meta.key);
  return keys;
}

class PrefixStoreTest : public ::testing::Test {
 protected:
  PrefixStoreTest()
      : inner_(std::make_shared<MemoryStore>(MemoryStoreOptions{.min_part_size = 5}, "inner")),
        store_(inner_, "tenant/") {
    for (const char* key : {"other/x", "tenant", "tenantx", "tenant-", "zzz"}) {
      (void)inner_->Put(key, Bytes::Copy("outside"), {});
    }
  }

  std::shared_ptr<MemoryStore> inner_;
  PrefixStore store_;
};

TEST_F(PrefixStoreTest, KeysArePrefixed) {
  ASSERT_THAT(store_.Put("a/b", Bytes::Copy("v"), {}), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(GetResult inner, inner_->Get("tenant/a/b", {}));
  EXPECT_EQ(inner.data.ToString(), "v");
  DEPOT_ASSERT_OK_AND_ASSIGN(GetResult got, store_.Get("a/b", {}));
  EXPECT_EQ(got.data.ToString(), "v");
  EXPECT_EQ(got.meta.key, "a/b");
  DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, store_.Head("a/b"));
  EXPECT_EQ(meta.key, "a/b");
  EXPECT_EQ(meta.etag, inner.meta.etag);
  EXPECT_THAT(store_.Get("other/x", {}), StatusIs(StatusCode::kNotFound));
  ASSERT_THAT(store_.Delete("a/b"), IsOk());
  EXPECT_THAT(inner_->Head("tenant/a/b"), StatusIs(StatusCode::kNotFound));
}

TEST_F(PrefixStoreTest, OuterKeysAreValidated) {
  // "tenant/" + "" would be a valid inner key; the outer key "" is not.
  EXPECT_THAT(store_.Put("", Bytes::Copy("v"), {}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(inner_->Head("tenant/"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store_.Get("", {}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store_.Copy("", "b", CopyMode::kOverwrite), StatusIs(StatusCode::kInvalidArgument));
  const std::vector<std::string> keys = {"x", "", "y"};
  ASSERT_THAT(store_.Put("x", Bytes::Copy("1"), {}), IsOk());
  std::vector<Status> results = store_.DeleteMany(keys);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_THAT(results[0], IsOk());
  EXPECT_THAT(results[1], StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(results[2], IsOk());
  EXPECT_THAT(inner_->Head("tenant/x"), StatusIs(StatusCode::kNotFound));
}

TEST_F(PrefixStoreTest, ListStripsThePrefix) {
  for (const char* key : {"a", "b/1", "b/2", "c"}) {
    ASSERT_THAT(store_.Put(key, Bytes::Copy("v"), {}), IsOk());
  }
  DEPOT_ASSERT_OK_AND_ASSIGN(ListResult all, store_.List({}));
  EXPECT_THAT(Keys(all), ElementsAre("a", "b/1", "b/2", "c"));

  ListOptions by_folder;
  by_folder.delimiter = "/";
  DEPOT_ASSERT_OK_AND_ASSIGN(ListResult folders, store_.List(by_folder));
  EXPECT_THAT(Keys(folders), ElementsAre("a", "c"));
  EXPECT_THAT(folders.common_prefixes, ElementsAre("b/"));

  ListOptions in_b;
  in_b.prefix = "b/";
  DEPOT_ASSERT_OK_AND_ASSIGN(ListResult b, store_.List(in_b));
  EXPECT_THAT(Keys(b), ElementsAre("b/1", "b/2"));

  ListOptions after;
  after.start_after = "b/1";
  DEPOT_ASSERT_OK_AND_ASSIGN(ListResult rest, store_.List(after));
  EXPECT_THAT(Keys(rest), ElementsAre("b/2", "c"));
}

TEST_F(PrefixStoreTest, ListPagesWithContinuationTokens) {
  for (const char* key : {"a", "b", "c", "d", "e"}) {
    ASSERT_THAT(store_.Put(key, Bytes::Copy("v"), {}), IsOk());
  }
  ListOptions options;
  options.max_keys = 2;
  std::vector<std::string> keys;
  for (int pages = 1;; ++pages) {
    DEPOT_ASSERT_OK_AND_ASSIGN(ListResult page, store_.List(options));
    for (const auto& key : Keys(page)) keys.push_back(key);
    if (page.next_continuation_token.empty()) break;
    options.continuation_token = page.next_continuation_token;
    ASSERT_LT(pages, 10);
  }
  EXPECT_THAT(keys, ElementsAre("a", "b", "c", "d", "e"));
}

TEST_F(PrefixStoreTest, CopyAndRenameStayInsideThePrefix) {
  ASSERT_THAT(store_.Put("src", Bytes::Copy("v"), {}), IsOk());
  ASSERT_THAT(store_.Copy("src", "copy", CopyMode::kOverwrite), IsOk());
  ASSERT_THAT(store_.Rename("copy", "moved", CopyMode::kCreate), IsOk());
  EXPECT_THAT(inner_->Head("tenant/moved"), IsOk());
  EXPECT_THAT(inner_->Head("tenant/copy"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(inner_->Head("moved"), StatusIs(StatusCode::kNotFound));
}

TEST_F(PrefixStoreTest, MultipartUploadsArePrefixed) {
  DEPOT_ASSERT_OK_AND_ASSIGN(std::string id, store_.CreateMultipart("big", {}));
  DEPOT_ASSERT_OK_AND_ASSIGN(std::string other, inner_->CreateMultipart("elsewhere", {}));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto uploads, store_.ListMultipartUploads(""));
  ASSERT_EQ(uploads.size(), 1u);
  EXPECT_EQ(uploads[0].key, "big");
  EXPECT_EQ(uploads[0].upload_id, id);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto inner_uploads, inner_->ListMultipartUploads("tenant/"));
  ASSERT_EQ(inner_uploads.size(), 1u);
  EXPECT_EQ(inner_uploads[0].key, "tenant/big");
  DEPOT_ASSERT_OK_AND_ASSIGN(auto none, store_.ListMultipartUploads("x"));
  EXPECT_THAT(none, IsEmpty());

  DEPOT_ASSERT_OK_AND_ASSIGN(PartInfo p1, store_.PutPart("big", id, 1, Bytes::Copy("hello")));
  DEPOT_ASSERT_OK_AND_ASSIGN(PartInfo p2, store_.PutPart("big", id, 2, Bytes::Copy("!")));
  const std::vector<PartInfo> parts = {p1, p2};
  ASSERT_THAT(store_.CompleteMultipart("big", id, parts), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(GetResult got, inner_->Get("tenant/big", {}));
  EXPECT_EQ(got.data.ToString(), "hello!");
  EXPECT_THAT(store_.AbortMultipart("elsewhere", other), StatusIs(StatusCode::kNotFound));
}

TEST_F(PrefixStoreTest, ToStringAddsThePrefixOption) {
  EXPECT_EQ(store_.ToString(), "mem://inner?prefix=tenant%2F");
  auto nested = std::make_shared<PrefixStore>(inner_, "a b/");
  PrefixStore twice(nested, "c/");
  EXPECT_EQ(twice.ToString(), "mem://inner?prefix=a%20b%2F&prefix=c%2F");
}

TEST_F(PrefixStoreTest, CapabilitiesAreTheInnerStores) {
  const Capabilities caps = store_.capabilities();
  EXPECT_TRUE(caps.multipart);
  EXPECT_EQ(caps.min_part_size, 5u);
}

}  // namespace
}  // namespace depot::object
