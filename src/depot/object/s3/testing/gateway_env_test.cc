// gateway.h without a gateway: the environment contract, DEPOT_REQUIRE_GATEWAY's failure mode,
// the restart script's invocation (through stand-in scripts) and WaitForGateway's deadline.
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/s3/testing/gateway.h"

namespace depot::object::s3::testing {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr const char* kVariables[] = {
    "DEPOT_TEST_S3_ENDPOINT", "DEPOT_TEST_S3_ACCESS_KEY", "DEPOT_TEST_S3_SECRET_KEY",
    "DEPOT_TEST_CEPH_DIR",    "DEPOT_TEST_SCRIPTS_DIR",   "DEPOT_TEST_INTEGRATION",
};

// Clears the variables gateway.h reads, and puts them back afterwards.
class GatewayEnvTest : public ::testing::Test {
 protected:
  GatewayEnvTest() {
    for (const char* name : kVariables) {
      if (const char* value = std::getenv(name)) saved_[name] = value;
      ::unsetenv(name);
    }
  }
  ~GatewayEnvTest() override {
    for (const char* name : kVariables) ::unsetenv(name);
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
    if (!scripts_.empty()) std::filesystem::remove_all(scripts_);
  }

  // A scripts directory whose ceph-restart-gateway.sh runs `body`.
  std::string FakeScripts(const std::string& body) {
    scripts_ = std::filesystem::temp_directory_path() /
               ("depot-gateway-env-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(scripts_);
    const std::filesystem::path script = scripts_ / "ceph-restart-gateway.sh";
    std::ofstream(script) << "#!/bin/sh\n" << body << "\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    return scripts_.string();
  }

  std::map<std::string, std::string> saved_;
  std::filesystem::path scripts_;
};

TEST_F(GatewayEnvTest, NoEndpointMeansNoGateway) {
  EXPECT_EQ(GatewayFromEnvironment(), std::nullopt);
  ::setenv("DEPOT_TEST_S3_ENDPOINT", "", 1);
  EXPECT_EQ(GatewayFromEnvironment(), std::nullopt);
  EXPECT_FALSE(IntegrationRequired());
  ::setenv("DEPOT_TEST_INTEGRATION", "1", 1);
  EXPECT_TRUE(IntegrationRequired());
}

TEST_F(GatewayEnvTest, ReadsEveryVariable) {
  ::setenv("DEPOT_TEST_S3_ENDPOINT", "http://127.0.0.1:7480", 1);
  ::setenv("DEPOT_TEST_S3_ACCESS_KEY", "AK", 1);
  ::setenv("DEPOT_TEST_S3_SECRET_KEY", "SK", 1);
  ::setenv("DEPOT_TEST_CEPH_DIR", "/tmp/c", 1);
  ::setenv("DEPOT_TEST_SCRIPTS_DIR", "/src/scripts", 1);
  const std::optional<GatewayEnv> gateway = GatewayFromEnvironment();
  ASSERT_TRUE(gateway.has_value());
  EXPECT_EQ(gateway->endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(gateway->access_key, "AK");
  EXPECT_EQ(gateway->secret_key, "SK");
  EXPECT_EQ(gateway->ceph_dir, "/tmp/c");
  EXPECT_EQ(gateway->scripts_dir, "/src/scripts");

  GatewayEnv required;
  DEPOT_REQUIRE_GATEWAY(required);
  EXPECT_EQ(required.endpoint, "http://127.0.0.1:7480");
}

void RequireMissingGateway() {
  GatewayEnv gateway;
  DEPOT_REQUIRE_GATEWAY(gateway);
}

TEST_F(GatewayEnvTest, MissingGatewayFailsUnderIntegration) {
  ::setenv("DEPOT_TEST_INTEGRATION", "1", 1);
  EXPECT_FATAL_FAILURE(RequireMissingGateway(), "NO S3 GATEWAY");
}

TEST_F(GatewayEnvTest, RestartRunsTheScriptWithTheClustersDirectory) {
  GatewayEnv gateway{.endpoint = "http://127.0.0.1:1", .ceph_dir = "/tmp/the-cluster"};
  EXPECT_THAT(RestartGateway(gateway),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("scripts_dir")));

  gateway.scripts_dir = FakeScripts("[ \"$CEPH_DIR\" = /tmp/the-cluster ] || exit 9");
  EXPECT_THAT(RestartGateway(gateway), IsOk());

  gateway.scripts_dir = FakeScripts("echo \"no cluster in $CEPH_DIR\" >&2; exit 3");
  EXPECT_THAT(RestartGateway(gateway),
              StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr("exit status 3"),
                                                       HasSubstr("no cluster in /tmp/the-cluster"),
                                                       HasSubstr("ceph-restart-gateway.sh"))));

  gateway.scripts_dir = "/nonexistent-depot-scripts";
  EXPECT_THAT(RestartGateway(gateway),
              StatusIs(StatusCode::kNotFound, HasSubstr("/nonexistent-depot-scripts")));
}

TEST_F(GatewayEnvTest, WaitForGatewayGivesUpAtTheDeadline) {
  DEPOT_ASSERT_OK_AND_ASSIGN(const RefusingPort refusing, ReserveRefusingPort());
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(refusing.port);

  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(WaitForGateway({.endpoint = endpoint}, std::chrono::seconds(1)),
              StatusIs(StatusCode::kDeadlineExceeded, HasSubstr(endpoint)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));

  EXPECT_THAT(WaitForGateway({.endpoint = "s3://bucket"}, std::chrono::seconds(1)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("s3://bucket")));
}

}  // namespace
}  // namespace depot::object::s3::testing
