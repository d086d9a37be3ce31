// The streaming-upload suite (see stream_conformance.h). Every test starts from an empty store.
#include "depot/object/stream/testing/stream_conformance.h"

#include <fmt/format.h>
#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/channel.h"
#include "depot/core/context.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/object/helpers.h"
#include "depot/object/stream/stream_layout.h"
#include "depot/object/stream/stream_reader.h"
#include "depot/object/stream/stream_upload.h"

namespace depot::object::testing {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Op = FaultInjectingStore::Op;
using std::chrono::milliseconds;

constexpr std::string_view kKey = "streams/cam1";
constexpr auto kLongWait = std::chrono::seconds(30);

StreamUploadOptions Parts(uint64_t min, uint64_t max = 0, int in_flight = 4,
                          uint32_t entries = 1024) {
  StreamUploadOptions options;
  options.min_part_size = min;
  options.max_part_size = max == 0 ? min : max;
  options.max_in_flight = in_flight;
  options.index_segment_entries = entries;
  return options;
}

// Readers in tests poll fast.
StreamReaderOptions FastPolls(int max_concurrency = 4) {
  StreamReaderOptions options;
  options.max_concurrency = max_concurrency;
  options.poll.initial = milliseconds(1);
  options.poll.max = milliseconds(20);
  return options;
}

std::string Sub(const std::string& s, uint64_t begin, uint64_t end) {
  return s.substr(begin, end - begin);
}

// Every key under `prefix`, in order.
std::vector<std::string> KeysUnder(ObjectStore& store, std::string_view prefix) {
  auto all = ListAll(store, prefix);
  EXPECT_THAT(all, IsOk());
  std::vector<std::string> keys;
  if (all.ok()) {
    for (const ObjectMeta& meta : *all) keys.push_back(meta.key);
  }
  return keys;
}

std::string Key(std::string_view suffix) { return std::string(kKey) + std::string(suffix); }

// Waits (bounded) until `condition` holds; false if it never did.
template <typename F>
bool Eventually(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + kLongWait;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Writes `data` in chunks of 1..max_chunk bytes (deterministic from `seed`).
Status WriteInChunks(StreamUpload& upload, const std::string& data, size_t max_chunk,
                     uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t at = 0; at < data.size();) {
    const size_t n = std::min<size_t>(data.size() - at, 1 + rng() % max_chunk);
    DEPOT_RETURN_IF_ERROR(upload.Write(std::string_view(data).substr(at, n)));
    at += n;
  }
  return Status::Ok();
}

// The available bytes of the stream, or 0 when it cannot be read.
uint64_t Available(StreamReader& reader) {
  auto state = reader.State();
  return state.ok() ? state->available : 0;
}

TEST_P(StreamConformance, UploadSmallerThanOnePartGetsAnIndexAndACompletionMarker) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  ASSERT_THAT(upload->Write("hello"), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState before, reader->State());
  EXPECT_FALSE(before.complete);
  EXPECT_EQ(before.available, 0u);  // still buffered: no part yet
  EXPECT_EQ(before.parts, 0u);

  DEPOT_ASSERT_OK_AND_ASSIGN(StreamSummary done, upload->Finish());
  EXPECT_EQ(done.size, 5u);
  EXPECT_EQ(done.parts, 1u);
  EXPECT_THAT(KeysUnder(backend(), Key("/")),
              ElementsAre(Key("/complete"), Key("/index/0000000000"), Key("/part/0000000000")));
  DEPOT_ASSERT_OK_AND_ASSIGN(GetResult marker, backend().Get(Key("/complete"), {}));
  DEPOT_ASSERT_OK_AND_ASSIGN(stream::CompleteMarker complete,
                             stream::DecodeCompleteMarker(Key("/complete"), marker.data.view()));
  EXPECT_EQ(complete.size, 5u);
  EXPECT_EQ(complete.parts, 1u);
  EXPECT_EQ(complete.index_segment_entries, 1024u);

  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState after, reader->State());
  EXPECT_TRUE(after.complete);
  EXPECT_EQ(after.available, 5u);
  EXPECT_EQ(after.parts, 1u);
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead all, reader->ReadRange(ByteRange::Full()));
  EXPECT_EQ(all.data.ToString(), "hello");
  EXPECT_EQ(all.range, (ResolvedRange{0, 5}));
}

