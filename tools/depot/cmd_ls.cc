// depot ls URL [--recursive] [--delimiter D] [-H] [--json]: lists the keys under a store
// location.
//
// By default one level, '/' as the delimiter: first one "PRE prefix/" line per common prefix,
// then one line per object with its last-modified time (UTC), size in bytes (-H: for people,
// "1.5 MiB") and key. Recursive listings stream every key under the prefix. Follows continuation
// tokens to the end. --json: one JSON object per line instead, {"prefix": P} for a common prefix
// and {"key", "size", "last_modified" (ISO 8601, UTC), "etag"} for an object (bytes that are not
// UTF-8 become U+FFFD).
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "depot/object/helpers.h"
#include "location.h"

namespace depot::cli {
namespace {

struct LsOptions {
  std::string location;
  bool recursive = false;
  std::string delimiter = "/";
  bool human = false;
  bool json = false;
};

std::string FormatTime(object::Clock::time_point t) {
  const std::time_t seconds = object::Clock::to_time_t(t);
  return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::gmtime(seconds));
}

void PrintObject(const object::ObjectMeta& meta, const LsOptions& options) {
  if (options.json) {
    const std::time_t seconds = object::Clock::to_time_t(meta.last_modified);
    PrintJsonLine({{"key", meta.key},
                   {"size", meta.size},
                   {"last_modified", FormatIso8601(seconds)},
                   {"etag", meta.etag}});
    return;
  }
  fmt::print("{} {:>12} {}\n", FormatTime(meta.last_modified),
             options.human ? FormatBytes(meta.size) : std::to_string(meta.size), meta.key);
}

void PrintPrefix(const std::string& prefix, const LsOptions& options) {
  if (options.json) {
    PrintJsonLine({{"prefix", prefix}});
    return;
  }
  fmt::print("{:>32} {}\n", "PRE", prefix);
}

// Lists every page of `options`; objects stream out as they come when there can be no common
// prefixes, and are held back otherwise so that all "PRE" lines come first.
Status List(object::ObjectStore& store, object::ListOptions options, const LsOptions& how) {
  std::vector<std::string> prefixes;
  std::vector<object::ObjectMeta> objects;
  const bool stream = options.delimiter.empty();
  object::ListPager pages(store, std::move(options));
  while (auto listed = pages.Next()) {
    DEPOT_ASSIGN_OR_RETURN(object::ListResult page, std::move(*listed));
    if (stream) {
      for (const object::ObjectMeta& meta : page.objects) PrintObject(meta, how);
    } else {
      prefixes.insert(prefixes.end(), page.common_prefixes.begin(), page.common_prefixes.end());
      for (object::ObjectMeta& meta : page.objects) objects.push_back(std::move(meta));
    }
  }
  for (const std::string& prefix : prefixes) PrintPrefix(prefix, how);
  for (const object::ObjectMeta& meta : objects) PrintObject(meta, how);
  return Status::Ok();
}

int RunLs(const LsOptions& options) {
  constexpr std::string_view kCmd = "ls";
  LocationResolver resolver;
  Result<Location> loc = resolver.Resolve(options.location);
  if (!loc.ok()) return ReportUsage(kCmd, loc.status());
  if (!loc->is_store()) {
    return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                 "\"{}\" is not inside a depot store (make one with `depot "
                                 "init DIR`)",
                                 loc->text)));
  }
  object::ListOptions list;
  list.prefix = loc->key;
  list.delimiter = options.recursive ? "" : options.delimiter;
  Status status = List(*loc->store, std::move(list), options);
  if (!status.ok()) return ReportFailure(kCmd, status.WithContext(loc->text));
  return kExitOk;
}

}  // namespace

Command AddLsCommand(CLI::App& parent) {
  auto options = std::make_shared<LsOptions>();
  CLI::App* app = parent.add_subcommand(
      "ls", "List objects under a store location (times are UTC, sizes in bytes)");
  app->add_option("URL", options->location,
                  "A store, or a prefix within one (end it with '/' to list inside a folder)")
      ->required();
  CLI::Option* recursive =
      app->add_flag("-r,--recursive", options->recursive, "List every key under the prefix");
  app->add_option("--delimiter", options->delimiter,
                  "Roll keys up into common prefixes at this string")
      ->capture_default_str()
      ->excludes(recursive);
  CLI::Option* json = app->add_flag(
      "--json", options->json,
      "One JSON object per line: {\"prefix\"} or {\"key\", \"size\", \"last_modified\", \"etag\"}");
  app->add_flag("-H,--human-readable", options->human, "Sizes for people (1.5 MiB)")
      ->excludes(json);
  return {app, [options] { return RunLs(*options); }};
}

}  // namespace depot::cli
