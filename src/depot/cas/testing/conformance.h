// The blob-store conformance suite: one set of tests that every pairing of an object store (the
// bytes) and a kv store (the index) runs.
//
//   INSTANTIATE_TEST_SUITE_P(Memory, BlobStoreConformance,
//                            ::testing::Values(CasBackend{"memory_memory", [] { ... }}),
//                            CasBackendName);
//
// Each test gets a fresh, empty pair from the factory and opens a BlobStore over it; the tests
// also reach into the object store (to corrupt, remove or leave behind objects) by the layout
// atop blob_store.cc.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "depot/cas/blob_store.h"
#include "depot/core/result.h"
#include "depot/kv/store.h"
#include "depot/object/store.h"

namespace depot::cas::testing {

struct CasStores {
  std::shared_ptr<object::ObjectStore> objects;
  std::shared_ptr<kv::Store> index;
};

struct CasBackend {
  std::string name;
  std::function<Result<CasStores>()> make;
};

inline void PrintTo(const CasBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string CasBackendName(const ::testing::TestParamInfo<CasBackend>& info) {
  return info.param.name;
}

class BlobStoreConformance : public ::testing::TestWithParam<CasBackend> {
 protected:
  void SetUp() override;
  BlobStore& blobs() { return *blobs_; }
  // Opens another BlobStore over the same pair (as a restarted process would).
  std::unique_ptr<BlobStore> Reopen();

  CasStores stores_;
  std::unique_ptr<BlobStore> blobs_;
};

}  // namespace depot::cas::testing
