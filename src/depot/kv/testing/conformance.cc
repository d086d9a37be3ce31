// The kv conformance suite (see conformance.h). Every test starts from an empty store with the
// spaces "a", "b" and "c".
#include "depot/kv/testing/conformance.h"

#include <gmock/gmock.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/kv/keys.h"

namespace depot::kv::testing {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Pairs = std::vector<std::pair<std::string, std::string>>;

Status PutOne(Store& store, std::string_view space, std::string_view key, std::string_view value) {
  WriteBatch batch;
  batch.Put(space, key, value);
  return store.Commit(batch);
}

std::optional<std::string> GetOne(Store& store, std::string_view space, std::string_view key,
                                  const ReadOptions& options = {}) {
  auto got = store.Get(space, key, options);
  EXPECT_THAT(got, IsOk());
  return got.ok() ? *got : std::optional<std::string>("<error>");
}

Pairs Drain(Result<std::unique_ptr<Iterator>> scan) {
  EXPECT_THAT(scan, IsOk());
  Pairs out;
  if (!scan.ok()) return out;
  Iterator& it = **scan;
  for (; it.Valid(); it.Next()) out.emplace_back(std::string(it.key()), std::string(it.value()));
  EXPECT_THAT(it.status(), IsOk());
  return out;
}

std::vector<std::string> Keys(const Pairs& pairs) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : pairs) keys.push_back(key);
  return keys;
}

TEST_P(KvConformance, PutGetDelete) {
  EXPECT_EQ(GetOne(store(), "a", "k"), std::nullopt);
  ASSERT_THAT(PutOne(store(), "a", "k", "v1"), IsOk());
  EXPECT_EQ(GetOne(store(), "a", "k"), "v1");
  EXPECT_EQ(GetOne(store(), "b", "k"), std::nullopt);  // spaces are apart
  ASSERT_THAT(PutOne(store(), "a", "k", "v2"), IsOk());
  EXPECT_EQ(GetOne(store(), "a", "k"), "v2");
  ASSERT_THAT(PutOne(store(), "a", "empty", ""), IsOk());
  EXPECT_EQ(GetOne(store(), "a", "empty"), "");  // an empty value is a value
  WriteBatch del;
  del.Delete("a", "k");
  del.Delete("a", "never-there");
  ASSERT_THAT(store().Commit(del), IsOk());
  EXPECT_EQ(GetOne(store(), "a", "k"), std::nullopt);
}

TEST_P(KvConformance, BinaryKeysAndValuesRoundTrip) {
  const std::string key("\x00\x01\xff\x00", 4);
  const std::string value("\xff\x00\x7f\x80", 4);
  ASSERT_THAT(PutOne(store(), "a", key, value), IsOk());
  EXPECT_EQ(GetOne(store(), "a", key), value);
  EXPECT_EQ(GetOne(store(), "a", std::string("\x00\x01\xff", 3)), std::nullopt);
}

TEST_P(KvConformance, ABatchIsAppliedAcrossSpacesInOrder) {
  WriteBatch batch;
  batch.Put("a", "x", "1");
  batch.Put("b", "y", "2");
  batch.Delete("a", "x");
  batch.Put("a", "x", "3");  // later operations win
  batch.Put("c", "z", "4");
  ASSERT_THAT(store().Commit(batch, Durability::kBuffered), IsOk());
  EXPECT_EQ(GetOne(store(), "a", "x"), "3");
  EXPECT_EQ(GetOne(store(), "b", "y"), "2");
  EXPECT_EQ(GetOne(store(), "c", "z"), "4");
  EXPECT_THAT(store().Commit(WriteBatch()), IsOk());  // an empty batch does nothing
}

TEST_P(KvConformance, ABadBatchChangesNothingAndNamesTheProblem) {
  ASSERT_THAT(PutOne(store(), "a", "kept", "old"), IsOk());
  {
    WriteBatch batch;
    batch.Put("a", "kept", "new");
    batch.Put("nowhere", "k", "v");
    EXPECT_THAT(
        store().Commit(batch),
        StatusIs(StatusCode::kNotFound, AllOf(HasSubstr("\"nowhere\""), HasSubstr("\"a\""))));
  }
  {
    WriteBatch batch;
    batch.Put("a", "kept", "new");
    batch.Put("b", std::string(store().capabilities().max_key_bytes + 1, 'k'), "v");
    EXPECT_THAT(store().Commit(batch),
                StatusIs(StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("operation 1"), HasSubstr("\"b\""),
                               HasSubstr(std::to_string(store().capabilities().max_key_bytes)))));
  }
  {
    WriteBatch batch;
    batch.Put("a", "kept", "new");
    batch.Put("a", "", "empty key");
    EXPECT_THAT(store().Commit(batch), StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  }
  EXPECT_EQ(GetOne(store(), "a", "kept"), "old");
  EXPECT_EQ(GetOne(store(), "b", std::string(4, 'k')), std::nullopt);
}

