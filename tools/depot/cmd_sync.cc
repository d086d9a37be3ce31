// depot sync SRC DST: makes the tree under DST hold what the tree under SRC holds, copying only
// what is missing or differs (by size and time, or with --checksum by content), and with
// --delete removing what SRC does not have. SRC and DST: directories or prefixes of any store;
// sync.h says how files are compared, filtered and copied.
#include <memory>
#include <string>

#include "commands.h"
#include "interrupts.h"
#include "location.h"
#include "sync.h"

namespace depot::cli {
namespace {

constexpr std::string_view kCmd = "sync";

struct SyncCommandOptions {
  std::string source;
  std::string destination;
  TreeCopyOptions tree;
};

int RunSync(SyncCommandOptions& options, const TreeFlags& flags) {
  Interrupts interrupts;  // before any thread starts
  options.tree.changed_only = true;
  options.tree.filters = flags.Filters();
  LocationResolver resolver;
  Result<Location> src = resolver.Resolve(options.source);
  if (!src.ok()) return ReportUsage(kCmd, src.status());
  Result<Location> dst = resolver.Resolve(options.destination);
  if (!dst.ok()) return ReportUsage(kCmd, dst.status());
  return CopyTree(kCmd, *src, *dst, options.tree, interrupts);
}

}  // namespace

Command AddSyncCommand(CLI::App& parent) {
  auto options = std::make_shared<SyncCommandOptions>();
  CLI::App* app = parent.add_subcommand(
      "sync",
      "Copy to DST what is missing there or differs from SRC (directories or store prefixes)");
  app->add_option("SRC", options->source, "The tree to copy: a directory or a store location")
      ->required();
  app->add_option("DST", options->destination,
                  "Where to: a directory (made if missing) or a store location")
      ->required();
  app->add_flag("--delete", options->tree.delete_extra,
                "Remove from DST what SRC does not have (not when a copy failed)");
  app->add_flag("--checksum", options->tree.checksum,
                "Compare contents (MD5; an object's ETag when it is one), not sizes and times");
  app->add_option("--parallel", options->tree.transfer.parallel,
                  "Parts uploading / chunks fetched at once, for each file")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app->add_flag("-v,--verbose", options->tree.verbose, "Print each file copied or deleted");
  auto flags = std::make_shared<TreeFlags>(*app, options->tree);
  return {app, [options, flags] { return RunSync(*options, *flags); }};
}

}  // namespace depot::cli
