// The S3 backend against a real Ceph RADOS Gateway started for the test run (see
// testing/gateway.h): the whole object-store conformance suite, the S3-only cases, and the
// fault-injecting proxy between client and gateway.
#include "depot/object/s3/s3_store.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "depot/core/base64.h"
#include "depot/core/cancellation.h"
#include "depot/core/context.h"
#include "depot/core/md5.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/object/backend_util.h"
#include "depot/object/buffered_upload.h"
#include "depot/object/helpers.h"
#include "depot/object/object_reader.h"
#include "depot/object/open.h"
#include "depot/object/s3/client.h"
#include "depot/object/s3/testing/fault_proxy.h"
#include "depot/object/s3/testing/gateway.h"
#include "depot/object/stream/testing/stream_conformance.h"
#include "depot/object/testing/conformance.h"

namespace depot::object {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using s3::testing::Fault;
using s3::testing::FaultKind;
using s3::testing::FaultProxy;
using s3::testing::GatewayEnv;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string UniqueBucket(std::string_view stem) {
  return fmt::format("{}-{}", stem, RandomHexId().substr(0, 12));
}

// Quick retries: the gateway is local, and tests that exhaust them should not take minutes.
S3StoreOptions TestOptions(const GatewayEnv& env, std::string bucket, std::string endpoint = "") {
  S3StoreOptions options;
  options.bucket = std::move(bucket);
  options.endpoint = endpoint.empty() ? env.endpoint : endpoint;
  options.credentials.access_key_id = env.access_key;
  options.credentials.secret_access_key = env.secret_key;
  options.credentials.region = "us-east-1";
  options.min_part_size = 1024;  // the test gateway's rgw_multipart_min_part_size
  options.idle_timeout = std::chrono::seconds(5);
  options.retry = {.initial = std::chrono::milliseconds(20),
                   .max = std::chrono::milliseconds(500),
                   .max_attempts = 8,
                   .max_total = std::chrono::seconds(20)};
  return options;
}

Result<std::shared_ptr<S3Store>> NewBucketStore(const GatewayEnv& env, std::string_view stem,
                                                std::string endpoint = "") {
  DEPOT_ASSIGN_OR_RETURN(auto store, S3Store::Open(TestOptions(env, UniqueBucket(stem), endpoint)));
  DEPOT_RETURN_IF_ERROR(store->CreateBucket());
  return store;
}

std::string ReadAll(ObjectStore& store, std::string_view key) {
  auto got = store.Get(key, {});
  return got.ok() ? got->data.ToString() : "<" + got.status().ToString() + ">";
}

// --- The conformance suite, one fresh bucket per test ---------------------------------------

using testing::ConformanceBackend;
using testing::ObjectStoreConformance;
using testing::StreamConformance;

INSTANTIATE_TEST_SUITE_P(RadosGateway, ObjectStoreConformance,
                         ::testing::Values(ConformanceBackend{
                             "rgw",
                             []() -> Result<std::shared_ptr<ObjectStore>> {
                               auto env = s3::testing::GatewayFromEnvironment();
                               if (!env) return UnavailableError("no S3 gateway for this test run");
                               DEPOT_ASSIGN_OR_RETURN(auto store,
                                                      NewBucketStore(*env, "conformance"));
                               return std::shared_ptr<ObjectStore>(std::move(store));
                             }}),
                         testing::ConformanceBackendName);

// The streaming-upload suite over S3: parts, index segments and markers are plain objects.
INSTANTIATE_TEST_SUITE_P(RadosGateway, StreamConformance,
                         ::testing::Values(testing::StreamBackend{
                             "rgw",
                             []() -> Result<std::shared_ptr<ObjectStore>> {
                               auto env = s3::testing::GatewayFromEnvironment();
                               if (!env) return UnavailableError("no S3 gateway for this test run");
                               DEPOT_ASSIGN_OR_RETURN(auto store, NewBucketStore(*env, "stream"));
                               return std::shared_ptr<ObjectStore>(std::move(store));
                             },
                             300}),
                         testing::StreamBackendName);

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DEPOT_REQUIRE_GATEWAY(env_);
    auto store = NewBucketStore(env_, "s3test");
    ASSERT_THAT(store, IsOk());
    store_ = std::move(*store);
  }
  GatewayEnv env_;
  std::shared_ptr<S3Store> store_;
};

