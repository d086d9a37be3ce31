// The object-store conformance suite over a PrefixStore: every test runs inside "tenant/" of a
// memory store, so key mapping, listing and multipart forwarding are all exercised.
#include <memory>

#include "depot/object/memory/memory_store.h"
#include "depot/object/prefix_store.h"
#include "depot/object/testing/conformance.h"

namespace depot::object::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Prefix, ObjectStoreConformance,
                         ::testing::Values(ConformanceBackend{
                             "prefix_over_memory",
                             []() -> Result<std::shared_ptr<ObjectStore>> {
                               auto inner = std::make_shared<MemoryStore>(
                                   MemoryStoreOptions{.min_part_size = 5});
                               return std::make_shared<PrefixStore>(inner, "tenant/");
                             }}),
                         ConformanceBackendName);

}  // namespace
}  // namespace depot::object::testing
