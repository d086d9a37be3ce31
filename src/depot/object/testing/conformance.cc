// The object-store conformance suite (see conformance.h). Every test starts from an empty store.
#include "depot/object/testing/conformance.h"

#include <fmt/format.h>
#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "depot/core/base64.h"
#include "depot/core/cancellation.h"
#include "depot/core/checksum.h"
#include "depot/core/context.h"
#include "depot/core/md5.h"
#include "depot/core/testing/status_matchers.h"

namespace depot::object::testing {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Bytes Text(std::string_view s) { return Bytes::Copy(s); }

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

// The checksum S3 would keep with `data`: base64 of the big-endian digest.
Checksum ChecksumOf(PayloadChecksum::Algorithm algorithm, std::string_view data) {
  PayloadChecksum sum(algorithm);
  sum.Update(data);
  return {std::string(PayloadChecksum::Name(algorithm)), sum.Base64Finish()};
}

std::string Read(ObjectStore& store, std::string_view key, GetOptions options = {}) {
  auto got = store.Get(key, options);
  EXPECT_THAT(got, IsOk());
  return got.ok() ? got->data.ToString() : "<error>";
}

std::vector<std::string> Keys(const ListResult& page) {
  std::vector<std::string> keys;
  for (const auto& meta : page.objects) keys.push_back(meta.key);
  return keys;
}

// Every key and common prefix under `options`, following continuation tokens.
void ListAllPages(ObjectStore& store, ListOptions options, std::vector<std::string>* keys,
                  std::vector<std::string>* prefixes, int* pages) {
  *pages = 0;
  for (;;) {
    auto page = store.List(options);
    ASSERT_THAT(page, IsOk());
    ++*pages;
    ASSERT_LE(page->objects.size() + page->common_prefixes.size(), options.max_keys);
    for (const auto& meta : page->objects) keys->push_back(meta.key);
    for (const auto& prefix : page->common_prefixes) prefixes->push_back(prefix);
    if (page->next_continuation_token.empty()) return;
    options.continuation_token = page->next_continuation_token;
    ASSERT_LT(*pages, 10000) << "listing does not terminate";
  }
}

TEST_P(ObjectStoreConformance, PutThenGetReturnsTheBytes) {
  auto put = store().Put("greeting", Text("pinna park"));
  ASSERT_THAT(put, IsOk());
  EXPECT_FALSE(put->etag.empty());
  auto got = store().Get("greeting");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.ToString(), "pinna park");
  EXPECT_EQ(got->meta.key, "greeting");
  EXPECT_EQ(got->meta.size, 10u);
  EXPECT_EQ(got->meta.etag, put->etag);
  EXPECT_EQ(got->range, (ResolvedRange{0, 10}));
  EXPECT_FALSE(got->not_modified);
}

TEST_P(ObjectStoreConformance, LargeObjectRoundTrips) {
  std::string data = Pattern(3 << 20, 7);
  ASSERT_THAT(store().Put("big", Bytes::Copy(data)), IsOk());
  EXPECT_EQ(Read(store(), "big"), data);
}

TEST_P(ObjectStoreConformance, EmptyObject) {
  ASSERT_THAT(store().Put("empty", Bytes()), IsOk());
  auto got = store().Get("empty");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->meta.size, 0u);
  EXPECT_TRUE(got->data.empty());
  auto head = store().Head("empty");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->size, 0u);
}

TEST_P(ObjectStoreConformance, OverwriteReplacesBytesAndEtag) {
  auto first = store().Put("k", Text("one"));
  ASSERT_THAT(first, IsOk());
  auto second = store().Put("k", Text("second version"));
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(first->etag, second->etag);
  EXPECT_EQ(Read(store(), "k"), "second version");
}

