#include "depot/kv/open.h"

#include <fmt/format.h>

#include <charconv>
#include <set>

#include "depot/core/quote.h"
#include "depot/core/url.h"
#include "depot/kv/memory/memory_store.h"
#if DEPOT_WITH_ROCKSDB
#include "depot/kv/rocksdb/rocksdb_store.h"
#endif
#if DEPOT_WITH_SQLITE
#include "depot/kv/sqlite/sqlite_store.h"
#endif
#if DEPOT_WITH_LMDB
#include "depot/kv/lmdb/lmdb_store.h"
#endif

namespace depot::kv {
namespace {

// Refuses query parameters the scheme does not take.
Status OnlyParams(const Url& url, const std::set<std::string, std::less<>>& known,
                  std::string_view text) {
  for (const auto& [name, value] : url.query) {
    if (!known.contains(name)) {
      return InvalidArgumentError(
          fmt::format("kv store URL {}: unknown option {} (known: {})", Quote(text), Quote(name),
                      known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))));
    }
  }
  return Status::Ok();
}

Result<bool> CreateParam(const Url& url, std::string_view text) {
  const std::optional<std::string> create = url.Param("create");
  if (!create || *create == "1") return true;
  if (*create == "0") return false;
  return InvalidArgumentError(
      fmt::format("kv store URL {}: create must be 0 or 1, not {}", Quote(text), Quote(*create)));
}

Result<std::string> PathOf(const Url& url, std::string_view text) {
  if (!url.host.empty() || url.path.empty()) {
    return InvalidArgumentError(
        fmt::format("kv store URL {}: expected {}:///absolute/path (three slashes, no host)",
                    Quote(text), url.scheme));
  }
  return url.path;
}

}  // namespace

Result<std::shared_ptr<Store>> Open(std::string_view text, const std::vector<std::string>& spaces) {
  DEPOT_ASSIGN_OR_RETURN(Url url, Url::Parse(text));
  if (url.scheme == "mem") {
    DEPOT_RETURN_IF_ERROR(OnlyParams(url, {}, text));
    DEPOT_ASSIGN_OR_RETURN(auto store, MemoryStore::Open(spaces));
    return std::shared_ptr<Store>(std::move(store));
  }
#if DEPOT_WITH_ROCKSDB
  if (url.scheme == "rocksdb") {
    DEPOT_RETURN_IF_ERROR(OnlyParams(url, {"compression", "create"}, text));
    RocksDbStoreOptions options;
    DEPOT_ASSIGN_OR_RETURN(options.path, PathOf(url, text));
    DEPOT_ASSIGN_OR_RETURN(options.create_if_missing, CreateParam(url, text));
    if (auto compression = url.Param("compression")) {
      DEPOT_ASSIGN_OR_RETURN(options.compression, ParseCompression(*compression));
    }
    options.spaces = spaces;
    DEPOT_ASSIGN_OR_RETURN(auto store, RocksDbStore::Open(std::move(options)));
    return std::shared_ptr<Store>(std::move(store));
  }
#endif
#if DEPOT_WITH_SQLITE
  if (url.scheme == "sqlite") {
    DEPOT_RETURN_IF_ERROR(OnlyParams(url, {"create"}, text));
    SqliteStoreOptions options;
    DEPOT_ASSIGN_OR_RETURN(options.path, PathOf(url, text));
    DEPOT_ASSIGN_OR_RETURN(options.create_if_missing, CreateParam(url, text));
    options.spaces = spaces;
    DEPOT_ASSIGN_OR_RETURN(auto store, SqliteStore::Open(std::move(options)));
    return std::shared_ptr<Store>(std::move(store));
  }
#endif
#if DEPOT_WITH_LMDB
  if (url.scheme == "lmdb") {
    DEPOT_RETURN_IF_ERROR(OnlyParams(url, {"create", "map_size"}, text));
    LmdbStoreOptions options;
    DEPOT_ASSIGN_OR_RETURN(options.path, PathOf(url, text));
    DEPOT_ASSIGN_OR_RETURN(options.create_if_missing, CreateParam(url, text));
    if (auto map_size = url.Param("map_size")) {
      uint64_t bytes = 0;
      const auto [end, ec] =
          std::from_chars(map_size->data(), map_size->data() + map_size->size(), bytes);
      if (ec != std::errc() || end != map_size->data() + map_size->size() || bytes < (1 << 20)) {
        return InvalidArgumentError(fmt::format(
            "kv store URL {}: map_size must be a number of bytes of at least 1048576, not {}",
            Quote(text), Quote(*map_size)));
      }
      options.initial_map_bytes = bytes;
    }
    options.spaces = spaces;
    DEPOT_ASSIGN_OR_RETURN(auto store, LmdbStore::Open(std::move(options)));
    return std::shared_ptr<Store>(std::move(store));
  }
#endif
  std::vector<std::string> schemes = {"mem"};
  if (DEPOT_WITH_ROCKSDB) schemes.push_back("rocksdb");
  if (DEPOT_WITH_SQLITE) schemes.push_back("sqlite");
  if (DEPOT_WITH_LMDB) schemes.push_back("lmdb");
  return InvalidArgumentError(fmt::format("kv store URL {}: unknown scheme {} (this build has: {})",
                                          Quote(text), Quote(url.scheme),
                                          fmt::join(schemes, ", ")));
}

}  // namespace depot::kv
