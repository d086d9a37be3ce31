#include "depot/object/object_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/context.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/testing/fault_store.h"

namespace depot::object {
namespace {

using ::depot::object::testing::FaultInjectingStore;
using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSubsetOf;
using ::testing::IsSupersetOf;
using Op = FaultInjectingStore::Op;

ObjectReaderOptions SmallOptions(uint64_t chunk_size, int read_ahead = 4, int concurrency = 2) {
  ObjectReaderOptions options;
  options.chunk_size = chunk_size;
  options.read_ahead = read_ahead;
  options.max_concurrency = concurrency;
  options.retry.initial = std::chrono::milliseconds(1);
  options.retry.max = std::chrono::milliseconds(4);
  options.retry.max_attempts = 10;
  return options;
}

// Reads from the cursor to the end with reads of `piece` bytes.
Result<std::string> ReadRest(ObjectReader& reader, size_t piece) {
  std::string out;
  std::vector<char> buffer(piece);
  for (;;) {
    DEPOT_ASSIGN_OR_RETURN(size_t n, reader.Read(buffer.data(), buffer.size()));
    if (n == 0) return out;
    out.append(buffer.data(), n);
  }
}

class ObjectReaderTest : public ::testing::Test {
 protected:
  ObjectReaderTest()
      : memory_(std::make_shared<MemoryStore>()),
        store_(std::make_shared<FaultInjectingStore>(memory_)) {}

  void PutObject(std::string_view key, const std::string& data) {
    ASSERT_THAT(memory_->Put(key, Bytes::Copy(data), {}), IsOk());
  }

  // Records the start offset of every ranged Get (not Heads).
  void RecordGets() {
    store_->OnGet(
        [this](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
          if (!options.head) {
            std::lock_guard lock(mu_);
            get_begins_.push_back(options.range.begin());
          }
          return std::nullopt;
        });
  }
  std::vector<uint64_t> GetBegins() {
    std::lock_guard lock(mu_);
    std::vector<uint64_t> sorted = get_begins_;
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }

  std::shared_ptr<MemoryStore> memory_;
  std::shared_ptr<FaultInjectingStore> store_;
  std::mutex mu_;
  std::vector<uint64_t> get_begins_;  // guarded by mu_
};

TEST_F(ObjectReaderTest, ReadsTheWholeObject) {
  const std::string data = RandomBytes(1000, 1);
  PutObject("obj", data);
  for (size_t piece : {1, 7, 64, 100, 5000}) {
    DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                               ObjectReader::Open(*store_, "obj", SmallOptions(64, 3)));
    EXPECT_EQ(reader->size(), 1000u);
    EXPECT_EQ(reader->meta().key, "obj");
    DEPOT_ASSERT_OK_AND_ASSIGN(std::string got, ReadRest(*reader, piece));
    EXPECT_EQ(got, data) << "piece " << piece;
    EXPECT_EQ(reader->Tell(), 1000u);
  }
}

TEST_F(ObjectReaderTest, FetchesEachChunkOnceWithIfMatch) {
  const std::string data = RandomBytes(100, 2);
  PutObject("obj", data);
  DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, memory_->Head("obj"));
  std::atomic<int> guarded{0};
  store_->OnGet(
      [&](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head && options.if_match == meta.etag) ++guarded;
        return std::nullopt;
      });
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(30)));
  DEPOT_ASSERT_OK_AND_ASSIGN(std::string got, ReadRest(*reader, 17));
  EXPECT_EQ(got, data);
  EXPECT_EQ(store_->calls(Op::kHead), 1);
  EXPECT_EQ(store_->calls(Op::kGet), 4);
  EXPECT_EQ(guarded.load(), 4);
}

TEST_F(ObjectReaderTest, EmptyObjectReadsNothing) {
  PutObject("empty", "");
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "empty", SmallOptions(8)));
  char c;
  EXPECT_THAT(reader->Read(&c, 1), IsOk());
  EXPECT_EQ(*reader->Read(&c, 1), 0u);
  EXPECT_EQ(store_->calls(Op::kGet), 0);
  DEPOT_ASSERT_OK_AND_ASSIGN(Bytes none, reader->ReadAt(0, 0));
  EXPECT_TRUE(none.empty());
}

