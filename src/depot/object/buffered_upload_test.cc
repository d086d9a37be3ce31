#include "depot/object/buffered_upload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "depot/core/base64.h"
#include "depot/core/cancellation.h"
#include "depot/core/context.h"
#include "depot/core/hex.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/object/forwarding_store.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/testing/fault_store.h"

namespace depot::object {
namespace {

using ::depot::object::testing::FaultInjectingStore;
using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Op = FaultInjectingStore::Op;

class BufferedUploadTest : public ::testing::Test {
 protected:
  BufferedUploadTest()
      : memory_(std::make_shared<MemoryStore>(MemoryStoreOptions{.min_part_size = 5})),
        store_(std::make_shared<FaultInjectingStore>(memory_)) {}

  static BufferedUploadOptions Options(PartSizePolicy policy, int max_in_flight = 4) {
    BufferedUploadOptions options;
    options.part_size = policy;
    options.max_in_flight = max_in_flight;
    return options;
  }

  std::string Stored(std::string_view key) {
    auto got = memory_->Get(key, {});
    EXPECT_THAT(got, IsOk());
    return got.ok() ? got->data.ToString() : "<missing>";
  }

  void ExpectNoUploadsAndNoObject(std::string_view key) {
    auto uploads = memory_->ListMultipartUploads("");
    ASSERT_THAT(uploads, IsOk());
    EXPECT_THAT(*uploads, IsEmpty());
    EXPECT_THAT(memory_->Head(key), StatusIs(StatusCode::kNotFound));
  }

  std::shared_ptr<MemoryStore> memory_;
  std::shared_ptr<FaultInjectingStore> store_;
};

TEST_F(BufferedUploadTest, ConvexExampleGivesGeometricParts) {
  // Convex's test_buffered_upload_max_size: min 10, max 30, 80 bytes in 7-byte writes.
  const std::string data = RandomBytes(80, 1);
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload,
      BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Geometric(10, 30))));
  size_t at = 0;
  for (int i = 0; i < 11; ++i, at += 7) ASSERT_THAT(upload->Write(data.substr(at, 7)), IsOk());
  ASSERT_THAT(upload->Write(data.substr(at, 3)), IsOk());
  EXPECT_EQ(upload->bytes_written(), 80u);
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_THAT(upload->part_sizes(), ElementsAre(14, 21, 30, 15));
  EXPECT_EQ(Stored("obj"), data);
  EXPECT_EQ(store_->calls(Op::kPutPart), 4);
  EXPECT_EQ(store_->calls(Op::kPut), 0);
}

TEST_F(BufferedUploadTest, FixedPolicyCutsEqualParts) {
  const std::string data = RandomBytes(100, 2);
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(16))));
  std::mt19937 rng(3);
  for (size_t at = 0; at < data.size();) {
    size_t n = std::min<size_t>(data.size() - at, 1 + rng() % 40);
    ASSERT_THAT(upload->Write(data.substr(at, n)), IsOk());
    at += n;
  }
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_THAT(upload->part_sizes(), ElementsAre(16, 16, 16, 16, 16, 16, 4));
  EXPECT_EQ(Stored("obj"), data);
}

TEST_F(BufferedUploadTest, FixedPolicyEndingOnAPartBoundaryHasNoEmptyPart) {
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Write(RandomBytes(24, 4)), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_THAT(upload->part_sizes(), ElementsAre(8, 8, 8));
  EXPECT_EQ(store_->calls(Op::kPutPart), 3);
}