TEST_P(KvConformance, KeysUpToTheLimitWork) {
  const size_t limit = store().capabilities().max_key_bytes;
  ASSERT_GT(limit, 0u);
  const std::string longest(limit, '\x7f');
  ASSERT_THAT(PutOne(store(), "a", longest, "v"), IsOk());
  EXPECT_EQ(GetOne(store(), "a", longest), "v");
  EXPECT_THAT(store().Get("a", std::string(limit + 1, 'x')),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr(std::to_string(limit))));
  EXPECT_THAT(store().Get("a", ""), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(KvConformance, UnknownSpacesAndBadNamesAreRefused) {
  EXPECT_THAT(store().Get("nowhere", "k"),
              StatusIs(StatusCode::kNotFound, HasSubstr("\"nowhere\"")));
  EXPECT_THAT(store().Scan("nowhere"), StatusIs(StatusCode::kNotFound, HasSubstr("\"nowhere\"")));
  EXPECT_THAT(store().Get("bad name", "k"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"bad name\"")));
  EXPECT_THAT(store().CreateSpace(std::string(65, 's')), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store().Spaces(), ElementsAre("a", "b", "c"));
}

TEST_P(KvConformance, CreateSpaceAddsOne) {
  ASSERT_THAT(store().CreateSpace("added"), IsOk());
  ASSERT_THAT(store().CreateSpace("added"), IsOk());  // again: nothing to do
  EXPECT_THAT(store().Spaces(), ElementsAre("a", "added", "b", "c"));
  ASSERT_THAT(PutOne(store(), "added", "k", "v"), IsOk());
  EXPECT_EQ(GetOne(store(), "added", "k"), "v");
}

TEST_P(KvConformance, ManySpaces) {
  for (int i = 0; i < 40; ++i) ASSERT_THAT(store().CreateSpace("s" + std::to_string(i)), IsOk());
  WriteBatch batch;
  for (int i = 0; i < 40; ++i) batch.Put("s" + std::to_string(i), "k", std::to_string(i));
  ASSERT_THAT(store().Commit(batch), IsOk());
  for (int i = 0; i < 40; ++i)
    EXPECT_EQ(GetOne(store(), "s" + std::to_string(i), "k"), std::to_string(i));
}

TEST_P(KvConformance, PrefixScansStopExactlyAtTheEndOfThePrefix) {
  const std::vector<std::string> keys = {"a",
                                         "ab",
                                         "abc",
                                         "ac",
                                         "b",
                                         std::string("\xfe\xff", 2),
                                         std::string("\xff", 1),
                                         std::string("\xff\x00", 2),
                                         std::string("\xff\xff", 2),
                                         std::string("\xff\xff\xff", 3),
                                         std::string("\xff\xff\xff\x01", 4)};
  WriteBatch batch;
  for (const std::string& key : keys) batch.Put("a", key, "v:" + key);
  batch.Put("b", "ab", "other space");
  ASSERT_THAT(store().Commit(batch), IsOk());

  EXPECT_THAT(Keys(Drain(store().PrefixScan("a", "a"))), ElementsAre("a", "ab", "abc", "ac"));
  EXPECT_THAT(Keys(Drain(store().PrefixScan("a", "ab"))), ElementsAre("ab", "abc"));
  EXPECT_THAT(Keys(Drain(store().PrefixScan("a", "ab", true))), ElementsAre("abc", "ab"));
  EXPECT_THAT(Keys(Drain(store().PrefixScan("a", "z"))), IsEmpty());
  EXPECT_THAT(
      Keys(Drain(store().PrefixScan("a", std::string("\xff", 1)))),
      ElementsAre(std::string("\xff", 1), std::string("\xff\x00", 2), std::string("\xff\xff", 2),
                  std::string("\xff\xff\xff", 3), std::string("\xff\xff\xff\x01", 4)));
  EXPECT_THAT(Keys(Drain(store().PrefixScan("a", std::string("\xff\xff", 2)))),
              ElementsAre(std::string("\xff\xff", 2), std::string("\xff\xff\xff", 3),
                          std::string("\xff\xff\xff\x01", 4)));
  EXPECT_THAT(Keys(Drain(store().PrefixScan("a", std::string("\xff\xff", 2), true))),
              ElementsAre(std::string("\xff\xff\xff\x01", 4), std::string("\xff\xff\xff", 3),
                          std::string("\xff\xff", 2)));
  EXPECT_THAT(Keys(Drain(store().PrefixScan("a", std::string("\xfe", 1)))),
              ElementsAre(std::string("\xfe\xff", 2)));
  // The empty prefix is every key of the space, in order.
  const Pairs all = Drain(store().PrefixScan("a", ""));
  ASSERT_EQ(all.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(all[i].first, keys[i]);
    EXPECT_EQ(all[i].second, "v:" + keys[i]);
  }
  const Pairs backwards = Drain(store().PrefixScan("a", "", true));
  ASSERT_EQ(backwards.size(), keys.size());
  EXPECT_EQ(backwards.front().first, keys.back());
}

