// depot kv get | put | del | scan | stats | backup | restore: the kv stores from the shell.
//
// STORE_URL is a kv store URL (depot/kv/open.h: rocksdb:///path, sqlite:///path.db,
// lmdb:///path, mem://). The store is opened with the spaces it already has; `put` into a space it
// lacks creates the space and says so on stderr; any other command on a missing space fails
// naming it. `scan` prints one pair per line, "KEY<TAB>VALUE", with backslashes, tabs, newlines
// and bytes outside printable ASCII escaped (\\, \t, \n, \xNN), or JSON lines with --json (a
// key or value that is not UTF-8 goes in "key_base64" / "value_base64" instead). `backup STORE
// DEST` and `restore DEST STORE` keep point-in-time copies in any object store location
// (depot/kv/backup/backup.h).
#include <fmt/format.h>

#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "depot/core/base64.h"
#include "depot/core/quote.h"
#include "depot/kv/backup/backup.h"
#include "depot/kv/open.h"
#include "location.h"
#include "progress.h"

namespace depot::cli {
namespace {

struct KvOptions {
  std::string url;
  std::string object_location;  // backup, restore
  std::string backup_id;
  std::string space;
  std::string key;
  std::string value;
  std::string prefix;
  bool json = false;
  bool reverse = false;
  uint64_t limit = 0;
};

std::string Escape(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool IsUtf8(std::string_view text) {
  for (size_t at = 0; at < text.size();) {
    const size_t n = Utf8SequenceLength(text, at);
    if (n == 0) return false;
    at += n;
  }
  return true;
}

void PutJsonField(nlohmann::json& line, const char* name, std::string_view bytes) {
  if (IsUtf8(bytes)) {
    line[name] = std::string(bytes);
  } else {
    line[std::string(name) + "_base64"] = Base64Encode(bytes);
  }
}

// Only `put` makes a store that does not exist yet; the other commands say it is missing.
Result<std::shared_ptr<kv::Store>> OpenStore(const KvOptions& options, bool create = false) {
  std::string url = options.url;
  if (!create && !url.starts_with("mem:") && url.find("create=") == std::string::npos) {
    url += url.find('?') == std::string::npos ? "?create=0" : "&create=0";
  }
  return kv::Open(url);
}

// A URL that does not parse or names no backend is a usage error; a store that cannot be
// opened (missing, corrupt, held) is a failure.
int ReportOpenFailure(std::string_view command, const Status& status) {
  if (status.code() == StatusCode::kInvalidArgument) return ReportUsage(command, status);
  return ReportFailure(command, status);
}

int RunGet(const KvOptions& options) {
  constexpr std::string_view kCmd = "kv get";
  auto store = OpenStore(options);
  if (!store.ok()) return ReportOpenFailure(kCmd, store.status());
  auto value = (*store)->Get(options.space, options.key);
  if (!value.ok()) return ReportFailure(kCmd, value.status());
  if (!value->has_value()) {
    return ReportFailure(
        kCmd, NotFoundError(fmt::format("key {} is not in space {} of {}", Quote(options.key),
                                        Quote(options.space), options.url)));
  }
  std::cout.write((*value)->data(), static_cast<std::streamsize>((*value)->size()));
  if (!(*value)->empty() && (*value)->back() != '\n') std::cout << '\n';
  return kExitOk;
}

int RunPut(const KvOptions& options) {
  constexpr std::string_view kCmd = "kv put";
  auto store = OpenStore(options, /*create=*/true);
  if (!store.ok()) return ReportOpenFailure(kCmd, store.status());
  const auto spaces = (*store)->Spaces();
  if (std::find(spaces.begin(), spaces.end(), options.space) == spaces.end()) {
    if (Status made = (*store)->CreateSpace(options.space); !made.ok()) {
      return ReportFailure(kCmd, made);
    }
    fmt::print(stderr, "depot: kv put: created state space {} in {}\n", Quote(options.space),
               options.url);
  }
  std::string value = options.value;
  if (value == "-") value.assign(std::istreambuf_iterator<char>(std::cin), {});
  kv::WriteBatch batch;
  batch.Put(options.space, options.key, value);
  if (Status done = (*store)->Commit(batch); !done.ok()) return ReportFailure(kCmd, done);
  return kExitOk;
}

int RunDel(const KvOptions& options) {
  constexpr std::string_view kCmd = "kv del";
  auto store = OpenStore(options);
  if (!store.ok()) return ReportOpenFailure(kCmd, store.status());
  kv::WriteBatch batch;
  batch.Delete(options.space, options.key);
  if (Status done = (*store)->Commit(batch); !done.ok()) return ReportFailure(kCmd, done);
  return kExitOk;
}

int RunScan(const KvOptions& options) {
  constexpr std::string_view kCmd = "kv scan";
  auto store = OpenStore(options);
  if (!store.ok()) return ReportOpenFailure(kCmd, store.status());
  auto it = (*store)->PrefixScan(options.space, options.prefix, options.reverse);
  if (!it.ok()) return ReportFailure(kCmd, it.status());
  uint64_t shown = 0;
  for (; (*it)->Valid() && (options.limit == 0 || shown < options.limit); (*it)->Next(), ++shown) {
    if (options.json) {
      nlohmann::json line = nlohmann::json::object();
      PutJsonField(line, "key", (*it)->key());
      PutJsonField(line, "value", (*it)->value());
      fmt::print("{}\n", line.dump());
    } else {
      fmt::print("{}\t{}\n", Escape((*it)->key()), Escape((*it)->value()));
    }
  }
  if (Status ended = (*it)->status(); !ended.ok()) return ReportFailure(kCmd, ended);
  return kExitOk;
}

int RunStats(const KvOptions& options) {
  constexpr std::string_view kCmd = "kv stats";
  auto store = OpenStore(options);
  if (!store.ok()) return ReportOpenFailure(kCmd, store.status());
  auto stats = (*store)->Stats();
  if (!stats.ok()) return ReportFailure(kCmd, stats.status());
  if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *stats) {
      out.push_back({{"space", s.space},
                     {"approximate_keys", s.approximate_keys},
                     {"approximate_bytes", s.approximate_bytes}});
    }
    fmt::print("{}\n", out.dump());
    return kExitOk;
  }
  fmt::print("{}\n", (*store)->ToString());
  fmt::print("{:<24} {:>14} {:>16}\n", "space", "keys (approx)", "bytes (approx)");
  for (const auto& s : *stats) {
    fmt::print("{:<24} {:>14} {:>16}\n", s.space, s.approximate_keys, s.approximate_bytes);
  }
  return kExitOk;
}

// The object store and key prefix a backup goes to or comes from ("" or ending in '/').
Result<std::pair<std::shared_ptr<object::ObjectStore>, std::string>> BackupPlace(
    LocationResolver& resolver, const std::string& text) {
  DEPOT_ASSIGN_OR_RETURN(Location loc, resolver.Resolve(text));
  if (!loc.is_store()) {
    return InvalidArgumentError(fmt::format(
        "{} is not inside a depot store or an object store (make one with `depot init`)",
        Quote(text)));
  }
  std::string prefix = loc.key;
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  return std::make_pair(loc.store, prefix);
}

void PrintReport(std::string_view what, const kv::BackupReport& report) {
  fmt::print("{} {} ({} store): {} files, {}", what, report.id, report.backend, report.files,
             FormatBytes(report.bytes));
  if (what == "backup") {
    fmt::print("; uploaded {} files, {}", report.uploaded_files,
               FormatBytes(report.uploaded_bytes));
  }
  fmt::print("\n");
  for (const auto& space : report.spaces) {
    fmt::print("  space {}: {} keys, {}\n", space.space, space.approximate_keys,
               FormatBytes(space.approximate_bytes));
  }
  fmt::print("  content sha256 {}\n", report.digest);
}

int RunBackup(const KvOptions& options) {
  constexpr std::string_view kCmd = "kv backup";
  auto store = OpenStore(options);
  if (!store.ok()) return ReportOpenFailure(kCmd, store.status());
  LocationResolver resolver;
  auto place = BackupPlace(resolver, options.object_location);
  if (!place.ok()) return ReportUsage(kCmd, place.status());
  auto report = kv::BackupStore(**store, *place->first, place->second);
  if (!report.ok()) return ReportFailure(kCmd, report.status());
  PrintReport("backup", *report);
  return kExitOk;
}

int RunRestore(const KvOptions& options) {
  constexpr std::string_view kCmd = "kv restore";
  LocationResolver resolver;
  auto place = BackupPlace(resolver, options.object_location);
  if (!place.ok()) return ReportUsage(kCmd, place.status());
  auto report = kv::RestoreStore(*place->first, place->second, options.backup_id, options.url);
  if (!report.ok()) return ReportFailure(kCmd, report.status());
  PrintReport("restored", *report);
  return kExitOk;
}

}  // namespace