TEST_F(BufferedUploadTest, FastPathShipsCallersBytesWithoutCopy) {
  std::mutex mu;
  std::map<int, const char*> seen;  // part number -> data pointer the store received
  store_->OnPutPart([&](std::string_view, std::string_view, int number,
                        const Bytes& data) -> std::optional<Result<PartInfo>> {
    std::lock_guard lock(mu);
    seen[number] = data.data();
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload,
      BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Geometric(10, 40))));
  const Bytes a = Bytes::Copy(RandomBytes(10, 5));   // target 10: shipped as is
  const Bytes b = Bytes::Copy(RandomBytes(20, 6));   // target 20: shipped as is
  const Bytes c = Bytes::Copy(RandomBytes(100, 7));  // target 40: split 40 + 40, 20 buffered
  ASSERT_THAT(upload->Write(a), IsOk());
  ASSERT_THAT(upload->Write(b), IsOk());
  ASSERT_THAT(upload->Write(c), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_THAT(upload->part_sizes(), ElementsAre(10, 20, 40, 40, 20));
  std::lock_guard lock(mu);
  EXPECT_EQ(seen[1], a.data());
  EXPECT_EQ(seen[2], b.data());
  EXPECT_EQ(seen[3], c.data());
  EXPECT_EQ(seen[4], c.data() + 40);
  EXPECT_NE(seen[5], c.data() + 80);  // the tail went through the buffer
  EXPECT_EQ(Stored("obj"), a.ToString() + b.ToString() + c.ToString());
}

TEST_F(BufferedUploadTest, SmallObjectIsASinglePutWithoutMultipart) {
  std::atomic<int> puts{0};
  store_->OnPut([&](std::string_view key, const Bytes& data,
                    const PutOptions& options) -> std::optional<Result<PutResult>> {
    EXPECT_EQ(key, "small");
    EXPECT_EQ(data.ToString(), "hello");
    EXPECT_EQ(options.content_type, "text/plain");
    ++puts;
    return std::nullopt;
  });
  BufferedUploadOptions options = Options(PartSizePolicy::Geometric(10, 20));
  options.put_options.content_type = "text/plain";
  options.put_options.user_metadata["owner"] = "test";
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, BufferedUpload::Start(*store_, "small", options));
  ASSERT_THAT(upload->Write("hel"), IsOk());
  ASSERT_THAT(upload->Write(Bytes::Copy("lo")), IsOk());
  auto uploads = memory_->ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  EXPECT_THAT(*uploads, IsEmpty());
  DEPOT_ASSERT_OK_AND_ASSIGN(PutResult done, upload->Finish());
  EXPECT_FALSE(done.etag.empty());
  EXPECT_EQ(puts.load(), 1);
  EXPECT_EQ(store_->calls(Op::kCreateMultipart), 0);
  EXPECT_EQ(store_->calls(Op::kPutPart), 0);
  EXPECT_THAT(upload->part_sizes(), IsEmpty());
  DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, memory_->Head("small"));
  EXPECT_EQ(meta.content_type, "text/plain");
  EXPECT_EQ(meta.user_metadata.at("owner"), "test");
  EXPECT_EQ(Stored("small"), "hello");
}

TEST_F(BufferedUploadTest, EmptyUploadStoresAnEmptyObject) {
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "empty", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_EQ(Stored("empty"), "");
  EXPECT_EQ(store_->calls(Op::kCreateMultipart), 0);
}

TEST_F(BufferedUploadTest, MultipartAppliesPutOptions) {
  ASSERT_THAT(memory_->Put("taken", Bytes::Copy("old"), {}), IsOk());
  BufferedUploadOptions options = Options(PartSizePolicy::Fixed(8));
  options.put_options.content_type = "application/x-test";
  options.put_options.user_metadata["k"] = "v";
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, BufferedUpload::Start(*store_, "big", options));
  ASSERT_THAT(upload->Write(RandomBytes(30, 8)), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, memory_->Head("big"));
  EXPECT_EQ(meta.content_type, "application/x-test");
  EXPECT_EQ(meta.user_metadata.at("k"), "v");

  // Create-only applies to the finished object: the key exists, so Finish fails.
  options.put_options.mode = PutMode::kCreate;
  DEPOT_ASSERT_OK_AND_ASSIGN(auto create, BufferedUpload::Start(*store_, "taken", options));
  ASSERT_THAT(create->Write(RandomBytes(30, 9)), IsOk());
  EXPECT_THAT(create->Finish(), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(Stored("taken"), "old");
  auto uploads = memory_->ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  EXPECT_THAT(*uploads, IsEmpty());
}