TEST_P(StreamConformance, ZeroByteUploadIsCompleteAndEmpty) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamSummary done, upload->Finish());
  EXPECT_EQ(done.size, 0u);
  EXPECT_EQ(done.parts, 0u);
  EXPECT_THAT(KeysUnder(backend(), Key("/")),
              ElementsAre(Key("/complete"), Key("/index/0000000000")));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, reader->State());
  EXPECT_TRUE(state.complete);
  EXPECT_EQ(state.available, 0u);
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead all, reader->ReadRange(ByteRange::Full()));
  EXPECT_TRUE(all.data.empty());
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead past, reader->ReadRange(ByteRange::Bounded(0, 10)));
  EXPECT_EQ(past.range, (ResolvedRange{0, 0}));
  EXPECT_THAT(reader->ReadRange(ByteRange::From(1)), StatusIs(StatusCode::kOutOfRange));
}

TEST_P(StreamConformance, FinalPartialPartIsIndexedAndReadable) {
  const std::string data = RandomBytes(25, 1);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write(data), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamSummary done, upload->Finish());
  EXPECT_EQ(done.size, 25u);
  EXPECT_EQ(done.parts, 3u);
  std::vector<uint64_t> sizes;
  for (int i = 0; i < 3; ++i) {
    DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, backend().Head(stream::PartKey(kKey, i)));
    sizes.push_back(meta.size);
  }
  EXPECT_THAT(sizes, ElementsAre(10, 10, 5));
  DEPOT_ASSERT_OK_AND_ASSIGN(GetResult index, backend().Get(Key("/index/0000000000"), {}));
  DEPOT_ASSERT_OK_AND_ASSIGN(
      stream::IndexSegment segment,
      stream::DecodeIndexSegment(Key("/index/0000000000"), 0, index.data.view()));
  EXPECT_THAT(segment.ends, ElementsAre(10, 20, 25));

  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead tail, reader->ReadRange(ByteRange::Bounded(20, 25)));
  EXPECT_EQ(tail.data.ToString(), Sub(data, 20, 25));
}

TEST_P(StreamConformance, RangesMatchTheBytesAcrossPartsAndAtTheirBoundaries) {
  const std::string data = RandomBytes(95, 2);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(WriteInChunks(*upload, data, 23, 3), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  const std::vector<std::pair<ByteRange, ResolvedRange>> cases = {
      {ByteRange::Full(), {0, 95}},
      {ByteRange::Bounded(0, 10), {0, 10}},     // exactly the first part
      {ByteRange::Bounded(10, 20), {10, 20}},   // exactly the second part
      {ByteRange::Bounded(9, 11), {9, 11}},     // one byte either side of a boundary
      {ByteRange::Bounded(10, 11), {10, 11}},   // starting on a boundary
      {ByteRange::Bounded(19, 20), {19, 20}},   // ending on a boundary
      {ByteRange::Bounded(3, 47), {3, 47}},     // several parts
      {ByteRange::Bounded(90, 95), {90, 95}},   // the final partial part
      {ByteRange::Bounded(94, 200), {94, 95}},  // truncated at the end
      {ByteRange::Bounded(95, 95), {95, 95}},   // empty, at the end
      {ByteRange::Bounded(40, 40), {40, 40}},   // empty, inside
      {ByteRange::From(0), {0, 95}},
      {ByteRange::From(37), {37, 95}},
      {ByteRange::From(95), {95, 95}},
      {ByteRange::Suffix(7), {88, 95}},
      {ByteRange::Suffix(1000), {0, 95}},
      {ByteRange::Suffix(0), {95, 95}},
  };
  for (const auto& [range, expected] : cases) {
    SCOPED_TRACE(range.ToString());
    DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead got, reader->ReadRange(range));
    EXPECT_EQ(got.range, expected);
    EXPECT_EQ(got.data.ToString(), Sub(data, expected.begin, expected.end));
  }
}

TEST_P(StreamConformance, CompletedStreamAnswersOutOfRangeAtOnce) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write(RandomBytes(25, 4)), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(26, 30), kLongWait),
              StatusIs(StatusCode::kOutOfRange, HasSubstr("25 bytes")));
  EXPECT_THAT(reader->ReadRange(ByteRange::From(26), kLongWait), StatusIs(StatusCode::kOutOfRange));
  EXPECT_LT(std::chrono::steady_clock::now() - start, kLongWait);
}

TEST_P(StreamConformance, ReadsOnlyTheOverlappingBytesOfOverlappingParts) {
  const std::string data = RandomBytes(60, 5);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write(data), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  ASSERT_THAT(reader->State(), IsOk());  // the index is read; what follows only reads parts

  std::mutex mu;
  std::vector<std::string> gets;  // "key range"
  store().OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        std::lock_guard lock(mu);
        gets.push_back(fmt::format("{} {}", key, options.range.ToString()));
        return std::nullopt;
      });
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead got, reader->ReadRange(ByteRange::Bounded(15, 42)));
  EXPECT_EQ(got.data.ToString(), Sub(data, 15, 42));
  std::lock_guard lock(mu);
  std::sort(gets.begin(), gets.end());
  EXPECT_THAT(gets, ElementsAre(Key("/part/0000000001 [5, 10)"), Key("/part/0000000002 [0, 10)"),
                                Key("/part/0000000003 [0, 10)"), Key("/part/0000000004 [0, 2)")));
}