TEST_P(ObjectStoreConformance, MissingKeys) {
  EXPECT_THAT(store().Get("nope"), StatusIs(StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(store().Head("nope"), StatusIs(StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(store().Delete("nope"), IsOk());
  EXPECT_THAT(store().Delete("nope/deeper/still"), IsOk());
}

TEST_P(ObjectStoreConformance, DeleteRemovesAndIsIdempotent) {
  ASSERT_THAT(store().Put("d", Text("x")), IsOk());
  EXPECT_THAT(store().Delete("d"), IsOk());
  EXPECT_THAT(store().Get("d"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store().Delete("d"), IsOk());
}

TEST_P(ObjectStoreConformance, DeleteManyReportsPerKey) {
  ASSERT_THAT(store().Put("m/1", Text("1")), IsOk());
  ASSERT_THAT(store().Put("m/2", Text("2")), IsOk());
  ASSERT_THAT(store().Put("m/3", Text("3")), IsOk());
  std::vector<std::string> keys = {"m/1", "m/3", "m/absent", ""};
  std::vector<Status> results = store().DeleteMany(keys);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_THAT(results[0], IsOk());
  EXPECT_THAT(results[1], IsOk());
  EXPECT_THAT(results[2], IsOk());
  EXPECT_THAT(results[3], StatusIs(StatusCode::kInvalidArgument));
  auto page = store().List({.prefix = "m/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("m/2"));
}

TEST_P(ObjectStoreConformance, HeadReturnsMetadataOnly) {
  PutOptions options;
  options.content_type = "text/plain";
  options.user_metadata = {{"owner", "ada"}, {"colour", "blue"}};
  auto put = store().Put("h", Text("hello"), options);
  ASSERT_THAT(put, IsOk());
  auto head = store().Head("h");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->key, "h");
  EXPECT_EQ(head->size, 5u);
  EXPECT_EQ(head->etag, put->etag);
  EXPECT_EQ(head->content_type, "text/plain");
  EXPECT_EQ(head->user_metadata, options.user_metadata);
  auto age = Clock::now() - head->last_modified;
  EXPECT_LT(std::chrono::abs(age), std::chrono::minutes(5));

  GetOptions head_only;
  head_only.head = true;
  auto got = store().Get("h", head_only);
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->data.empty());
  EXPECT_EQ(got->meta.size, 5u);
}

TEST_P(ObjectStoreConformance, Ranges) {
  ASSERT_THAT(store().Put("r", Text("0123456789")), IsOk());
  auto read = [&](ByteRange range) {
    GetOptions options;
    options.range = range;
    return store().Get("r", options);
  };
  auto bounded = read(ByteRange::Bounded(2, 5));
  ASSERT_THAT(bounded, IsOk());
  EXPECT_EQ(bounded->data.ToString(), "234");
  EXPECT_EQ(bounded->range, (ResolvedRange{2, 5}));
  EXPECT_EQ(bounded->meta.size, 10u);

  auto from = read(ByteRange::From(7));
  ASSERT_THAT(from, IsOk());
  EXPECT_EQ(from->data.ToString(), "789");

  auto suffix = read(ByteRange::Suffix(4));
  ASSERT_THAT(suffix, IsOk());
  EXPECT_EQ(suffix->data.ToString(), "6789");
  EXPECT_EQ(suffix->range, (ResolvedRange{6, 10}));

  auto long_suffix = read(ByteRange::Suffix(100));
  ASSERT_THAT(long_suffix, IsOk());
  EXPECT_EQ(long_suffix->data.ToString(), "0123456789");

  auto truncated = read(ByteRange::Bounded(8, 100));
  ASSERT_THAT(truncated, IsOk());
  EXPECT_EQ(truncated->data.ToString(), "89");

  auto zero = read(ByteRange::Bounded(4, 4));
  ASSERT_THAT(zero, IsOk());
  EXPECT_TRUE(zero->data.empty());

  auto at_end = read(ByteRange::From(10));
  ASSERT_THAT(at_end, IsOk());
  EXPECT_TRUE(at_end->data.empty());

  EXPECT_THAT(read(ByteRange::Bounded(11, 20)), StatusIs(StatusCode::kOutOfRange));
  EXPECT_THAT(read(ByteRange::From(11)), StatusIs(StatusCode::kOutOfRange));
  EXPECT_THAT(read(ByteRange::Bounded(5, 2)), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(ObjectStoreConformance, RangesOnEmptyObject) {
  ASSERT_THAT(store().Put("e", Bytes()), IsOk());
  GetOptions options;
  options.range = ByteRange::Suffix(5);
  auto got = store().Get("e", options);
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->data.empty());
  options.range = ByteRange::From(1);
  EXPECT_THAT(store().Get("e", options), StatusIs(StatusCode::kOutOfRange));
}

TEST_P(ObjectStoreConformance, ReadPreconditions) {
  auto put = store().Put("p", Text("v1"));
  ASSERT_THAT(put, IsOk());
  GetOptions options;
  options.if_match = put->etag;
  EXPECT_EQ(Read(store(), "p", options), "v1");
  options.if_match = "\"" + put->etag + "\"";
  EXPECT_EQ(Read(store(), "p", options), "v1");
  options.if_match = "not-the-etag";
  EXPECT_THAT(store().Get("p", options), StatusIs(StatusCode::kFailedPrecondition));

  GetOptions none_match;
  none_match.if_none_match = put->etag;
  auto not_modified = store().Get("p", none_match);
  ASSERT_THAT(not_modified, IsOk());
  EXPECT_TRUE(not_modified->not_modified);
  EXPECT_TRUE(not_modified->data.empty());
  EXPECT_EQ(not_modified->meta.etag, put->etag);
  none_match.if_none_match = "other";
  auto modified = store().Get("p", none_match);
  ASSERT_THAT(modified, IsOk());
  EXPECT_FALSE(modified->not_modified);
  EXPECT_EQ(modified->data.ToString(), "v1");

  GetOptions since;
  since.if_modified_since = Clock::now() + std::chrono::hours(1);
  auto later = store().Get("p", since);
  ASSERT_THAT(later, IsOk());
  EXPECT_TRUE(later->not_modified);
  since.if_modified_since = Clock::now() - std::chrono::hours(1);
  auto earlier = store().Get("p", since);
  ASSERT_THAT(earlier, IsOk());
  EXPECT_FALSE(earlier->not_modified);

  GetOptions unmodified;
  unmodified.if_unmodified_since = Clock::now() - std::chrono::hours(1);
  EXPECT_THAT(store().Get("p", unmodified), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_P(ObjectStoreConformance, CreateOnlyPut) {
  PutOptions create;
  create.mode = PutMode::kCreate;
  if (!store().capabilities().conditional_put) {
    EXPECT_THAT(store().Put("c", Text("x"), create), StatusIs(StatusCode::kUnimplemented));
    return;
  }
  ASSERT_THAT(store().Put("c", Text("first"), create), IsOk());
  EXPECT_THAT(store().Put("c", Text("second"), create),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("\"c\"")));
  EXPECT_EQ(Read(store(), "c"), "first");
}

TEST_P(ObjectStoreConformance, UpdateIfEtagMatches) {
  PutOptions update;
  update.mode = PutMode::kUpdate;
  update.if_match = "whatever";
  if (!store().capabilities().conditional_put) {
    EXPECT_THAT(store().Put("u", Text("x"), update), StatusIs(StatusCode::kUnimplemented));
    return;
  }
  EXPECT_THAT(store().Put("u", Text("x"), update), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(store().Get("u"), StatusIs(StatusCode::kNotFound));
  auto v1 = store().Put("u", Text("v1"));
  ASSERT_THAT(v1, IsOk());
  update.if_match = v1->etag;
  auto v2 = store().Put("u", Text("v2"), update);
  ASSERT_THAT(v2, IsOk());
  EXPECT_EQ(Read(store(), "u"), "v2");
  // The old ETag no longer matches.
  EXPECT_THAT(store().Put("u", Text("v3"), update), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(Read(store(), "u"), "v2");
}

TEST_P(ObjectStoreConformance, PutUnlessEtagReplacesOnlyAnotherVersion) {
  PutOptions unless{.mode = PutMode::kUnlessEtag, .if_match = "no-such-etag"};
  if (!store().capabilities().put_unless_etag) {
    EXPECT_THAT(store().Put("n", Text("x"), unless), StatusIs(StatusCode::kUnimplemented));
    return;
  }
  auto v1 = store().Put("n", Text("v1"), unless);  // absent: written
  ASSERT_THAT(v1, IsOk());
  unless.if_match = v1->etag;
  EXPECT_THAT(store().Put("n", Text("v2"), unless), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(Read(store(), "n"), "v1");
  ASSERT_THAT(store().Put("n", Text("another")), IsOk());
  ASSERT_THAT(store().Put("n", Text("v3"), unless), IsOk());
  EXPECT_EQ(Read(store(), "n"), "v3");
}

// object_store's race: 5 workers each add 1 to a counter 10 times with compare-and-swap.
TEST_P(ObjectStoreConformance, CompareAndSwapRaceCountsExactly) {
  if (!store().capabilities().conditional_put) {
    GTEST_SKIP() << MissingCapability("conditional_put");  // CreateOnlyPut checks kUnimplemented
  }
  ASSERT_THAT(store().Put("counter", Text("0")), IsOk());
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 5; ++w) {
    workers.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        for (int attempt = 0;; ++attempt) {
          if (attempt > 10000) {
            ++failures;
            return;
          }
          auto current = store().Get("counter");
          if (!current.ok()) {
            ++failures;
            return;
          }
          int value = std::stoi(current->data.ToString());
          PutOptions update;
          update.mode = PutMode::kUpdate;
          update.if_match = current->meta.etag;
          auto put = store().Put("counter", Text(std::to_string(value + 1)), update);
          if (put.ok()) break;
          if (put.status().code() != StatusCode::kFailedPrecondition) {
            ++failures;
            return;
          }
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Read(store(), "counter"), "50");
}

TEST_P(ObjectStoreConformance, OddKeys) {
  std::string long_key;
  while (long_key.size() < 1000) long_key += std::string(200, 'x') + "/";
  long_key += "end";
  std::vector<std::string> keys = {
      "with space",
      "plus+sign",
      "percent%20literal",
      "unicode/é/日本語/🙂",
      "quote\"s'",
      "semi;colon,comma",
      "question?mark",
      "hash#tag",
      "dir/.hidden",
      "ampersand&equals=1",
      "tilde~and*star",
      "back\\slash",
      "brackets[]{}()",
      "dollar$at@caret^",
      long_key,
      "trailing.dot.",
  };
  for (size_t i = 0; i < keys.size(); ++i) {
    SCOPED_TRACE(keys[i]);
    ASSERT_THAT(store().Put(keys[i], Text("value " + std::to_string(i))), IsOk());
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    SCOPED_TRACE(keys[i]);
    EXPECT_EQ(Read(store(), keys[i]), "value " + std::to_string(i));
  }
  std::vector<std::string> listed;
  std::vector<std::string> prefixes;
  int pages = 0;
  ListAllPages(store(), {.max_keys = 5}, &listed, &prefixes, &pages);
  std::vector<std::string> expected = keys;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(listed, expected);
  for (const std::string& key : keys) EXPECT_THAT(store().Delete(key), IsOk());
  auto page = store().List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
}

// Keys that are not plain relative paths, and an object beside keys below it: S3 accepts them
// all, so every backend stores each exactly and lists them in byte order.
TEST_P(ObjectStoreConformance, EveryKeyShapeS3Accepts) {
  const std::vector<std::string> keys = {"e/",
                                         "e/x",
                                         "a/./b",
                                         "../x",
                                         "a/b/../c",
                                         "//d",
                                         "/",
                                         ".",
                                         "..",
                                         "foo/bar",
                                         "foo/bar/xyzzy",
                                         "foo/bar-baz",
                                         ".depot",
                                         "a/.depotx",
                                         std::string(300, 's'),
                                         "long/" + std::string(300, 's') + "/end"};
  for (const std::string& key : keys) {
    SCOPED_TRACE(key);
    ASSERT_THAT(store().Put(key, Text("value of " + key)), IsOk());
  }
  for (const std::string& key : keys) {
    SCOPED_TRACE(key);
    EXPECT_EQ(Read(store(), key), "value of " + key);
  }
  std::vector<std::string> expected = keys;
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> listed;
  std::vector<std::string> prefixes;
  int pages = 0;
  ListAllPages(store(), {.max_keys = 3}, &listed, &prefixes, &pages);
  EXPECT_EQ(listed, expected);
  listed.clear();
  ListAllPages(store(), {.prefix = "foo/", .delimiter = "/", .max_keys = 1}, &listed, &prefixes,
               &pages);
  EXPECT_THAT(listed, ElementsAre("foo/bar", "foo/bar-baz"));
  EXPECT_THAT(prefixes, ElementsAre("foo/bar/"));
  auto page = store().List({.prefix = "e", .delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->common_prefixes, ElementsAre("e/"));
  page = store().List({.delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->common_prefixes, ElementsAre("../", "/", "a/", "e/", "foo/", "long/"));
  for (const std::string& key : {std::string("foo/bar"), std::string("e/")}) {
    ASSERT_THAT(store().Delete(key), IsOk());
    EXPECT_THAT(store().Get(key), StatusIs(StatusCode::kNotFound));
  }
  EXPECT_EQ(Read(store(), "foo/bar/xyzzy"), "value of foo/bar/xyzzy");
  EXPECT_EQ(Read(store(), "e/x"), "value of e/x");
  for (const std::string& key : keys) EXPECT_THAT(store().Delete(key), IsOk());
  page = store().List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
}

TEST_P(ObjectStoreConformance, InvalidKeysAreRejectedAndChangeNothing) {
  ASSERT_THAT(store().Put("keep", Text("kept")), IsOk());
  std::vector<std::string> bad = {"", std::string("nul\0byte", 8), "bad\xff utf8",
                                  "overlong\xc0\xaf", std::string(1025, 'k')};
  for (const std::string& key : bad) {
    SCOPED_TRACE(key.size());
    EXPECT_THAT(store().Put(key, Text("x")), StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(store().Get(key), StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(store().Delete(key), StatusIs(StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(store().Put("", Text("x")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"\"")));
  EXPECT_EQ(Read(store(), "keep"), "kept");
  auto page = store().List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("keep"));
}

TEST_P(ObjectStoreConformance, ListIsLexicographic) {
  for (const char* key : {"b", "a-c", "a/b", "a0", "A", "a/a/z", "c"}) {
    ASSERT_THAT(store().Put(key, Text(key)), IsOk());
  }
  auto page = store().List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("A", "a-c", "a/a/z", "a/b", "a0", "b", "c"));
  EXPECT_TRUE(page->next_continuation_token.empty());
  for (const auto& meta : page->objects) EXPECT_EQ(meta.size, meta.key.size());
}

TEST_P(ObjectStoreConformance, ListByPrefix) {
  for (const char* key : {"logs/2024/a", "logs/2024/b", "logs/2025/a", "logsx", "other"}) {
    ASSERT_THAT(store().Put(key, Text("x")), IsOk());
  }
  auto page = store().List({.prefix = "logs/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("logs/2024/a", "logs/2024/b", "logs/2025/a"));
  page = store().List({.prefix = "logs"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("logs/2024/a", "logs/2024/b", "logs/2025/a", "logsx"));
  page = store().List({.prefix = "nothing/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
}

TEST_P(ObjectStoreConformance, ListWithDelimiter) {
  for (const char* key : {"top", "dir/a", "dir/b", "dir/sub/c", "dos/x", "zeta/y/z"}) {
    ASSERT_THAT(store().Put(key, Text("x")), IsOk());
  }
  auto page = store().List({.delimiter = "/"});
  if (!store().capabilities().delimiter_list) {
    EXPECT_THAT(page, StatusIs(StatusCode::kUnimplemented));
    return;
  }
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("top"));
  EXPECT_THAT(page->common_prefixes, ElementsAre("dir/", "dos/", "zeta/"));

  page = store().List({.prefix = "dir/", .delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("dir/a", "dir/b"));
  EXPECT_THAT(page->common_prefixes, ElementsAre("dir/sub/"));
}

TEST_P(ObjectStoreConformance, ListStartAfter) {
  for (const char* key : {"k1", "k2", "k3", "k4"}) ASSERT_THAT(store().Put(key, Text("x")), IsOk());
  auto page = store().List({.start_after = "k2"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("k3", "k4"));
  page = store().List({.start_after = "k25"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("k3", "k4"));
  page = store().List({.start_after = "k4"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
}

TEST_P(ObjectStoreConformance, ListAcrossPageBoundaries) {
  std::vector<std::string> keys;
  for (int i = 0; i < 23; ++i) keys.push_back(fmt::format("page/{:03d}", i));
  for (int i = 0; i < 4; ++i) keys.push_back(fmt::format("page/sub{}/x", i));
  for (const auto& key : keys) ASSERT_THAT(store().Put(key, Text("x")), IsOk());
  std::sort(keys.begin(), keys.end());
  for (size_t page_size : {1u, 2u, 5u, 7u, 23u, 27u, 1000u}) {
    SCOPED_TRACE(page_size);
    std::vector<std::string> listed;
    std::vector<std::string> prefixes;
    int pages = 0;
    ListAllPages(store(), {.prefix = "page/", .max_keys = page_size}, &listed, &prefixes, &pages);
    EXPECT_EQ(listed, keys);
    EXPECT_EQ(pages, static_cast<int>((keys.size() + page_size - 1) / page_size));

    if (!store().capabilities().delimiter_list) continue;
    listed.clear();
    ListAllPages(store(), {.prefix = "page/", .delimiter = "/", .max_keys = page_size}, &listed,
                 &prefixes, &pages);
    EXPECT_EQ(listed.size(), 23u);
    EXPECT_THAT(prefixes, ElementsAre("page/sub0/", "page/sub1/", "page/sub2/", "page/sub3/"));
    prefixes.clear();
  }
}

TEST_P(ObjectStoreConformance, ListRejectsBadOptions) {
  EXPECT_THAT(store().List({.max_keys = 0}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store().List({.continuation_token = "garbage"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("garbage")));
}

TEST_P(ObjectStoreConformance, Copy) {
  PutOptions options;
  options.content_type = "application/x-test";
  options.user_metadata = {{"a", "b"}};
  ASSERT_THAT(store().Put("src", Text("copy me"), options), IsOk());
  auto copied = store().Copy("src", "dst/copy", CopyMode::kOverwrite);
  if (!store().capabilities().copy) {
    EXPECT_THAT(copied, StatusIs(StatusCode::kUnimplemented));
    return;
  }
  ASSERT_THAT(copied, IsOk());
  EXPECT_EQ(Read(store(), "dst/copy"), "copy me");
  EXPECT_EQ(Read(store(), "src"), "copy me");
  auto head = store().Head("dst/copy");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->content_type, "application/x-test");
  EXPECT_EQ(head->user_metadata, options.user_metadata);
  EXPECT_THAT(store().Copy("absent", "x", CopyMode::kOverwrite),
              StatusIs(StatusCode::kNotFound, HasSubstr("absent")));
}

TEST_P(ObjectStoreConformance, WebHeadersTravelWithTheObject) {
  const ObjectHeaders headers{.cache_control = "public, max-age=60",
                              .content_disposition = "attachment; filename=\"a b.txt\"",
                              .content_encoding = "gzip",
                              .content_language = "en-GB",
                              .expires = "Wed, 21 Oct 2099 07:28:00 GMT"};
  PutOptions options;
  options.headers = headers;
  ASSERT_THAT(store().Put("web", Text("page"), options), IsOk());
  auto head = store().Head("web");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->headers, headers);
  auto got = store().Get("web");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->meta.headers, headers);
  EXPECT_EQ(got->data.ToString(), "page");

  // Copies keep them; a streamed write and a multipart upload store them like a put.
  if (store().capabilities().copy) {
    ASSERT_THAT(store().Copy("web", "web-copy", CopyMode::kOverwrite), IsOk());
    EXPECT_EQ(store().Head("web-copy")->headers, headers);
  }
  WriteOptions streamed;
  streamed.put.headers = headers;
  auto writer = store().OpenWriter("web-streamed", streamed);
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT((*writer)->Write("streamed"), IsOk());
  ASSERT_THAT((*writer)->Finish(), IsOk());
  EXPECT_EQ(store().Head("web-streamed")->headers, headers);
  if (store().capabilities().multipart) {
    auto id = store().CreateMultipart("web-mp", options);
    ASSERT_THAT(id, IsOk());
    auto part = store().PutPart("web-mp", *id, 1, Text("one part"));
    ASSERT_THAT(part, IsOk());
    const std::vector<PartInfo> parts = {*part};
    ASSERT_THAT(store().CompleteMultipart("web-mp", *id, parts), IsOk());
    EXPECT_EQ(store().Head("web-mp")->headers, headers);
  }

  // An object without them has none; a value that is not one header line is refused by name.
  ASSERT_THAT(store().Put("plain", Text("x")), IsOk());
  EXPECT_EQ(store().Head("plain")->headers, ObjectHeaders{});
  PutOptions bad;
  bad.headers.cache_control = "max-age=1\r\nSet-Cookie: a=b";
  EXPECT_THAT(store().Put("web", Text("other"), bad),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("Cache-Control")));
  EXPECT_EQ(Read(store(), "web"), "page");
}

TEST_P(ObjectStoreConformance, CopyIfAbsent) {
  ASSERT_THAT(store().Put("s", Text("new")), IsOk());
  ASSERT_THAT(store().Put("d", Text("old")), IsOk());
  auto copied = store().Copy("s", "d", CopyMode::kCreate);
  if (!store().capabilities().copy_if_absent) {
    EXPECT_THAT(copied, StatusIs(StatusCode::kUnimplemented));
    return;
  }
  EXPECT_THAT(copied, StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(Read(store(), "d"), "old");
  ASSERT_THAT(store().Copy("s", "fresh", CopyMode::kCreate), IsOk());
  EXPECT_EQ(Read(store(), "fresh"), "new");
}

TEST_P(ObjectStoreConformance, Rename) {
  ASSERT_THAT(store().Put("from", Text("moving")), IsOk());
  Status renamed = store().Rename("from", "to/here", CopyMode::kOverwrite);
  if (!store().capabilities().atomic_rename) {
    EXPECT_THAT(renamed, StatusIs(StatusCode::kUnimplemented));
    return;
  }
  ASSERT_THAT(renamed, IsOk());
  EXPECT_THAT(store().Get("from"), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(Read(store(), "to/here"), "moving");
  ASSERT_THAT(store().Put("other", Text("stay")), IsOk());
  EXPECT_THAT(store().Rename("to/here", "other", CopyMode::kCreate),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(Read(store(), "other"), "stay");
  EXPECT_EQ(Read(store(), "to/here"), "moving");
  EXPECT_THAT(store().Rename("absent", "x", CopyMode::kOverwrite), StatusIs(StatusCode::kNotFound));
}

TEST_P(ObjectStoreConformance, WriterStreamsAnObjectThatAppearsOnlyAtFinish) {
  // 12 MiB in uneven pieces: past the default writer's first 8 MiB part on multipart stores.
  const std::string data = Pattern((12 << 20) + 4321, 31);
  WriteOptions options;
  options.put.content_type = "text/plain";
  options.put.user_metadata = {{"colour", "teal"}};
  auto writer = store().OpenWriter("streamed", options);
  ASSERT_THAT(writer, IsOk());
  for (size_t at = 0; at < data.size(); at += 777'777) {
    ASSERT_THAT((*writer)->Write(std::string_view(data).substr(at, 777'777)), IsOk());
  }
  EXPECT_EQ((*writer)->bytes_written(), data.size());
  EXPECT_THAT(store().Head("streamed"), StatusIs(StatusCode::kNotFound));
  auto done = (*writer)->Finish();
  ASSERT_THAT(done, IsOk());
  auto got = store().Get("streamed");
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->data.ToString() == data) << "the streamed bytes differ";
  EXPECT_EQ(got->meta.etag, done->etag);
  EXPECT_EQ(got->meta.content_type, "text/plain");
  EXPECT_EQ(got->meta.user_metadata, (std::map<std::string, std::string>{{"colour", "teal"}}));
  EXPECT_THAT((*writer)->Write("more"), StatusIs(StatusCode::kFailedPrecondition));
  auto uploads = store().ListMultipartUploads("");
  if (uploads.ok()) {
    EXPECT_THAT(*uploads, IsEmpty());
  }
}

TEST_P(ObjectStoreConformance, WriterAbortAndDestructionLeaveNothing) {
  ASSERT_THAT(store().Put("kept", Text("old")), IsOk());
  {
    auto writer = store().OpenWriter("kept");
    ASSERT_THAT(writer, IsOk());
    ASSERT_THAT((*writer)->Write(Pattern(100, 1)), IsOk());
    ASSERT_THAT((*writer)->Abort(), IsOk());
    EXPECT_THAT((*writer)->Finish(), StatusIs(StatusCode::kCancelled));
  }
  {
    auto writer = store().OpenWriter("dropped");
    ASSERT_THAT(writer, IsOk());
    ASSERT_THAT((*writer)->Write(Pattern(100, 2)), IsOk());
  }  // destroyed unfinished
  EXPECT_EQ(Read(store(), "kept"), "old");
  EXPECT_THAT(store().Head("dropped"), StatusIs(StatusCode::kNotFound));
  std::vector<std::string> keys, prefixes;
  int pages = 0;
  ListAllPages(store(), {}, &keys, &prefixes, &pages);
  EXPECT_THAT(keys, ElementsAre("kept"));
}

// Every call checks its Context before it starts: an ended one changes nothing, on any backend.
TEST_P(ObjectStoreConformance, AnEndedContextFailsEveryCallAndChangesNothing) {
  ASSERT_THAT(store().Put("kept", Text("old")), IsOk());
  CancellationSource stop;
  stop.Cancel();
  const Context cancelled(stop.token());
  const Context expired = Context().WithDeadline(Context::Clock::now() - std::chrono::seconds(1));
  for (const Context& ctx : {cancelled, expired}) {
    const StatusCode code =
        ctx.IsCancelled() ? StatusCode::kCancelled : StatusCode::kDeadlineExceeded;
    EXPECT_THAT(store().Put("kept", Text("new"), {}, ctx), StatusIs(code, HasSubstr("\"kept\"")));
    EXPECT_THAT(store().Put("fresh", Text("new"), {}, ctx), StatusIs(code));
    EXPECT_THAT(store().Get("kept", {}, ctx), StatusIs(code));
    EXPECT_THAT(store().Head("kept", ctx), StatusIs(code));
    EXPECT_THAT(store().Delete("kept", ctx), StatusIs(code));
    const std::vector<std::string> keys = {"kept", "fresh"};
    for (const Status& status : store().DeleteMany(keys, ctx)) EXPECT_THAT(status, StatusIs(code));
    EXPECT_THAT(store().List({}, ctx), StatusIs(code));
    EXPECT_THAT(store().Copy("kept", "copy", CopyMode::kOverwrite, ctx), StatusIs(code));
    EXPECT_THAT(store().Rename("kept", "moved", CopyMode::kOverwrite, ctx), StatusIs(code));
    EXPECT_THAT(store().OpenWriter("fresh", {}, ctx), StatusIs(code));
    EXPECT_THAT(store().GetStream(
                    "kept", {}, [](const GetResult&) { return Status::Ok(); },
                    [](std::string_view) { return Status::Ok(); }, ctx),
                StatusIs(code));
    EXPECT_THAT(store().CreateMultipart("fresh", {}, ctx), StatusIs(code));
    EXPECT_THAT(store().ListMultipartUploads("", ctx), StatusIs(code));
  }
  EXPECT_EQ(Read(store(), "kept"), "old");
  std::vector<std::string> keys, prefixes;
  int pages = 0;
  ListAllPages(store(), {}, &keys, &prefixes, &pages);
  EXPECT_THAT(keys, ElementsAre("kept"));
}

// A writer keeps the context it was opened with: cancelled midway, it stores nothing.
TEST_P(ObjectStoreConformance, AWriterCancelledMidwayStoresNothing) {
  ASSERT_THAT(store().Put("kept", Text("old")), IsOk());
  CancellationSource stop;
  auto writer = store().OpenWriter("kept", {}, Context(stop.token()));
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT((*writer)->Write(Pattern(1000, 3)), IsOk());
  stop.Cancel();
  Status wrote = (*writer)->Write(Pattern(1000, 4));
  Result<PutResult> finished = (*writer)->Finish();
  // A writer that only gathers may notice at Finish; either way nothing lands.
  EXPECT_TRUE(wrote.code() == StatusCode::kCancelled || wrote.ok()) << wrote;
  EXPECT_THAT(finished, StatusIs(StatusCode::kCancelled));
  EXPECT_EQ(Read(store(), "kept"), "old");
  auto uploads = store().ListMultipartUploads("");
  if (uploads.ok()) {
    EXPECT_THAT(*uploads, IsEmpty());  // kUnimplemented without multipart
  }
}

TEST_P(ObjectStoreConformance, WriterRefusesBadKeysAndHonoursCreateMode) {
  EXPECT_THAT(store().OpenWriter(std::string_view("bad\0key", 7)),
              StatusIs(StatusCode::kInvalidArgument));
  if (!store().capabilities().conditional_put) {
    GTEST_SKIP() << MissingCapability("conditional_put");
  }
  ASSERT_THAT(store().Put("taken", Text("first")), IsOk());
  WriteOptions create;
  create.put.mode = PutMode::kCreate;
  // The mode is checked when the object lands (some stores also refuse at open).
  auto writer = store().OpenWriter("taken", create);
  if (writer.ok()) {
    ASSERT_THAT((*writer)->Write("second"), IsOk());
    EXPECT_THAT((*writer)->Finish(), StatusIs(StatusCode::kAlreadyExists));
  } else {
    EXPECT_THAT(writer, StatusIs(StatusCode::kAlreadyExists));
  }
  EXPECT_EQ(Read(store(), "taken"), "first");
}

TEST_P(ObjectStoreConformance, ChecksumsAreKeptWithTheObject) {
  using Algorithm = PayloadChecksum::Algorithm;
  const Checksum crc = ChecksumOf(Algorithm::kCrc32c, "checked");
  if (!store().capabilities().checksums) {
    EXPECT_THAT(store().Put("c", Text("checked"), {.checksum = crc}),
                StatusIs(StatusCode::kUnimplemented));
    auto writer = store().OpenWriter("c");
    ASSERT_THAT(writer, IsOk());
    ASSERT_THAT((*writer)->Write("checked"), IsOk());
    EXPECT_THAT((*writer)->FinishChecked(crc), StatusIs(StatusCode::kUnimplemented));
    EXPECT_THAT(store().Head("c"), StatusIs(StatusCode::kNotFound));
    GTEST_SKIP() << MissingCapability("checksums");
  }
  auto put = store().Put("c", Text("checked"), {.checksum = crc});
  ASSERT_THAT(put, IsOk());
  EXPECT_EQ(put->checksum, crc);
  auto head = store().Head("c");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->checksum, crc);
  EXPECT_THAT(head->parts, IsEmpty());
  auto got = store().Get("c");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->meta.checksum, crc);
  // A copy has the same bytes, so the same checksum; an overwrite without one has none.
  ASSERT_THAT(store().Copy("c", "copied", CopyMode::kOverwrite), IsOk());
  EXPECT_EQ(store().Head("copied")->checksum, crc);
  ASSERT_THAT(store().Put("copied", Text("plain")), IsOk());
  EXPECT_TRUE(store().Head("copied")->checksum.empty());

  // A streamed write takes its checksum at the end, when the bytes are known.
  const std::string streamed = Pattern(100000, 5);
  const Checksum sha = ChecksumOf(Algorithm::kSha256, streamed);
  auto writer = store().OpenWriter("streamed");
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT((*writer)->Write(streamed), IsOk());
  auto finished = (*writer)->FinishChecked(sha);
  ASSERT_THAT(finished, IsOk());
  EXPECT_EQ(finished->checksum, sha);
  EXPECT_EQ(store().Head("streamed")->checksum, sha);

  // What is not a checksum is refused, and stores nothing.
  EXPECT_THAT(store().Put("bad", Text("x"), {.checksum = {"MD5", "AAAA"}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"MD5\"")));
  EXPECT_THAT(store().Put("bad", Text("x"), {.checksum = {"CRC32", "not base64!"}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a CRC32 checksum")));
  EXPECT_THAT(store().Put("bad", Text("x"), {.checksum = {"SHA256", "AAAAAA=="}}),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store().Head("bad"), StatusIs(StatusCode::kNotFound));
}

// A multipart object's checksum is made from its parts' as S3 makes it: composite (the checksum
// of the parts' digests, "-<parts>") or full-object (the CRC of all the bytes), and its parts are
// listed with their sizes and checksums.
TEST_P(ObjectStoreConformance, MultipartChecksumsAreMadeFromTheParts) {
  using Algorithm = PayloadChecksum::Algorithm;
  const Capabilities caps = store().capabilities();
  if (!caps.multipart || !caps.checksums) {
    GTEST_SKIP() << MissingCapability("multipart and checksums");
  }
  const size_t part_size = std::max<size_t>(caps.min_part_size, 1000);
  const std::vector<std::string> bytes = {Pattern(part_size, 1), Pattern(part_size, 2),
                                          Pattern(17, 3)};
  auto upload = [&](const std::string& key, Algorithm algorithm,
                    bool composite) -> std::vector<PartInfo> {
    auto id = store().CreateMultipart(
        key, {.checksum = {std::string(PayloadChecksum::Name(algorithm)), "", composite}});
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return {};
    std::vector<PartInfo> parts;
    for (size_t i = 0; i < bytes.size(); ++i) {
      auto writer = store().OpenPartWriter(key, *id, static_cast<int>(i + 1));
      EXPECT_THAT(writer, IsOk());
      if (!writer.ok()) return {};
      EXPECT_THAT((*writer)->Write(bytes[i]), IsOk());
      auto part = (*writer)->FinishChecked(ChecksumOf(algorithm, bytes[i]));
      EXPECT_THAT(part, IsOk());
      if (!part.ok()) return {};
      EXPECT_EQ(part->checksum, ChecksumOf(algorithm, bytes[i]).value);
      EXPECT_EQ(part->checksum_algorithm, PayloadChecksum::Name(algorithm));
      parts.push_back(*part);
    }
    auto listed = store().ListParts(key, *id);
    EXPECT_THAT(listed, IsOk());
    if (listed.ok() && listed->size() == parts.size()) {
      for (size_t i = 0; i < parts.size(); ++i) {
        EXPECT_EQ((*listed)[i].checksum, parts[i].checksum);
        EXPECT_EQ((*listed)[i].checksum_algorithm, PayloadChecksum::Name(algorithm));
      }
    }
    auto done = store().CompleteMultipart(key, *id, parts);
    EXPECT_THAT(done, IsOk());
    return parts;
  };

  // Composite SHA-256: SHA-256 of the three parts' digests.
  std::vector<PartInfo> parts = upload("composite", Algorithm::kSha256, /*composite=*/true);
  ASSERT_EQ(parts.size(), 3u);
  std::string digests;
  for (const std::string& part : bytes) {
    PayloadChecksum sum(Algorithm::kSha256);
    sum.Update(part);
    digests += sum.Finish();
  }
  const Checksum composite = {"SHA256", ChecksumOf(Algorithm::kSha256, digests).value + "-3", true};
  auto head = store().Head("composite");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->checksum, composite);
  ASSERT_EQ(head->parts.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(head->parts[i].size, bytes[i].size());
    EXPECT_EQ(head->parts[i].checksum, parts[i].checksum);
  }

  // Full-object CRC64NVME: the CRC of all the bytes, made without reading them again.
  ASSERT_EQ(upload("full", Algorithm::kCrc64Nvme, /*composite=*/false).size(), 3u);
  head = store().Head("full");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->checksum, ChecksumOf(Algorithm::kCrc64Nvme, bytes[0] + bytes[1] + bytes[2]));

  // A part without the upload's checksum fails the completion, which leaves the upload; one of
  // another algorithm is refused when the part is staged.
  auto id = store().CreateMultipart("missing", {.checksum = {"CRC32", "", true}});
  ASSERT_THAT(id, IsOk());
  auto part = store().PutPart("missing", *id, 1, Text("no checksum"));
  ASSERT_THAT(part, IsOk());
  EXPECT_THAT(store().CompleteMultipart("missing", *id, std::vector<PartInfo>{*part}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("has no CRC32 checksum")));
  auto writer = store().OpenPartWriter("missing", *id, 2);
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT((*writer)->Write("x"), IsOk());
  EXPECT_THAT((*writer)->FinishChecked(ChecksumOf(Algorithm::kCrc32c, "x")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("upload of CRC32 checksums")));
  EXPECT_THAT(store().ListParts("missing", *id), IsOk());
  EXPECT_THAT(store().AbortMultipart("missing", *id), IsOk());
  // Full-object checksums of multipart objects are for CRCs.
  EXPECT_THAT(store().CreateMultipart("sha", {.checksum = {"SHA1", "", false}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("composite")));
}

TEST_P(ObjectStoreConformance, PartWriterStagesAPartLikePutPart) {
  const Capabilities caps = store().capabilities();
  if (!caps.multipart) GTEST_SKIP() << MissingCapability("multipart");
  auto id = store().CreateMultipart("parted", {});
  ASSERT_THAT(id, IsOk());
  const std::string p1 = Pattern(std::max<size_t>(caps.min_part_size, 1000) + 17, 3);
  auto writer = store().OpenPartWriter("parted", *id, 1);
  ASSERT_THAT(writer, IsOk());
  for (size_t at = 0; at < p1.size(); at += 1000) {
    ASSERT_THAT((*writer)->Write(std::string_view(p1).substr(at, 1000)), IsOk());
  }
  auto r1 = (*writer)->Finish();
  ASSERT_THAT(r1, IsOk());
  EXPECT_EQ(r1->part_number, 1);
  EXPECT_EQ(r1->size, p1.size());
  EXPECT_EQ(r1->etag, Md5::HexOf(p1));
  {
    auto dropped = store().OpenPartWriter("parted", *id, 2);
    ASSERT_THAT(dropped, IsOk());
    ASSERT_THAT((*dropped)->Write("never staged"), IsOk());
  }  // destroyed unfinished: part 2 is not staged
  auto r2 = store().PutPart("parted", *id, 2, Text("tail"));
  ASSERT_THAT(r2, IsOk());
  auto listed = store().ListParts("parted", *id);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].size, 4u);
  std::vector<PartInfo> parts = {*r1, *r2};
  ASSERT_THAT(store().CompleteMultipart("parted", *id, parts), IsOk());
  EXPECT_EQ(Read(store(), "parted"), p1 + "tail");
  // An unknown upload fails, at the latest when the part would be staged.
  auto stray = store().OpenPartWriter("parted", "no-such-upload", 1);
  if (stray.ok()) {
    ASSERT_THAT((*stray)->Write("x"), IsOk());
    EXPECT_THAT((*stray)->Finish(), StatusIs(StatusCode::kNotFound));
  } else {
    EXPECT_THAT(stray, StatusIs(StatusCode::kNotFound));
  }
}

TEST_P(ObjectStoreConformance, MultipartUploadStitchesPartsInOrder) {
  const Capabilities caps = store().capabilities();
  auto id = store().CreateMultipart("mp", {.content_type = "application/octet-stream"});
  if (!caps.multipart) {
    EXPECT_THAT(id, StatusIs(StatusCode::kUnimplemented));
    return;
  }
  ASSERT_THAT(id, IsOk());
  ASSERT_LE(caps.min_part_size, 64u << 10) << "configure the backend with a small min_part_size";
  const size_t part_size = std::max<size_t>(caps.min_part_size, 1000);
  std::string p1 = Pattern(part_size, 1), p2 = Pattern(part_size, 2), p3 = "tail";
  // Out of order, and part 2 twice: the last upload of a part number wins.
  auto r3 = store().PutPart("mp", *id, 3, Text(p3));
  auto r1 = store().PutPart("mp", *id, 1, Text(p1));
  ASSERT_THAT(store().PutPart("mp", *id, 2, Text("replaced")), IsOk());
  auto r2 = store().PutPart("mp", *id, 2, Text(p2));
  ASSERT_THAT(r1, IsOk());
  ASSERT_THAT(r2, IsOk());
  ASSERT_THAT(r3, IsOk());
  EXPECT_EQ(r1->etag, Md5::HexOf(p1));

  auto uploads = store().ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  ASSERT_EQ(uploads->size(), 1u);
  EXPECT_EQ((*uploads)[0].key, "mp");
  EXPECT_EQ((*uploads)[0].upload_id, *id);
  EXPECT_THAT(store().Get("mp"), StatusIs(StatusCode::kNotFound));

  std::vector<PartInfo> parts = {*r1, *r2, *r3};
  auto done = store().CompleteMultipart("mp", *id, parts);
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(done->etag, ::testing::EndsWith("-3"));
  auto got = store().Get("mp");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.ToString(), p1 + p2 + p3);
  EXPECT_EQ(got->meta.etag, done->etag);
  EXPECT_EQ(got->meta.content_type, "application/octet-stream");
  uploads = store().ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  EXPECT_THAT(*uploads, IsEmpty());
  // Completing again: the upload is gone (kNotFound), or, as S3 services do so that a retry whose
  // first response was lost still succeeds, the same object is reported and nothing changes.
  auto again = store().CompleteMultipart("mp", *id, parts);
  if (!again.ok()) {
    EXPECT_THAT(again, StatusIs(StatusCode::kNotFound));
  } else {
    EXPECT_EQ(again->etag, done->etag);
  }
  EXPECT_EQ(Read(store(), "mp"), p1 + p2 + p3);
}

TEST_P(ObjectStoreConformance, MultipartRejectsBadPartLists) {
  if (!store().capabilities().multipart) {
    GTEST_SKIP() << MissingCapability(
        "multipart");  // MultipartUploadStitches... checks kUnimplemented
  }
  const size_t part_size = std::max<size_t>(store().capabilities().min_part_size, 1000);
  auto id = store().CreateMultipart("bad", {});
  ASSERT_THAT(id, IsOk());
  auto r1 = store().PutPart("bad", *id, 1, Text(Pattern(part_size, 1)));
  auto r2 = store().PutPart("bad", *id, 2, Text("small"));
  auto r3 = store().PutPart("bad", *id, 3, Text("last"));
  ASSERT_THAT(r1, IsOk());
  ASSERT_THAT(r2, IsOk());
  ASSERT_THAT(r3, IsOk());
  std::vector<PartInfo> wrong_etag = {*r1};
  wrong_etag[0].etag = "0123";
  EXPECT_THAT(store().CompleteMultipart("bad", *id, wrong_etag),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidPart")));
  std::vector<PartInfo> unordered = {*r3, *r1};
  EXPECT_THAT(store().CompleteMultipart("bad", *id, unordered),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidPartOrder")));
  std::vector<PartInfo> unknown = {*r1, PartInfo{9, "abc", 3}};
  EXPECT_THAT(store().CompleteMultipart("bad", *id, unknown),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidPart")));
  if (store().capabilities().min_part_size > 5) {
    std::vector<PartInfo> too_small = {*r1, *r2, *r3};
    EXPECT_THAT(store().CompleteMultipart("bad", *id, too_small),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("EntityTooSmall")));
  }
  EXPECT_THAT(store().CompleteMultipart("bad", *id, {}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store().Get("bad"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store().PutPart("bad", *id, 0, Text("x")), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store().PutPart("bad", *id, 10001, Text("x")),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store().PutPart("bad", "no-such-upload", 1, Text("x")),
              StatusIs(StatusCode::kNotFound));
  // A good list still completes after the failed attempts. Part 2 is uploaded again at full size
  // rather than left out: RGW refuses a list that skips an uploaded part.
  auto r2_full = store().PutPart("bad", *id, 2, Text(Pattern(part_size, 2)));
  ASSERT_THAT(r2_full, IsOk());
  std::vector<PartInfo> good = {*r1, *r2_full, *r3};
  ASSERT_THAT(store().CompleteMultipart("bad", *id, good), IsOk());
  EXPECT_EQ(Read(store(), "bad"), Pattern(part_size, 1) + Pattern(part_size, 2) + "last");
}

TEST_P(ObjectStoreConformance, GetStreamServesOneVersion) {
  // 20 MiB: more than one piece of every backend's streamed read.
  const std::string old_data = Pattern(20 << 20, 1);
  auto stored = store().Put("stream/v", Text(old_data), {});
  ASSERT_THAT(stored, IsOk());
  GetOptions ranged;
  ranged.range = ByteRange::Bounded(10, 20);
  std::string got;
  GetResult head;
  ASSERT_THAT(store().GetStream(
                  "stream/v", ranged,
                  [&](const GetResult& h) {
                    head = h;
                    return Status::Ok();
                  },
                  [&](std::string_view piece) {
                    got.append(piece);
                    return Status::Ok();
                  }),
              IsOk());
  EXPECT_EQ(got, old_data.substr(10, 10));
  EXPECT_EQ(head.range, (ResolvedRange{10, 20}));
  EXPECT_EQ(head.meta.etag, stored->etag);
  EXPECT_EQ(head.meta.size, old_data.size());

  // Overwritten after the first piece: the stream carries on with the version it started on, or
  // stops with kFailedPrecondition; it never mixes the two.
  got.clear();
  bool overwritten = false;
  Status streamed = store().GetStream(
      "stream/v", {}, [](const GetResult&) { return Status::Ok(); },
      [&](std::string_view piece) {
        got.append(piece);
        if (!overwritten) {
          overwritten = true;
          return store().Put("stream/v", Text(Pattern(20 << 20, 2)), {}).status();
        }
        return Status::Ok();
      });
  if (streamed.ok()) {
    EXPECT_TRUE(got == old_data) << "the stream mixed two versions";
  } else {
    EXPECT_THAT(streamed, StatusIs(StatusCode::kFailedPrecondition));
    EXPECT_EQ(got, old_data.substr(0, got.size()));
  }
  // Errors: a missing key before any callback, a callback's error returned as is.
  int heads = 0;
  EXPECT_THAT(store().GetStream(
                  "stream/missing", {},
                  [&](const GetResult&) {
                    ++heads;
                    return Status::Ok();
                  },
                  [](std::string_view) { return Status::Ok(); }),
              StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(heads, 0);
  EXPECT_THAT(store().GetStream(
                  "stream/v", {}, [](const GetResult&) { return Status::Ok(); },
                  [](std::string_view) { return CancelledError("enough"); }),
              StatusIs(StatusCode::kCancelled));
}

TEST_P(ObjectStoreConformance, ListPartsShowsStagedParts) {
  if (!store().capabilities().multipart) {
    GTEST_SKIP() << MissingCapability(
        "multipart");  // MultipartUploadStitches... checks kUnimplemented
  }
  auto id = store().CreateMultipart("lp/k", {});
  ASSERT_THAT(id, IsOk());
  auto empty = store().ListParts("lp/k", *id);
  ASSERT_THAT(empty, IsOk());
  EXPECT_THAT(*empty, IsEmpty());
  const auto before = Clock::now() - std::chrono::minutes(5);
  auto p3 = store().PutPart("lp/k", *id, 3, Text("three"));
  auto p1 = store().PutPart("lp/k", *id, 1, Text("one!"));
  ASSERT_THAT(p3, IsOk());
  ASSERT_THAT(p1, IsOk());
  auto parts = store().ListParts("lp/k", *id);
  ASSERT_THAT(parts, IsOk());
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].part_number, 1);
  EXPECT_EQ((*parts)[0].etag, p1->etag);
  EXPECT_EQ((*parts)[0].size, 4u);
  EXPECT_EQ((*parts)[1].part_number, 3);
  EXPECT_EQ((*parts)[1].etag, p3->etag);
  EXPECT_EQ((*parts)[1].size, 5u);
  EXPECT_GT((*parts)[1].last_modified, before);
  EXPECT_THAT(store().ListParts("lp/k", "no-such-upload"), StatusIs(StatusCode::kNotFound));
  ASSERT_THAT(store().AbortMultipart("lp/k", *id), IsOk());
  EXPECT_THAT(store().ListParts("lp/k", *id), StatusIs(StatusCode::kNotFound));
}

TEST_P(ObjectStoreConformance, MultipartAbortRemovesEverything) {
  if (!store().capabilities().multipart) {
    GTEST_SKIP() << MissingCapability(
        "multipart");  // MultipartUploadStitches... checks kUnimplemented
  }
  auto id = store().CreateMultipart("ab/c", {});
  ASSERT_THAT(id, IsOk());
  ASSERT_THAT(store().PutPart("ab/c", *id, 1, Text("part")), IsOk());
  ASSERT_THAT(store().AbortMultipart("ab/c", *id), IsOk());
  auto uploads = store().ListMultipartUploads("ab/");
  ASSERT_THAT(uploads, IsOk());
  EXPECT_THAT(*uploads, IsEmpty());
  EXPECT_THAT(store().PutPart("ab/c", *id, 2, Text("late")), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store().AbortMultipart("ab/c", *id), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store().Get("ab/c"), StatusIs(StatusCode::kNotFound));
  auto page = store().List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
}

TEST_P(ObjectStoreConformance, MultipartHonoursCreateMode) {
  if (!store().capabilities().multipart || !store().capabilities().conditional_put) {
    // Each capability's absence is checked by its own test.
    GTEST_SKIP() << MissingCapability("multipart and conditional_put");
  }
  auto original = store().Put("exists", Text("original"));
  ASSERT_THAT(original, IsOk());
  // The condition goes with the completion, not the start.
  EXPECT_THAT(store().CreateMultipart("exists", {.mode = PutMode::kCreate}),
              StatusIs(StatusCode::kInvalidArgument));
  auto id = store().CreateMultipart("exists", {});
  ASSERT_THAT(id, IsOk());
  auto part = store().PutPart("exists", *id, 1, Text("replacement"));
  ASSERT_THAT(part, IsOk());
  std::vector<PartInfo> parts = {*part};
  EXPECT_THAT(store().CompleteMultipart("exists", *id, parts, {.mode = PutMode::kCreate}),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(Read(store(), "exists"), "original");
  EXPECT_THAT(store().CompleteMultipart("exists", *id, parts,
                                        {.mode = PutMode::kUpdate, .if_match = "no-such-etag"}),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(Read(store(), "exists"), "original");
  // The upload survived both refusals: completed under the right ETag, it lands.
  ASSERT_THAT(store().CompleteMultipart("exists", *id, parts,
                                        {.mode = PutMode::kUpdate, .if_match = original->etag}),
              IsOk());
  EXPECT_EQ(Read(store(), "exists"), "replacement");
}

TEST_P(ObjectStoreConformance, ListMultipartUploadsByPrefix) {
  if (!store().capabilities().multipart) {
    GTEST_SKIP() << MissingCapability(
        "multipart");  // MultipartUploadStitches... checks kUnimplemented
  }
  auto a = store().CreateMultipart("up/a", {});
  auto b = store().CreateMultipart("up/b", {});
  auto c = store().CreateMultipart("down/c", {});
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(c, IsOk());
  auto uploads = store().ListMultipartUploads("up/");
  ASSERT_THAT(uploads, IsOk());
  std::set<std::string> keys;
  for (const auto& upload : *uploads) keys.insert(upload.key);
  EXPECT_EQ(keys, (std::set<std::string>{"up/a", "up/b"}));
  EXPECT_THAT(store().AbortMultipart("up/a", *a), IsOk());
  EXPECT_THAT(store().AbortMultipart("up/b", *b), IsOk());
  EXPECT_THAT(store().AbortMultipart("down/c", *c), IsOk());
}

TEST_P(ObjectStoreConformance, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = fmt::format("conc/{}/{}", t, i);
        std::string value = Pattern(100 + i * 37, t * 1000 + i);
        if (!store().Put(key, Bytes::Copy(value)).ok()) ++errors;
        auto got = store().Get(key);
        if (!got.ok() || got->data.ToString() != value) ++errors;
        // Everyone also rewrites one shared key; readers must see one whole version.
        std::string shared = std::string(1000, static_cast<char>('a' + t));
        if (!store().Put("conc/shared", Bytes::Copy(shared)).ok()) ++errors;
        auto seen = store().Get("conc/shared");
        if (!seen.ok() || seen->data.size() != 1000 ||
            seen->data.view() != std::string(1000, seen->data.view()[0])) {
          ++errors;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  std::vector<std::string> listed;
  std::vector<std::string> prefixes;
  int pages = 0;
  ListAllPages(store(), {.prefix = "conc/", .max_keys = 30}, &listed, &prefixes, &pages);
  EXPECT_EQ(listed.size(), static_cast<size_t>(kThreads * kPerThread + 1));
}

}  // namespace
}  // namespace depot::object::testing
