// depot::object::s3::testing: the Ceph RADOS Gateway that CTest starts for the S3 tests, as the
// tests see it.
//
// CTest's fixture (cmake/DepotS3Fixture.cmake) runs scripts/ceph-up.sh before the tests that
// need the gateway and scripts/ceph-down.sh after them, and passes the gateway to each test in
// the environment: DEPOT_TEST_S3_ENDPOINT ("http://127.0.0.1:7480"), DEPOT_TEST_S3_ACCESS_KEY,
// DEPOT_TEST_S3_SECRET_KEY, DEPOT_TEST_CEPH_DIR and DEPOT_TEST_SCRIPTS_DIR. The endpoint is left
// out when Ceph was not installed at configure time.
//
//   class S3Test : public ::testing::Test {
//    protected:
//     void SetUp() override { DEPOT_REQUIRE_GATEWAY(gateway_); }
//     GatewayEnv gateway_;
//   };
//
// DEPOT_REQUIRE_GATEWAY skips the test with a loud message when there is no gateway, and fails
// it instead when DEPOT_TEST_INTEGRATION=1 (the project's test command sets it, so a CI run
// cannot pass by skipping). Functions here are thread-safe; RestartGateway must not run twice at
// once for the same gateway.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "depot/core/result.h"
#include "depot/core/status.h"
#include "depot/core/unique_fd.h"

namespace depot::object::s3::testing {

struct GatewayEnv {
  std::string endpoint;  // "http://127.0.0.1:7480"
  std::string access_key;
  std::string secret_key;
  std::string ceph_dir;     // the cluster's directory (logs in ceph_dir/log)
  std::string scripts_dir;  // the project's scripts/ directory
};

// The gateway from the environment; std::nullopt when DEPOT_TEST_S3_ENDPOINT is unset or empty.
std::optional<GatewayEnv> GatewayFromEnvironment();

// Whether DEPOT_TEST_INTEGRATION=1: a missing service is then a failure, not a skip.
bool IntegrationRequired();

// The message DEPOT_REQUIRE_GATEWAY prints when there is no gateway.
std::string GatewayMissingMessage();

// Stops the gateway's radosgw and starts it again on the same data (ceph-restart-gateway.sh),
// returning once it answers signed requests (about 1 s). The monitor and OSD keep running.
// kInvalidArgument when `gateway` has no ceph_dir or scripts_dir; the spawn's error (kNotFound
// for a missing script); kUnavailable, with the exit status and the end of the script's output,
// when the script fails. Blocks as long as the script runs (its waits are bounded).
Status RestartGateway(const GatewayEnv& gateway);

// Waits until the gateway answers an HTTP request (any status), polling every 100 ms.
// kDeadlineExceeded naming the endpoint and the last error when it has not within `timeout`;
// kInvalidArgument for an endpoint that is not http://host:port.
Status WaitForGateway(const GatewayEnv& gateway, std::chrono::seconds timeout);

// A loopback port that refuses connections for as long as the returned socket lives: bound, never
// listened on, so no other process can take it meanwhile.
struct RefusingPort {
  UniqueFd socket;
  uint16_t port = 0;
};
Result<RefusingPort> ReserveRefusingPort();

}  // namespace depot::object::s3::testing

// Assigns the gateway from the environment to `var` (a GatewayEnv), or ends the current test
// function: skipped with a loud message, or failed when DEPOT_TEST_INTEGRATION=1. For the top of a
// TEST body or a fixture's SetUp (where either way the test body does not run).
#define DEPOT_REQUIRE_GATEWAY(var)                                                \
  do {                                                                            \
    auto depot_gateway_ = ::depot::object::s3::testing::GatewayFromEnvironment(); \
    if (!depot_gateway_) {                                                        \
      if (::depot::object::s3::testing::IntegrationRequired()) {                  \
        FAIL() << ::depot::object::s3::testing::GatewayMissingMessage();          \
      }                                                                           \
      GTEST_SKIP() << ::depot::object::s3::testing::GatewayMissingMessage();      \
    }                                                                             \
    var = *std::move(depot_gateway_);                                             \
  } while (false)