TEST_P(StreamConformance, PartsAreFetchedInParallelUpToTheBound) {
  const std::string data = RandomBytes(80, 6);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write(data), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             StreamReader::Open(store(), std::string(kKey), FastPolls(3)));
  ASSERT_THAT(reader->State(), IsOk());

  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  int max_running = 0;
  bool reached = false;  // three part fetches were running at once
  store().OnGet([&](std::string_view key, const GetOptions&) -> std::optional<Result<GetResult>> {
    if (key.find("/part/") == std::string_view::npos) return std::nullopt;
    std::unique_lock lock(mu);
    max_running = std::max(max_running, ++running);
    if (running == 3) reached = true;
    cv.notify_all();
    // Hold each fetch until three overlap; a reader that fetches one part at a time never gets
    // there and is caught by the timeout.
    cv.wait_for(lock, std::chrono::seconds(2), [&] { return reached; });
    --running;
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead got, reader->ReadRange(ByteRange::Full()));
  EXPECT_EQ(got.data.ToString(), data);
  std::lock_guard lock(mu);
  EXPECT_TRUE(reached);
  EXPECT_EQ(max_running, 3);
}

TEST_P(StreamConformance, ReadsFinishedPartsWhileTheProducerIsBlockedMidStream) {
  const std::string data = RandomBytes(100, 7);
  BoundedChannel<Bytes> channel(2);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::thread producer([&] {
    for (size_t at = 0; at < 30; at += 10) {
      ASSERT_THAT(channel.Send(Bytes::Copy(Sub(data, at, at + 10))), IsOk());
    }
    {
      std::unique_lock lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, kLongWait, [&] { return release; }));
    }
    for (size_t at = 30; at < data.size(); at += 7) {
      ASSERT_THAT(channel.Send(Bytes::Copy(Sub(data, at, std::min(at + 7, data.size())))), IsOk());
    }
    channel.Close();
  });
  Result<StreamSummary> uploaded = InternalError("not run");
  std::thread uploader(
      [&] { uploaded = UploadStream(store(), std::string(kKey), channel, Parts(10)); });

  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             StreamReader::Open(store(), std::string(kKey), FastPolls()));
  // The stream may not exist for an instant after the threads start.
  ASSERT_TRUE(Eventually([&] { return reader->State().ok(); }));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead first,
                             reader->ReadRange(ByteRange::Bounded(0, 30), kLongWait));
  EXPECT_EQ(first.data.ToString(), Sub(data, 0, 30));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead middle, reader->ReadRange(ByteRange::Bounded(12, 27)));
  EXPECT_EQ(middle.data.ToString(), Sub(data, 12, 27));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, reader->State());
  EXPECT_FALSE(state.complete);
  EXPECT_EQ(state.available, 30u);  // the producer is still blocked
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(0, 31)),
              StatusIs(StatusCode::kDeadlineExceeded));

  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  producer.join();
  uploader.join();
  ASSERT_THAT(uploaded, IsOk());
  EXPECT_EQ(uploaded->size, 100u);
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead all, reader->ReadRange(ByteRange::Full()));
  EXPECT_EQ(all.data.ToString(), data);
}

TEST_P(StreamConformance, AReaderWaitsForARangeThatArrivesLater) {
  const std::string data = RandomBytes(20, 8);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  std::atomic<int> index_reads{0};
  store().OnGet([&](std::string_view key, const GetOptions&) -> std::optional<Result<GetResult>> {
    if (key == Key("/index/0000000000")) ++index_reads;
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             StreamReader::Open(store(), std::string(kKey), FastPolls()));
  Result<StreamRead> got = InternalError("not run");
  std::thread waiter([&] { got = reader->ReadRange(ByteRange::Bounded(5, 15), kLongWait); });
  // The reader has looked at least twice, finding nothing, before the bytes are written.
  ASSERT_TRUE(Eventually([&] { return index_reads.load() >= 2; }));
  ASSERT_THAT(upload->Write(data), IsOk());
  waiter.join();
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.ToString(), Sub(data, 5, 15));
  EXPECT_THAT(upload->Finish(), IsOk());
}

TEST_P(StreamConformance, ACancelEndsAWaitingReadAtOnce) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write(RandomBytes(15, 10)), IsOk());  // one part; more never comes
  CancellationSource stop;
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey),
                                                             FastPolls(), Context(stop.token())));
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(50));
    stop.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(5, 40), kLongWait),
              StatusIs(StatusCode::kCancelled, HasSubstr(std::string(kKey))));
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, kLongWait / 3);
  ASSERT_THAT(upload->Abort(), IsOk());
}