TEST_F(ObjectReaderTest, ACancelEndsTheRetriesOfAReadAtOnce) {
  PutObject("obj", RandomBytes(100, 5));
  store_->OnGet([&](std::string_view, const GetOptions& options) {
    if (options.head) return std::optional<Result<GetResult>>();
    return std::optional<Result<GetResult>>(UnavailableError("service down"));
  });
  ObjectReaderOptions options = SmallOptions(50);
  options.retry.initial = std::chrono::seconds(20);  // a backoff no test waits out
  options.retry.max = std::chrono::seconds(20);
  CancellationSource stop;
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             ObjectReader::Open(*store_, "obj", options, Context(stop.token())));
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  std::string buffer(10, '\0');
  EXPECT_THAT(reader->Read(buffer.data(), buffer.size()),
              StatusIs(StatusCode::kCancelled, HasSubstr("read of key \"obj\"")));
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(ObjectReaderTest, AReadPastItsDeadlineIsDeadlineExceeded) {
  PutObject("obj", RandomBytes(100, 6));
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(50, 1, 1),
                                      Context().WithTimeout(std::chrono::milliseconds(100))));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  // Past the first chunk (the only one the window may have fetched before the deadline).
  EXPECT_THAT(reader->ReadAt(60, 10), StatusIs(StatusCode::kDeadlineExceeded));
}

TEST_F(ObjectReaderTest, OpenErrors) {
  EXPECT_THAT(ObjectReader::Open(*store_, "missing", SmallOptions(8)),
              StatusIs(StatusCode::kNotFound));
  PutObject("obj", "x");
  EXPECT_THAT(ObjectReader::Open(*store_, "obj", SmallOptions(0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("chunk_size")));
  EXPECT_THAT(ObjectReader::Open(*store_, "obj", SmallOptions(8, 0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("read_ahead is 0")));
  EXPECT_THAT(ObjectReader::Open(*store_, "obj", SmallOptions(8, 1, 0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("max_concurrency is 0")));
}

TEST_F(ObjectReaderTest, TransientFailuresAreRetried) {
  const std::string data = RandomBytes(500, 3);
  PutObject("obj", data);
  store_->FailNext(Op::kGet, UnavailableError("flaky"), 2);
  store_->FailNext(Op::kGet, DeadlineExceededError("slow"), 2);
  store_->FailNext(Op::kGet, DataLossError("corrupt"), 2);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(50)));
  DEPOT_ASSERT_OK_AND_ASSIGN(std::string got, ReadRest(*reader, 33));
  EXPECT_EQ(got, data);
  EXPECT_EQ(store_->calls(Op::kGet), 10 + 6);
}

TEST_F(ObjectReaderTest, AStoreThatRetriesItselfIsNotRetriedAgain) {
  // An S3 store has already retried (with backoff) by the time an error reaches the reader:
  // retrying again would nest the retries (10 x 10 attempts).
  Capabilities caps = memory_->capabilities();
  caps.retries_transient = true;
  store_->SetCapabilities(caps);
  const std::string data = RandomBytes(500, 4);
  PutObject("obj", data);
  store_->FailNext(Op::kGet, UnavailableError("flaky after the store's own retries"), 1);
  // One chunk, so the failing fetch is the one Read waits for (not a read-ahead past it).
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(500)));
  std::string buffer(100, '\0');
  EXPECT_THAT(reader->Read(buffer.data(), buffer.size()),
              StatusIs(StatusCode::kUnavailable, HasSubstr("flaky")));
}

TEST_F(ObjectReaderTest, ShortReadsResumeFromTheFailedOffset) {
  const std::string data = RandomBytes(100, 4);
  PutObject("obj", data);
  std::mutex mu;
  std::vector<std::pair<uint64_t, uint64_t>> asked;
  store_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (options.head) return std::nullopt;
        Result<GetResult> got = store_->inner().Get(key, options);
        std::lock_guard lock(mu);
        asked.emplace_back(options.range.begin(), options.range.end());
        if (got.ok() && asked.size() <= 2) {
          got->data = got->data.Slice(0, got->data.size() / 3);  // short, no error
        }
        return got;
      });
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             ObjectReader::Open(*store_, "obj", SmallOptions(100, 1, 1)));
  DEPOT_ASSERT_OK_AND_ASSIGN(std::string got, ReadRest(*reader, 100));
  EXPECT_EQ(got, data);
  std::lock_guard lock(mu);
  // 100 asked, 33 came; 67 asked from 33, 22 came; the rest asked from 55.
  EXPECT_THAT(asked, ElementsAre(std::pair<uint64_t, uint64_t>{0, 100},
                                 std::pair<uint64_t, uint64_t>{33, 100},
                                 std::pair<uint64_t, uint64_t>{55, 100}));
}

