// The object-store conformance suite: one set of tests that every backend runs.
//
// A backend's test file instantiates it with a factory that makes a fresh, empty store per test:
//
//   INSTANTIATE_TEST_SUITE_P(Memory, ObjectStoreConformance,
//                            ::testing::Values(ConformanceBackend{"memory", [] { ... }}),
//                            ConformanceBackendName);
//
// Tests consult store->capabilities() and check that an unsupported operation answers
// kUnimplemented instead of skipping silently. Multipart tests need min_part_size <= 64 KiB:
// backends should be configured with a small minimum for the suite.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object::testing {

struct ConformanceBackend {
  std::string name;
  std::function<Result<std::shared_ptr<ObjectStore>>()> make;
};

inline void PrintTo(const ConformanceBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string ConformanceBackendName(
    const ::testing::TestParamInfo<ConformanceBackend>& info) {
  return info.param.name;
}

class ObjectStoreConformance : public ::testing::TestWithParam<ConformanceBackend> {
 protected:
  void SetUp() override {
    auto made = GetParam().make();
    ASSERT_TRUE(made.ok()) << made.status();
    store_ = *made;
  }
  ObjectStore& store() { return *store_; }
  // Why a case that needs `capability` does not run here: said by GTEST_SKIP, never a silent pass.
  std::string MissingCapability(std::string_view capability) {
    return "needs the capability " + std::string(capability) + ", which " + store_->ToString() +
           " does not have";
  }

  std::shared_ptr<ObjectStore> store_;
};

}  // namespace depot::object::testing
