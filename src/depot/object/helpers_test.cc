#include "depot/object/helpers.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/testing/fault_store.h"

namespace depot::object {
namespace {

namespace fs = std::filesystem;
using ::depot::object::testing::FaultInjectingStore;
using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Op = FaultInjectingStore::Op;

class HelpersTest : public ::testing::Test {
 protected:
  HelpersTest()
      : memory_(std::make_shared<MemoryStore>(MemoryStoreOptions{.min_part_size = 5})),
        store_(std::make_shared<FaultInjectingStore>(memory_)) {
    std::string pattern = (fs::temp_directory_path() / "depot-helpers-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
  }
  ~HelpersTest() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << "mkdtemp failed"; }

  void WriteFile(const fs::path& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary);
    out << data;
    ASSERT_TRUE(out.good());
  }
  std::string ReadFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }
  std::vector<std::string> DirEntries() {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string Stored(std::string_view key) {
    auto got = memory_->Get(key, {});
    EXPECT_THAT(got, IsOk());
    return got.ok() ? got->data.ToString() : "<missing>";
  }

  static BufferedUploadOptions Geometric(uint64_t min, uint64_t max) {
    BufferedUploadOptions options;
    options.part_size = PartSizePolicy::Geometric(min, max);
    return options;
  }
  static ObjectReaderOptions SmallChunks(uint64_t chunk_size) {
    ObjectReaderOptions options;
    options.chunk_size = chunk_size;
    options.retry.initial = std::chrono::milliseconds(1);
    return options;
  }

  std::shared_ptr<MemoryStore> memory_;
  std::shared_ptr<FaultInjectingStore> store_;
  fs::path dir_;
};

TEST_F(HelpersTest, PutFileReadsWholeParts) {
  const std::string data = RandomBytes(1000, 1);
  WriteFile(dir_ / "in.bin", data);
  std::mutex mu;
  std::map<int, uint64_t> sizes;
  store_->OnPutPart([&](std::string_view, std::string_view, int number,
                        const Bytes& part) -> std::optional<Result<PartInfo>> {
    std::lock_guard lock(mu);
    sizes[number] = part.size();
    return std::nullopt;
  });
  ASSERT_THAT(PutFile(*store_, "obj", dir_ / "in.bin", Geometric(64, 256)), IsOk());
  EXPECT_EQ(Stored("obj"), data);
  std::lock_guard lock(mu);
  std::vector<uint64_t> in_order;
  for (const auto& [number, size] : sizes) in_order.push_back(size);
  EXPECT_THAT(in_order, ElementsAre(64, 128, 256, 256, 256, 40));
}

TEST_F(HelpersTest, PutFileOfASmallFileIsOnePut) {
  WriteFile(dir_ / "small", "tiny");
  ASSERT_THAT(PutFile(*store_, "small", dir_ / "small", Geometric(64, 256)), IsOk());
  EXPECT_EQ(Stored("small"), "tiny");
  EXPECT_EQ(store_->calls(Op::kPut), 1);
  EXPECT_EQ(store_->calls(Op::kCreateMultipart), 0);

  WriteFile(dir_ / "empty", "");
  ASSERT_THAT(PutFile(*store_, "empty", dir_ / "empty", Geometric(64, 256)), IsOk());
  EXPECT_EQ(Stored("empty"), "");
}

TEST_F(HelpersTest, PutFileErrors) {
  EXPECT_THAT(PutFile(*store_, "k", dir_ / "missing", Geometric(64, 256)),
              StatusIs(StatusCode::kNotFound, HasSubstr("missing")));
  EXPECT_THAT(PutFile(*store_, "k", dir_, Geometric(64, 256)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("directory")));
  WriteFile(dir_ / "f", "abc");
  EXPECT_THAT(PutFile(*store_, "k", dir_ / "f", Geometric(1, 256)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(memory_->Head("k"), StatusIs(StatusCode::kNotFound));
}

TEST_F(HelpersTest, GetToFileWritesAndReplacesAtomically) {
  const std::string data = RandomBytes(5000, 2);
  ASSERT_THAT(memory_->Put("obj", Bytes::Copy(data), {}), IsOk());
  WriteFile(dir_ / "out.bin", "old contents");
  ASSERT_THAT(GetToFile(*store_, "obj", dir_ / "out.bin", SmallChunks(700)), IsOk());
  EXPECT_EQ(ReadFile(dir_ / "out.bin"), data);
  EXPECT_THAT(DirEntries(), ElementsAre("out.bin"));  // no temporary file left behind
}

TEST_F(HelpersTest, GetToFileFailureLeavesTheTargetAlone) {
  WriteFile(dir_ / "out.bin", "old contents");
  EXPECT_THAT(GetToFile(*store_, "missing", dir_ / "out.bin"), StatusIs(StatusCode::kNotFound));
  ASSERT_THAT(memory_->Put("obj", Bytes::Copy(RandomBytes(5000, 3)), {}), IsOk());
  store_->FailNext(Op::kGet, PermissionDeniedError("denied"), 1);
  EXPECT_THAT(GetToFile(*store_, "obj", dir_ / "out.bin", SmallChunks(700)),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("denied")));
  EXPECT_EQ(ReadFile(dir_ / "out.bin"), "old contents");
  EXPECT_THAT(DirEntries(), ElementsAre("out.bin"));
  EXPECT_THAT(GetToFile(*store_, "obj", dir_ / "no-such-dir" / "x"),
              StatusIs(StatusCode::kNotFound));
}

TEST_F(HelpersTest, GetAllAndExists) {
  ASSERT_THAT(memory_->Put("obj", Bytes::Copy("payload"), {}), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(Bytes all, GetAll(*store_, "obj"));
  EXPECT_EQ(all.ToString(), "payload");
  EXPECT_THAT(GetAll(*store_, "missing"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(Exists(*store_, "obj"), IsOk());
  EXPECT_TRUE(*Exists(*store_, "obj"));
  EXPECT_FALSE(*Exists(*store_, "missing"));
  store_->FailNext(Op::kHead, UnavailableError("down"));
  EXPECT_THAT(Exists(*store_, "obj"), StatusIs(StatusCode::kUnavailable));
}

TEST_F(HelpersTest, CopyBetweenStreamsAcrossStores) {
  const std::string data = RandomBytes(10'000, 4);
  PutOptions put;
  put.content_type = "application/x-data";
  put.user_metadata["origin"] = "source";
  ASSERT_THAT(memory_->Put("src", Bytes::Copy(data), put), IsOk());
  auto target = std::make_shared<MemoryStore>(MemoryStoreOptions{.min_part_size = 5});
  FaultInjectingStore to(target);
  ASSERT_THAT(CopyBetween(*store_, "src", to, "dst", SmallChunks(300), Geometric(100, 1000)),
              IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(GetResult got, target->Get("dst", {}));
  EXPECT_EQ(got.data.ToString(), data);
  EXPECT_EQ(got.meta.content_type, "application/x-data");
  EXPECT_EQ(got.meta.user_metadata.at("origin"), "source");
  EXPECT_GT(to.calls(Op::kPutPart), 5);

  // Options given for the destination win over the source's metadata.
  BufferedUploadOptions write = Geometric(100, 1000);
  write.put_options.content_type = "text/plain";
  ASSERT_THAT(CopyBetween(*store_, "src", to, "dst2", SmallChunks(300), write), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, target->Head("dst2"));
  EXPECT_EQ(meta.content_type, "text/plain");
}

TEST_F(HelpersTest, CopyBetweenFailureLeavesNothingBehind) {
  ASSERT_THAT(memory_->Put("src", Bytes::Copy(RandomBytes(10'000, 5)), {}), IsOk());
  auto target = std::make_shared<MemoryStore>(MemoryStoreOptions{.min_part_size = 5});
  EXPECT_THAT(CopyBetween(*store_, "missing", *target, "dst"), StatusIs(StatusCode::kNotFound));
  // The source fails half way: the destination's multipart upload is aborted.
  std::atomic<int> gets{0};
  store_->OnGet(
      [&](std::string_view, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head && ++gets > 10)
          return Result<GetResult>(PermissionDeniedError("cut off"));
        return std::nullopt;
      });
  EXPECT_THAT(CopyBetween(*store_, "src", *target, "dst", SmallChunks(300), Geometric(100, 1000)),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("cut off")));
  EXPECT_THAT(target->Head("dst"), StatusIs(StatusCode::kNotFound));
  auto uploads = target->ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  EXPECT_THAT(*uploads, IsEmpty());
}

TEST_F(HelpersTest, ListAllFollowsPages) {
  for (int i = 0; i < 2500; ++i) {
    ASSERT_THAT(memory_->Put(fmt::format("a/{:05}", i), Bytes::Copy("x"), {}), IsOk());
  }
  ASSERT_THAT(memory_->Put("b/1", Bytes::Copy("x"), {}), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(std::vector<ObjectMeta> all, ListAll(*store_, "a/"));
  ASSERT_EQ(all.size(), 2500u);
  for (int i = 0; i < 2500; ++i) EXPECT_EQ(all[i].key, fmt::format("a/{:05}", i));
  EXPECT_EQ(store_->calls(Op::kList), 3);
}

TEST_F(HelpersTest, DeletePrefixDeletesInBatches) {
  for (int i = 0; i < 250; ++i) {
    ASSERT_THAT(memory_->Put(fmt::format("a/{:03}", i), Bytes::Copy("x"), {}), IsOk());
  }
  ASSERT_THAT(memory_->Put("ab", Bytes::Copy("x"), {}), IsOk());
  ASSERT_THAT(memory_->Put("b/1", Bytes::Copy("x"), {}), IsOk());
  Capabilities caps = memory_->capabilities();
  caps.max_delete_batch = 100;
  store_->SetCapabilities(caps);
  DEPOT_ASSERT_OK_AND_ASSIGN(uint64_t deleted, DeletePrefix(*store_, "a/"));
  EXPECT_EQ(deleted, 250u);
  EXPECT_EQ(store_->calls(Op::kDeleteMany), 3);
  DEPOT_ASSERT_OK_AND_ASSIGN(std::vector<ObjectMeta> left, ListAll(*memory_, ""));
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].key, "ab");
  EXPECT_EQ(left[1].key, "b/1");
  DEPOT_ASSERT_OK_AND_ASSIGN(deleted, DeletePrefix(*store_, "nothing/"));
  EXPECT_EQ(deleted, 0u);
}

TEST_F(HelpersTest, DeletePrefixReportsFailures) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(memory_->Put(fmt::format("a/{}", i), Bytes::Copy("x"), {}), IsOk());
  }
  store_->FailNext(Op::kDeleteMany, UnavailableError("delete lost"));
  EXPECT_THAT(DeletePrefix(*store_, "a/"),
              StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr("delete lost"), HasSubstr("a/"))));
  DEPOT_ASSERT_OK_AND_ASSIGN(uint64_t deleted, DeletePrefix(*store_, "a/"));
  EXPECT_EQ(deleted, 5u);
}

TEST_F(HelpersTest, GetRangesCoalescesNearbyRangesAndAnswersInOrder) {
  const std::string data = RandomBytes(10'000, 31);
  ASSERT_THAT(memory_->Put("obj", Bytes::FromString(data), {}), IsOk());
  const std::vector<ByteRange> ranges = {
      ByteRange::Bounded(250, 300),   ByteRange::Suffix(50),       ByteRange::Bounded(100, 200),
      ByteRange::Bounded(9000, 9100), ByteRange::Bounded(5, 5),    ByteRange::From(9990),
      ByteRange::Bounded(150, 160),   ByteRange::Bounded(100, 200)};
  store_->ResetCalls();
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto got, GetRanges(*store_, "obj", ranges, {.coalesce_gap = 100, .max_fetch = 1000}));
  ASSERT_EQ(got.size(), ranges.size());
  const std::vector<std::string> want = {data.substr(250, 50),
                                         data.substr(9950, 50),
                                         data.substr(100, 100),
                                         data.substr(9000, 100),
                                         "",
                                         data.substr(9990, 10),
                                         data.substr(150, 10),
                                         data.substr(100, 100)};
  for (size_t i = 0; i < ranges.size(); ++i) EXPECT_EQ(got[i].ToString(), want[i]) << i;
  // [100, 300), [9000, 9100) and [9950, 10000): three GETs after one HEAD.
  EXPECT_EQ(store_->calls(Op::kHead), 1);
  EXPECT_EQ(store_->calls(Op::kGet), 3);
}

TEST_F(HelpersTest, GetRangesBoundsEachFetch) {
  const std::string data = RandomBytes(3000, 32);
  ASSERT_THAT(memory_->Put("obj", Bytes::FromString(data), {}), IsOk());
  const std::vector<ByteRange> ranges = {ByteRange::Bounded(0, 600), ByteRange::Bounded(600, 1200),
                                         ByteRange::Bounded(0, 2500)};
  store_->ResetCalls();
  DEPOT_ASSERT_OK_AND_ASSIGN(auto got, GetRanges(*store_, "obj", ranges, {.max_fetch = 1000}));
  EXPECT_EQ(got[0].ToString(), data.substr(0, 600));
  EXPECT_EQ(got[1].ToString(), data.substr(600, 600));
  EXPECT_EQ(got[2].ToString(), data.substr(0, 2500));
  // [0, 600) then [0, 2500), which [600, 1200) lies inside: a range larger than max_fetch is
  // still fetched whole, and nothing is fetched twice beyond that.
  EXPECT_EQ(store_->calls(Op::kGet), 2);
}

TEST_F(HelpersTest, GetRangesPinsOneVersionAndNamesBadRanges) {
  ASSERT_THAT(memory_->Put("obj", Bytes::FromString(RandomBytes(100, 33)), {}), IsOk());
  EXPECT_THAT(GetRanges(*store_, "obj", std::vector<ByteRange>{ByteRange::Bounded(200, 210)}),
              StatusIs(StatusCode::kOutOfRange, HasSubstr("obj")));
  EXPECT_THAT(GetRanges(*store_, "missing", std::vector<ByteRange>{ByteRange::Full()}),
              StatusIs(StatusCode::kNotFound));
  // The object is replaced between the HEAD and the GETs: the read fails instead of mixing.
  store_->OnGet(
      [&](std::string_view key, const GetOptions& options) -> std::optional<Result<GetResult>> {
        if (!options.head) (void)memory_->Put(key, Bytes::FromString("replaced"), {});
        return std::nullopt;
      });
  EXPECT_THAT(GetRanges(*store_, "obj", std::vector<ByteRange>{ByteRange::Bounded(0, 10)}),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(GetRanges(*store_, "obj", std::vector<ByteRange>{}, {.max_concurrency = 0}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("max_concurrency 0")));
}

TEST_F(HelpersTest, ListPagerWalksEveryPageOnce) {
  for (const char* key : {"a/1", "a/2", "b/1", "c", "d", "e"}) {
    ASSERT_THAT(memory_->Put(key, Bytes::FromString(key), {}), IsOk());
  }
  ListPager pages(*store_, {.delimiter = "/", .max_keys = 2});
  std::vector<std::string> seen;
  int count = 0;
  while (auto page = pages.Next()) {
    ASSERT_THAT(*page, IsOk());
    ++count;
    for (const auto& prefix : (*page)->common_prefixes) seen.push_back(prefix);
    for (const auto& meta : (*page)->objects) seen.push_back(meta.key);
  }
  EXPECT_EQ(count, 3);
  EXPECT_THAT(seen, ElementsAre("a/", "b/", "c", "d", "e"));
  EXPECT_FALSE(pages.Next().has_value());

  // An error is given once and ends the walk.
  store_->FailNext(Op::kList, UnavailableError("flaky"), 1);
  ListPager failing(*store_, {.max_keys = 2});
  auto first = failing.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(*first, StatusIs(StatusCode::kUnavailable));
  EXPECT_FALSE(failing.Next().has_value());
}

}  // namespace
}  // namespace depot::object