TEST_F(ObjectReaderTest, GivesUpWithTheLastError) {
  PutObject("obj", RandomBytes(40, 5));
  store_->FailNext(Op::kGet, UnavailableError("down"), 100);
  ObjectReaderOptions options = SmallOptions(40, 1, 1);
  options.retry.max_attempts = 2;
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", options));
  char buffer[10];
  EXPECT_THAT(reader->Read(buffer, sizeof buffer),
              StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr("down"), HasSubstr("giving up"))));
  EXPECT_EQ(store_->calls(Op::kGet), 3);  // the try and two retries
  EXPECT_EQ(reader->Tell(), 0u);
}

TEST_F(ObjectReaderTest, NonRetryableErrorsAreNotRetried) {
  PutObject("obj", RandomBytes(40, 6));
  store_->FailNext(Op::kGet, PermissionDeniedError("nope"), 1);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             ObjectReader::Open(*store_, "obj", SmallOptions(40, 1, 1)));
  char buffer[10];
  EXPECT_THAT(reader->Read(buffer, sizeof buffer), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_EQ(store_->calls(Op::kGet), 1);
  // The failed chunk is dropped, so the next read tries again (and now succeeds).
  EXPECT_THAT(reader->Read(buffer, sizeof buffer), IsOk());
}

TEST_F(ObjectReaderTest, ObjectOverwrittenMidReadFailsWithoutRetry) {
  const std::string data = RandomBytes(100, 7);
  PutObject("obj", data);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             ObjectReader::Open(*store_, "obj", SmallOptions(10, 1, 1)));
  char buffer[10];
  DEPOT_ASSERT_OK_AND_ASSIGN(size_t n, reader->Read(buffer, 5));  // chunk 0 only
  ASSERT_EQ(n, 5u);
  EXPECT_EQ(std::string(buffer, 5), data.substr(0, 5));
  ASSERT_THAT(reader->Seek(10), IsOk());  // drops chunk 0; nothing is in flight now
  EXPECT_EQ(store_->calls(Op::kGet), 1);
  PutObject("obj", RandomBytes(100, 8));
  EXPECT_THAT(reader->Read(buffer, sizeof buffer),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("object changed while reading")));
  EXPECT_EQ(store_->calls(Op::kGet), 2);  // never retried
  EXPECT_THAT(reader->ReadAt(50, 10), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_->calls(Op::kGet), 3);
}

TEST_F(ObjectReaderTest, StoreIgnoringIfMatchIsCaught) {
  PutObject("obj", RandomBytes(100, 9));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             ObjectReader::Open(*store_, "obj", SmallOptions(10, 1, 1)));
  PutObject("obj", RandomBytes(100, 10));
  store_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        GetOptions lax = options;
        lax.if_match.reset();
        return store_->inner().Get(key, lax);
      });
  char buffer[10];
  EXPECT_THAT(reader->Read(buffer, sizeof buffer),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("object changed")));
}

TEST_F(ObjectReaderTest, SeekInsideTheWindowCostsNoGet) {
  const std::string data = RandomBytes(100, 11);
  PutObject("obj", data);
  RecordGets();
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(10, 4)));
  char buffer[5];
  ASSERT_THAT(reader->Read(buffer, 5), IsOk());  // window: chunks 0..3
  ASSERT_THAT(reader->Seek(25), IsOk());         // chunk 2: inside
  DEPOT_ASSERT_OK_AND_ASSIGN(size_t n, reader->Read(buffer, 5));
  ASSERT_EQ(n, 5u);
  EXPECT_EQ(std::string(buffer, 5), data.substr(25, 5));                  // window now: chunks 3..6
  ASSERT_THAT(reader->Seek(15, ObjectReader::Whence::kCurrent), IsOk());  // 45, chunk 4
  DEPOT_ASSERT_OK_AND_ASSIGN(n, reader->Read(buffer, 5));
  EXPECT_EQ(std::string(buffer, n), data.substr(45, 5));  // window now: chunks 5..8
  // Wait for the whole window (a ReadAt it covers), then count. No chunk was fetched twice; the
  // chunks that were read from were fetched, and the ones dropped before they were needed (1 and
  // 3) may have been cancelled before their fetch started.
  DEPOT_ASSERT_OK_AND_ASSIGN(Bytes rest, reader->ReadAt(50, 40));
  EXPECT_EQ(rest.ToString(), data.substr(50, 40));
  const std::vector<uint64_t> begins = GetBegins();
  EXPECT_EQ(std::adjacent_find(begins.begin(), begins.end()), begins.end()) << "a chunk refetched";
  EXPECT_THAT(begins, IsSupersetOf({0, 20, 40, 50, 60, 70, 80}));
  EXPECT_THAT(begins, IsSubsetOf({0, 10, 20, 30, 40, 50, 60, 70, 80}));
}

