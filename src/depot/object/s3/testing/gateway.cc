#include "depot/object/s3/testing/gateway.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "depot/core/url.h"

extern char** environ;

namespace depot::object::s3::testing {
namespace {

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// The last `limit` bytes of `text`, for error messages.
std::string_view Tail(std::string_view text, size_t limit) {
  return text.size() <= limit ? text : text.substr(text.size() - limit);
}

// Runs `program` with the current environment plus `extra_env` ("NAME=value"), its stdout and
// stderr captured together. Returns the exit status and the output.
Result<std::pair<int, std::string>> Run(const std::string& program,
                                        const std::vector<std::string>& extra_env) {
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view current(*entry);
    bool replaced = false;
    for (const std::string& extra : extra_env) {
      const size_t eq = extra.find('=');
      if (current.substr(0, eq + 1) == std::string_view(extra).substr(0, eq + 1)) replaced = true;
    }
    if (!replaced) env_strings.emplace_back(current);
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string program_copy = program;
  char* const argv[] = {program_copy.data(), nullptr};

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe for " + program);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  pid_t pid = 0;
  const int spawn_error =
      ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawn_error != 0) {
    ::close(pipe_fds[0]);
    return ErrnoToStatus(spawn_error, "starting " + program);
  }
  std::string output;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      output.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_fds[0]);
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return ErrnoToStatus(errno, "waiting for " + program);
  }
  const int exit_status =
      WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  return std::pair<int, std::string>(exit_status, std::move(output));
}

size_t DiscardBody(char*, size_t size, size_t count, void*) { return size * count; }

}  // namespace

std::optional<GatewayEnv> GatewayFromEnvironment() {
  GatewayEnv gateway{
      .endpoint = Getenv("DEPOT_TEST_S3_ENDPOINT"),
      .access_key = Getenv("DEPOT_TEST_S3_ACCESS_KEY"),
      .secret_key = Getenv("DEPOT_TEST_S3_SECRET_KEY"),
      .ceph_dir = Getenv("DEPOT_TEST_CEPH_DIR"),
      .scripts_dir = Getenv("DEPOT_TEST_SCRIPTS_DIR"),
  };
  if (gateway.endpoint.empty()) return std::nullopt;
  return gateway;
}

bool IntegrationRequired() { return Getenv("DEPOT_TEST_INTEGRATION") == "1"; }

std::string GatewayMissingMessage() {
  return "\n"
         "******************************************************************************\n"
         "*** NO S3 GATEWAY: DEPOT_TEST_S3_ENDPOINT is not set.\n"
         "*** The S3 integration tests run under ctest, whose fixture object_s3_gateway_start\n"
         "*** starts Ceph's RADOS Gateway with scripts/ceph-up.sh. Install ceph and radosgw\n"
         "*** (scripts/install-deps) and re-run cmake. With DEPOT_TEST_INTEGRATION=1 this is a\n"
         "*** failure, not a skip.\n"
         "******************************************************************************";
}

Status RestartGateway(const GatewayEnv& gateway) {
  if (gateway.ceph_dir.empty() || gateway.scripts_dir.empty()) {
    return InvalidArgumentError(fmt::format(
        "restarting the gateway at {} needs its ceph_dir (\"{}\") and scripts_dir (\"{}\")",
        gateway.endpoint, gateway.ceph_dir, gateway.scripts_dir));
  }
  const std::string script = gateway.scripts_dir + "/ceph-restart-gateway.sh";
  DEPOT_ASSIGN_OR_RETURN(const auto result, Run(script, {"CEPH_DIR=" + gateway.ceph_dir}));
  const auto& [exit_status, output] = result;
  if (exit_status != 0) {
    return UnavailableError(fmt::format("{} (CEPH_DIR={}) failed with exit status {}:\n{}", script,
                                        gateway.ceph_dir, exit_status, Tail(output, 4000)));
  }
  return Status::Ok();
}

Status WaitForGateway(const GatewayEnv& gateway, std::chrono::seconds timeout) {
  DEPOT_ASSIGN_OR_RETURN(const Url url, Url::Parse(gateway.endpoint));
  if (url.scheme != "http" || url.host.empty()) {
    return InvalidArgumentError(
        fmt::format("gateway endpoint \"{}\" is not http://host:port", gateway.endpoint));
  }
  const std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return InternalError("curl_easy_init failed");
  curl_easy_setopt(curl.get(), CURLOPT_URL, gateway.endpoint.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, DiscardBody);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 1000L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FORBID_REUSE, 1L);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const CURLcode code = curl_easy_perform(curl.get());
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK && status > 0) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceededError(fmt::format("gateway {} did not answer within {} s: {}",
                                               gateway.endpoint, timeout.count(),
                                               curl_easy_strerror(code)));
    }
    // Polling a separate process: there is nothing to wait on but time.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<RefusingPort> ReserveRefusingPort() {
  RefusingPort reserved{UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), 0};
  if (!reserved.socket.valid()) return ErrnoToStatus(errno, "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  if (::bind(reserved.socket.get(), reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::getsockname(reserved.socket.get(), reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    return ErrnoToStatus(errno, "binding a loopback port");
  }
  reserved.port = ntohs(address.sin_port);
  return reserved;
}

}  // namespace depot::object::s3::testing
