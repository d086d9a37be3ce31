// depot: the command-line tool. One subcommand per cmd_*.cc; argument forms in location.h.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "commands.h"

namespace depot::cli {

const char* const kLocationHelp = R"(Locations:
  mem://NAME/KEY     key KEY of the in-process memory store NAME (lives for one command)
  PATH               a path inside a local store: the store is the nearest enclosing directory
  file:///ABS/PATH   holding a .depot directory (made by `depot init`), the key is the rest of
                     the path. Outside any store, PATH is a plain local file (cp, cat, stat).
  s3://BUCKET/KEY    key KEY in an S3 bucket; the endpoint is AWS unless AWS_ENDPOINT_URL_S3
                     or AWS_ENDPOINT_URL says otherwise; credentials and region as for awscli
                     (AWS_* variables, ~/.aws/credentials and ~/.aws/config).
  A location ending in '/' (or an existing directory) names a prefix: `ls` lists under it, `cp`
  into it keeps the source's file name.
Exit codes: 0 success, 1 the operation failed, 2 usage error.)";

int ReportFailure(std::string_view command, const Status& status) {
  fmt::print(stderr, "depot: {}: {}\n", command, status.ToString());
  return kExitFailed;
}

std::string RandomToken(size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device device;
  std::string out;
  for (size_t i = 0; i < n; ++i) out += kAlphabet[device() % (sizeof(kAlphabet) - 1)];
  return out;
}

int ReportUsage(std::string_view command, const Status& status) {
  fmt::print(stderr, "depot: {}: {}\n", command, status.ToString());
  return kExitUsage;
}

}  // namespace depot::cli

int main(int argc, char** argv) {
  using namespace depot::cli;
  CLI::App app("depot: copy, read, list and remove objects in depot stores", "depot");
  app.require_subcommand(1);
  app.footer(kLocationHelp);
  // What this build can reach: the version, and the parts it was built with.
  app.set_version_flag(
      "--version",
      fmt::format("depot {} (local store: {}, S3: {}, serve: {}, "
                  "storage network: {})",
                  DEPOT_VERSION, DEPOT_WITH_LOCAL ? "yes" : "no", DEPOT_WITH_S3 ? "yes" : "no",
                  DEPOT_WITH_SERVER ? "yes" : "no", DEPOT_WITH_NODE ? "yes" : "no"));
  std::vector<Command> commands = {
    AddCpCommand(app),
    AddSyncCommand(app),
    AddCatCommand(app),
    AddLsCommand(app),
    AddRmCommand(app),
    AddStatCommand(app),
    AddInitCommand(app),
    AddDemoCommand(app),
    AddMbCommand(app),
    AddRbCommand(app),
    AddPresignCommand(app),
    AddServeCommand(app),
    AddKvCommand(app),
    AddHashCommand(app),
    AddCasCommand(app),
#if DEPOT_WITH_NODE && DEPOT_WITH_SERVER
    AddNodeCommand(app),
#endif
  };
  for (Command& command : commands) command.app->footer(kLocationHelp);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError whose exit code is 0; every other one is a usage error.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  for (Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitUsage;
}