TEST_F(ObjectReaderTest, SeekOutsideTheWindowRefetches) {
  const std::string data = RandomBytes(1000, 12);
  PutObject("obj", data);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(10, 3)));
  char buffer[10];
  ASSERT_THAT(reader->Read(buffer, 10), IsOk());
  ASSERT_THAT(reader->Seek(-5, ObjectReader::Whence::kEnd), IsOk());
  EXPECT_EQ(reader->Tell(), 995u);
  DEPOT_ASSERT_OK_AND_ASSIGN(size_t n, reader->Read(buffer, 10));
  EXPECT_EQ(std::string(buffer, n), data.substr(995));
  ASSERT_THAT(reader->Seek(3), IsOk());  // behind the window: dropped and refetched
  DEPOT_ASSERT_OK_AND_ASSIGN(n, reader->Read(buffer, 10));
  EXPECT_EQ(std::string(buffer, n), data.substr(3, 10));
}

TEST_F(ObjectReaderTest, SeekAndEndOfObject) {
  const std::string data = RandomBytes(30, 13);
  PutObject("obj", data);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(8)));
  EXPECT_THAT(reader->Seek(-1), StatusIs(StatusCode::kInvalidArgument, HasSubstr("before")));
  EXPECT_THAT(reader->Seek(-31, ObjectReader::Whence::kEnd),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(reader->Seek(std::numeric_limits<int64_t>::min(), ObjectReader::Whence::kEnd),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(reader->Tell(), 0u);  // failed seeks leave the cursor alone
  DEPOT_ASSERT_OK_AND_ASSIGN(uint64_t at, reader->Seek(-30, ObjectReader::Whence::kEnd));
  EXPECT_EQ(at, 0u);
  DEPOT_ASSERT_OK_AND_ASSIGN(at, reader->Seek(40));
  EXPECT_EQ(at, 40u);
  char buffer[4];
  EXPECT_EQ(*reader->Read(buffer, 4), 0u);
  DEPOT_ASSERT_OK_AND_ASSIGN(at, reader->Seek(-3, ObjectReader::Whence::kEnd));
  EXPECT_EQ(*reader->Read(buffer, 4), 3u);
  EXPECT_EQ(std::string(buffer, 3), data.substr(27));
  EXPECT_EQ(*reader->Read(buffer, 4), 0u);
  EXPECT_EQ(reader->Tell(), 30u);
}

TEST_F(ObjectReaderTest, ReadAtUsesTheWindowOrAGet) {
  const std::string data = RandomBytes(200, 14);
  PutObject("obj", data);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(10, 4)));
  char c;
  ASSERT_THAT(reader->Read(&c, 1), IsOk());  // window: chunks 0..3
  ASSERT_THAT(reader->Seek(0), IsOk());
  // Within the window: no extra Get, and the cursor stays.
  DEPOT_ASSERT_OK_AND_ASSIGN(Bytes window, reader->ReadAt(0, 40));
  EXPECT_EQ(window.ToString(), data.substr(0, 40));
  const int gets = store_->calls(Op::kGet);
  EXPECT_EQ(gets, 4);
  DEPOT_ASSERT_OK_AND_ASSIGN(Bytes inside, reader->ReadAt(5, 30));
  EXPECT_EQ(inside.ToString(), data.substr(5, 30));
  DEPOT_ASSERT_OK_AND_ASSIGN(Bytes one_chunk, reader->ReadAt(12, 3));
  EXPECT_EQ(one_chunk.ToString(), data.substr(12, 3));
  EXPECT_EQ(store_->calls(Op::kGet), gets);
  EXPECT_EQ(reader->Tell(), 0u);
  // Outside it: one direct Get.
  DEPOT_ASSERT_OK_AND_ASSIGN(Bytes outside, reader->ReadAt(150, 50));
  EXPECT_EQ(outside.ToString(), data.substr(150, 50));
  EXPECT_EQ(store_->calls(Op::kGet), gets + 1);
  EXPECT_THAT(reader->ReadAt(150, 51), StatusIs(StatusCode::kOutOfRange, HasSubstr("200 bytes")));
  EXPECT_THAT(reader->ReadAt(201, 0), StatusIs(StatusCode::kOutOfRange));
  EXPECT_THAT(reader->ReadAt(200, 0), IsOk());
}