TEST_F(S3StoreTest, BucketLifecycle) {
  auto store = S3Store::Open(TestOptions(env_, UniqueBucket("life")));
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->BucketExists(), ::testing::Optional(false));
  EXPECT_THAT((*store)->Put("k", Bytes::Copy("v"), {}),
              StatusIs(StatusCode::kNotFound, HasSubstr("NoSuchBucket")));
  ASSERT_THAT((*store)->CreateBucket(), IsOk());
  EXPECT_THAT((*store)->BucketExists(), ::testing::Optional(true));
  auto buckets = (*store)->ListBuckets();
  ASSERT_THAT(buckets, IsOk());
  std::set<std::string> names;
  for (const auto& bucket : *buckets) names.insert(bucket.name);
  EXPECT_THAT(names, Contains((*store)->bucket()));
  ASSERT_THAT((*store)->Put("k", Bytes::Copy("v"), {}), IsOk());
  EXPECT_THAT((*store)->DeleteBucket(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("BucketNotEmpty")));
  ASSERT_THAT((*store)->Delete("k"), IsOk());
  ASSERT_THAT((*store)->DeleteBucket(), IsOk());
  EXPECT_THAT((*store)->BucketExists(), ::testing::Optional(false));
}

TEST_F(S3StoreTest, WrongSecretIsRefused) {
  S3StoreOptions options = TestOptions(env_, store_->bucket());
  options.credentials.secret_access_key = "not-the-secret";
  auto wrong = S3Store::Open(options);
  ASSERT_THAT(wrong, IsOk());
  EXPECT_THAT((*wrong)->Put("k", Bytes::Copy("v"), {}),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("SignatureDoesNotMatch")));
  EXPECT_THAT((*wrong)->List({}), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(store_->Get("k", {}), StatusIs(StatusCode::kNotFound));
}

TEST_F(S3StoreTest, BadContentMd5IsRejected) {
  s3::S3ClientOptions options;
  ASSERT_THAT(Url::Parse(env_.endpoint).status(), IsOk());
  options.endpoint = *Url::Parse(env_.endpoint);
  options.credentials = {env_.access_key, env_.secret_key, ""};
  options.retry.max_attempts = 1;
  s3::S3Client client(options);
  s3::S3Request request{.method = "PUT", .bucket = store_->bucket(), .key = "md5"};
  Md5 md5;
  md5.Update("other bytes");
  auto digest = md5.Finish();
  request.headers = {
      {"Content-MD5", Base64Encode(std::string_view(reinterpret_cast<char*>(digest.data()), 16))}};
  request.body = Bytes::Copy("the bytes");
  EXPECT_THAT(client.Execute(request, "md5 test", {}),
              StatusIs(StatusCode::kDataLoss, HasSubstr("BadDigest")));
  EXPECT_THAT(store_->Get("md5", {}), StatusIs(StatusCode::kNotFound));
}

TEST_F(S3StoreTest, PresignedUrlsWorkWithoutCredentials) {
  auto put_url = store_->PresignPut("shared/file.txt", std::chrono::minutes(5));
  ASSERT_THAT(put_url, IsOk());
  http::Client client;
  auto put = client.Send({.method = "PUT", .url = *put_url, .body = Bytes::Copy("presigned")},
                         nullptr, {});
  ASSERT_THAT(put, IsOk());
  EXPECT_EQ(put->status, 200) << put->body.view();
  auto get_url = store_->PresignGet("shared/file.txt", std::chrono::minutes(5));
  ASSERT_THAT(get_url, IsOk());
  auto get = client.Send({.method = "GET", .url = *get_url}, nullptr, {});
  ASSERT_THAT(get, IsOk());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body.view(), "presigned");
  std::string tampered = *get_url;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  auto refused = client.Send({.method = "GET", .url = tampered}, nullptr, {});
  ASSERT_THAT(refused, IsOk());
  EXPECT_EQ(refused->status, 403);
}

