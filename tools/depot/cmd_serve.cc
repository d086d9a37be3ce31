// depot serve [STORE] [--listen HOST:PORT]: serves a store over the S3 protocol until SIGINT or
// SIGTERM (server/s3_server.h has what is served).
//
// STORE is any store URL (s3://, mem://, file://) or a directory, made a local store if it is not
// one yet; default ./var/depot. Credentials: DEPOT_ACCESS_KEY and DEPOT_SECRET_KEY, else
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; with neither, depot makes a pair and prints it.
#include <fmt/format.h>
#include <signal.h>

#include <charconv>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "commands.h"
#include "depot/object/open.h"

#if DEPOT_WITH_S3
#include "depot/server/s3_server.h"
#endif
#if DEPOT_WITH_LOCAL
#include "depot/object/local/local_store.h"
#endif

namespace depot::cli {
namespace {

struct ServeOptions {
  std::string store = "var/depot";
  std::string listen = "127.0.0.1:9000";
};

#if DEPOT_WITH_S3
std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

std::string RandomToken(size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device device;
  std::string out;
  for (size_t i = 0; i < n; ++i) out += kAlphabet[device() % (sizeof(kAlphabet) - 1)];
  return out;
}

Result<std::shared_ptr<object::ObjectStore>> OpenServed(const std::string& text) {
  if (text.find("://") != std::string::npos) return object::Open(text);
#if DEPOT_WITH_LOCAL
  object::LocalStoreOptions options;
  options.create = true;
  DEPOT_ASSIGN_OR_RETURN(auto store, object::LocalStore::Open(text, options));
  return std::shared_ptr<object::ObjectStore>(std::move(store));
#else
  return object::Open(text);
#endif
}

int RunServe(const ServeOptions& options) {
  constexpr std::string_view kCmd = "serve";
  server::S3ServerOptions server_options;
  const size_t colon = options.listen.rfind(':');
  unsigned port = 0;
  const char* end = options.listen.data() + options.listen.size();
  if (colon == std::string::npos ||
      std::from_chars(options.listen.data() + colon + 1, end, port).ptr != end || port > 65535) {
    return ReportUsage(kCmd, InvalidArgumentError(
                                 fmt::format("--listen \"{}\" is not HOST:PORT", options.listen)));
  }
  server_options.host = options.listen.substr(0, colon);
  server_options.port = static_cast<uint16_t>(port);

  std::string access = Env("DEPOT_ACCESS_KEY");
  std::string secret = Env("DEPOT_SECRET_KEY");
  if (access.empty() || secret.empty()) {
    access = Env("AWS_ACCESS_KEY_ID");
    secret = Env("AWS_SECRET_ACCESS_KEY");
  }
  const bool generated = access.empty() || secret.empty();
  if (generated) {
    access = "DEPOT" + RandomToken(15);
    secret = RandomToken(40);
  }
  server_options.credentials[access] = secret;

  auto store = OpenServed(options.store);
  if (!store.ok()) return ReportFailure(kCmd, store.status().WithContext(options.store));

  // The signals are taken synchronously below: blocked here, before any server thread exists, so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = server::S3Server::Start(*store, server_options);
  if (!server.ok()) return ReportFailure(kCmd, server.status());
  const std::string endpoint = fmt::format("http://{}:{}", server_options.host, (*server)->port());
  fmt::print("depot serve: {} on {}\n", (*store)->ToString(), endpoint);
  if (generated) {
    fmt::print(
        "  credentials (generated; set DEPOT_ACCESS_KEY and DEPOT_SECRET_KEY to choose):\n"
        "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}\n",
        access, secret);
  }
  fmt::print(
      "  try: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=... aws --endpoint-url {} s3 ls\n"
      "  Ctrl-C stops.\n",
      access, endpoint);
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  fmt::print("depot serve: {}, stopping\n", received == SIGINT ? "interrupted" : "terminated");
  (*server)->Stop();
  return kExitOk;
}
#endif

}  // namespace

Command AddServeCommand(CLI::App& parent) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* app = parent.add_subcommand(
      "serve", "Serve a store over the S3 protocol (awscli, boto3, s3cmd, depot's own s3://)");
  app->add_option("store", options->store,
                  "Store URL or directory to serve (a directory becomes a local store)")
      ->capture_default_str();
  app->add_option("--listen", options->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  return {app, [options] {
#if DEPOT_WITH_S3
            return RunServe(*options);
#else
            return ReportFailure("serve", UnimplementedError("depot was built without DEPOT_WITH_S3"));
#endif
          }};
}

}  // namespace depot::cli