TEST_F(ObjectReaderTest, ReadAtRetries) {
  const std::string data = RandomBytes(64, 15);
  PutObject("obj", data);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", SmallOptions(8)));
  store_->FailNext(Op::kGet, UnavailableError("flaky"), 2);
  DEPOT_ASSERT_OK_AND_ASSIGN(Bytes got, reader->ReadAt(10, 40));
  EXPECT_EQ(got.ToString(), data.substr(10, 40));
}

TEST_F(ObjectReaderTest, RandomSeeksAndReadsMatchTheSource) {
  const std::string data = RandomBytes(5000, 16);
  PutObject("obj", data);
  std::mt19937_64 rng(17);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             ObjectReader::Open(*store_, "obj", SmallOptions(97, 3, 2)));
  uint64_t cursor = 0;
  std::vector<char> buffer(700);
  for (int step = 0; step < 400; ++step) {
    switch (rng() % 4) {
      case 0: {
        const uint64_t to = rng() % 5200;
        ASSERT_THAT(reader->Seek(static_cast<int64_t>(to)), IsOk());
        cursor = to;
        break;
      }
      case 1: {
        const int64_t by = static_cast<int64_t>(rng() % 400) - 200;
        if (by < 0 && static_cast<uint64_t>(-by) > cursor) {
          EXPECT_THAT(reader->Seek(by, ObjectReader::Whence::kCurrent),
                      StatusIs(StatusCode::kInvalidArgument));
        } else {
          ASSERT_THAT(reader->Seek(by, ObjectReader::Whence::kCurrent), IsOk());
          cursor += by;
        }
        break;
      }
      case 2: {
        const size_t n = rng() % buffer.size();
        DEPOT_ASSERT_OK_AND_ASSIGN(size_t got, reader->Read(buffer.data(), n));
        const size_t expected =
            cursor >= data.size() ? 0 : std::min<size_t>(n, data.size() - cursor);
        ASSERT_EQ(got, expected) << "step " << step;
        if (got > 0) {
          ASSERT_EQ(std::string(buffer.data(), got), data.substr(cursor, got));
        }
        cursor += got;
        break;
      }
      default: {
        const uint64_t offset = rng() % data.size();
        const size_t n = rng() % std::min<uint64_t>(500, data.size() - offset + 1);
        DEPOT_ASSERT_OK_AND_ASSIGN(Bytes got, reader->ReadAt(offset, n));
        ASSERT_EQ(got.ToString(), data.substr(offset, n)) << "step " << step;
        break;
      }
    }
    ASSERT_EQ(reader->Tell(), cursor);
  }
}

TEST_F(ObjectReaderTest, DestroyingWithFetchesInFlightIsSafe) {
  PutObject("obj", RandomBytes(1000, 18));
  store_->OnGet(
      [](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return std::nullopt;
      });
  for (int i = 0; i < 3; ++i) {
    DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                               ObjectReader::Open(*store_, "obj", SmallOptions(10, 8, 2)));
    char c;
    ASSERT_THAT(reader->Read(&c, 1), IsOk());
    ASSERT_THAT(reader->Seek(500), IsOk());  // drops a window whose fetches are still queued
    ASSERT_THAT(reader->Read(&c, 1), IsOk());
  }
  // Queued fetches of dropped windows were cancelled rather than run: far fewer than 3 x 16.
  EXPECT_LT(store_->calls(Op::kGet), 40);
}

TEST_F(ObjectReaderTest, DestroyingDuringBackoffDoesNotWaitForIt) {
  PutObject("obj", RandomBytes(100, 19));
  store_->FailNext(Op::kGet, UnavailableError("down"), 1000);
  ObjectReaderOptions options = SmallOptions(10, 2, 2);
  options.retry.initial = std::chrono::milliseconds(10'000);
  options.retry.max = std::chrono::milliseconds(10'000);
  const auto start = std::chrono::steady_clock::now();
  {
    DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, ObjectReader::Open(*store_, "obj", options));
    ASSERT_THAT(reader->ReadAt(0, 0), IsOk());
    ASSERT_THAT(reader->Seek(0), IsOk());
    // Start the window without waiting for it: a zero-byte read schedules the read-ahead.
    char c;
    ASSERT_THAT(reader->Read(&c, 0), IsOk());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace depot::object