TEST_F(S3StoreTest, UnsignedPayloadStoreRoundTrips) {
  S3StoreOptions options = TestOptions(env_, store_->bucket());
  options.sign_payload = false;
  auto unsigned_store = S3Store::Open(options);
  ASSERT_THAT(unsigned_store, IsOk());
  std::string data = RandomBytes(300'000, 7);
  ASSERT_THAT((*unsigned_store)->Put("u", Bytes::Copy(data), {}), IsOk());
  EXPECT_EQ(ReadAll(*store_, "u"), data);
}

TEST_F(S3StoreTest, VirtualHostedAddressingRoundTrips) {
  // The test gateway answers BUCKET.localhost (rgw dns name = localhost in ceph-up.sh).
  auto endpoint = Url::Parse(env_.endpoint);
  ASSERT_THAT(endpoint, IsOk());
  S3StoreOptions options =
      TestOptions(env_, UniqueBucket("virtual"),
                  fmt::format("http://localhost:{}", endpoint->port.value_or(80)));
  options.addressing = S3Addressing::kVirtualHosted;
  auto store = S3Store::Open(options);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->CreateBucket(), IsOk());
  const std::string data = RandomBytes(300'000, 9);
  ASSERT_THAT((*store)->Put("a b/c+d", Bytes::Copy(data), {}), IsOk());
  EXPECT_EQ(ReadAll(**store, "a b/c+d"), data);
  auto page = (*store)->List({.prefix = "a b/"});
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "a b/c+d");
  // The same bucket by path: both addressings reach one bucket.
  EXPECT_THAT(store_->Get("a b/c+d", {}), StatusIs(StatusCode::kNotFound)) << "another bucket";
  S3StoreOptions by_path = TestOptions(env_, options.bucket);
  auto path_store = S3Store::Open(by_path);
  ASSERT_THAT(path_store, IsOk());
  EXPECT_EQ(ReadAll(**path_store, "a b/c+d"), data);
  ASSERT_THAT((*store)->Delete("a b/c+d"), IsOk());
  EXPECT_THAT((*store)->DeleteBucket(), IsOk());
}

TEST_F(S3StoreTest, OpensByUrl) {
  std::string url = fmt::format(
      "s3://{}/tenant/?endpoint={}&region=us-east-1&access_key={}&secret_key={}&min_part_size=1024",
      store_->bucket(), env_.endpoint, env_.access_key, env_.secret_key);
  auto store = Open(url);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Put("a", Bytes::Copy("by url"), {}), IsOk());
  EXPECT_EQ(ReadAll(*store_, "tenant/a"), "by url");
  EXPECT_THAT(Open(fmt::format("s3://{}?endpoint={}&bogus=1", store_->bucket(), env_.endpoint)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("bogus")));
  EXPECT_THAT(Open(fmt::format("s3://{}?endpoint=ftp://x", store_->bucket())),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("ftp://x")));
  // Checksums are the service's to keep, so they are asked for by name; RGW 16 keeps none.
  EXPECT_THAT(
      Open(fmt::format("s3://{}?endpoint={}&checksums=yes", store_->bucket(), env_.endpoint)),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("checksums=yes")));
  EXPECT_FALSE((*store)->capabilities().checksums);
  auto checked = Open(url + "&checksums=1");
  ASSERT_THAT(checked, IsOk());
  EXPECT_TRUE((*checked)->capabilities().checksums);
  EXPECT_THAT((*checked)->ToString(), HasSubstr("checksums=1"));
}

TEST_F(S3StoreTest, LargeCopyGoesPartByPart) {
  S3StoreOptions options = TestOptions(env_, store_->bucket());
  options.max_single_copy = 3000;
  auto store = S3Store::Open(options);
  ASSERT_THAT(store, IsOk());
  std::string data = RandomBytes(10'000, 3);
  ASSERT_THAT((*store)->Put("src", Bytes::Copy(data),
                            {.content_type = "text/x-test", .user_metadata = {{"k", "v"}}}),
              IsOk());
  auto copied = (*store)->Copy("src", "dst", CopyMode::kOverwrite);
  ASSERT_THAT(copied, IsOk());
  EXPECT_THAT(copied->etag, EndsWith("-4"));
  EXPECT_EQ(ReadAll(*store_, "dst"), data);
  auto head = store_->Head("dst");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->content_type, "text/x-test");
  EXPECT_EQ(head->user_metadata.at("k"), "v");
  auto uploads = store_->ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  EXPECT_THAT(*uploads, IsEmpty());
}

