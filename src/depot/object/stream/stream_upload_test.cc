// The streaming-upload suite over the memory and local stores, plus the format and validation
// tests that need no particular backend.
#include "depot/object/stream/stream_upload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/stream/stream_layout.h"
#include "depot/object/stream/stream_reader.h"
#include "depot/object/stream/testing/stream_conformance.h"
#if DEPOT_WITH_LOCAL
#include "depot/object/local/local_store.h"
#endif

namespace depot::object {
namespace {

namespace fs = std::filesystem;

using ::depot::object::testing::StreamBackend;
using ::depot::object::testing::StreamBackendName;
using ::depot::object::testing::StreamConformance;
using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(Memory, StreamConformance,
                         ::testing::Values(StreamBackend{
                             "memory",
                             []() -> Result<std::shared_ptr<ObjectStore>> {
                               return std::make_shared<MemoryStore>();
                             }}),
                         StreamBackendName);

#if DEPOT_WITH_LOCAL
// The local stores live in one directory per test process, removed at the end.
class LocalRoots : public ::testing::Environment {
 public:
  static fs::path Next() {
    static std::atomic<int> next{0};
    return parent() / ("store-" + std::to_string(next++));
  }
  void TearDown() override {
    std::error_code ec;
    if (!parent().empty()) fs::remove_all(parent(), ec);
  }

