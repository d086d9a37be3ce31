// The streaming-upload suite: StreamUpload, StreamReader, UploadStream and DeleteStream over one
// backend, run by every backend's test executable.
//
//   INSTANTIATE_TEST_SUITE_P(Memory, StreamConformance,
//                            ::testing::Values(StreamBackend{"memory", [] { ... }}),
//                            StreamBackendName);
//
// `make` returns a fresh, empty store per test (the same factory as the object-store conformance
// suite's). Every test wraps it in a FaultInjectingStore, to watch the calls the stream makes and
// to fail some of them; the backend needs no multipart support and no particular part size (the
// stream's parts are plain objects of a few bytes here). `many_parts` sizes the tests that cross
// index segments (thousands of tiny objects): lower it for a slow remote backend.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "depot/core/result.h"
#include "depot/object/store.h"
#include "depot/object/testing/fault_store.h"

namespace depot::object::testing {

struct StreamBackend {
  std::string name;
  std::function<Result<std::shared_ptr<ObjectStore>>()> make;
  int many_parts = 3000;
};

inline void PrintTo(const StreamBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string StreamBackendName(const ::testing::TestParamInfo<StreamBackend>& info) {
  return info.param.name;
}

class StreamConformance : public ::testing::TestWithParam<StreamBackend> {
 protected:
  void SetUp() override {
    auto made = GetParam().make();
    ASSERT_TRUE(made.ok()) << made.status();
    faults_ = std::make_shared<FaultInjectingStore>(*made);
  }
  // The backend, through the fault-injecting wrapper.
  FaultInjectingStore& store() { return *faults_; }
  // The backend itself (unobserved).
  ObjectStore& backend() { return faults_->inner(); }

  std::shared_ptr<FaultInjectingStore> faults_;
};

}  // namespace depot::object::testing