TEST_F(S3StoreTest, ManyKeysDeleteInBatches) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1100; ++i) keys.push_back(fmt::format("many/{:05}", i));
  std::atomic<size_t> next{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&] {
      for (size_t i = next++; i < keys.size(); i = next++) {
        EXPECT_THAT(store_->Put(keys[i], Bytes::Copy("x"), {}), IsOk());
      }
    });
  }
  for (auto& writer : writers) writer.join();
  std::vector<std::string> with_bad = keys;
  with_bad.push_back("");
  std::vector<Status> results = store_->DeleteMany(with_bad);
  ASSERT_EQ(results.size(), with_bad.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_THAT(results[i], IsOk()) << keys[i];
  EXPECT_THAT(results.back(), StatusIs(StatusCode::kInvalidArgument));
  auto page = store_->List({.prefix = "many/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
}

TEST_F(S3StoreTest, SurvivesAGatewayRestartInTheMiddle) {
  S3StoreOptions options = TestOptions(env_, store_->bucket());
  options.retry.max_attempts = 100;
  options.retry.max_total = std::chrono::seconds(90);
  options.retry.max = std::chrono::seconds(1);
  auto store = S3Store::Open(options);
  ASSERT_THAT(store, IsOk());
  std::string data = RandomBytes(6 << 20, 11);
  BufferedUploadOptions upload_options;
  upload_options.part_size = PartSizePolicy::Fixed(1 << 20);
  upload_options.max_in_flight = 2;
  auto upload = BufferedUpload::Start(**store, "restart/big", upload_options);
  ASSERT_THAT(upload, IsOk());
  ASSERT_THAT((*upload)->Write(std::string_view(data).substr(0, 3 << 20)), IsOk());
  std::thread restart([&] { EXPECT_THAT(s3::testing::RestartGateway(env_), IsOk()); });
  // Writes and reads issued while the gateway is down retry until it is back.
  ASSERT_THAT((*upload)->Write(std::string_view(data).substr(3 << 20)), IsOk());
  ASSERT_THAT((*store)->Put("restart/small", Bytes::Copy("during"), {}), IsOk());
  restart.join();
  ASSERT_THAT((*upload)->Finish(), IsOk());
  EXPECT_EQ(ReadAll(**store, "restart/big"), data);
  EXPECT_EQ(ReadAll(**store, "restart/small"), "during");
}

// --- Through the fault-injecting proxy --------------------------------------------------------

class S3FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DEPOT_REQUIRE_GATEWAY(env_);
    auto upstream = Url::Parse(env_.endpoint);
    ASSERT_THAT(upstream, IsOk());
    auto proxy = FaultProxy::Start(upstream->host, upstream->port.value_or(80));
    ASSERT_THAT(proxy, IsOk());
    proxy_ = std::move(*proxy);
    auto store = NewBucketStore(env_, "faults", proxy_->endpoint());
    ASSERT_THAT(store, IsOk());
    store_ = std::move(*store);
  }
  void Inject(Fault fault) { ASSERT_THAT(proxy_->InjectOnce(std::move(fault)), IsOk()); }

  GatewayEnv env_;
  std::unique_ptr<FaultProxy> proxy_;
  std::shared_ptr<S3Store> store_;
};

TEST_F(S3FaultTest, ResumesADownloadCutMidBody) {
  std::string data = RandomBytes(3 << 20, 1);
  ASSERT_THAT(store_->Put("cut", Bytes::Copy(data), {}), IsOk());
  Inject({.kind = FaultKind::kCutResponseBody, .method = "GET"});
  Inject({.kind = FaultKind::kCutResponseBody, .method = "GET"});
  EXPECT_EQ(ReadAll(*store_, "cut"), data);
  GetOptions ranged;
  ranged.range = ByteRange::Bounded(1000, 2'000'000);
  Inject({.kind = FaultKind::kCutResponseBody, .method = "GET"});
  auto got = store_->Get("cut", ranged);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.view(), std::string_view(data).substr(1000, 1'999'000));
  EXPECT_GE(proxy_->stats().faults, 3u);
}

