// The kv conformance suite: one set of tests that every kv backend runs.
//
// A backend's test file instantiates it with a factory that opens a fresh, empty store with the
// given state spaces in a directory of its own:
//
//   INSTANTIATE_TEST_SUITE_P(Memory, KvConformance,
//                            ::testing::Values(KvBackend{"memory", [](auto spaces) { ... }}),
//                            KvBackendName);
//
// Cases that need a capability the backend lacks end with GTEST_SKIP naming it, and the absence
// itself (kUnimplemented) is checked.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "depot/core/result.h"
#include "depot/kv/store.h"

namespace depot::kv::testing {

struct KvBackend {
  std::string name;
  // A fresh store with these spaces; each call of one test gets a new, empty one.
  std::function<Result<std::shared_ptr<Store>>(const std::vector<std::string>& spaces)> make;
};

inline void PrintTo(const KvBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string KvBackendName(const ::testing::TestParamInfo<KvBackend>& info) {
  return info.param.name;
}

class KvConformance : public ::testing::TestWithParam<KvBackend> {
 protected:
  void SetUp() override {
    auto made = GetParam().make({"a", "b", "c"});
    ASSERT_TRUE(made.ok()) << made.status();
    store_ = *made;
  }
  Store& store() { return *store_; }

  std::shared_ptr<Store> store_;
};

}  // namespace depot::kv::testing
