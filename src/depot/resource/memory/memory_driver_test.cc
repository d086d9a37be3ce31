#include "depot/resource/memory/memory_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/testing/status_matchers.h"
#include "depot/resource/testing/conformance.h"

namespace depot::resource {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::IsOkAndHolds;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;
using testing::ResourceConformance;
using testing::ResourceDriver;
using testing::ResourceDriverName;

INSTANTIATE_TEST_SUITE_P(Memory, ResourceConformance,
                         ::testing::Values(ResourceDriver{
                             "memory",
                             [](const std::filesystem::path&) -> Result<Resource> {
                               return OpenMemoryResource({.initial_capacity = 16});
                             }}),
                         ResourceDriverName);

TEST(MemoryResourceTest, GrowthStopsAtTheLimitAndSaysSo) {
  Resource resource =
      OpenMemoryResource({.initial_capacity = 16, .max_size = 1000, .name = "cache entry"});
  EXPECT_THAT(resource.writer().WriteAt(0, std::string(1000, 'a')), IsOk());
  EXPECT_THAT(
      resource.writer().WriteAt(1000, "b"),
      StatusIs(StatusCode::kResourceExhausted,
               HasSubstr("cache entry: write [1000, 1001) passes the limit of 1000 bytes")));
  EXPECT_EQ(resource.present().ToString(), "[0, 1000)");
}

TEST(MemoryResourceTest, AResourceOfGivenBytesIsCommitted) {
  Resource resource = MemoryResourceOf("hello");
  EXPECT_TRUE(resource.status().committed());
  char buffer[8];
  EXPECT_THAT(resource.reader().Read(0, buffer), IsOkAndHolds(5u));
  EXPECT_EQ(std::string_view(buffer, 5), "hello");
  EXPECT_FALSE(resource.path().has_value());
  EXPECT_TRUE(MemoryResourceOf("").status().committed());
}

TEST(MemoryResourceTest, AWriteRunningPast2To64IsInvalid) {
  Resource resource = OpenMemoryResource();
  EXPECT_THAT(resource.writer().WriteAt(UINT64_MAX - 1, "abc"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("past 2^64")));
}

}  // namespace
}  // namespace depot::resource