TEST_P(KvConformance, RangeScansBothWays) {
  WriteBatch batch;
  for (int i = 0; i < 100; ++i)
    batch.Put("a", EncodeU64(static_cast<uint64_t>(i) * 10), std::to_string(i));
  ASSERT_THAT(store().Commit(batch), IsOk());
  ScanOptions range{.begin = EncodeU64(95), .end = EncodeU64(150)};
  EXPECT_THAT(
      Keys(Drain(store().Scan("a", range))),
      ElementsAre(EncodeU64(100), EncodeU64(110), EncodeU64(120), EncodeU64(130), EncodeU64(140)));
  range.reverse = true;
  EXPECT_THAT(
      Keys(Drain(store().Scan("a", range))),
      ElementsAre(EncodeU64(140), EncodeU64(130), EncodeU64(120), EncodeU64(110), EncodeU64(100)));
  EXPECT_EQ(Drain(store().Scan("a")).size(), 100u);
  EXPECT_EQ(Drain(store().Scan("a", {.begin = EncodeU64(500), .end = EncodeU64(500)})).size(), 0u);
  EXPECT_EQ(Drain(store().Scan("a", {.begin = EncodeU64(985)})).size(), 1u);
  EXPECT_EQ(Drain(store().Scan("a", {.begin = EncodeU64(985), .reverse = true})).size(), 1u);
  EXPECT_EQ(Drain(store().Scan("a", {.end = EncodeU64(10), .reverse = true})).size(), 1u);
  EXPECT_THAT(store().Scan("a", {.begin = "b", .end = "a"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("ends before it begins")));
  EXPECT_THAT(Keys(Drain(store().Scan("b"))), IsEmpty());
}

TEST_P(KvConformance, DeleteRangeRemovesExactlyTheRange) {
  WriteBatch batch;
  for (char c = 'a'; c <= 'j'; ++c) batch.Put("a", std::string(1, c), "v");
  batch.Put("b", "c", "other space");
  ASSERT_THAT(store().Commit(batch), IsOk());
  WriteBatch range;
  range.DeleteRange("a", "c", "f");
  range.DeleteRange("a", "x", "b");  // empty: begin after end
  ASSERT_THAT(store().Commit(range), IsOk());
  EXPECT_THAT(Keys(Drain(store().Scan("a"))), ElementsAre("a", "b", "f", "g", "h", "i", "j"));
  EXPECT_EQ(GetOne(store(), "b", "c"), "other space");
}

TEST_P(KvConformance, LargeValues) {
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 11));
  ASSERT_THAT(PutOne(store(), "a", "big", big), IsOk());
  EXPECT_EQ(GetOne(store(), "a", "big"), big);
  const Pairs scanned = Drain(store().PrefixScan("a", "b"));
  ASSERT_EQ(scanned.size(), 1u);
  EXPECT_EQ(scanned[0].second, big);
}

TEST_P(KvConformance, MultiGetAnswersEachKeyInOrder) {
  ASSERT_THAT(PutOne(store(), "a", "x", "1"), IsOk());
  ASSERT_THAT(PutOne(store(), "a", "z", "3"), IsOk());
  const std::vector<std::string> keys = {"z", "y", "x", "z"};
  auto got = store().MultiGet("a", keys);
  ASSERT_THAT(got, IsOk());
  EXPECT_THAT(*got, ElementsAre(std::optional<std::string>("3"), std::nullopt,
                                std::optional<std::string>("1"), std::optional<std::string>("3")));
  EXPECT_THAT(store().MultiGet("nowhere", keys), StatusIs(StatusCode::kNotFound));
}

