// The fetcher against the Ceph RADOS Gateway that CTest's fixture starts, through the fault proxy:
// dropped connections, 5xx answers and bodies cut in the middle, at random, on every kind of
// request. Every run ends with exactly the object's bytes in the resource, or with an error that
// the waiting readers get too; never with wrong bytes.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/url.h"
#include "depot/object/s3/s3_store.h"
#include "depot/object/s3/testing/fault_proxy.h"
#include "depot/object/s3/testing/gateway.h"
#include "depot/resource/fetch/fetcher.h"
#include "depot/resource/memory/memory_driver.h"

namespace depot::resource {
namespace {

using ::depot::object::s3::testing::Fault;
using ::depot::object::s3::testing::FaultKind;
using ::depot::object::s3::testing::FaultProxy;
using ::depot::object::s3::testing::GatewayEnv;
using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;

class FetcherS3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    DEPOT_REQUIRE_GATEWAY(env_);
    auto upstream = Url::Parse(env_.endpoint);
    ASSERT_THAT(upstream, IsOk());
    auto proxy = FaultProxy::Start(upstream->host, upstream->port.value_or(80));
    ASSERT_THAT(proxy, IsOk());
    proxy_ = std::move(*proxy);
    object::S3StoreOptions options;
    options.bucket = fmt::format("fetch-{}-{}", ::getpid(), ++buckets_);
    options.endpoint = proxy_->endpoint();
    options.credentials.access_key_id = env_.access_key;
    options.credentials.secret_access_key = env_.secret_key;
    options.credentials.region = "us-east-1";
    options.retry = {.initial = std::chrono::milliseconds(20),
                     .max = std::chrono::milliseconds(200),
                     .max_attempts = 8,
                     .max_total = std::chrono::seconds(20)};
    auto store = object::S3Store::Open(options);
    ASSERT_THAT(store, IsOk());
    store_ = std::move(*store);
    ASSERT_THAT(store_->CreateBucket(), IsOk());
  }

  static inline int buckets_ = 0;
  GatewayEnv env_;
  std::unique_ptr<FaultProxy> proxy_;
  std::shared_ptr<object::S3Store> store_;
};

TEST_F(FetcherS3Test, RandomFaultsGiveTheRightBytesOrAnErrorNeverWrongBytes) {
  const std::string data = RandomBytes(12 << 20, 1);
  ASSERT_THAT(store_->Put("movie", Bytes::Copy(data)), IsOk());
  ASSERT_THAT(proxy_->SetRandomFaults(7, 0.15,
                                      {Fault{.kind = FaultKind::kDropConnection, .method = "GET"},
                                       Fault{.kind = FaultKind::kCutResponseBody, .method = "GET"},
                                       Fault{.kind = FaultKind::kErrorResponse,
                                             .status = 503,
                                             .code = "SlowDown",
                                             .method = "GET"},
                                       Fault{.kind = FaultKind::kErrorResponse,
                                             .status = 500,
                                             .code = "InternalError",
                                             .method = "GET"}}),
              IsOk());
  int complete = 0;
  for (int run = 0; run < 4; ++run) {
    SCOPED_TRACE(fmt::format("run {}", run));
    Resource resource = OpenMemoryResource();
    FetchOptions options;
    options.chunk_size = 512 << 10;
    options.parallelism = 4;
    options.retry = {.initial = std::chrono::milliseconds(5),
                     .max = std::chrono::milliseconds(100),
                     .max_attempts = 10,
                     .max_total = std::chrono::seconds(20)};
    auto fetcher = Fetcher::Start(*store_, "movie", resource, options);
    if (!fetcher.ok()) continue;  // the Head itself was faulted past its retries: an error, fine
    // A reader plays it in order, with a seek to the middle.
    std::string played(data.size(), '\0');
    Status read = Status::Ok();
    for (uint64_t offset : {uint64_t{6} << 20, uint64_t{0}}) {
      const uint64_t end = offset == 0 ? uint64_t{6} << 20 : data.size();
      for (uint64_t at = offset; at < end && read.ok(); at += 1 << 20) {
        auto n = resource.reader().Read(at, std::span<char>(played.data() + at, 1 << 20));
        read = n.status();
      }
    }
    const Status fetched = (*fetcher)->Wait();
    if (fetched.ok()) {
      ASSERT_THAT(read, IsOk());
      EXPECT_TRUE(played == data) << "wrong bytes";
      ++complete;
    } else {
      EXPECT_FALSE(read.ok()) << "the readers must hear of the failure: " << fetched.ToString();
    }
  }
  EXPECT_GE(complete, 3) << "retries should carry most runs through 15% faults";
  EXPECT_GT(proxy_->stats().faults, 10u);
}

}  // namespace
}  // namespace depot::resource
