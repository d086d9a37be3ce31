#include "depot/server/versions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/server/operations.h"

namespace depot::server {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class VersionsTest : public ::testing::Test {
 protected:
  // Stores a new version of `key` with `body` (a delete marker when nullopt); returns its id.
  std::string Write(std::string_view key, std::optional<std::string> body,
                    Versioning state = Versioning::kEnabled) {
    const Version version = versions_.Allocate("b", key, state, !body.has_value());
    EXPECT_THAT(store_.Put(version.store_key, Bytes::FromString(body.value_or("")), {}).status(),
                IsOk());
    if (version.id == "null" && state != Versioning::kOff) {
      EXPECT_THAT(versions_.RetireNulls("b", key, version, {}), IsOk());
    }
    return version.id;
  }
  std::string Read(std::string_view key, std::optional<std::string> id = std::nullopt) {
    auto found = versions_.Find("b", key, id, Versioning::kEnabled, {});
    if (!found.ok()) return "error: " + std::string(found.status().message());
    if (found->delete_marker) return "delete marker " + found->id;
    auto got = store_.Get(found->store_key, {}, {});
    return got.ok() ? got->data.ToString() : "error: " + std::string(got.status().message());
  }
  // Every entry of a listing as "key id" (a "*" after the latest, "-" after a delete marker) and
  // "prefix/" for common prefixes, walked in pages of `page_size`.
  std::vector<std::string> ListAll(Versions::Query query, size_t page_size) {
    std::vector<std::string> out;
    query.max_entries = page_size;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = versions_.List("b", query, {});
      EXPECT_THAT(page.status(), IsOk());
      if (!page.ok()) break;
      EXPECT_LE(page->versions.size() + page->common_prefixes.size(), page_size);
      for (const Version& version : page->versions) {
        out.push_back(version.key + " " + (version.id == "null" ? "null" : "v") +
                      (version.latest ? "*" : "") + (version.delete_marker ? "-" : ""));
      }
      for (const std::string& prefix : page->common_prefixes) out.push_back(prefix);
      if (!page->truncated) break;
      query.key_marker = page->next_key_marker;
      query.version_marker = page->next_version_marker;
    }
    return out;
  }

  object::MemoryStore store_;
  Versions versions_{store_};
};

