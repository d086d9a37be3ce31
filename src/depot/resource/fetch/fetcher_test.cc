#include "depot/resource/fetch/fetcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/testing/fault_store.h"
#include "depot/resource/memory/memory_driver.h"
#include "depot/resource/mmap/mmap_driver.h"

namespace depot::resource {
namespace {

using ::depot::object::GetOptions;
using ::depot::object::GetResult;
using ::depot::object::MemoryStore;
using ::depot::object::testing::FaultInjectingStore;
using ::depot::testing::FileText;
using ::depot::testing::IsOk;
using ::depot::testing::IsOkAndHolds;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::testing::HasSubstr;

constexpr uint64_t kChunk = 64 * 1024;

class FetcherTest : public ::testing::Test {
 protected:
  FetcherTest() : store_(std::make_shared<FaultInjectingStore>(std::make_shared<MemoryStore>())) {}

  std::string PutObject(const std::string& key, size_t size, uint64_t seed) {
    std::string data = RandomBytes(size, seed);
    EXPECT_THAT(store_->Put(key, Bytes::Copy(data)), IsOk());
    return data;
  }
  static Resource NewResource() { return OpenMemoryResource(); }
  static FetchOptions Options(int parallelism = 4) {
    FetchOptions options;
    options.chunk_size = kChunk;
    options.parallelism = parallelism;
    options.retry.initial = std::chrono::milliseconds(1);
    options.retry.max = std::chrono::milliseconds(5);
    return options;
  }
  static std::string ReadAll(const ResourceReader& reader, uint64_t size) {
    std::string out(size, '\0');
    EXPECT_THAT(reader.Read(0, std::span<char>(out)), IsOkAndHolds(size));
    return out;
  }

