#include "depot/resource/cache/read_through_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/mutex.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/testing/conformance.h"
#include "depot/object/testing/fault_store.h"

namespace depot::resource {
namespace {

using ::depot::object::GetOptions;
using ::depot::object::GetResult;
using ::depot::object::MemoryStore;
using ::depot::object::ObjectStore;
using ::depot::object::testing::FaultInjectingStore;
using ::depot::object::testing::ObjectStoreConformance;
using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::testing::HasSubstr;

constexpr uint64_t kChunk = 64 * 1024;
namespace fs = std::filesystem;

class ReadThroughCacheTest : public ::testing::Test {
 protected:
  ReadThroughCacheTest()
      : backing_(std::make_shared<FaultInjectingStore>(std::make_shared<MemoryStore>())) {
    // Counts the bytes the backing store hands out.
    backing_->OnGet([this](std::string_view key,
                           const GetOptions& options) -> std::optional<Result<GetResult>> {
      Result<GetResult> got = backing_->inner().Get(key, options);
      if (got.ok()) backend_bytes_ += got->data.size();
      return got;
    });
  }

  std::string Put(const std::string& key, size_t size, uint64_t seed) {
    std::string data = RandomBytes(size, seed);
    EXPECT_THAT(backing_->inner().Put(key, Bytes::Copy(data)), IsOk());
    return data;
  }

  CacheOptions Options() const {
    CacheOptions options;
    options.dir = dir_.path() / "cache";
    options.max_bytes = 64 * kChunk;
    options.fetch.chunk_size = kChunk;
    options.fetch.parallelism = 2;
    options.fetch.retry.initial = std::chrono::milliseconds(1);
    options.fetch.retry.max = std::chrono::milliseconds(5);
    return options;
  }
  std::shared_ptr<ReadThroughCache> Open(CacheOptions options) {
    auto cache = ReadThroughCache::Open(backing_, std::move(options));
    EXPECT_THAT(cache.status(), IsOk());
    return cache.ok() ? *cache : nullptr;
  }
  std::shared_ptr<ReadThroughCache> Open() { return Open(Options()); }

  // The whole object (or `range`) through `store`'s GetStream.
  static Result<std::string> Read(ObjectStore& store, const std::string& key,
                                  ByteRange range = ByteRange::Full()) {
    GetOptions options;
    options.range = range;
    std::string out;
    Status done = store.GetStream(
        key, options, [](const GetResult&) { return Status::Ok(); },
        [&](std::string_view piece) {
          out.append(piece);
          return Status::Ok();
        });
    if (!done.ok()) return done;
    return out;
  }
  size_t FilesIn(const fs::path& dir) const {
    size_t n = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      n += entry.path().extension() == ".data" ? 1 : 0;
    }
    return n;
  }

  TempDir dir_;
  std::shared_ptr<FaultInjectingStore> backing_;
  std::atomic<uint64_t> backend_bytes_ = 0;
};

TEST_F(ReadThroughCacheTest, AMissFillsTheCacheAndLaterReadsComeFromIt) {
  const std::string data = Put("movie", 10 * kChunk + 17, 1);
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(Read(*cache, "movie").value_or("") == data);
  EXPECT_EQ(backend_bytes_, data.size());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Read(*cache, "movie").value_or("") == data);
  EXPECT_TRUE(Read(*cache, "movie", ByteRange::Bounded(5, 70000)).value_or("") ==
              data.substr(5, 69995));
  EXPECT_EQ(backend_bytes_, data.size());  // nothing more read
  const CacheStats stats = cache->stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, 4u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes, data.size());
  // Get (not streamed) answers the same, with the object's metadata.
  auto got = cache->Get("movie");
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_TRUE(got->data.view() == data);
  EXPECT_EQ(got->meta.size, data.size());
}

class ConcurrentColdReads : public ReadThroughCacheTest,
                            public ::testing::WithParamInterface<int> {};

// With revalidation every 10 s (the default) and on every read (0).
INSTANTIATE_TEST_SUITE_P(Revalidation, ConcurrentColdReads, ::testing::Values(10000, 0));

