// depot rm URL [--recursive]: removes an object, or with --recursive an object and everything
// under it as a folder (KEY and KEY/...; the whole store for a store root).
//
// Removing a missing object is an error (kNotFound), as rm(1) would have it; a recursive removal
// that finds nothing succeeds.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.h"
#include "depot/object/helpers.h"
#include "depot/object/key.h"
#include "location.h"

namespace depot::cli {
namespace {

struct RmOptions {
  std::string location;
  bool recursive = false;
  bool verbose = false;
};

// Deletes `key` and every key under `key/`; returns how many objects went.
Result<uint64_t> RemoveRecursive(object::ObjectStore& store, const std::string& key) {
  uint64_t removed = 0;
  std::string prefix = key;
  if (!prefix.empty() && prefix.back() != '/') {
    Result<bool> exists = object::Exists(store, key);
    if (!exists.ok()) return exists.status();
    if (*exists) {
      DEPOT_RETURN_IF_ERROR(store.Delete(key));
      ++removed;
    }
    prefix += '/';
  }
  DEPOT_ASSIGN_OR_RETURN(const uint64_t under, object::DeletePrefix(store, prefix));
  return removed + under;
}

int RunRm(const RmOptions& options) {
  constexpr std::string_view kCmd = "rm";
  LocationResolver resolver;
  Result<Location> loc = resolver.Resolve(options.location);
  if (!loc.ok()) return ReportUsage(kCmd, loc.status());
  if (!loc->is_store()) {
    return ReportUsage(
        kCmd, InvalidArgumentError(fmt::format("\"{}\" is not inside a depot store", loc->text)));
  }
  const std::string what = loc->text;
  if (options.recursive) {
    Result<uint64_t> removed = RemoveRecursive(*loc->store, loc->key);
    if (!removed.ok()) return ReportFailure(kCmd, removed.status().WithContext(what));
    if (options.verbose) fmt::print("removed {} object(s) under {}\n", *removed, loc->text);
    return kExitOk;
  }
  if (loc->key.empty() || loc->key.back() == '/') {
    return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                 "\"{}\" names a store or a prefix; use --recursive", loc->text)));
  }
  if (Status s = object::ValidateKey(loc->key); !s.ok()) {
    return ReportUsage(kCmd, s.WithContext(what));
  }
  if (Result<object::ObjectMeta> meta = loc->store->Head(loc->key); !meta.ok()) {
    return ReportFailure(kCmd, meta.status().WithContext(what));
  }
  if (Status s = loc->store->Delete(loc->key); !s.ok()) {
    return ReportFailure(kCmd, s.WithContext(what));
  }
  if (options.verbose) fmt::print("removed {}\n", loc->text);
  return kExitOk;
}

}  // namespace

Command AddRmCommand(CLI::App& parent) {
  auto options = std::make_shared<RmOptions>();
  CLI::App* app = parent.add_subcommand("rm", "Remove an object, or a folder of objects");
  app->add_option("URL", options->location, "The object (or with --recursive, folder) to remove")
      ->required();
  app->add_flag("-r,--recursive", options->recursive,
                "Remove the object and every key under URL/ (all of a store root)");
  app->add_flag("-v,--verbose", options->verbose, "Print what was removed");
  return {app, [options] { return RunRm(*options); }};
}

}  // namespace depot::cli