  std::shared_ptr<FaultInjectingStore> store_;
};

TEST_F(FetcherTest, FillsTheResourceWhileReadersReadAnywhere) {
  const std::string data = PutObject("movie", 40 * kChunk + 123, 1);
  Resource resource = NewResource();
  auto fetcher = Fetcher::Start(*store_, "movie", resource, Options());
  ASSERT_THAT(fetcher, IsOk());
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      const ResourceReader reader = resource.reader();
      for (int i = 0; i < 50; ++i) {
        const uint64_t offset = rng() % data.size();
        std::string out(std::min<uint64_t>(1 + rng() % 100'000, data.size() - offset), '\0');
        EXPECT_THAT(reader.Read(offset, std::span<char>(out)), IsOkAndHolds(out.size()));
        EXPECT_EQ(out, data.substr(offset, out.size()));
      }
    });
  }
  for (auto& reader : readers) reader.join();
  EXPECT_THAT((*fetcher)->Wait(), IsOk());
  EXPECT_TRUE(resource.status().committed());
  EXPECT_EQ(resource.status().length, data.size());
  EXPECT_EQ(ReadAll(resource.reader(), data.size()), data);
  EXPECT_EQ((*fetcher)->stats().bytes, data.size());
  EXPECT_EQ((*fetcher)->stats().chunks, 41u);
}

TEST_F(FetcherTest, AWaitingReaderMovesItsRangeToTheFront) {
  const std::string data = PutObject("movie", 64 * kChunk, 2);
  // One fetch at a time; the first is held until the reader is waiting for chunk 50.
  std::mutex mu;
  std::condition_variable released_cv;
  bool released = false;
  std::vector<uint64_t> order;
  store_->OnGet(
      [&](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (options.head) return std::nullopt;
        std::unique_lock lock(mu);
        order.push_back(options.range.begin() / kChunk);
        released_cv.wait(lock, [&] { return released; });
        return std::nullopt;
      });
  Resource resource = NewResource();
  auto fetcher = Fetcher::Start(*store_, "movie", resource, Options(1));
  ASSERT_THAT(fetcher, IsOk());
  // The first fetch (chunk 0) is under way before the reader seeks.
  while (true) {
    {
      std::lock_guard lock(mu);
      if (!order.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::thread seek([&] {
    std::string out(100, '\0');
    EXPECT_THAT(resource.reader().Read(50 * kChunk + 10, std::span<char>(out)), IsOkAndHolds(100u));
    EXPECT_EQ(out, data.substr(50 * kChunk + 10, 100));
  });
  while ((*fetcher)->stats().demands == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  {
    std::lock_guard lock(mu);
    released = true;
  }
  released_cv.notify_all();
  seek.join();
  EXPECT_THAT((*fetcher)->Wait(), IsOk());
  std::lock_guard lock(mu);
  ASSERT_GE(order.size(), 3u);
  EXPECT_EQ(order[0], 0u);
  EXPECT_EQ(order[1], 50u);  // the seek
  EXPECT_EQ(order[2], 51u);  // and on from there
  EXPECT_EQ(ReadAll(resource.reader(), data.size()), data);
}

TEST_F(FetcherTest, TransientErrorsAndShortAnswersAreRetriedToTheRightBytes) {
  const std::string data = PutObject("flaky", 20 * kChunk, 3);
  std::atomic<int> gets{0};
  store_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (options.head) return std::nullopt;
        const int n = gets++;
        if (n % 3 == 0) return Result<GetResult>(UnavailableError("503 SlowDown"));
        if (n % 3 == 1) {  // a body cut in the middle
          auto got = store_->inner().Get(key, options);
          if (got.ok()) got->data = Bytes::Copy(got->data.view().substr(0, got->data.size() / 2));
          return got;
        }
        return std::nullopt;
      });
  Resource resource = NewResource();
  auto fetcher = Fetcher::Start(*store_, "flaky", resource, Options());
  ASSERT_THAT(fetcher, IsOk());
  EXPECT_THAT((*fetcher)->Wait(), IsOk());
  EXPECT_EQ(ReadAll(resource.reader(), data.size()), data);
  EXPECT_GT(gets.load(), 40);  // each chunk: a refusal, a cut body, the rest
}

TEST_F(FetcherTest, AnOverwriteMidDownloadFailsTheResourceWithoutMixingVersions) {
  const std::string data = PutObject("changing", 16 * kChunk, 4);
  std::atomic<int> gets{0};
  store_->OnGet(
      [&](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head && gets++ == 3) {
          EXPECT_THAT(store_->inner().Put("changing", Bytes::Copy(RandomBytes(16 * kChunk, 5))),
                      IsOk());
        }
        return std::nullopt;
      });
  TempDir dir;
  auto resource = OpenMmapResource({.path = (dir.path() / "changing").string()});
  ASSERT_THAT(resource, IsOk());
  auto fetcher = Fetcher::Start(*store_, "changing", *resource, Options(1));
  ASSERT_THAT(fetcher, IsOk());
  EXPECT_THAT(resource->reader().WaitRange(0, 16 * kChunk),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("changed")));
  EXPECT_THAT((*fetcher)->Wait(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(resource->status().state, ResourceStatus::State::kFailed);
  // Three chunks landed, each of the first version (the file holds them).
  EXPECT_EQ(resource->present().covered(), 3 * kChunk);
  const std::string file = FileText(dir.path() / "changing");
  for (const Span64& range : resource->present().ranges()) {
    EXPECT_EQ(file.substr(range.begin, range.length()), data.substr(range.begin, range.length()));
  }
}

TEST_F(FetcherTest, AFailedFetchWakesEveryWaiterWithItsError) {
  PutObject("denied", 8 * kChunk, 6);
  store_->OnGet(
      [&](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (options.head || options.range.begin() < 4 * kChunk) return std::nullopt;
        return Result<GetResult>(PermissionDeniedError("AccessDenied"));
      });
  Resource resource = NewResource();
  auto fetcher = Fetcher::Start(*store_, "denied", resource, Options(2));
  ASSERT_THAT(fetcher, IsOk());
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      EXPECT_THAT(resource.reader().WaitRange(0, 8 * kChunk),
                  StatusIs(StatusCode::kPermissionDenied, HasSubstr("AccessDenied")));
    });
  }
  for (auto& waiter : waiters) waiter.join();
  EXPECT_THAT((*fetcher)->Wait(), StatusIs(StatusCode::kPermissionDenied));
}