TEST_P(ConcurrentColdReads, EightConcurrentColdReadsReadEachByteOnce) {
  const std::string data = Put("movie", 40 * kChunk + 5, 2);
  CacheOptions options = Options();
  options.revalidate_after = std::chrono::milliseconds(GetParam());
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  std::vector<std::thread> readers;
  std::atomic<int> right = 0;
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&, i] {
      // Half read the whole object, half a range somewhere in it.
      const uint64_t begin = i % 2 == 0 ? 0 : static_cast<uint64_t>(i) * 4 * kChunk + 3;
      const ByteRange range = i % 2 == 0 ? ByteRange::Full() : ByteRange::From(begin);
      if (Read(*cache, "movie", range).value_or("") == data.substr(begin)) ++right;
    });
  }
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(right, 8);
  EXPECT_EQ(backend_bytes_, data.size());
  EXPECT_EQ(cache->stats().misses, 1u);
}

TEST_F(ReadThroughCacheTest, ARangedColdReadGetsItsRangeBeforeTheRest) {
  const std::string data = Put("movie", 64 * kChunk, 3);
  // Every fetch takes 2 ms, and the order they come in is kept.
  Mutex mu;
  std::vector<uint64_t> order;
  backing_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          MutexLock lock(mu);
          order.push_back(options.range.begin() / kChunk);
        }
        return backing_->inner().Get(key, options);
      });
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(
      Read(*cache, "movie", ByteRange::Bounded(48 * kChunk + 9, 50 * kChunk)).value_or("") ==
      data.substr(48 * kChunk + 9, 2 * kChunk - 9));
  EXPECT_TRUE(Read(*cache, "movie").value_or("") == data);
  MutexLock lock(mu);
  ASSERT_EQ(order.size(), 64u);
  // The range's chunks came right after the ones in flight when it was asked for (the fetch
  // goes from the start, two at a time), not after the 46 chunks before them.
  const auto at = std::find(order.begin(), order.end(), 48u) - order.begin();
  EXPECT_LE(at, 6) << "chunk 48 was fetched " << at << "th";
}

TEST_F(ReadThroughCacheTest, AnOverwriteBehindItsBackIsSeenOnceRevalidated) {
  Put("k", 3 * kChunk, 4);
  CacheOptions options = Options();
  options.revalidate_after = std::chrono::milliseconds(300);
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  ASSERT_THAT(Read(*cache, "k").status(), IsOk());
  const std::string v2 = Put("k", 2 * kChunk + 1, 5);
  // Within the window the cached version answers; after it, one conditional HEAD finds v2.
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_TRUE(Read(*cache, "k").value_or("") == v2);
  EXPECT_EQ(cache->stats().revalidations, 1u);
  EXPECT_EQ(cache->stats().misses, 2u);
  EXPECT_EQ(cache->stats().bytes, v2.size());
  EXPECT_EQ(FilesIn(options.dir), 1u);  // the old version's file is gone
  // An unchanged object revalidates without reading a byte.
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  const uint64_t before = backend_bytes_;
  EXPECT_TRUE(Read(*cache, "k").value_or("") == v2);
  EXPECT_EQ(backend_bytes_, before);
  EXPECT_EQ(cache->stats().revalidations, 2u);
  // A deleted one is NotFound, and leaves the cache.
  ASSERT_THAT(backing_->inner().Delete("k"), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_THAT(Read(*cache, "k").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(cache->stats().entries, 0u);
}

// S3 answers a 304 with the ETag and date only: an entry revalidated by one must keep its size
// and metadata, even when it has to be made again.
TEST_F(ReadThroughCacheTest, ANotModifiedAnswerKeepsTheEntrysMetadata) {
  const std::string data = Put("k", 3 * kChunk, 14);
  backing_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        Result<GetResult> got = backing_->inner().Get(key, options);
        if (got.ok() && got->not_modified) {
          got->meta.size = 0;
          got->meta.content_type.clear();
        }
        return got;
      });
  CacheOptions options = Options();
  options.revalidate_after = std::chrono::milliseconds(50);
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  GetOptions conditional;
  conditional.if_none_match = cache->Head("k")->etag;
  ASSERT_TRUE(cache->Get("k", conditional)->not_modified);  // an entry, never filled
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    EXPECT_TRUE(Read(*cache, "k").value_or("") == data) << "round " << round;
    if (round == 1) fs::remove_all(options.dir);  // the entry must be made again
  }
}

