// The blob store over two object stores (memory, local directory) and three kv stores (memory,
// RocksDB, SQLite): the conformance suite on every pairing that keeps its index on disk, and on
// memory x memory.
#include "depot/cas/blob_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "depot/cas/testing/conformance.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/open.h"
#include "depot/object/open.h"

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

// A fresh pair: objects from `objects` ("mem" or "file"), the index from `index` ("mem",
// "rocksdb" or "sqlite"), each in a directory of its own.
CasBackend Pair(std::string objects, std::string index) {
  return CasBackend{
      objects + "_" + index, [objects, index]() -> Result<CasStores> {
        static std::atomic<int> next{0};
        const auto dir = Parent().path() / std::to_string(next++);
        std::filesystem::create_directories(dir);
        CasStores stores;
        DEPOT_ASSIGN_OR_RETURN(
            stores.objects,
            object::Open(objects == "mem" ? "mem://" : "file://" + dir.string() + "/objects"));
        const std::string url = index == "mem"       ? "mem://"
                                : index == "rocksdb" ? "rocksdb://" + dir.string() + "/index"
                                                     : "sqlite://" + dir.string() + "/index.db";
        DEPOT_ASSIGN_OR_RETURN(stores.index, kv::Open(url));
        return stores;
      }};
}

INSTANTIATE_TEST_SUITE_P(Pairs, BlobStoreConformance,
                         ::testing::Values(Pair("mem", "mem"), Pair("mem", "rocksdb"),
                                           Pair("file", "rocksdb"), Pair("file", "sqlite"),
                                           Pair("mem", "sqlite")),
                         CasBackendName);

}  // namespace
}  // namespace depot::cas