// The digest of the whole content, of one part's bytes, or base64 of either.
std::string DigestOf(PayloadChecksum::Algorithm algorithm, std::string_view data) {
  PayloadChecksum checksum(algorithm);
  checksum.Update(data);
  return checksum.Finish();
}

TEST_F(BufferedUploadTest, ChecksumOfASmallObjectIsKeptWhole) {
  BufferedUploadOptions options = Options(PartSizePolicy::Fixed(64));
  options.checksum = PayloadChecksum::Algorithm::kSha256;
  DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, BufferedUpload::Start(*store_, "small", options));
  ASSERT_THAT(upload->Write(std::string_view("a")), IsOk());
  ASSERT_THAT(upload->Write(std::string_view("bc")), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(PutResult put, upload->Finish());
  // FIPS 180-2's example: SHA-256("abc").
  EXPECT_EQ(HexEncode(std::string_view(upload->content_digest())),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, memory_->Head("small"));
  EXPECT_EQ(meta.checksum, (Checksum{"SHA256", Base64Encode(upload->content_digest()), false}));
  EXPECT_EQ(put.checksum, meta.checksum);
}

TEST_F(BufferedUploadTest, ChecksumOfAMultipartObject) {
  const std::string data = RandomBytes(100, 21);
  using Algorithm = PayloadChecksum::Algorithm;
  for (Algorithm algorithm : {Algorithm::kSha256, Algorithm::kCrc32c}) {
    SCOPED_TRACE(PayloadChecksum::Name(algorithm));
    BufferedUploadOptions options = Options(PartSizePolicy::Fixed(40));
    options.checksum = algorithm;
    DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, BufferedUpload::Start(*memory_, "multi", options));
    for (size_t at = 0; at < data.size(); at += 7) {
      ASSERT_THAT(upload->Write(data.substr(at, 7)), IsOk());
    }
    DEPOT_ASSERT_OK_AND_ASSIGN(PutResult put, upload->Finish());
    EXPECT_EQ(upload->content_digest(), DigestOf(algorithm, data));
    DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, memory_->Head("multi"));
    ASSERT_EQ(meta.parts.size(), 3u);
    EXPECT_EQ(meta.parts[1].checksum, Base64Encode(DigestOf(algorithm, data.substr(40, 40))));
    if (algorithm == Algorithm::kCrc32c) {  // FULL_OBJECT: the whole content's
      EXPECT_EQ(meta.checksum,
                (Checksum{"CRC32C", Base64Encode(DigestOf(algorithm, data)), false}));
    } else {  // COMPOSITE: of the parts' digests, "-3"
      const std::string parts = DigestOf(algorithm, data.substr(0, 40)) +
                                DigestOf(algorithm, data.substr(40, 40)) +
                                DigestOf(algorithm, data.substr(80));
      EXPECT_EQ(meta.checksum,
                (Checksum{"SHA256", Base64Encode(DigestOf(algorithm, parts)) + "-3", true}));
    }
    EXPECT_EQ(put.checksum, meta.checksum);
  }
}