TEST_P(StreamConformance, AnUploadWhoseContextEndsIsAborted) {
  CancellationSource stop;
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, StreamUpload::Start(store(), std::string(kKey), Parts(10),
                                                              Context(stop.token())));
  ASSERT_THAT(upload->Write(RandomBytes(25, 11)), IsOk());
  stop.Cancel();
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kCancelled));
  // The cleanup ran under a context of its own: the abort marker is there, the parts are gone.
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, reader->State());
  EXPECT_TRUE(state.aborted);
  EXPECT_THAT(KeysUnder(backend(), Key("/")), ElementsAre(Key("/aborted")));
}

TEST_P(StreamConformance, DeadlineExceededNamesTheRangeAndWhatIsPresent) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  const std::string data = RandomBytes(25, 9);
  ASSERT_THAT(upload->Write(data), IsOk());  // two parts; five bytes stay buffered
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             StreamReader::Open(store(), std::string(kKey), FastPolls()));
  ASSERT_TRUE(Eventually([&] { return Available(*reader) == 20; }));

  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(15, 40), milliseconds(50)),
              StatusIs(StatusCode::kDeadlineExceeded,
                       AllOf(HasSubstr(std::string(kKey)), HasSubstr("[15, 40)"),
                             HasSubstr("[0, 20) in 2 parts"), HasSubstr("in progress"),
                             HasSubstr("last changed"))));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(50));
  // Ranges relative to the end wait for the completion marker.
  EXPECT_THAT(reader->ReadRange(ByteRange::From(0)),
              StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("needs the completed stream")));
  EXPECT_THAT(reader->ReadRange(ByteRange::Suffix(3)), StatusIs(StatusCode::kDeadlineExceeded));

  ASSERT_THAT(upload->Finish(), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead tail, reader->ReadRange(ByteRange::Suffix(3)));
  EXPECT_EQ(tail.data.ToString(), Sub(data, 22, 25));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead rest, reader->ReadRange(ByteRange::Bounded(15, 40)));
  EXPECT_EQ(rest.data.ToString(), Sub(data, 15, 25));
}

TEST_P(StreamConformance, AnAbsentStreamIsNotFound) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  EXPECT_THAT(reader->State(), StatusIs(StatusCode::kNotFound, HasSubstr(std::string(kKey))));
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(0, 1), milliseconds(20)),
              StatusIs(StatusCode::kNotFound));
}

TEST_P(StreamConformance, AbortLeavesOnlyAnAbortMarker) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write(RandomBytes(35, 10)), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             StreamReader::Open(store(), std::string(kKey), FastPolls()));
  ASSERT_TRUE(Eventually([&] { return Available(*reader) == 30; }));

  EXPECT_THAT(upload->Abort("camera unplugged"), IsOk());
  EXPECT_THAT(KeysUnder(backend(), Key("/")), ElementsAre(Key("/aborted")));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, reader->State());
  EXPECT_TRUE(state.aborted);
  EXPECT_EQ(state.abort_reason, "camera unplugged");
  EXPECT_EQ(state.available, 0u);
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(0, 10)),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("camera unplugged")));
  EXPECT_THAT(upload->Write("more"), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kCancelled));
}

TEST_P(StreamConformance, AnAbortInTheMiddleOfARefreshIsReportedAsAnAbort) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write(RandomBytes(20, 30)), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             StreamReader::Open(store(), std::string(kKey), FastPolls()));
  ASSERT_TRUE(Eventually([&] { return Available(*reader) == 20; }));
  // The writer aborts after the reader found no abort marker and before it reads the index
  // (here, while it looks for the completion marker): the index is gone, but this is an abort,
  // not a missing stream.
  bool aborted = false;
  store().OnGet([&](std::string_view key, const GetOptions&) -> std::optional<Result<GetResult>> {
    if (key == Key("/complete") && !aborted) {
      aborted = true;
      EXPECT_THAT(upload->Abort("aborted mid-look"), IsOk());
    }
    return std::nullopt;
  });
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(0, 30), milliseconds(20)),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("aborted mid-look")));
  EXPECT_TRUE(aborted);
}

TEST_P(StreamConformance, DestroyingAnUnfinishedUploadAbortsIt) {
  {
    DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                               StreamUpload::Start(store(), std::string(kKey), Parts(10)));
    ASSERT_THAT(upload->Write(RandomBytes(35, 11)), IsOk());
  }
  EXPECT_THAT(KeysUnder(backend(), Key("/")), ElementsAre(Key("/aborted")));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, reader->State());
  EXPECT_TRUE(state.aborted);
  EXPECT_THAT(state.abort_reason, HasSubstr("destroyed before Finish"));
}