 private:
  static const fs::path& parent() {
    static const fs::path path = [] {
      std::string pattern = (fs::temp_directory_path() / "depot-stream-test-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr) std::abort();
      return fs::path(pattern);
    }();
    return path;
  }
};
[[maybe_unused]] ::testing::Environment* const kLocalRoots =
    ::testing::AddGlobalTestEnvironment(new LocalRoots);

INSTANTIATE_TEST_SUITE_P(Local, StreamConformance,
                         ::testing::Values(StreamBackend{
                             "local",
                             []() -> Result<std::shared_ptr<ObjectStore>> {
                               DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<LocalStore> store,
                                                      LocalStore::Open(LocalRoots::Next()));
                               return std::shared_ptr<ObjectStore>(std::move(store));
                             }}),
                         StreamBackendName);
#endif

TEST(StreamLayoutTest, KeysSortInPartOrder) {
  EXPECT_EQ(stream::PartKey("k", 0), "k/part/0000000000");
  EXPECT_EQ(stream::PartKey("k", 9999999999), "k/part/9999999999");
  EXPECT_EQ(stream::IndexKey("a/b", 12), "a/b/index/0000000012");
  EXPECT_EQ(stream::CompleteKey("a/b"), "a/b/complete");
  EXPECT_EQ(stream::AbortedKey("a/b"), "a/b/aborted");
  EXPECT_LT(stream::PartKey("k", 9), stream::PartKey("k", 10));
}

TEST(StreamLayoutTest, ValidatesStreamKeys) {
  EXPECT_THAT(stream::ValidateStreamKey("live/cam1"), IsOk());
  EXPECT_THAT(stream::ValidateStreamKey(""), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(stream::ValidateStreamKey("live/"), IsOk());  // parts "live//part/..." are keys too
  EXPECT_THAT(stream::ValidateStreamKey(std::string(1007, 'a')), IsOk());
  EXPECT_THAT(stream::ValidateStreamKey(std::string(1008, 'a')),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at most 1007")));
  EXPECT_THAT(stream::ValidateStreamKey(std::string("a\0b", 3)),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(StreamLayoutTest, IndexSegmentRoundTripsInTheDocumentedFormat) {
  const stream::IndexSegment segment{.number = 3, .capacity = 4, .base = 300, .ends = {310, 400}};
  const Bytes encoded = stream::EncodeIndexSegment(segment);
  ASSERT_EQ(encoded.size(), 32u + 16u);
  const std::string expected_header("DPSTIDX1\0\0\0\4\0\0\0\2\0\0\0\0\0\0\0\3\0\0\0\0\0\0\1\x2c",
                                    32);
  EXPECT_EQ(encoded.view().substr(0, 32), expected_header);
  DEPOT_ASSERT_OK_AND_ASSIGN(stream::IndexSegment decoded,
                             stream::DecodeIndexSegment("k/index/0000000003", 3, encoded.view()));
  EXPECT_EQ(decoded.number, 3u);
  EXPECT_EQ(decoded.capacity, 4u);
  EXPECT_EQ(decoded.base, 300u);
  EXPECT_THAT(decoded.ends, ElementsAre(310, 400));
  EXPECT_FALSE(decoded.full());
}

TEST(StreamLayoutTest, IndexSegmentDecoderRejectsWhatTheFormatForbids) {
  const std::string good =
      stream::EncodeIndexSegment({.number = 0, .capacity = 2, .base = 0, .ends = {5, 9}})
          .ToString();
  auto decode = [](std::string_view data, uint64_t number = 0) {
    return stream::DecodeIndexSegment("s/index/0000000000", number, data);
  };
  ASSERT_THAT(decode(good), IsOk());
  EXPECT_THAT(decode(good.substr(0, 20)),
              StatusIs(StatusCode::kDataLoss,
                       AllOf(HasSubstr("s/index/0000000000"), HasSubstr("shorter"))));
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_THAT(decode(bad_magic), StatusIs(StatusCode::kDataLoss, HasSubstr("magic")));
  EXPECT_THAT(decode(good.substr(0, good.size() - 1)),
              StatusIs(StatusCode::kDataLoss, HasSubstr("bytes, not")));
  EXPECT_THAT(decode(good, 1), StatusIs(StatusCode::kDataLoss, HasSubstr("number 0")));
  std::string over = good;
  over[15] = 3;  // 3 entries in a segment of 2
  EXPECT_THAT(decode(over), StatusIs(StatusCode::kDataLoss, HasSubstr("3 entries of 2")));
  const std::string unordered =
      stream::EncodeIndexSegment({.number = 0, .capacity = 2, .base = 0, .ends = {9, 5}})
          .ToString();
  EXPECT_THAT(decode(unordered), StatusIs(StatusCode::kDataLoss, HasSubstr("not after 9")));
  const std::string empty_part =
      stream::EncodeIndexSegment({.number = 0, .capacity = 2, .base = 0, .ends = {0}}).ToString();
  EXPECT_THAT(decode(empty_part), StatusIs(StatusCode::kDataLoss));
  const std::string no_capacity =
      stream::EncodeIndexSegment({.number = 0, .capacity = 0, .base = 0, .ends = {}}).ToString();
  EXPECT_THAT(decode(no_capacity), StatusIs(StatusCode::kDataLoss));
}

TEST(StreamLayoutTest, MarkersRoundTripAndRejectGarbage) {
  const Bytes complete =
      stream::EncodeCompleteMarker({.size = 1234, .parts = 3, .index_segment_entries = 1024});
  EXPECT_EQ(complete.ToString(),
            R"({"format":"depot-stream/1","index_segment_entries":1024,"parts":3,"size":1234})");
  DEPOT_ASSERT_OK_AND_ASSIGN(stream::CompleteMarker marker,
                             stream::DecodeCompleteMarker("k/complete", complete.view()));
  EXPECT_EQ(marker.size, 1234u);
  EXPECT_EQ(marker.parts, 3u);
  EXPECT_EQ(marker.index_segment_entries, 1024u);

  EXPECT_THAT(stream::DecodeCompleteMarker("k/complete", "{not json"),
              StatusIs(StatusCode::kDataLoss, HasSubstr("k/complete")));
  EXPECT_THAT(stream::DecodeCompleteMarker("k/complete", R"({"format":"other","size":1})"),
              StatusIs(StatusCode::kDataLoss, HasSubstr("format")));
  EXPECT_THAT(stream::DecodeCompleteMarker("k/complete",
                                           R"({"format":"depot-stream/1","size":-1,"parts":0,)"
                                           R"("index_segment_entries":4})"),
              StatusIs(StatusCode::kDataLoss, HasSubstr("\"size\"")));
  EXPECT_THAT(
      stream::DecodeCompleteMarker("k/complete", R"({"format":"depot-stream/1","size":5,"parts":0,)"
                                                 R"("index_segment_entries":4})"),
      StatusIs(StatusCode::kDataLoss, HasSubstr("5 bytes")));

  // Any bytes in a reason: invalid UTF-8 is replaced, the marker stays valid JSON.
  const Bytes aborted = stream::EncodeAbortMarker("bad \xff byte");
  DEPOT_ASSERT_OK_AND_ASSIGN(std::string reason,
                             stream::DecodeAbortMarker("k/aborted", aborted.view()));
  EXPECT_THAT(reason, AllOf(HasSubstr("bad "), HasSubstr(" byte")));
  EXPECT_THAT(stream::DecodeAbortMarker("k/aborted", R"({"format":"depot-stream/1"})"),
              StatusIs(StatusCode::kDataLoss, HasSubstr("reason")));
}

TEST(StreamUploadTest, RejectsBadKeysAndOptions) {
  MemoryStore store;
  EXPECT_THAT(StreamUpload::Start(store, ""), StatusIs(StatusCode::kInvalidArgument));
  auto with = [](auto change) {
    StreamUploadOptions options;
    change(options);
    return options;
  };
  EXPECT_THAT(StreamUpload::Start(store, "x", with([](auto& o) { o.min_part_size = 0; })),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("min_part_size")));
  EXPECT_THAT(StreamUpload::Start(store, "x", with([](auto& o) { o.max_part_size = 5; })),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("max_part_size 5")));
  EXPECT_THAT(StreamUpload::Start(store, "x", with([](auto& o) { o.max_in_flight = 0; })),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("max_in_flight is 0")));
  EXPECT_THAT(StreamUpload::Start(store, "x", with([](auto& o) { o.index_segment_entries = 0; })),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("index_segment_entries is 0")));
  // Nothing was written by the refused starts.
  auto listed = store.List({});
  ASSERT_THAT(listed, IsOk());
  EXPECT_TRUE(listed->objects.empty());

  EXPECT_THAT(StreamReader::Open(store, ""), StatusIs(StatusCode::kInvalidArgument));
  StreamReaderOptions no_threads;
  no_threads.max_concurrency = 0;
  EXPECT_THAT(StreamReader::Open(store, "x", no_threads),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("max_concurrency is 0")));
  StreamReaderOptions busy_poll;
  busy_poll.poll.initial = std::chrono::milliseconds(0);
  EXPECT_THAT(StreamReader::Open(store, "x", busy_poll), StatusIs(StatusCode::kInvalidArgument));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store, "x"));
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(5, 3)), StatusIs(StatusCode::kInvalidArgument));
}