// A checksum given at the end (FinishChecked): kept by a single Put; of a multipart upload, kept
// when it is the CRC its parts were checksummed with, and checked against the bytes written
// whenever it is of the algorithm computed (in any case), so a wrong one stores nothing.
TEST_F(BufferedUploadTest, AChecksumGivenAtTheEndIsKeptOrRefusedNeverIgnored) {
  using Algorithm = PayloadChecksum::Algorithm;
  const std::string data = RandomBytes(100, 23);
  const Checksum crc{"CRC32C", Base64Encode(DigestOf(Algorithm::kCrc32c, data)), false};
  const Checksum wrong{"crc32c", Base64Encode(DigestOf(Algorithm::kCrc32c, "other")), false};
  for (uint64_t part : {128, 40}) {  // a single Put, then multipart
    SCOPED_TRACE(part);
    BufferedUploadOptions options = Options(PartSizePolicy::Fixed(part));
    options.checksum = Algorithm::kCrc32c;
    DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, BufferedUpload::Start(*memory_, "given", options));
    ASSERT_THAT(upload->Write(data), IsOk());
    DEPOT_ASSERT_OK_AND_ASSIGN(PutResult put, upload->FinishChecked(crc));
    EXPECT_EQ(put.checksum, crc);
    EXPECT_EQ(memory_->Head("given")->checksum, crc);

    DEPOT_ASSERT_OK_AND_ASSIGN(auto bad, BufferedUpload::Start(*memory_, "wrong", options));
    ASSERT_THAT(bad->Write(data), IsOk());
    EXPECT_THAT(bad->FinishChecked(wrong),
                StatusIs(StatusCode::kDataLoss, HasSubstr("not that of the bytes written")));
    EXPECT_THAT(memory_->Head("wrong"), StatusIs(StatusCode::kNotFound));
    EXPECT_THAT(*memory_->ListMultipartUploads(""), IsEmpty());
  }
  // Of a multipart upload without part checksums, a whole-content SHA-256 cannot be kept.
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*memory_, "sha", Options(PartSizePolicy::Fixed(40))));
  ASSERT_THAT(upload->Write(data), IsOk());
  const Checksum sha{"SHA256", Base64Encode(DigestOf(Algorithm::kSha256, data)), false};
  DEPOT_ASSERT_OK_AND_ASSIGN(PutResult put, upload->FinishChecked(sha));
  EXPECT_TRUE(put.checksum.empty());
  EXPECT_EQ(Stored("sha"), data);
}

// The memory store as a store that keeps no checksums (S3's client, say): a write that carries
// one is refused, as such a store refuses it.
class KeepsNoChecksums final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Capabilities capabilities() const override {
    Capabilities caps = ForwardingStore::capabilities();
    caps.checksums = false;
    return caps;
  }

 protected:
  Result<PutResult> DoPut(std::string_view key, Bytes data, const PutOptions& options,
                          const Context& ctx) override {
    if (!options.checksum.empty()) return UnimplementedError("keeps no checksums");
    return ForwardingStore::DoPut(key, std::move(data), options, ctx);
  }
  Result<std::string> DoCreateMultipart(std::string_view key, const PutOptions& options,
                                        const Context& ctx) override {
    if (!options.checksum.empty()) return UnimplementedError("keeps no checksums");
    return ForwardingStore::DoCreateMultipart(key, options, ctx);
  }
};

TEST_F(BufferedUploadTest, ChecksumIsComputedForAStoreThatKeepsNone) {
  KeepsNoChecksums plain(*memory_);
  const std::string data = RandomBytes(100, 22);
  for (uint64_t part : {64, 40}) {  // a single Put, then multipart
    BufferedUploadOptions options = Options(PartSizePolicy::Fixed(part));
    options.checksum = PayloadChecksum::Algorithm::kSha1;
    DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, BufferedUpload::Start(plain, "plain", options));
    ASSERT_THAT(upload->Write(std::string_view(data).substr(0, part == 64 ? 50 : 100)), IsOk());
    ASSERT_THAT(upload->Finish(), IsOk());
    EXPECT_EQ(upload->content_digest(),
              DigestOf(PayloadChecksum::Algorithm::kSha1, data.substr(0, part == 64 ? 50 : 100)));
    DEPOT_ASSERT_OK_AND_ASSIGN(ObjectMeta meta, memory_->Head("plain"));
    EXPECT_TRUE(meta.checksum.empty());
  }
  BufferedUploadOptions both = Options(PartSizePolicy::Fixed(40));
  both.checksum = PayloadChecksum::Algorithm::kSha1;
  both.put_options.checksum = {"SHA1", "x", false};
  EXPECT_THAT(BufferedUpload::Start(*store_, "both", both),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exclude each other")));
}