TEST_P(StreamConformance, AFailingPartFailsTheUploadCleanly) {
  const std::string bad_part = stream::PartKey(kKey, 2);
  store().OnPut([&](std::string_view key, const Bytes&,
                    const PutOptions&) -> std::optional<Result<PutResult>> {
    if (key == bad_part) return Result<PutResult>(UnavailableError("disk on fire"));
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  Status failed;
  const std::string data = RandomBytes(100, 12);
  for (size_t at = 0; at < data.size() && failed.ok(); at += 10) {
    failed = upload->Write(Sub(data, at, at + 10));
  }
  if (failed.ok()) failed = upload->Finish().status();
  EXPECT_THAT(failed, StatusIs(StatusCode::kUnavailable,
                               AllOf(HasSubstr("disk on fire"), HasSubstr(bad_part))));
  EXPECT_THAT(KeysUnder(backend(), Key("/")), ElementsAre(Key("/aborted")));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, reader->State());
  EXPECT_TRUE(state.aborted);
  EXPECT_THAT(state.abort_reason, HasSubstr("disk on fire"));
  // Every later call returns the first error.
  EXPECT_EQ(upload->Write("x"), failed);
  EXPECT_EQ(upload->Finish().status(), failed);
}

TEST_P(StreamConformance, AFailingIndexWriteIsReportedNeverSwallowed) {
  // Index writes: the empty segment at Start, then one per part (one part in flight at a time).
  // The 3rd is a middle part's, the 4th the final part's (Store Stream never awaited that one).
  for (int failing : {3, 4}) {
    SCOPED_TRACE(failing);
    const std::string key = fmt::format("{}-{}", kKey, failing);
    std::atomic<int> index_writes{0};
    store().OnPut([&](std::string_view put_key, const Bytes&,
                      const PutOptions&) -> std::optional<Result<PutResult>> {
      if (put_key.starts_with(key + "/index/") && ++index_writes == failing) {
        return Result<PutResult>(UnavailableError("index write lost"));
      }
      return std::nullopt;
    });
    DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, StreamUpload::Start(store(), key, Parts(10, 10, 1)));
    Status failed = upload->Write(RandomBytes(25, 13));
    if (failed.ok()) failed = upload->Finish().status();
    EXPECT_THAT(failed,
                StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr("index write lost"),
                                                         HasSubstr(key + "/index/0000000000"))));
    EXPECT_EQ(index_writes.load(), failing);
    EXPECT_THAT(KeysUnder(backend(), key + "/"), ElementsAre(key + "/aborted"));
  }
}

TEST_P(StreamConformance, FinishWaitsForTheLastIndexWrite) {
  std::mutex mu;
  std::condition_variable cv;
  bool held = false;     // the final index write is being held
  bool release = false;  // let it go
  std::atomic<int> index_writes{0};
  store().OnPut([&](std::string_view key, const Bytes&,
                    const PutOptions&) -> std::optional<Result<PutResult>> {
    // Writes: Start's, part 0's, then the final part's (the third).
    if (key.starts_with(Key("/index/")) && ++index_writes == 3) {
      std::unique_lock lock(mu);
      held = true;
      cv.notify_all();
      if (!cv.wait_for(lock, kLongWait, [&] { return release; })) {
        return Result<PutResult>(DeadlineExceededError("test gate"));
      }
    }
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10, 10, 1)));
  ASSERT_THAT(upload->Write(RandomBytes(15, 14)), IsOk());
  std::atomic<bool> finished{false};
  Result<StreamSummary> done = InternalError("not run");
  std::thread finisher([&] {
    done = upload->Finish();
    finished = true;
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kLongWait, [&] { return held; }));
  }
  EXPECT_FALSE(finished.load());  // the final part's index write has not returned yet
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  finisher.join();
  ASSERT_THAT(done, IsOk());
  EXPECT_EQ(done->parts, 2u);
}

TEST_P(StreamConformance, AFailingCompletionMarkerIsReported) {
  store().OnPut([&](std::string_view key, const Bytes&,
                    const PutOptions&) -> std::optional<Result<PutResult>> {
    if (key == Key("/complete")) return Result<PutResult>(PermissionDeniedError("read-only"));
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write(RandomBytes(25, 15)), IsOk());
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kPermissionDenied,
                                         AllOf(HasSubstr("read-only"), HasSubstr("/complete"))));
  EXPECT_THAT(KeysUnder(backend(), Key("/")), ElementsAre(Key("/aborted")));
}