TEST_P(KvConformance, AScanSeesTheStoreAsItWasWhenItBegan) {
  WriteBatch batch;
  for (char c = 'a'; c <= 'e'; ++c) batch.Put("a", std::string(1, c), "old");
  ASSERT_THAT(store().Commit(batch), IsOk());
  auto scan = store().Scan("a");
  ASSERT_THAT(scan, IsOk());
  WriteBatch later;
  later.Put("a", "c", "new");
  later.Put("a", "d2", "new");
  later.Delete("a", "e");
  ASSERT_THAT(store().Commit(later), IsOk());
  Pairs seen;
  for (; (*scan)->Valid(); (*scan)->Next()) seen.emplace_back((*scan)->key(), (*scan)->value());
  EXPECT_THAT((*scan)->status(), IsOk());
  EXPECT_EQ(seen, (Pairs{{"a", "old"}, {"b", "old"}, {"c", "old"}, {"d", "old"}, {"e", "old"}}));
}

TEST_P(KvConformance, SnapshotsKeepTheirView) {
  if (!store().capabilities().snapshots) {
    EXPECT_THAT(store().GetSnapshot(), StatusIs(StatusCode::kUnimplemented));
    GTEST_SKIP() << "needs the capability snapshots, which " << store().ToString()
                 << " does not have";
  }
  ASSERT_THAT(PutOne(store(), "a", "k", "before"), IsOk());
  auto snapshot = store().GetSnapshot();
  ASSERT_THAT(snapshot, IsOk());
  WriteBatch after;
  after.Put("a", "k", "after");
  after.Put("b", "new", "after");
  ASSERT_THAT(store().Commit(after), IsOk());
  const ReadOptions at{.snapshot = *snapshot};
  EXPECT_EQ(GetOne(store(), "a", "k", at), "before");
  EXPECT_EQ(GetOne(store(), "b", "new", at), std::nullopt);
  EXPECT_EQ(GetOne(store(), "a", "k"), "after");
  EXPECT_THAT(Keys(Drain(store().Scan("b", {.snapshot = *snapshot}))), IsEmpty());
  auto many = store().MultiGet("a", std::vector<std::string>{"k"}, at);
  ASSERT_THAT(many, IsOk());
  EXPECT_EQ((*many)[0], "before");
}

TEST_P(KvConformance, ConcurrentWritersAndReaders) {
  constexpr int kWriters = 4;
  constexpr int kBatches = 50;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kBatches; ++i) {
        WriteBatch batch;
        const std::string key =
            ConcatBytes(EncodeU32(static_cast<uint32_t>(w)), EncodeU32(static_cast<uint32_t>(i)));
        batch.Put("a", key, "x");
        batch.Put("b", key, "y");  // both or neither
        if (!store().Commit(batch, Durability::kBuffered).ok()) failed = true;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 50; ++i) {
      auto snapshot_a = Drain(store().Scan("a"));
      (void)snapshot_a;
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(Drain(store().Scan("a")).size(), static_cast<size_t>(kWriters * kBatches));
  EXPECT_EQ(Drain(store().Scan("b")).size(), static_cast<size_t>(kWriters * kBatches));
}

TEST_P(KvConformance, AnEndedContextChangesNothing) {
  CancellationSource stop;
  stop.Cancel();
  const Context cancelled(stop.token());
  WriteBatch batch;
  batch.Put("a", "k", "v");
  EXPECT_THAT(store().Commit(batch, Durability::kSync, cancelled),
              StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(store().Get("a", "k", {}, cancelled), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(store().Scan("a", {}, cancelled), StatusIs(StatusCode::kCancelled));
  const Context expired = Context().WithDeadline(Context::Clock::now() - std::chrono::seconds(1));
  EXPECT_THAT(store().Commit(batch, Durability::kSync, expired),
              StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("\"a\"")));
  EXPECT_EQ(GetOne(store(), "a", "k"), std::nullopt);
}

TEST_P(KvConformance, StatsAndSizesCoverTheData) {
  WriteBatch batch;
  for (int i = 0; i < 1000; ++i)
    batch.Put("a", EncodeU32(static_cast<uint32_t>(i)), std::string(100, 'v'));
  ASSERT_THAT(store().Commit(batch), IsOk());
  auto stats = store().Stats();
  ASSERT_THAT(stats, IsOk());
  ASSERT_EQ(stats->size(), 3u);
  EXPECT_EQ((*stats)[0].space, "a");
  EXPECT_GT((*stats)[0].approximate_keys, 0u);
  auto size = store().ApproximateSize("a", "", "");
  ASSERT_THAT(size, IsOk());
  EXPECT_GT(*size, 0u);
  EXPECT_THAT(store().ApproximateSize("nowhere", "", ""), StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace depot::kv::testing