TEST_F(BufferedUploadTest, FailingPartFailsTheUploadAndCleansUp) {
  store_->OnPutPart([](std::string_view, std::string_view, int number,
                       const Bytes&) -> std::optional<Result<PartInfo>> {
    if (number == 3) return Result<PartInfo>(UnavailableError("injected failure of part 3"));
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(10), 2)));
  const std::string data = RandomBytes(200, 10);
  Status first;
  for (size_t at = 0; at < data.size() && first.ok(); at += 10) {
    first = upload->Write(data.substr(at, 10));
  }
  Result<PutResult> finished = upload->Finish();
  const Status error = first.ok() ? finished.status() : first;
  EXPECT_THAT(error, StatusIs(StatusCode::kUnavailable, HasSubstr("injected failure of part 3")));
  EXPECT_THAT(error, StatusIs(StatusCode::kUnavailable, HasSubstr("part 3")));
  EXPECT_EQ(finished.status(), error);
  // Every later call reports the same first error.
  EXPECT_EQ(upload->Write("more"), error);
  EXPECT_EQ(upload->Finish().status(), error);
  ExpectNoUploadsAndNoObject("obj");
  EXPECT_EQ(store_->calls(Op::kAbortMultipart), 1);
  EXPECT_EQ(store_->calls(Op::kCompleteMultipart), 0);
  upload.reset();
  EXPECT_EQ(store_->calls(Op::kAbortMultipart), 1);  // not aborted twice
}

TEST_F(BufferedUploadTest, FailingCreateMultipartFailsTheWrite) {
  store_->FailNext(Op::kCreateMultipart, PermissionDeniedError("no multipart for you"));
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  EXPECT_THAT(upload->Write(RandomBytes(8, 11)),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("no multipart for you")));
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kPermissionDenied));
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, FailingSmallPutIsReported) {
  store_->FailNext(Op::kPut, UnavailableError("put lost"));
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Write("abc"), IsOk());
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kUnavailable, HasSubstr("put lost")));
  EXPECT_THAT(upload->Write("x"), StatusIs(StatusCode::kUnavailable));
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, FailingCompleteAbortsTheUpload) {
  store_->FailNext(Op::kCompleteMultipart, UnavailableError("complete lost"));
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Write(RandomBytes(20, 12)), IsOk());
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kUnavailable, HasSubstr("complete lost")));
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, DestroyingAnUnfinishedUploadAbortsIt) {
  {
    DEPOT_ASSERT_OK_AND_ASSIGN(
        auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
    ASSERT_THAT(upload->Write(RandomBytes(50, 13)), IsOk());
    EXPECT_EQ(store_->calls(Op::kCreateMultipart), 1);
  }
  EXPECT_EQ(store_->calls(Op::kAbortMultipart), 1);
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, ACancelFailsTheUploadAndAbortsIt) {
  CancellationSource stop;
  std::atomic<bool> cancelled{false};
  // Parts wait for the cancel, then go on to the store under the upload's context.
  store_->OnPutPart([&](std::string_view, std::string_view, int, const Bytes&) {
    while (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return std::optional<Result<PartInfo>>();
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8)),
                                         Context(stop.token())));
  ASSERT_THAT(upload->Write(RandomBytes(20, 15)), IsOk());  // two parts in flight
  stop.Cancel();
  cancelled = true;
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kCancelled, HasSubstr("key \"obj\"")));
  EXPECT_THAT(upload->Write("x"), StatusIs(StatusCode::kCancelled));
  // The abort ran under a context of its own, so nothing is left behind.
  EXPECT_EQ(store_->calls(Op::kAbortMultipart), 1);
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, APassedDeadlineFailsTheNextWrite) {
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8)),
                                         Context().WithDeadline(std::chrono::steady_clock::now() +
                                                                std::chrono::milliseconds(50))));
  ASSERT_THAT(upload->Write(RandomBytes(20, 16)), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_THAT(upload->Write("more"),
              StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("upload of key \"obj\"")));
  EXPECT_EQ(store_->calls(Op::kAbortMultipart), 1);
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, AbortRemovesPartsAndLaterCallsFail) {
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Write(RandomBytes(50, 14)), IsOk());
  EXPECT_THAT(upload->Abort(), IsOk());
  ExpectNoUploadsAndNoObject("obj");
  EXPECT_THAT(upload->Write("x"), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(upload->Abort(), IsOk());
  upload.reset();
  EXPECT_EQ(store_->calls(Op::kAbortMultipart), 1);
}