TEST_P(StreamConformance, ManyTinyPartsCrossIndexSegmentsAndTheIndexGrowsLinearly) {
  const int parts = GetParam().many_parts;
  constexpr uint32_t kEntries = 64;
  constexpr uint64_t kLargestSegment = stream::kIndexHeaderBytes + 8 * kEntries;
  std::atomic<uint64_t> index_bytes{0};
  std::atomic<uint64_t> index_writes{0};
  std::atomic<uint64_t> largest_write{0};
  store().OnPut([&](std::string_view key, const Bytes& data,
                    const PutOptions&) -> std::optional<Result<PutResult>> {
    if (key.starts_with(Key("/index/"))) {
      index_bytes += data.size();
      ++index_writes;
      uint64_t seen = largest_write.load();
      while (seen < data.size() && !largest_write.compare_exchange_weak(seen, data.size())) {
      }
    }
    return std::nullopt;
  });
  const std::string data = RandomBytes(static_cast<size_t>(parts), 16);
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, StreamUpload::Start(store(), std::string(kKey), Parts(1, 1, 8, kEntries)));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto follower,
                             StreamReader::Open(store(), std::string(kKey), FastPolls()));
  const size_t half = data.size() / 2;
  ASSERT_THAT(WriteInChunks(*upload, data.substr(0, half), 5, 17), IsOk());
  // A reader following the upload caches full segments and re-reads only the newest.
  ASSERT_TRUE(Eventually([&] { return Available(*follower) == half; }));
  ASSERT_THAT(WriteInChunks(*upload, data.substr(half), 5, 18), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamSummary done, upload->Finish());
  EXPECT_EQ(done.parts, static_cast<uint64_t>(parts));

  const uint64_t segments = (parts + kEntries - 1) / kEntries;
  EXPECT_EQ(KeysUnder(backend(), Key("/index/")).size(), segments);
  EXPECT_EQ(KeysUnder(backend(), Key("/part/")).size(), static_cast<size_t>(parts));
  // Linear: every index write is at most one segment, and there is at most one per part (plus
  // Start's and one per full segment). Rewriting the whole index per part, as Store Stream does,
  // would cost 4 x parts^2 bytes.
  EXPECT_LE(largest_write.load(), kLargestSegment);
  EXPECT_LE(index_writes.load(), parts + segments + 1);
  EXPECT_LE(index_bytes.load(), (parts + segments + 1) * kLargestSegment);

  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, follower->State());
  EXPECT_TRUE(state.complete);
  EXPECT_EQ(state.parts, static_cast<uint64_t>(parts));
  EXPECT_EQ(state.available, static_cast<uint64_t>(parts));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto fresh,
                             StreamReader::Open(store(), std::string(kKey), FastPolls(8)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead all, fresh->ReadRange(ByteRange::Full()));
  EXPECT_EQ(all.data.ToString(), data);
  std::mt19937_64 rng(19);
  for (int i = 0; i < 30; ++i) {
    const uint64_t begin = rng() % data.size();
    const uint64_t end = std::min<uint64_t>(data.size(), begin + 1 + rng() % 200);
    DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead got, follower->ReadRange(ByteRange::Bounded(begin, end)));
    EXPECT_EQ(got.data.ToString(), Sub(data, begin, end)) << begin << ".." << end;
  }
  // Across a segment boundary.
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead across,
                             fresh->ReadRange(ByteRange::Bounded(kEntries - 2, kEntries + 2)));
  EXPECT_EQ(across.data.ToString(), Sub(data, kEntries - 2, kEntries + 2));
}

TEST_P(StreamConformance, MemoryIsBoundedByPartsInFlightAndTheChannel) {
  constexpr uint64_t kPart = 8;
  constexpr int kInFlight = 2;
  constexpr size_t kCapacity = 2;
  constexpr int kChunks = 40;
  // Chunks the upload may hold that have not landed: the parts in flight, the one being cut and
  // the channel's.
  constexpr int kBound = kInFlight + 1 + static_cast<int>(kCapacity);
  std::mutex mu;
  std::condition_variable cv;
  int permits = 0;
  int running = 0;
  int max_running = 0;
  std::atomic<int> landed{0};
  store().OnPut([&](std::string_view key, const Bytes& data,
                    const PutOptions& options) -> std::optional<Result<PutResult>> {
    if (key.find("/part/") == std::string_view::npos) return std::nullopt;
    {
      std::unique_lock lock(mu);
      max_running = std::max(max_running, ++running);
      if (!cv.wait_for(lock, kLongWait, [&] { return permits > 0; })) {
        --running;
        return Result<PutResult>(DeadlineExceededError("test gate"));
      }
      --permits;
    }
    Result<PutResult> put = store().inner().Put(key, data, options);
    {
      std::lock_guard lock(mu);
      --running;
    }
    ++landed;
    return put;
  });
  const std::string data = RandomBytes(kPart * kChunks, 20);
  BoundedChannel<Bytes> channel(kCapacity);
  std::atomic<int> most_outstanding{0};
  std::atomic<bool> producer_done{false};
  std::thread producer([&] {
    for (int i = 0; i < kChunks; ++i) {
      ASSERT_THAT(channel.Send(Bytes::Copy(Sub(data, i * kPart, (i + 1) * kPart))), IsOk());
      most_outstanding = std::max(most_outstanding.load(), i + 1 - landed.load());
    }
    channel.Close();
    producer_done = true;
  });
  Result<StreamSummary> uploaded = InternalError("not run");
  std::thread uploader([&] {
    uploaded = UploadStream(store(), std::string(kKey), channel, Parts(kPart, kPart, kInFlight));
  });
  // Let one part land at a time, each time the producer has filled the channel again: the
  // producer always runs as far ahead as the upload lets it.
  for (int i = 0; i < kChunks; ++i) {
    ASSERT_TRUE(Eventually([&] { return channel.size() == kCapacity || producer_done.load(); }));
    {
      std::lock_guard lock(mu);
      ++permits;
    }
    cv.notify_all();
  }
  producer.join();
  uploader.join();
  ASSERT_THAT(uploaded, IsOk());
  EXPECT_LE(most_outstanding.load(), kBound);
  std::lock_guard lock(mu);
  EXPECT_LE(max_running, kInFlight);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead all, reader->ReadRange(ByteRange::Full()));
  EXPECT_EQ(all.data.ToString(), data);
}

