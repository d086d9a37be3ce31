// depot stat URL [--json]: prints an object's (or a plain file's) size, ETag, last-modified time,
// content type, stored headers and user metadata, one "name: value" line each; with --json, one
// JSON object ({"key", "store", "size", "etag", "last_modified" (ISO 8601, UTC), "content_type",
// "headers": {...}, "metadata": {...}, "version"}; for a plain file {"file", "size",
// "last_modified"}).
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "depot/core/ascii.h"
#include "depot/object/key.h"
#include "location.h"

namespace depot::cli {
namespace {

struct StatOptions {
  std::string location;
  bool json = false;
};

std::string FormatTime(std::time_t seconds) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", fmt::gmtime(seconds));
}

void PrintField(std::string_view name, std::string_view value) {
  fmt::print("{:<21}{}\n", fmt::format("{}:", name), value.empty() ? "-" : value);
}

int RunStat(const StatOptions& options) {
  constexpr std::string_view kCmd = "stat";
  LocationResolver resolver;
  Result<Location> loc = resolver.Resolve(options.location);
  if (!loc.ok()) return ReportUsage(kCmd, loc.status());
  const std::string what = loc->text;

  if (!loc->is_store()) {
    struct stat st;
    if (::stat(loc->path.c_str(), &st) != 0) {
      return ReportFailure(kCmd, ErrnoToStatus(errno, fmt::format("stat {}", loc->text)));
    }
    if (options.json) {
      PrintJsonLine({{"file", loc->path.string()},
                     {"size", static_cast<uint64_t>(st.st_size)},
                     {"last_modified", FormatIso8601(st.st_mtime)}});
      return kExitOk;
    }
    PrintField("file", loc->path.string());
    PrintField("size",
               fmt::format("{} ({})", st.st_size, FormatBytes(static_cast<uint64_t>(st.st_size))));
    PrintField("etag", "");
    PrintField("last modified", FormatTime(st.st_mtime));
    PrintField("content type", "");
    return kExitOk;
  }

  if (loc->key.empty() || loc->key.back() == '/') {
    return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                 "\"{}\" names a store or a prefix, not an object", loc->text)));
  }
  if (Status s = object::ValidateKey(loc->key); !s.ok()) {
    return ReportUsage(kCmd, s.WithContext(what));
  }
  Result<object::ObjectMeta> meta = loc->store->Head(loc->key);
  if (!meta.ok()) return ReportFailure(kCmd, meta.status().WithContext(what));
  if (options.json) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, member] : object::kObjectHeaderFields) {
      if (!(meta->headers.*member).empty()) headers[AsciiLower(name)] = meta->headers.*member;
    }
    nlohmann::json out = {
        {"key", meta->key},
        {"store", loc->store_label},
        {"size", meta->size},
        {"etag", meta->etag},
        {"last_modified", FormatIso8601(object::Clock::to_time_t(meta->last_modified))},
        {"content_type", meta->content_type},
        {"headers", headers},
        {"metadata", meta->user_metadata},
    };
    if (meta->version) out["version"] = *meta->version;
    if (!meta->checksum.empty()) {
      out["checksum"] = {{"algorithm", meta->checksum.algorithm},
                         {"value", meta->checksum.value},
                         {"type", meta->checksum.composite ? "COMPOSITE" : "FULL_OBJECT"}};
    }
    PrintJsonLine(out);
    return kExitOk;
  }
  PrintField("key", meta->key);
  PrintField("store", loc->store_label);
  PrintField("size", fmt::format("{} ({})", meta->size, FormatBytes(meta->size)));
  PrintField("etag", meta->etag);
  PrintField("last modified", FormatTime(object::Clock::to_time_t(meta->last_modified)));
  PrintField("content type", meta->content_type);
  for (const auto& [name, member] : object::kObjectHeaderFields) {
    if (!(meta->headers.*member).empty()) PrintField(AsciiLower(name), meta->headers.*member);
  }
  if (meta->version) PrintField("version", *meta->version);
  if (!meta->checksum.empty()) {
    PrintField("checksum", fmt::format("{} {} ({})", meta->checksum.algorithm, meta->checksum.value,
                                       meta->checksum.composite ? "of its parts' checksums"
                                                                : "of the whole content"));
  }
  if (meta->user_metadata.empty()) PrintField("metadata", "");
  for (const auto& [name, value] : meta->user_metadata) {
    PrintField("metadata", fmt::format("{}={}", name, value));
  }
  return kExitOk;
}

}  // namespace

Command AddStatCommand(CLI::App& parent) {
  auto options = std::make_shared<StatOptions>();
  CLI::App* app = parent.add_subcommand(
      "stat", "Show an object's size, ETag, last-modified time, content type and metadata");
  app->add_option("URL", options->location, "The object or plain file")->required();
  app->add_flag("--json", options->json, "One JSON object instead of name: value lines");
  return {app, [options] { return RunStat(*options); }};
}

}  // namespace depot::cli
