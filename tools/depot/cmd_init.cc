// depot init DIR: makes DIR (created if missing) a local depot store, so that paths under it
// name objects. Initialising an existing store changes nothing.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "commands.h"

#if DEPOT_WITH_LOCAL
#include "depot/object/local/local_store.h"
#endif

namespace depot::cli {
namespace {

namespace fs = std::filesystem;

struct InitOptions {
  std::string directory;
};

int RunInit(const InitOptions& options) {
  constexpr std::string_view kCmd = "init";
#if DEPOT_WITH_LOCAL
  std::error_code ec;
  const fs::path root = fs::absolute(options.directory, ec).lexically_normal();
  if (ec) {
    return ReportUsage(
        kCmd, InvalidArgumentError(fmt::format("\"{}\": {}", options.directory, ec.message())));
  }
  const bool existed = fs::is_directory(root / ".depot", ec);
  object::LocalStoreOptions store_options;
  store_options.create = true;
  auto store = object::LocalStore::Open(root, store_options);
  if (!store.ok()) return ReportFailure(kCmd, store.status().WithContext(options.directory));
  fmt::print("{} depot store at {}\n", existed ? "reopened existing" : "initialized",
             (*store)->root().string());
  return kExitOk;
#else
  return ReportFailure(
      kCmd, UnimplementedError(fmt::format("{}: this depot was built without the local store "
                                           "(DEPOT_WITH_LOCAL=OFF)",
                                           options.directory)));
#endif
}

}  // namespace

Command AddInitCommand(CLI::App& parent) {
  auto options = std::make_shared<InitOptions>();
  CLI::App* app = parent.add_subcommand("init", "Make a directory a local depot store");
  app->add_option("DIR", options->directory, "The directory (created if missing)")->required();
  return {app, [options] { return RunInit(*options); }};
}

}  // namespace depot::cli