TEST_F(BufferedUploadTest, AbortBeforeAnyPartIsOk) {
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Write("abc"), IsOk());
  EXPECT_THAT(upload->Abort(), IsOk());
  EXPECT_EQ(store_->calls(Op::kAbortMultipart), 0);
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, CallsAfterFinishAreRejected) {
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Write("abc"), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_THAT(upload->Write("x"), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(upload->Abort(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(Stored("obj"), "abc");
}

TEST_F(BufferedUploadTest, PartsInFlightNeverExceedTheLimit) {
  std::atomic<int> now{0};
  std::atomic<int> peak{0};
  store_->OnPutPart([&](std::string_view, std::string_view, int,
                        const Bytes&) -> std::optional<Result<PartInfo>> {
    int current = ++now;
    int seen = peak.load();
    while (current > seen && !peak.compare_exchange_weak(seen, current)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --now;
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8), 3)));
  const std::string data = RandomBytes(8 * 30 + 3, 15);
  for (size_t at = 0; at < data.size(); at += 5)
    ASSERT_THAT(upload->Write(data.substr(at, 5)), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);  // parts do run in parallel
  EXPECT_EQ(Stored("obj"), data);
}

TEST_F(BufferedUploadTest, UploadsShareTheExecutorTheyAreGiven) {
  // Four uploads of four parts in flight each, on one shared pool of two threads: every part runs
  // on one of those two threads, and every object is stored whole.
  Executor shared(2);
  std::mutex mu;
  std::set<std::thread::id> part_threads;
  store_->OnPutPart([&](std::string_view, std::string_view, int,
                        const Bytes&) -> std::optional<Result<PartInfo>> {
    std::lock_guard lock(mu);
    part_threads.insert(std::this_thread::get_id());
    return std::nullopt;
  });
  std::vector<std::thread> writers;
  std::vector<std::string> datas;
  for (int i = 0; i < 4; ++i) datas.push_back(RandomBytes(8 * 20 + 1, 40 + i));
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&, i] {
      BufferedUploadOptions options = Options(PartSizePolicy::Fixed(8), 4);
      options.executor = &shared;
      auto upload = BufferedUpload::Start(*store_, "obj" + std::to_string(i), options);
      ASSERT_THAT(upload, IsOk());
      for (size_t at = 0; at < datas[i].size(); at += 7)
        ASSERT_THAT((*upload)->Write(datas[i].substr(at, 7)), IsOk());
      ASSERT_THAT((*upload)->Finish(), IsOk());
    });
  }
  for (auto& writer : writers) writer.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Stored("obj" + std::to_string(i)), datas[i]);
  EXPECT_LE(part_threads.size(), 2u);
  EXPECT_GE(store_->calls(Op::kPutPart), 4 * 20);
}

TEST_F(BufferedUploadTest, WriteBlocksWhileTheLimitIsReached) {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;
  store_->OnPutPart([&](std::string_view, std::string_view, int,
                        const Bytes&) -> std::optional<Result<PartInfo>> {
    std::unique_lock lock(mu);
    ++waiting;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    return std::nullopt;
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8), 2)));
  ASSERT_THAT(upload->Write(RandomBytes(16, 16)), IsOk());  // two parts, both held in flight
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return waiting == 2; });
  }
  std::atomic<bool> returned{false};
  std::thread writer([&] {
    EXPECT_THAT(upload->Write(RandomBytes(8, 17)), IsOk());  // a third part must wait
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(returned.load());
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(waiting, 2);
    open = true;
  }
  cv.notify_all();
  writer.join();
  EXPECT_TRUE(returned.load());
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_EQ(store_->calls(Op::kPutPart), 3);
}