TEST_F(ReadThroughCacheTest, AReaderThatGivesUpLeavesTheFetchToTheOthers) {
  const std::string data = Put("k", 16 * kChunk, 15);
  backing_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        Result<GetResult> got = backing_->inner().Get(key, options);
        if (got.ok()) backend_bytes_ += got->data.size();
        return got;
      });
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  CancellationSource cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    cancel.Cancel();
  });
  Status gave_up = cache->GetStream(
      "k", {}, [](const GetResult&) { return Status::Ok(); },
      [](std::string_view) { return Status::Ok(); }, Context().WithToken(cancel.token()));
  canceller.join();
  EXPECT_THAT(gave_up, StatusIs(StatusCode::kCancelled));
  EXPECT_TRUE(Read(*cache, "k").value_or("") == data);
  const CacheStats stats = cache->stats();
  EXPECT_EQ(stats.misses, 1u);  // the first reader's entry, kept and shared
  EXPECT_EQ(stats.fallbacks, 0u);
  EXPECT_EQ(backend_bytes_, data.size());  // nothing read twice
}

// A write that lands while a miss waits for its HEAD: to the same key, the read goes uncached
// (the HEAD may be older than the write); to another key, the read is cached as usual.
TEST_F(ReadThroughCacheTest, OnlyAWriteToTheSameKeyKeepsAMissFromBeingCached) {
  Put("read", kChunk, 16);
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  std::string written;  // the key the HEAD's hook writes while the HEAD is under way
  backing_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        Result<GetResult> got = backing_->inner().Get(key, options);
        if (options.head && !written.empty()) {
          EXPECT_THAT(cache->Put(written, Bytes::Copy(std::string("new"))).status(), IsOk());
          written.clear();
        }
        return got;
      });
  written = "other";
  ASSERT_THAT(Read(*cache, "read").status(), IsOk());
  EXPECT_EQ(cache->stats().misses, 1u);
  EXPECT_EQ(cache->stats().uncached, 0u);
  ASSERT_THAT(cache->Delete("read"), IsOk());
  Put("read", kChunk, 17);
  written = "read";
  ASSERT_THAT(Read(*cache, "read").status(), IsOk());  // the HEAD saw the old version
  EXPECT_EQ(cache->stats().uncached, 1u);
  EXPECT_EQ(Read(*cache, "read").value_or(""), "new");
}

TEST_F(ReadThroughCacheTest, WithoutAWindowEveryReadAsks) {
  Put("k", kChunk, 6);
  CacheOptions options = Options();
  options.revalidate_after = std::chrono::milliseconds(0);
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  ASSERT_THAT(Read(*cache, "k").status(), IsOk());
  const std::string v2 = Put("k", kChunk, 7);
  EXPECT_TRUE(Read(*cache, "k").value_or("") == v2);
}

