#include "depot/object/memory/memory_store.h"

#include <gmock/gmock.h>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/testing/conformance.h"

namespace depot::object {
namespace {

using ::depot::object::testing::ConformanceBackend;
using ::depot::object::testing::ConformanceBackendName;
using ::depot::object::testing::ObjectStoreConformance;
using ::depot::testing::IsOk;

INSTANTIATE_TEST_SUITE_P(Memory, ObjectStoreConformance,
                         ::testing::Values(ConformanceBackend{
                             "memory",
                             []() -> Result<std::shared_ptr<ObjectStore>> {
                               return std::make_shared<MemoryStore>(
                                   MemoryStoreOptions{.min_part_size = 1024});
                             }}),
                         ConformanceBackendName);

TEST(MemoryStoreTest, EtagIsTheMd5OfTheBytes) {
  MemoryStore store;
  auto put = store.Put("x", Bytes::Copy("hello"), {});
  ASSERT_THAT(put, IsOk());
  EXPECT_EQ(put->etag, "5d41402abc4b2a76b9719d911017c592");
}

TEST(MemoryStoreTest, GetSharesTheStoredBytes) {
  MemoryStore store;
  Bytes data = Bytes::Copy("shared storage");
  ASSERT_THAT(store.Put("x", data, {}), IsOk());
  GetOptions options;
  options.range = ByteRange::From(7);
  auto got = store.Get("x", options);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.data(), data.data() + 7);
}

TEST(MemoryStoreTest, ToStringNamesTheStore) {
  EXPECT_EQ(MemoryStore({}, "cache").ToString(), "mem://cache");
}

}  // namespace
}  // namespace depot::object