TEST_F(BufferedUploadTest, RandomChunksRoundTripExactly) {
  std::mt19937_64 rng(18);
  for (int round = 0; round < 40; ++round) {
    const std::string key = "obj" + std::to_string(round);
    const std::string data = RandomBytes(rng() % 3000, round);
    const bool fixed = round % 2 == 0;
    const PartSizePolicy policy = fixed ? PartSizePolicy::Fixed(5 + rng() % 40)
                                        : PartSizePolicy::Geometric(5, 5 + rng() % 200);
    DEPOT_ASSERT_OK_AND_ASSIGN(
        auto upload, BufferedUpload::Start(*memory_, key, Options(policy, 1 + rng() % 4)));
    for (size_t at = 0; at < data.size();) {
      const size_t n = std::min<size_t>(data.size() - at, rng() % 300);
      const std::string_view chunk = std::string_view(data).substr(at, n);
      ASSERT_THAT(rng() % 2 ? upload->Write(chunk) : upload->Write(Bytes::Copy(chunk)), IsOk());
      at += n;
    }
    ASSERT_THAT(upload->Finish(), IsOk()) << "round " << round;
    EXPECT_EQ(Stored(key), data) << "round " << round;
    std::vector<uint64_t> sizes = upload->part_sizes();
    if (!sizes.empty()) sizes.pop_back();  // the last part may be smaller
    if (fixed) {
      EXPECT_THAT(sizes, Each(policy.min())) << "round " << round;
    } else {
      for (uint64_t size : sizes) {
        EXPECT_GE(size, policy.min());
        EXPECT_LE(size, policy.max());
      }
    }
  }
}

TEST_F(BufferedUploadTest, StartValidatesOptions) {
  EXPECT_THAT(BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Geometric(0, 10))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("> 0")));
  EXPECT_THAT(BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Geometric(20, 10))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("20")));
  EXPECT_THAT(BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Fixed(4))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("minimum of 5")));
  EXPECT_THAT(
      BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Fixed(uint64_t{6} << 30))),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr(std::to_string(uint64_t{6} << 30))));
  EXPECT_THAT(BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Fixed(8), 0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("max_in_flight is 0")));
  EXPECT_THAT(BufferedUpload::Start(*store_, "", Options(PartSizePolicy::Fixed(8))),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(BufferedUploadTest, EqualPartStoresRejectGrowingParts) {
  Capabilities caps = memory_->capabilities();
  caps.equal_parts_required = true;
  store_->SetCapabilities(caps);
  EXPECT_THAT(BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Geometric(8, 64))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("from 8 to 64")));
  EXPECT_THAT(BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Fixed(8))), IsOk());
  EXPECT_THAT(BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Geometric(8, 8))),
              IsOk());
}

TEST_F(BufferedUploadTest, StoresWithoutMultipartAreUnimplemented) {
  Capabilities caps = memory_->capabilities();
  caps.multipart = false;
  store_->SetCapabilities(caps);
  EXPECT_THAT(BufferedUpload::Start(*store_, "k", Options(PartSizePolicy::Fixed(8))),
              StatusIs(StatusCode::kUnimplemented, HasSubstr("multipart")));
}

TEST_F(BufferedUploadTest, TooManyPartsIsResourceExhausted) {
  Capabilities caps = memory_->capabilities();
  caps.max_parts = 3;
  store_->SetCapabilities(caps);
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Write(RandomBytes(24, 19)), IsOk());  // parts 1..3
  const Status error = upload->Write(RandomBytes(8, 20));
  EXPECT_THAT(error, StatusIs(StatusCode::kResourceExhausted,
                              AllOf(HasSubstr("limit of 3 parts"), HasSubstr("8..8 bytes"))));
  EXPECT_EQ(upload->Finish().status(), error);
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, FinalPartCountsTowardsTheLimit) {
  Capabilities caps = memory_->capabilities();
  caps.max_parts = 2;
  store_->SetCapabilities(caps);
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Fixed(8))));
  ASSERT_THAT(upload->Write(RandomBytes(20, 21)), IsOk());  // parts 1..2, 4 bytes buffered
  EXPECT_THAT(upload->Finish(), StatusIs(StatusCode::kResourceExhausted));
  ExpectNoUploadsAndNoObject("obj");
}