TEST_F(S3FaultTest, ParallelAndMultiRangeReadsSurviveCutBodies) {
  const std::string data = RandomBytes(6 << 20, 3);
  ASSERT_THAT(store_->Put("big", Bytes::Copy(data), {}), IsOk());
  ASSERT_THAT(
      proxy_->SetRandomFaults(7, 0.3, {{.kind = FaultKind::kCutResponseBody, .method = "GET"}}),
      IsOk());
  // Parallel chunked download: 24 chunks of 256 KiB, 4 in flight, bytes in order.
  auto reader = ObjectReader::Open(
      *store_, "big", {.chunk_size = 256 << 10, .read_ahead = 6, .max_concurrency = 4});
  ASSERT_THAT(reader, IsOk());
  std::string whole;
  std::string buffer(100'000, '\0');
  for (;;) {
    auto n = (*reader)->Read(buffer.data(), buffer.size());
    ASSERT_THAT(n, IsOk());
    if (*n == 0) break;
    whole.append(buffer.data(), *n);
  }
  EXPECT_TRUE(whole == data) << "parallel download differs";
  // Multi-range read: nearby ranges coalesce, far ones are fetched apart, in parallel.
  const std::vector<ByteRange> ranges = {
      ByteRange::Bounded(5 << 20, (5 << 20) + 10), ByteRange::Bounded(10, 100'000),
      ByteRange::Bounded(200'000, 300'000), ByteRange::Suffix(4096)};
  auto parts = GetRanges(*store_, "big", ranges, {.coalesce_gap = 128 << 10});
  ASSERT_THAT(parts, IsOk());
  EXPECT_EQ((*parts)[0].view(), std::string_view(data).substr(5 << 20, 10));
  EXPECT_EQ((*parts)[1].view(), std::string_view(data).substr(10, 99'990));
  EXPECT_EQ((*parts)[2].view(), std::string_view(data).substr(200'000, 100'000));
  EXPECT_EQ((*parts)[3].view(), std::string_view(data).substr(data.size() - 4096));
  proxy_->ClearFaults();
  EXPECT_GE(proxy_->stats().faults, 1u);
}

TEST_F(S3FaultTest, AResumedReadNeverSplicesTwoVersions) {
  std::string v1 = RandomBytes(2 << 20, 1);
  ASSERT_THAT(store_->Put("v", Bytes::Copy(v1), {}), IsOk());
  // The first response is cut and, before the resume, the object is replaced.
  Inject({.kind = FaultKind::kCutResponseBody, .method = "GET"});
  Inject({.kind = FaultKind::kDelay, .delay = std::chrono::milliseconds(300), .method = "GET"});
  std::thread replace([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_THAT(store_->Put("v", Bytes::Copy(RandomBytes(2 << 20, 2)), {}), IsOk());
  });
  auto got = store_->Get("v", {});
  replace.join();
  if (got.ok()) {
    EXPECT_EQ(got->data.view(), v1) << "a read that succeeds returns one whole version";
  } else {
    EXPECT_THAT(got, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("changed")));
  }
}

TEST_F(S3FaultTest, CorruptBodiesAreNeverReturnedOrStored) {
  std::string data = RandomBytes(200'000, 5);
  // A request body corrupted on the way fails the service's SHA-256 check and is sent again.
  Inject({.kind = FaultKind::kCorruptRequestBody, .method = "PUT"});
  ASSERT_THAT(store_->Put("c", Bytes::Copy(data), {}), IsOk());
  // A whole-object download corrupted on the way fails the MD5 check and is fetched again.
  Inject({.kind = FaultKind::kCorruptResponseBody, .method = "GET"});
  EXPECT_EQ(ReadAll(*store_, "c"), data);
  EXPECT_EQ(proxy_->stats().faults, 2u);

  // Unsigned payloads carry Content-MD5 instead: the service refuses the damaged body (BadDigest)
  // and the part is sent again.
  S3StoreOptions options = TestOptions(env_, store_->bucket(), proxy_->endpoint());
  options.sign_payload = false;
  auto unsigned_store = S3Store::Open(options);
  ASSERT_THAT(unsigned_store, IsOk());
  auto id = (*unsigned_store)->CreateMultipart("u", {});
  ASSERT_THAT(id, IsOk());
  Inject({.kind = FaultKind::kCorruptRequestBody, .method = "PUT"});
  auto part = (*unsigned_store)->PutPart("u", *id, 1, Bytes::Copy(data));
  ASSERT_THAT(part, IsOk());
  EXPECT_EQ(part->etag, Md5::HexOf(data));
  std::vector<PartInfo> parts = {*part};
  ASSERT_THAT((*unsigned_store)->CompleteMultipart("u", *id, parts), IsOk());
  EXPECT_EQ(ReadAll(*store_, "u"), data);
  EXPECT_EQ(proxy_->stats().faults, 3u);
}

TEST_F(S3FaultTest, ServerErrorsAreRetriedWithinBounds) {
  for (int i = 0; i < 3; ++i) {
    Inject({.kind = FaultKind::kErrorResponse, .status = 503, .code = "SlowDown"});
  }
  Inject({.kind = FaultKind::kErrorResponse, .status = 500, .code = "InternalError"});
  Inject({.kind = FaultKind::kDropConnection});
  ASSERT_THAT(store_->Put("retried", Bytes::Copy("ok"), {}), IsOk());
  EXPECT_EQ(ReadAll(*store_, "retried"), "ok");

  // More failures than attempts: kUnavailable naming the service's code.
  for (int i = 0; i < 10; ++i) {
    Inject({.kind = FaultKind::kErrorResponse, .status = 503, .code = "SlowDown"});
  }
  EXPECT_THAT(
      store_->Put("gave-up", Bytes::Copy("x"), {}),
      StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr("SlowDown"), HasSubstr("gave up"))));
  proxy_->ClearFaults();

  // A 4xx is an answer, not a hiccup: one request, no retry.
  uint64_t before = proxy_->stats().requests;
  Inject({.kind = FaultKind::kErrorResponse, .status = 400, .code = "InvalidRequest"});
  EXPECT_THAT(store_->Put("four", Bytes::Copy("x"), {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidRequest")));
  EXPECT_EQ(proxy_->stats().requests, before + 1);
}

TEST_F(S3FaultTest, AnErrorInsideA200IsAnError) {
  auto id = store_->CreateMultipart("mp", {});
  ASSERT_THAT(id, IsOk());
  auto part = store_->PutPart("mp", *id, 1, Bytes::Copy("only part"));
  ASSERT_THAT(part, IsOk());
  Inject({.kind = FaultKind::kErrorResponse,
          .status = 200,
          .code = "InternalError",
          .method = "POST"});
  std::vector<PartInfo> parts = {*part};
  ASSERT_THAT(store_->CompleteMultipart("mp", *id, parts), IsOk());
  EXPECT_EQ(ReadAll(*store_, "mp"), "only part");
  EXPECT_EQ(proxy_->stats().faults, 1u);
}

TEST_F(S3FaultTest, AStalledResponseTimesOutAndIsRetried) {
  ASSERT_THAT(store_->Put("slow", Bytes::Copy("patience"), {}), IsOk());
  S3StoreOptions options = TestOptions(env_, store_->bucket(), proxy_->endpoint());
  options.idle_timeout = std::chrono::seconds(1);
  auto impatient = S3Store::Open(options);
  ASSERT_THAT(impatient, IsOk());
  Inject({.kind = FaultKind::kDelay, .delay = std::chrono::seconds(3), .method = "GET"});
  EXPECT_EQ(ReadAll(**impatient, "slow"), "patience");
}

TEST_F(S3FaultTest, ADeadlineEndsAStalledRequestOnTheWire) {
  ASSERT_THAT(store_->Put("stalled", Bytes::Copy("late"), {}), IsOk());
  Inject({.kind = FaultKind::kDelay, .delay = std::chrono::seconds(20), .method = "GET"});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(store_->Get("stalled", {}, Context().WithTimeout(std::chrono::milliseconds(500))),
              StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("stalled")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(S3FaultTest, ACancelEndsRetriesAndRequestsInFlight) {
  const auto cancelled_within = [&](const std::function<Status(const Context&)>& call) {
    CancellationSource stop;
    // 100 ms: the test store's 8 retries sleep at least 8 x 20 ms between their attempts, and
    // jitter may keep them near that (a cancel at 300 ms once came after they gave up).
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      stop.Cancel();
    });
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THAT(call(Context(stop.token())), StatusIs(StatusCode::kCancelled));
    canceller.join();
    return std::chrono::steady_clock::now() - start;
  };
  // Between attempts: ten 503s would take seconds of backoff.
  for (int i = 0; i < 10; ++i) {
    Inject({.kind = FaultKind::kErrorResponse, .status = 503, .code = "SlowDown"});
  }
  EXPECT_LT(cancelled_within([&](const Context& ctx) {
              return store_->Put("retried", Bytes::Copy("x"), {}, ctx).status();
            }),
            std::chrono::seconds(5));
  proxy_->ClearFaults();
  EXPECT_THAT(store_->Head("retried"), StatusIs(StatusCode::kNotFound));
  // On the wire: a response that would take 20 s.
  ASSERT_THAT(store_->Put("slow", Bytes::Copy("late"), {}), IsOk());
  Inject({.kind = FaultKind::kDelay, .delay = std::chrono::seconds(20), .method = "GET"});
  EXPECT_LT(
      cancelled_within([&](const Context& ctx) { return store_->Get("slow", {}, ctx).status(); }),
      std::chrono::seconds(5));
  // The store is fine afterwards.
  EXPECT_EQ(ReadAll(*store_, "slow"), "late");
}

// Random faults on every kind of request: each operation either succeeds with the right bytes or
// fails with a clear error; nothing corrupt is ever returned; no multipart upload is left behind.
TEST_F(S3FaultTest, RandomFaultsNeverCorruptAndLeaveNothingBehind) {
  ASSERT_THAT(proxy_->SetRandomFaults(
                  42, 0.15,
                  {{.kind = FaultKind::kDropConnection},
                   {.kind = FaultKind::kCutResponseBody},
                   {.kind = FaultKind::kErrorResponse, .status = 503, .code = "SlowDown"},
                   {.kind = FaultKind::kErrorResponse, .status = 500, .code = "InternalError"},
                   {.kind = FaultKind::kDelay, .delay = std::chrono::milliseconds(50)},
                   {.kind = FaultKind::kCorruptRequestBody},
                   // Only single-part objects carry a checksum of their whole body (the MD5 ETag)
                   // that a download can be checked against; see the note in s3_store.h.
                   {.kind = FaultKind::kCorruptResponseBody,
                    .method = "GET",
                    .target_contains = "/single/"}}),
              IsOk());
  std::map<std::string, std::string> stored;
  int failures = 0;
  for (int i = 0; i < 40; ++i) {
    std::string key = fmt::format("{}/{}", i % 3 == 0 ? "multi" : "single", i % 12);
    std::string data = RandomBytes(static_cast<size_t>(1000 + (i * 7919) % 300'000), i);
    Status put;
    if (i % 3 == 0) {
      BufferedUploadOptions options;
      options.part_size = PartSizePolicy::Fixed(64 << 10);
      options.max_in_flight = 3;
      auto upload = BufferedUpload::Start(*store_, key, options);
      ASSERT_THAT(upload, IsOk());
      put = (*upload)->Write(data);
      if (put.ok()) put = (*upload)->Finish().status();
    } else {
      put = store_->Put(key, Bytes::Copy(data), {}).status();
    }
    if (put.ok()) {
      stored[key] = data;
    } else {
      ++failures;
      EXPECT_THAT(put.code(), AnyOf(StatusCode::kUnavailable, StatusCode::kDataLoss)) << put;
      stored.erase(key);  // its state is unknown: old or new
    }
    auto got = store_->Get(key, {});
    if (got.ok() && stored.count(key) != 0) {
      EXPECT_EQ(got->data.view(), stored[key]) << key;
    } else if (!got.ok()) {
      EXPECT_THAT(got.status().code(),
                  AnyOf(StatusCode::kUnavailable, StatusCode::kDataLoss, StatusCode::kNotFound))
          << got.status();
    }
  }
  proxy_->ClearFaults();
  EXPECT_GT(proxy_->stats().faults, 10u);
  for (const auto& [key, data] : stored) EXPECT_EQ(ReadAll(*store_, key), data) << key;
  auto uploads = store_->ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  EXPECT_THAT(*uploads, IsEmpty());
  RecordProperty("failed_operations", failures);
}

}  // namespace
}  // namespace depot::object