Command AddKvCommand(CLI::App& parent) {
  auto options = std::make_shared<KvOptions>();
  CLI::App* kv = parent.add_subcommand(
      "kv", "Read and write kv stores: rocksdb:///PATH, sqlite:///PATH.db, lmdb:///PATH, mem://");
  kv->require_subcommand(1);
  const auto store_arg = [&](CLI::App* app) {
    app->add_option("store", options->url, "kv store URL")->required();
  };
  CLI::App* get = kv->add_subcommand("get", "Print the value of KEY in a space");
  store_arg(get);
  get->add_option("key", options->key, "the key")->required();
  get->add_option("--space", options->space, "the state space")->required();
  CLI::App* put = kv->add_subcommand("put", "Set KEY to VALUE (\"-\": read it from stdin)");
  store_arg(put);
  put->add_option("key", options->key, "the key")->required();
  put->add_option("value", options->value, "the value")->required();
  put->add_option("--space", options->space, "the state space (created if missing)")->required();
  CLI::App* del = kv->add_subcommand("del", "Delete KEY from a space");
  store_arg(del);
  del->add_option("key", options->key, "the key")->required();
  del->add_option("--space", options->space, "the state space")->required();
  CLI::App* scan = kv->add_subcommand("scan", "Print the pairs whose key starts with PREFIX");
  store_arg(scan);
  scan->add_option("prefix", options->prefix, "the key prefix (default: every key)");
  scan->add_option("--space", options->space, "the state space")->required();
  scan->add_flag("--json", options->json, "JSON lines instead of KEY<TAB>VALUE");
  scan->add_flag("--reverse", options->reverse, "descending key order");
  scan->add_option("--limit", options->limit, "at most this many pairs");
  CLI::App* stats = kv->add_subcommand("stats", "Spaces with their approximate keys and bytes");
  store_arg(stats);
  stats->add_flag("--json", options->json, "JSON instead of a table");
  CLI::App* backup = kv->add_subcommand(
      "backup", "Copy a store, consistently and incrementally, into an object store location");
  store_arg(backup);
  backup
      ->add_option("destination", options->object_location,
                   "where backups go: a local store path, s3://BUCKET/PREFIX, ...")
      ->required();
  CLI::App* restore = kv->add_subcommand(
      "restore", "Make a new store from a backup (the latest, or --id), verified");
  restore->add_option("source", options->object_location, "where the backups are")->required();
  restore->add_option("store", options->url, "the new store's URL (must not exist)")->required();
  restore->add_option("--id", options->backup_id, "the backup to restore (default: the latest)");
  return {kv, [=] {
            if (get->parsed()) return RunGet(*options);
            if (put->parsed()) return RunPut(*options);
            if (del->parsed()) return RunDel(*options);
            if (scan->parsed()) return RunScan(*options);
            if (stats->parsed()) return RunStats(*options);
            if (backup->parsed()) return RunBackup(*options);
            if (restore->parsed()) return RunRestore(*options);
            return kExitUsage;
          }};
}

}  // namespace depot::cli