TEST_F(BufferedUploadTest, SizeHintFitsTheObjectInThePartLimit) {
  Capabilities caps = memory_->capabilities();
  caps.max_parts = 3;
  store_->SetCapabilities(caps);
  const std::string data = RandomBytes(60, 22);
  for (PartSizePolicy policy : {PartSizePolicy::Fixed(8), PartSizePolicy::Geometric(5, 8)}) {
    BufferedUploadOptions options = Options(policy);
    options.size_hint = data.size();
    DEPOT_ASSERT_OK_AND_ASSIGN(auto upload, BufferedUpload::Start(*store_, "obj", options));
    for (size_t at = 0; at < data.size(); at += 7) {
      ASSERT_THAT(upload->Write(data.substr(at, 7)), IsOk());
    }
    ASSERT_THAT(upload->Finish(), IsOk());
    EXPECT_THAT(upload->part_sizes(), ElementsAre(20, 20, 20));
    EXPECT_EQ(Stored("obj"), data);
  }
}

TEST_F(BufferedUploadTest, GeometricPartsKeepGrowingSoUnknownSizesFit) {
  // After parts 1,000 and 2,000 the largest part size doubles, up to the store's maximum.
  Capabilities caps = memory_->capabilities();
  caps.max_part_size = 15;
  store_->SetCapabilities(caps);
  const std::string data = RandomBytes(1000 * 5 + 1000 * 10 + 30, 23);
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload, BufferedUpload::Start(*store_, "obj", Options(PartSizePolicy::Geometric(5, 5))));
  ASSERT_THAT(upload->Write(data), IsOk());
  ASSERT_THAT(upload->Finish(), IsOk());
  const std::vector<uint64_t> sizes = upload->part_sizes();
  ASSERT_EQ(sizes.size(), 2002u);
  EXPECT_EQ(sizes[0], 5u);
  EXPECT_EQ(sizes[999], 5u);
  EXPECT_EQ(sizes[1000], 10u);
  EXPECT_EQ(sizes[1999], 10u);
  EXPECT_EQ(sizes[2000], 15u);
  EXPECT_EQ(sizes[2001], 15u);
  EXPECT_EQ(Stored("obj"), data);
}

TEST_F(BufferedUploadTest, DefaultPolicyFitsFiveTebibytesAtScale) {
  // S3's limits and the default policy (8 MiB .. 128 MiB), every size divided by 8 MiB / 5 bytes:
  // the most S3 takes, 5 TiB, must fit in 10,000 parts of at most 5 GiB without a size hint.
  const BufferedUploadOptions defaults;
  const uint64_t unit = defaults.part_size.min() / 5;
  Capabilities caps = memory_->capabilities();
  caps.max_parts = 10'000;
  caps.max_part_size = (5ull << 30) / unit;
  store_->SetCapabilities(caps);
  const std::string data = RandomBytes((5ull << 40) / unit, 24);
  DEPOT_ASSERT_OK_AND_ASSIGN(
      auto upload,
      BufferedUpload::Start(*store_, "obj",
                            Options(PartSizePolicy::Geometric(defaults.part_size.min() / unit,
                                                              defaults.part_size.max() / unit))));
  for (size_t at = 0; at < data.size(); at += 4096) {
    ASSERT_THAT(upload->Write(std::string_view(data).substr(at, 4096)), IsOk());
  }
  ASSERT_THAT(upload->Finish(), IsOk());
  EXPECT_LE(upload->part_sizes().size(), 10'000u);
  EXPECT_EQ(Stored("obj"), data);
}

}  // namespace
}  // namespace depot::object
