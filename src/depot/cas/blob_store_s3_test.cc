// The blob store over S3 (Ceph's RADOS Gateway, started for the run): the conformance suite with
// the bytes in a fresh bucket per test and the index in RocksDB. S3 has no rename: a put's staged
// objects reach their final keys by server-side copy.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <random>

#include "depot/cas/blob_store.h"
#include "depot/cas/testing/conformance.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/open.h"
#include "depot/object/s3/s3_store.h"
#include "depot/object/s3/testing/gateway.h"

namespace depot::cas {
namespace {

using ::depot::testing::TempDir;
using testing::BlobStoreConformance;
using testing::CasBackend;
using testing::CasBackendName;
using testing::CasStores;

TempDir& Parent() {
  static TempDir* parent = new TempDir();
  return *parent;
}

Result<CasStores> NewStores() {
  auto env = object::s3::testing::GatewayFromEnvironment();
  if (!env) return UnavailableError("no S3 gateway for this test run");
  object::S3StoreOptions options;
  options.bucket = fmt::format("cas-{:016x}", std::random_device{}() * 0x9e3779b97f4a7c15ull);
  options.endpoint = env->endpoint;
  options.credentials.access_key_id = env->access_key;
  options.credentials.secret_access_key = env->secret_key;
  options.credentials.region = "us-east-1";
  DEPOT_ASSIGN_OR_RETURN(auto s3, object::S3Store::Open(options));
  DEPOT_RETURN_IF_ERROR(s3->CreateBucket());
  static std::atomic<int> next{0};
  const auto dir = Parent().path() / std::to_string(next++);
  std::filesystem::create_directories(dir);
  CasStores stores;
  stores.objects = std::move(s3);
  DEPOT_ASSIGN_OR_RETURN(stores.index, kv::Open("rocksdb://" + (dir / "index").string()));
  return stores;
}

INSTANTIATE_TEST_SUITE_P(RadosGateway, BlobStoreConformance,
                         ::testing::Values(CasBackend{"rgw_rocksdb", NewStores}), CasBackendName);

}  // namespace
}  // namespace depot::cas
