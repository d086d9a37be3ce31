// depot's own S3 backend runs the whole object-store and streaming-upload conformance suites
// against depot serve (over a local store on disk), as it does against Ceph RGW: the server is
// judged by the same tests as the stores it fronts, stored checksums included (checksums=1). Both
// suites run twice: over HTTP, and over HTTPS with a certificate from a CA the test makes
// (make_test_ca.sh).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "depot/object/local/local_store.h"
#include "depot/object/s3/s3_store.h"
#include "depot/object/stream/testing/stream_conformance.h"
#include "depot/object/testing/conformance.h"
#include "depot/server/s3_server.h"

namespace depot::server {
namespace {

namespace fs = std::filesystem;

// One server for the whole run over a local store in a fresh directory; each test gets a bucket.
class ServedStore : public ::testing::Environment {
 public:
  static ServedStore* http;
  static ServedStore* https;

  explicit ServedStore(bool tls) : tls_(tls) {}

  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "depot-serve-conformance-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    object::LocalStoreOptions local;
    local.create = true;
    local.min_part_size = 1024;
    auto store = object::LocalStore::Open((dir_ / "store").string(), local);
    ASSERT_TRUE(store.ok()) << store.status();
    S3ServerOptions options;
    options.port = 0;
    options.credentials = {{"CONFORMANCE", "SECRET"}};
    if (tls_) {
      const std::string make =
          fmt::format("bash {} {}", DEPOT_MAKE_TEST_CA, (dir_ / "tls").string());
      ASSERT_EQ(std::system(make.c_str()), 0) << make;
      options.tls_cert_file = (dir_ / "tls" / "server.pem").string();
      options.tls_key_file = (dir_ / "tls" / "server.key").string();
    }
    auto server = S3Server::Start(std::shared_ptr<object::ObjectStore>(std::move(*store)), options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  void TearDown() override {
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Result<std::shared_ptr<object::ObjectStore>> NewBucket(std::string_view stem) {
    if (server_ == nullptr) return UnavailableError("depot serve did not start");
    object::S3StoreOptions options;
    options.bucket = fmt::format("{}-{}", stem, ++buckets_);
    options.endpoint = fmt::format("{}://127.0.0.1:{}", tls_ ? "https" : "http", server_->port());
    if (tls_) options.ca_file = (dir_ / "tls" / "ca.pem").string();
    options.credentials.access_key_id = "CONFORMANCE";
    options.credentials.secret_access_key = "SECRET";
    options.credentials.region = "us-east-1";
    options.min_part_size = 1024;  // the backing local store's
    options.retry.max_attempts = 2;
    options.checksums = true;  // depot serve keeps them: the checksum cases run end to end
    DEPOT_ASSIGN_OR_RETURN(auto store, object::S3Store::Open(options));
    DEPOT_RETURN_IF_ERROR(store->CreateBucket());
    return std::shared_ptr<object::ObjectStore>(std::move(store));
  }

 private:
  const bool tls_;
  fs::path dir_;
  std::unique_ptr<S3Server> server_;
  std::atomic<int> buckets_{0};
};

ServedStore* ServedStore::http =
    static_cast<ServedStore*>(::testing::AddGlobalTestEnvironment(new ServedStore(false)));
ServedStore* ServedStore::https =
    static_cast<ServedStore*>(::testing::AddGlobalTestEnvironment(new ServedStore(true)));

using object::testing::ConformanceBackend;
using object::testing::ObjectStoreConformance;
using object::testing::StreamBackend;
using object::testing::StreamConformance;

INSTANTIATE_TEST_SUITE_P(
    DepotServe, ObjectStoreConformance,
    ::testing::Values(
        ConformanceBackend{"serve_local",
                           [] { return ServedStore::http->NewBucket("conformance"); }},
        ConformanceBackend{"serve_local_https",
                           [] { return ServedStore::https->NewBucket("conformance"); }}),
    object::testing::ConformanceBackendName);

INSTANTIATE_TEST_SUITE_P(
    DepotServe, StreamConformance,
    ::testing::Values(StreamBackend{"serve_local",
                                    [] { return ServedStore::http->NewBucket("stream"); }, 300},
                      StreamBackend{"serve_local_https",
                                    [] { return ServedStore::https->NewBucket("stream"); }, 300}),
    object::testing::StreamBackendName);

}  // namespace
}  // namespace depot::server