TEST_F(ReadThroughCacheTest, WritesGoThroughAndAreSeenAtOnce) {
  Put("k", kChunk, 8);
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  ASSERT_THAT(Read(*cache, "k").status(), IsOk());

  const std::string put = RandomBytes(100, 9);
  ASSERT_THAT(cache->Put("k", Bytes::Copy(put)).status(), IsOk());
  EXPECT_EQ(backing_->inner().Get("k")->data.view(), put);
  EXPECT_EQ(Read(*cache, "k").value_or(""), put);

  auto writer = cache->OpenWriter("k");
  ASSERT_THAT(writer.status(), IsOk());
  ASSERT_THAT((*writer)->Write("written"), IsOk());
  ASSERT_THAT((*writer)->Finish().status(), IsOk());
  EXPECT_EQ(Read(*cache, "k").value_or(""), "written");

  ASSERT_THAT(cache->Put("other", Bytes::Copy(std::string("copied"))).status(), IsOk());
  ASSERT_THAT(cache->Copy("other", "k", object::CopyMode::kOverwrite).status(), IsOk());
  EXPECT_EQ(Read(*cache, "k").value_or(""), "copied");

  auto upload = cache->CreateMultipart("k", {});
  ASSERT_THAT(upload.status(), IsOk());
  auto part = cache->PutPart("k", *upload, 1, Bytes::Copy(std::string("multipart")));
  ASSERT_THAT(part.status(), IsOk());
  const object::PartInfo parts[] = {*part};
  ASSERT_THAT(cache->CompleteMultipart("k", *upload, parts).status(), IsOk());
  EXPECT_EQ(Read(*cache, "k").value_or(""), "multipart");

  ASSERT_THAT(cache->Delete("k"), IsOk());
  EXPECT_THAT(Read(*cache, "k").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(cache->stats().entries, 0u);
}

TEST_F(ReadThroughCacheTest, PreconditionsAndRangesAreAnsweredFromTheEntry) {
  const std::string data = Put("k", 2 * kChunk, 10);
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  auto head = cache->Head("k");  // uncached: from the backing store, no entry made
  ASSERT_THAT(head.status(), IsOk());
  EXPECT_EQ(cache->stats().entries, 0u);
  ASSERT_THAT(Read(*cache, "k").status(), IsOk());
  backing_->ResetCalls();

  GetOptions options;
  options.if_none_match = head->etag;
  auto not_modified = cache->Get("k", options);
  ASSERT_THAT(not_modified.status(), IsOk());
  EXPECT_TRUE(not_modified->not_modified);
  EXPECT_TRUE(not_modified->data.empty());

  options = {};
  options.if_match = "\"other\"";
  EXPECT_THAT(cache->Get("k", options).status(), StatusIs(StatusCode::kFailedPrecondition));
  options = {};
  options.range = ByteRange::Suffix(10);
  EXPECT_TRUE(cache->Get("k", options)->data.view() == data.substr(data.size() - 10));
  options.range = ByteRange::From(data.size() + 1);
  EXPECT_THAT(cache->Get("k", options).status(), StatusIs(StatusCode::kOutOfRange));
  // A fresh entry answers HEAD too.
  EXPECT_EQ(cache->Head("k")->etag, head->etag);
  EXPECT_EQ(backing_->calls(FaultInjectingStore::Op::kGet), 0);
  EXPECT_EQ(backing_->calls(FaultInjectingStore::Op::kHead), 0);
}

TEST_F(ReadThroughCacheTest, HeadsAreRememberedForTheWindowAndDroppedByWrites) {
  Put("marker", 10, 11);
  CacheOptions options = Options();
  options.revalidate_after = std::chrono::milliseconds(300);
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  backing_->ResetCalls();
  const auto asked = [&] {
    return backing_->calls(FaultInjectingStore::Op::kHead) +
           backing_->calls(FaultInjectingStore::Op::kGet);
  };
  const std::string etag = cache->Head("marker")->etag;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(cache->Head("marker")->etag, etag);
  EXPECT_EQ(asked(), 1);
  EXPECT_EQ(cache->stats().entries, 0u);  // a HEAD fetches nothing
  // A write through the cache is seen at once; one behind its back once the window has passed.
  ASSERT_THAT(cache->Put("marker", Bytes::Copy(std::string("through"))).status(), IsOk());
  const std::string through = cache->Head("marker")->etag;
  EXPECT_NE(through, etag);
  Put("marker", 12, 13);
  EXPECT_EQ(cache->Head("marker")->etag, through);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_NE(cache->Head("marker")->etag, through);
  // A missing key is asked every time.
  const int before = asked();
  EXPECT_THAT(cache->Head("missing").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(cache->Head("missing").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(asked(), before + 2);
}

TEST_F(ReadThroughCacheTest, TheLeastRecentlyUsedAreEvictedToStayWithinTheSize) {
  CacheOptions options = Options();
  options.max_bytes = 10 * kChunk;
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  for (int i = 0; i < 4; ++i) Put("k" + std::to_string(i), 3 * kChunk, 20 + i);
  for (int i = 0; i < 3; ++i) ASSERT_THAT(Read(*cache, "k" + std::to_string(i)).status(), IsOk());
  ASSERT_THAT(Read(*cache, "k0").status(), IsOk());  // k1 is now the least recently used
  ASSERT_THAT(Read(*cache, "k3").status(), IsOk());
  CacheStats stats = cache->stats();
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_LE(stats.bytes, options.max_bytes);
  EXPECT_EQ(FilesIn(options.dir), 3u);
  const uint64_t before = backend_bytes_;
  ASSERT_THAT(Read(*cache, "k0").status(), IsOk());  // still cached
  EXPECT_EQ(backend_bytes_, before);
  ASSERT_THAT(Read(*cache, "k1").status(), IsOk());  // fetched again
  EXPECT_EQ(backend_bytes_, before + 3 * kChunk);

  // An object bigger than the whole cache is read straight through.
  const std::string big = Put("big", 11 * kChunk, 30);
  EXPECT_TRUE(Read(*cache, "big").value_or("") == big);
  EXPECT_EQ(cache->stats().uncached, 1u);
  EXPECT_LE(cache->stats().bytes, options.max_bytes);
}

TEST_F(ReadThroughCacheTest, EntriesSurviveARestart) {
  const std::string whole = Put("whole", 5 * kChunk, 40);
  const std::string part = Put("part", 32 * kChunk, 41);
  {
    // "part" stops halfway: its second half is held until the cache is gone.
    std::atomic<bool> release = false;
    backing_->OnGet(
        [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
          if (key == "part" && !options.head && options.range.begin() >= 16 * kChunk) {
            while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            return Result<GetResult>(UnavailableError("held"));
          }
          Result<GetResult> got = backing_->inner().Get(key, options);
          if (got.ok()) backend_bytes_ += got->data.size();
          return got;
        });
    auto cache = Open();
    ASSERT_NE(cache, nullptr);
    ASSERT_THAT(Read(*cache, "whole").status(), IsOk());
    EXPECT_TRUE(Read(*cache, "part", ByteRange::Bounded(0, 16 * kChunk)).value_or("") ==
                part.substr(0, 16 * kChunk));
    std::thread closer([&] { cache.reset(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
    closer.join();
  }
  backing_->OnGet(
      [this](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        Result<GetResult> got = backing_->inner().Get(key, options);
        if (got.ok()) backend_bytes_ += got->data.size();
        return got;
      });
  backend_bytes_ = 0;
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->stats().entries, 2u);
  EXPECT_TRUE(Read(*cache, "whole").value_or("") == whole);
  EXPECT_EQ(backend_bytes_, 0u);  // revalidated, not read again
  EXPECT_TRUE(Read(*cache, "part").value_or("") == part);
  EXPECT_EQ(backend_bytes_, 16 * kChunk);  // only the half it lacked
  EXPECT_EQ(cache->stats().revalidations, 2u);
  EXPECT_EQ(cache->stats().misses, 0u);
}

TEST_F(ReadThroughCacheTest, LeftoversAreDeletedAndADirectoryServesOneCache) {
  CacheOptions options = Options();
  fs::create_directories(options.dir);
  ::depot::testing::WriteFileText(fs::path(options.dir) / "0123.data", "orphan");
  ::depot::testing::WriteFileText(fs::path(options.dir) / "4567.meta", "{\"key\":");
  ::depot::testing::WriteFileText(fs::path(options.dir) / "89ab.meta.tmp", "half");
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  EXPECT_FALSE(fs::exists(fs::path(options.dir) / "0123.data"));
  EXPECT_FALSE(fs::exists(fs::path(options.dir) / "4567.meta"));
  EXPECT_FALSE(fs::exists(fs::path(options.dir) / "89ab.meta.tmp"));
  // The lock is per open file description, so a second open here stands for another process.
  EXPECT_THAT(ReadThroughCache::Open(backing_, options).status(),
              StatusIs(StatusCode::kUnavailable, HasSubstr("in use")));
  options.max_bytes = 0;
  EXPECT_THAT(ReadThroughCache::Open(backing_, options).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(ReadThroughCacheTest, AFailedFetchIsFinishedByTheBackingStore) {
  const std::string data = Put("k", 8 * kChunk, 50);
  std::atomic<int> refused = 0;
  backing_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        // The fetch of chunk 3 is refused (not retryable): the fetch fails.
        if (options.range.begin() == 3 * kChunk && options.range.end() == 4 * kChunk &&
            refused++ == 0) {
          return Result<GetResult>(PermissionDeniedError("chunk 3 refused"));
        }
        return backing_->inner().Get(key, options);
      });
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(Read(*cache, "k").value_or("") == data);
  EXPECT_EQ(cache->stats().fallbacks, 1u);
  EXPECT_EQ(cache->stats().entries, 0u);                // dropped
  EXPECT_TRUE(Read(*cache, "k").value_or("") == data);  // and made again
  EXPECT_EQ(cache->stats().misses, 2u);
}

TEST_F(ReadThroughCacheTest, AnOverwriteDuringAFetchNeverMixesVersions) {
  for (const uint64_t at : {kChunk, 24 * kChunk}) {
    const std::string v1 = Put("k", 32 * kChunk, 60);
    const std::string v2 = RandomBytes(32 * kChunk, 61);
    std::atomic<bool> overwritten = false;
    backing_->OnGet(
        [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
          if (!options.head && options.range.begin() >= at && !overwritten.exchange(true)) {
            EXPECT_THAT(backing_->inner().Put("k", Bytes::Copy(v2)), IsOk());
          }
          return backing_->inner().Get(key, options);
        });
    auto cache = Open();
    ASSERT_NE(cache, nullptr);
    // One version whole (the new one if the fetch failed before the first byte went out, the
    // whole read then going to the backing store), or the error that it changed: never a mix.
    Result<std::string> got = Read(*cache, "k");
    if (got.ok()) {
      EXPECT_TRUE(*got == v1 || *got == v2) << "overwritten at " << at;
    } else {
      EXPECT_THAT(got.status(), StatusIs(StatusCode::kFailedPrecondition));
    }
    // Get is all or nothing: the new version.
    auto whole = cache->Get("k");
    ASSERT_THAT(whole.status(), IsOk());
    EXPECT_TRUE(whole->data.view() == v2);
    backing_->OnGet(nullptr);
  }
}

TEST_F(ReadThroughCacheTest, ADirectoryDeletedUnderItLosesNothingButSpeed) {
  std::vector<std::string> data;
  for (int i = 0; i < 3; ++i) data.push_back(Put("k" + std::to_string(i), 20 * kChunk, 70 + i));
  CacheOptions options = Options();
  options.revalidate_after = std::chrono::milliseconds(200);
  options.max_open_files = 0;  // every idle entry closes its file: reads must reopen it
  auto cache = Open(options);
  ASSERT_NE(cache, nullptr);
  ASSERT_THAT(Read(*cache, "k0").status(), IsOk());
  // k1 is half fetched when the directory goes.
  ASSERT_THAT(Read(*cache, "k1", ByteRange::Bounded(0, kChunk)).status(), IsOk());
  // k1's fetch may still be renaming its files: a file that vanishes mid-walk fails remove_all,
  // so delete until the directory is gone.
  for (int attempt = 0; attempt < 100 && fs::exists(options.dir); ++attempt) {
    std::error_code ec;
    fs::remove_all(options.dir, ec);
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(Read(*cache, "k" + std::to_string(i)).value_or("") == data[i]) << i;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  // Entries made again, in a directory made again.
  EXPECT_TRUE(fs::exists(options.dir));
  EXPECT_EQ(FilesIn(options.dir), 3u);
  const uint64_t before = backend_bytes_;
  for (int i = 0; i < 3; ++i) ASSERT_THAT(Read(*cache, "k" + std::to_string(i)).status(), IsOk());
  EXPECT_EQ(backend_bytes_, before);
}

// The object-store conformance suite through the cache: it must behave as the store it fronts.
struct CachedMemory {
  TempDir dir;
  std::shared_ptr<ReadThroughCache> cache;
};

INSTANTIATE_TEST_SUITE_P(Cache, ObjectStoreConformance,
                         ::testing::Values(object::testing::ConformanceBackend{
                             "cache_over_memory",
                             []() -> Result<std::shared_ptr<ObjectStore>> {
                               auto held = std::make_shared<CachedMemory>();
                               CacheOptions options;
                               options.dir = held->dir.path();
                               options.max_bytes = uint64_t{1} << 30;
                               DEPOT_ASSIGN_OR_RETURN(
                                   held->cache,
                                   ReadThroughCache::Open(
                                       std::make_shared<MemoryStore>(
                                           object::MemoryStoreOptions{.min_part_size = 5}),
                                       options));
                               return std::shared_ptr<ObjectStore>(held, held->cache.get());
                             }}),
                         object::testing::ConformanceBackendName);

}  // namespace
}  // namespace depot::resource
