#include "depot/kv/memory/memory_store.h"

#include "depot/kv/testing/conformance.h"

namespace depot::kv {
namespace {

using testing::KvBackend;
using testing::KvBackendName;
using testing::KvConformance;

INSTANTIATE_TEST_SUITE_P(
    Memory, KvConformance,
    ::testing::Values(KvBackend{
        "memory",
        [](const std::vector<std::string>& spaces) -> Result<std::shared_ptr<Store>> {
          DEPOT_ASSIGN_OR_RETURN(auto store, MemoryStore::Open(spaces));
          return std::shared_ptr<Store>(std::move(store));
        }}),
    KvBackendName);

}  // namespace
}  // namespace depot::kv
