// The resource conformance suite: one set of tests that every resource driver runs.
//
// A driver's test file instantiates it with a factory that opens a fresh, empty, active resource
// (in a directory of its own, for a file driver) with a small initial size, so that growth is
// exercised:
//
//   INSTANTIATE_TEST_SUITE_P(Memory, ResourceConformance,
//                            ::testing::Values(ResourceDriver{"memory", [](auto& dir) {...}}),
//                            ResourceDriverName);
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include "depot/core/result.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/resource/resource.h"

namespace depot::resource::testing {

struct ResourceDriver {
  std::string name;
  // A fresh, empty, active resource; `dir` is the test's own directory.
  std::function<Result<Resource>(const std::filesystem::path& dir)> make;
};

inline void PrintTo(const ResourceDriver& driver, std::ostream* os) { *os << driver.name; }

inline std::string ResourceDriverName(const ::testing::TestParamInfo<ResourceDriver>& info) {
  return info.param.name;
}

class ResourceConformance : public ::testing::TestWithParam<ResourceDriver> {
 protected:
  Resource Make() {
    auto made = GetParam().make(dir_.path() / std::to_string(++made_));
    EXPECT_TRUE(made.ok()) << made.status();
    if (!made.ok()) std::abort();
    return *made;
  }

  depot::testing::TempDir dir_;
  int made_ = 0;
};

}  // namespace depot::resource::testing