// A stream written through the real upload, for the corruption tests to damage.
class StreamCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, StreamUpload::Start(store_, "s", Options()));
    ASSERT_THAT(upload->Write(std::string(25, 'x')), IsOk());
    ASSERT_THAT(upload->Finish(), IsOk());
  }
  static StreamUploadOptions Options() {
    StreamUploadOptions options;
    options.min_part_size = options.max_part_size = 10;
    options.index_segment_entries = 2;
    return options;
  }
  Status Replace(std::string_view key, Bytes data) { return store_.Put(key, data, {}).status(); }

  MemoryStore store_;
};

TEST_F(StreamCorruptionTest, ACorruptIndexSegmentIsDataLoss) {
  ASSERT_THAT(Replace("s/index/0000000001", Bytes::Copy("garbage")), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store_, "s"));
  EXPECT_THAT(reader->State(), StatusIs(StatusCode::kDataLoss, HasSubstr("s/index/0000000001")));
}

TEST_F(StreamCorruptionTest, ASegmentThatDoesNotContinueThePreviousOneIsDataLoss) {
  ASSERT_THAT(
      Replace("s/index/0000000001",
              stream::EncodeIndexSegment({.number = 1, .capacity = 2, .base = 21, .ends = {25}})),
      IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store_, "s"));
  EXPECT_THAT(reader->State(),
              StatusIs(StatusCode::kDataLoss, HasSubstr("previous segment ends at byte 20")));
}

TEST_F(StreamCorruptionTest, ACompletionMarkerThatContradictsTheIndexIsDataLoss) {
  ASSERT_THAT(Replace("s/complete", stream::EncodeCompleteMarker(
                                        {.size = 30, .parts = 3, .index_segment_entries = 2})),
              IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store_, "s"));
  EXPECT_THAT(reader->ReadRange(ByteRange::Full()),
              StatusIs(StatusCode::kDataLoss, AllOf(HasSubstr("30 bytes"), HasSubstr("25 bytes"))));
}

TEST_F(StreamCorruptionTest, APartOfTheWrongSizeIsDataLoss) {
  ASSERT_THAT(Replace("s/part/0000000001", Bytes::Copy("short")), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store_, "s"));
  EXPECT_THAT(reader->ReadRange(ByteRange::Bounded(12, 14)),
              StatusIs(StatusCode::kDataLoss,
                       AllOf(HasSubstr("s/part/0000000001"), HasSubstr("index says it is 10"))));
}

TEST_F(StreamCorruptionTest, AMissingPartOfALiveStreamIsDataLoss) {
  ASSERT_THAT(store_.Delete("s/part/0000000002"), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reader, StreamReader::Open(store_, "s"));
  EXPECT_THAT(reader->ReadRange(ByteRange::From(5)),
              StatusIs(StatusCode::kDataLoss, HasSubstr("part 2")));
}

}  // namespace
}  // namespace depot::object