TEST_F(FetcherTest, ACancelOfTheCallerFailsTheResourceAndStopLeavesItActive) {
  PutObject("slow", 32 * kChunk, 7);
  std::atomic<bool> hold{true};
  store_->OnGet(
      [&](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head && options.range.begin() >= 2 * kChunk) {
          while (hold) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return std::nullopt;
      });
  {
    CancellationSource cancel;
    Resource resource = NewResource();
    auto fetcher = Fetcher::Start(*store_, "slow", resource, Options(1), Context(cancel.token()));
    ASSERT_THAT(fetcher, IsOk());
    ASSERT_THAT(resource.reader().WaitRange(0, 2 * kChunk), IsOkAndHolds(WaitOutcome::kReady));
    cancel.Cancel();
    hold = false;
    EXPECT_THAT(resource.reader().WaitRange(0, 32 * kChunk), StatusIs(StatusCode::kCancelled));
    EXPECT_THAT((*fetcher)->Wait(), StatusIs(StatusCode::kCancelled));
  }
  hold = true;
  Resource resource = NewResource();
  auto fetcher = Fetcher::Start(*store_, "slow", resource, Options(1));
  ASSERT_THAT(fetcher, IsOk());
  ASSERT_THAT(resource.reader().WaitRange(0, 2 * kChunk), IsOkAndHolds(WaitOutcome::kReady));
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    hold = false;
  });
  (*fetcher)->Stop();
  release.join();
  EXPECT_TRUE(resource.status().active());
  EXPECT_TRUE(resource.reader().Contains(0, 2 * kChunk));
}

TEST_F(FetcherTest, AResumedFileFetchesOnlyWhatItLacks) {
  TempDir dir;
  const std::string path = (dir.path() / "movie").string();
  const std::string data = PutObject("movie", 30 * kChunk + 5, 8);
  std::string etag;
  std::atomic<bool> deny{true};
  store_->OnGet(
      [&](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head && deny && options.range.begin() >= 10 * kChunk) {
          return Result<GetResult>(UnavailableError("the network went away"));
        }
        return std::nullopt;
      });
  {
    auto resource = OpenMmapResource({.path = path, .persist_interval = kChunk});
    ASSERT_THAT(resource, IsOk());
    FetchOptions options = Options(1);
    options.retry.max_attempts = 2;
    auto fetcher = Fetcher::Start(*store_, "movie", *resource, options);
    ASSERT_THAT(fetcher, IsOk());
    EXPECT_THAT((*fetcher)->Wait(), StatusIs(StatusCode::kUnavailable, HasSubstr("went away")));
    etag = (*fetcher)->meta().etag;
    EXPECT_TRUE(resource->reader().Contains(0, 10 * kChunk));
  }
  // A new process: the file resumes with its first 10 chunks.
  deny = false;
  auto resource = OpenMmapResource({.path = path});
  ASSERT_THAT(resource, IsOk());
  ASSERT_TRUE(resource->status().active());
  EXPECT_TRUE(resource->reader().Contains(0, 10 * kChunk));
  FetchOptions options = Options();
  options.etag = etag;
  auto fetcher = Fetcher::Start(*store_, "movie", *resource, options);
  ASSERT_THAT(fetcher, IsOk());
  EXPECT_THAT((*fetcher)->Wait(), IsOk());
  EXPECT_EQ((*fetcher)->stats().bytes, data.size() - 10 * kChunk);
  EXPECT_EQ(FileText(path), data);
  // A resumed file is refused another version of the object.
  PutObject("movie", 30 * kChunk + 5, 9);
  auto stale = OpenMmapResource({.path = (dir.path() / "other").string()});
  ASSERT_THAT(stale, IsOk());
  EXPECT_THAT(Fetcher::Start(*store_, "movie", *stale, options),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr(etag)));
}

TEST_F(FetcherTest, BadInputIsRefusedAtStart) {
  PutObject("small", 10, 10);
  EXPECT_THAT(Fetcher::Start(*store_, "missing", NewResource(), Options()),
              StatusIs(StatusCode::kNotFound, HasSubstr("missing")));
  FetchOptions zero = Options();
  zero.chunk_size = 0;
  EXPECT_THAT(Fetcher::Start(*store_, "small", NewResource(), zero),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("chunk_size")));
  // A resource that holds more bytes than the object.
  Resource bigger = NewResource();
  ASSERT_THAT(bigger.writer().WriteAt(0, std::string(20, 'x')), IsOk());
  EXPECT_THAT(Fetcher::Start(*store_, "small", bigger, Options()),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("10")));
}

TEST_F(FetcherTest, AnEmptyObjectCommitsAtZero) {
  PutObject("empty", 0, 11);
  Resource resource = NewResource();
  auto fetcher = Fetcher::Start(*store_, "empty", resource, Options());
  ASSERT_THAT(fetcher, IsOk());
  EXPECT_THAT((*fetcher)->Wait(), IsOk());
  EXPECT_TRUE(resource.status().committed());
  EXPECT_EQ(resource.status().length, 0u);
}

}  // namespace
}  // namespace depot::resource