TEST_F(VersionsTest, EveryVersionIsKeptAndTheNewestIsRead) {
  const std::string first = Write("a", "one");
  const std::string second = Write("a", "two");
  EXPECT_NE(first, second);
  EXPECT_TRUE(ValidVersionId(first));
  EXPECT_EQ(Read("a"), "two");
  EXPECT_EQ(Read("a", first), "one");
  EXPECT_EQ(Read("a", second), "two");
  const std::string marker = Write("a", std::nullopt);
  EXPECT_EQ(Read("a"), "delete marker " + marker);
  EXPECT_EQ(Read("a", first), "one");
  EXPECT_THAT(Read("a", "0123456789abcdef01234567"), HasSubstr("NoSuchVersion"));
  EXPECT_THAT(versions_.Find("b", "a", "not-an-id", Versioning::kEnabled, {}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not-an-id")));
  EXPECT_THAT(ListAll({}, 1000), ElementsAre("a v*-", "a v", "a v"));
  EXPECT_THAT(ListAll({.latest_only = true}, 1000), ElementsAre());
}

TEST_F(VersionsTest, ObjectsFromBeforeVersioningAreTheirKeysNullVersions) {
  ASSERT_THAT(store_.Put(StoreKey("b", "old"), Bytes::FromString("before"), {}).status(), IsOk());
  ASSERT_THAT(store_.Put(StoreKey("b", "plain"), Bytes::FromString("p"), {}).status(), IsOk());
  EXPECT_EQ(Read("old"), "before");
  EXPECT_EQ(Read("old", "null"), "before");
  Write("old", "after");
  EXPECT_EQ(Read("old"), "after");
  EXPECT_EQ(Read("old", "null"), "before");
  EXPECT_THAT(ListAll({}, 1000), ElementsAre("old v*", "old null", "plain null*"));
  EXPECT_THAT(ListAll({.latest_only = true}, 1000), ElementsAre("old v*", "plain null*"));
  // Versioning off: the object itself, and no other version.
  auto off = versions_.Find("b", "old", std::nullopt, Versioning::kOff, {});
  ASSERT_THAT(off.status(), IsOk());
  EXPECT_EQ(off->store_key, StoreKey("b", "old"));
  EXPECT_THAT(versions_.Find("b", "old", "0123456789abcdef01234567", Versioning::kOff, {}).status(),
              StatusIs(StatusCode::kNotFound));
}

TEST_F(VersionsTest, ASuspendedWriteReplacesTheNullVersionOnly) {
  ASSERT_THAT(store_.Put(StoreKey("b", "k"), Bytes::FromString("legacy"), {}).status(), IsOk());
  const std::string kept = Write("k", "versioned");
  EXPECT_EQ(Write("k", "null one", Versioning::kSuspended), "null");
  EXPECT_EQ(Write("k", "null two", Versioning::kSuspended), "null");
  EXPECT_EQ(Read("k"), "null two");
  EXPECT_EQ(Read("k", "null"), "null two");
  EXPECT_EQ(Read("k", kept), "versioned");
  EXPECT_THAT(ListAll({}, 1000), ElementsAre("k null*", "k v"));
  EXPECT_THAT(store_.Head(StoreKey("b", "k"), {}).status(), StatusIs(StatusCode::kNotFound));
  // A suspended delete is a null delete marker, replacing the null version.
  Write("k", std::nullopt, Versioning::kSuspended);
  EXPECT_EQ(Read("k"), "delete marker null");
  EXPECT_THAT(ListAll({}, 1000), ElementsAre("k null*-", "k v"));
}

TEST_F(VersionsTest, RemovingAVersionLeavesTheOthers) {
  const std::string first = Write("a", "one");
  const std::string second = Write("a", "two");
  auto removed = versions_.Remove("b", "a", second, Versioning::kEnabled, {});
  ASSERT_THAT(removed.status(), IsOk());
  ASSERT_TRUE(removed->has_value());
  EXPECT_EQ((*removed)->id, second);
  EXPECT_EQ(Read("a"), "one");
  // A version the key does not have: nothing removed, and no error.
  removed = versions_.Remove("b", "a", second, Versioning::kEnabled, {});
  ASSERT_THAT(removed.status(), IsOk());
  EXPECT_FALSE(removed->has_value());
  ASSERT_THAT(store_.Put(StoreKey("b", "a"), Bytes::FromString("legacy"), {}).status(), IsOk());
  removed = versions_.Remove("b", "a", "null", Versioning::kEnabled, {});
  ASSERT_THAT(removed.status(), IsOk());
  EXPECT_TRUE(removed->has_value());
  EXPECT_THAT(ListAll({}, 1000), ElementsAre("a v*"));
  EXPECT_TRUE(*versions_.HoldsVersions("b", {}));
  ASSERT_THAT(versions_.Remove("b", "a", first, Versioning::kEnabled, {}).status(), IsOk());
  EXPECT_FALSE(*versions_.HoldsVersions("b", {}));
}

TEST_F(VersionsTest, PagesAndCommonPrefixesCoverEveryEntryOnce) {
  // Keys whose escaping matters: 0x01 and 0x02 inside, and a key that extends another.
  for (const std::string& key : {std::string("a"), std::string("a\x01z"), std::string("a\x02"),
                                 std::string("a/x"), std::string("a/y"), std::string("b")}) {
    Write(key, "1");
    Write(key, "2");
  }
  ASSERT_THAT(store_.Put(StoreKey("b", "a/plain"), Bytes::FromString("p"), {}).status(), IsOk());
  Write("c/gone", std::nullopt);
  const std::vector<std::string> all = ListAll({}, 1000);
  EXPECT_THAT(all, ElementsAre("a v*", "a v", std::string("a\x01z v*"), std::string("a\x01z v"),
                               std::string("a\x02 v*"), std::string("a\x02 v"), "a/plain null*",
                               "a/x v*", "a/x v", "a/y v*", "a/y v", "b v*", "b v", "c/gone v*-"));
  for (size_t size : {1, 2, 3, 5}) EXPECT_EQ(ListAll({}, size), all) << size;
  const std::vector<std::string> rolled = ListAll({.delimiter = "/"}, 1000);
  EXPECT_THAT(rolled, ElementsAre("a v*", "a v", std::string("a\x01z v*"), std::string("a\x01z v"),
                                  std::string("a\x02 v*"), std::string("a\x02 v"), "b v*", "b v",
                                  "a/", "c/"));
  // Latest only: a prefix whose every key is deleted is not shown.
  const std::vector<std::string> latest = ListAll({.delimiter = "/", .latest_only = true}, 1000);
  EXPECT_THAT(latest,
              ElementsAre("a v*", std::string("a\x01z v*"), std::string("a\x02 v*"), "b v*", "a/"));
  for (size_t size : {1, 2}) {
    EXPECT_EQ(ListAll({.delimiter = "/", .latest_only = true}, size).size(), latest.size());
  }
  EXPECT_THAT(ListAll({.prefix = "a/"}, 2),
              ElementsAre("a/plain null*", "a/x v*", "a/x v", "a/y v*", "a/y v"));
}

}  // namespace
}  // namespace depot::server