TEST_P(StreamConformance, AProducerErrorAbortsTheUpload) {
  BoundedChannel<Bytes> channel(8);
  for (int i = 0; i < 3; ++i) ASSERT_THAT(channel.Send(Bytes::Copy(RandomBytes(10, i))), IsOk());
  channel.Close(DataLossError("source checksum mismatch"));
  EXPECT_THAT(UploadStream(store(), std::string(kKey), channel, Parts(10)),
              StatusIs(StatusCode::kDataLoss, HasSubstr("source checksum mismatch")));
  EXPECT_THAT(KeysUnder(backend(), Key("/")), ElementsAre(Key("/aborted")));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, reader->State());
  EXPECT_TRUE(state.aborted);
  EXPECT_THAT(state.abort_reason, HasSubstr("source checksum mismatch"));
}

TEST_P(StreamConformance, AnUploadFailureWakesABlockedProducerWithTheError) {
  store().OnPut([&](std::string_view key, const Bytes&,
                    const PutOptions&) -> std::optional<Result<PutResult>> {
    if (key == stream::PartKey(kKey, 0)) return Result<PutResult>(UnavailableError("injected"));
    return std::nullopt;
  });
  BoundedChannel<Bytes> channel(1);
  Status producer_saw;
  std::thread producer([&] {
    for (int i = 0; i < 1000 && producer_saw.ok(); ++i) {
      producer_saw = channel.Send(Bytes::Copy(RandomBytes(10, i)));
    }
  });
  EXPECT_THAT(UploadStream(store(), std::string(kKey), channel, Parts(10, 10, 1)),
              StatusIs(StatusCode::kUnavailable, HasSubstr("injected")));
  producer.join();
  EXPECT_THAT(producer_saw, StatusIs(StatusCode::kUnavailable, HasSubstr("injected")));
}

TEST_P(StreamConformance, PartSizesAreBoundedAboveAndBelow) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10, 30)));
  const std::string data = RandomBytes(205, 21);
  ASSERT_THAT(upload->Write(Bytes::Copy(Sub(data, 0, 100))), IsOk());    // split: 30 30 30 10
  ASSERT_THAT(upload->Write(Sub(data, 100, 105)), IsOk());               // buffered
  ASSERT_THAT(upload->Write(Bytes::Copy(Sub(data, 105, 205))), IsOk());  // 5 + 5, 30 30 30, 5
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamSummary done, upload->Finish());
  std::vector<uint64_t> sizes;
  for (uint64_t i = 0; i < done.parts; ++i) {
    DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, backend().Head(stream::PartKey(kKey, i)));
    sizes.push_back(meta.size);
  }
  EXPECT_THAT(sizes, ElementsAre(30, 30, 30, 10, 10, 30, 30, 30, 5));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead all, reader->ReadRange(ByteRange::Full()));
  EXPECT_EQ(all.data.ToString(), data);
}

TEST_P(StreamConformance, StartRefusesAnExistingStreamUntilItIsDeleted) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(upload->Write("first"), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_THAT(StreamUpload::Start(store(), std::string(kKey), Parts(10)),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr(std::string(kKey))));
  // The refused start changed nothing.
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead first, reader->ReadRange(ByteRange::Full()));
  EXPECT_EQ(first.data.ToString(), "first");

  EXPECT_THAT(DeleteStream(store(), kKey), StatusIs(StatusCode::kOk));
  EXPECT_THAT(KeysUnder(backend(), Key("/")), IsEmpty());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto again,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10)));
  ASSERT_THAT(again->Write("second"), IsOk());
  ASSERT_THAT(again->Finish(), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto fresh, StreamReader::Open(store(), std::string(kKey)));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead second, fresh->ReadRange(ByteRange::Full()));
  EXPECT_EQ(second.data.ToString(), "second");
}

TEST_P(StreamConformance, DeleteStreamRemovesEveryObjectAndReadersSeeNotFound) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10, 10, 4, 2)));
  ASSERT_THAT(upload->Write(RandomBytes(55, 22)), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  ASSERT_THAT(backend().Put("streams/cam10", Bytes::Copy("a neighbour")), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store(), std::string(kKey)));
  ASSERT_THAT(reader->ReadRange(ByteRange::Bounded(0, 5)), IsOk());  // caches the whole index

  // 6 parts, 3 index segments, the completion marker.
  DEPOT_ASSERT_OK_AND_ASSIGN(uint64_t deleted, DeleteStream(store(), kKey));
  EXPECT_EQ(deleted, 10u);
  EXPECT_THAT(KeysUnder(backend(), Key("")), ElementsAre("streams/cam10"));
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(0, 5)),
              StatusIs(StatusCode::kNotFound, HasSubstr("deleted")));
  EXPECT_THAT(reader->State(), StatusIs(StatusCode::kNotFound));
  DEPOT_ASSERT_OK_AND_ASSIGN(uint64_t none, DeleteStream(store(), kKey));
  EXPECT_EQ(none, 0u);
}

TEST_P(StreamConformance, AKilledWriterLeavesAStreamThatStopsGrowing) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(10, 10, 1)));
  const std::string data = RandomBytes(25, 23);
  ASSERT_THAT(upload->Write(data), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader,
                             StreamReader::Open(store(), std::string(kKey), FastPolls()));
  ASSERT_TRUE(Eventually([&] { return Available(*reader) == 20; }));
  // The writer dies: nothing it tries to write or delete from now on reaches the store.
  store().FailNext(Op::kPut, UnavailableError("writer killed"), 1000);
  store().FailNext(Op::kDelete, UnavailableError("writer killed"), 1000);
  store().FailNext(Op::kDeleteMany, UnavailableError("writer killed"), 1000);
  upload.reset();

  DEPOT_ASSERT_OK_AND_ASSIGN(StreamState state, reader->State());
  EXPECT_FALSE(state.complete);
  EXPECT_FALSE(state.aborted);
  EXPECT_EQ(state.available, 20u);
  EXPECT_EQ(state.parts, 2u);
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(0, 25), milliseconds(30)),
              StatusIs(StatusCode::kDeadlineExceeded,
                       AllOf(HasSubstr("[0, 20) in 2 parts"), HasSubstr("last changed"))));
  DEPOT_ASSERT_OK_AND_ASSIGN(StreamRead landed, reader->ReadRange(ByteRange::Bounded(0, 20)));
  EXPECT_EQ(landed.data.ToString(), Sub(data, 0, 20));
}

TEST_P(StreamConformance, ConcurrentReadersFollowAWriter) {
  const std::string data = RandomBytes(2000, 24);
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload,
                             StreamUpload::Start(store(), std::string(kKey), Parts(16, 40, 3, 8)));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto shared,
                             StreamReader::Open(store(), std::string(kKey), FastPolls(2)));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto own,
                             StreamReader::Open(store(), std::string(kKey), FastPolls(3)));
  std::atomic<int> mismatches{0};
  std::atomic<int> errors{0};
  auto read_randomly = [&](StreamReader* reader, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 40; ++i) {
      const uint64_t begin = rng() % data.size();
      const uint64_t end = std::min<uint64_t>(data.size(), begin + 1 + rng() % 300);
      auto got = reader->ReadRange(ByteRange::Bounded(begin, end), kLongWait);
      if (!got.ok()) {
        ++errors;
        ADD_FAILURE() << got.status();
      } else if (got->data.ToString() != Sub(data, begin, end)) {
        ++mismatches;
      }
    }
  };
  std::vector<std::thread> readers;
  readers.emplace_back(read_randomly, shared.get(), 25);
  readers.emplace_back(read_randomly, shared.get(), 26);
  readers.emplace_back(read_randomly, own.get(), 27);
  // No ASSERT before the readers are joined: they wait for bytes only the writer can give.
  Status written = WriteInChunks(*upload, data, 37, 28);
  EXPECT_THAT(written, IsOk());
  if (written.ok()) {
    EXPECT_THAT(upload->Finish(), IsOk());
  } else {
    EXPECT_THAT(upload->Abort(), IsOk());
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

}  // namespace
}  // namespace depot::object::testing
