#include "depot/cas/open.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <system_error>

#include "depot/core/url.h"
#include "depot/kv/open.h"
#include "depot/object/open.h"

namespace depot::cas {

Result<std::unique_ptr<BlobStore>> Open(std::string_view text) {
  DEPOT_ASSIGN_OR_RETURN(Url url, Url::Parse(text));
  if (url.scheme != "cas") {
    return InvalidArgumentError(fmt::format("\"{}\" is not a cas:// URL", text));
  }
  BlobStoreOptions options;
  std::string objects_url, index_url, index_kind = "rocksdb";
  for (const auto& [name, value] : url.query) {
    if (name == "objects") {
      objects_url = value;
    } else if (name == "index") {
      index_url = value;
    } else if (name == "window") {
      const auto [end, ec] =
          std::from_chars(value.data(), value.data() + value.size(), options.window);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return InvalidArgumentError(
            fmt::format("window \"{}\" in \"{}\" is not a number of bytes", value, text));
      }
    } else {
      return InvalidArgumentError(fmt::format(
          "unknown option \"{}\" in \"{}\" (there are objects, index and window)", name, text));
    }
  }
  if (!url.host.empty()) {
    return InvalidArgumentError(fmt::format("\"{}\": a cas URL has no host", text));
  }
  if (!url.path.empty()) {
    // A directory: the local store and an index of the kind `index` names.
    if (!objects_url.empty() ||
        (index_url != "" && index_url != "rocksdb" && index_url != "sqlite")) {
      return InvalidArgumentError(fmt::format(
          "\"{}\": a directory takes index=rocksdb or index=sqlite, not store URLs", text));
    }
    if (!index_url.empty()) index_kind = index_url;
    std::error_code ec;
    std::filesystem::create_directories(url.path, ec);
    if (ec) {
      return InvalidArgumentError(
          fmt::format("cannot make the directory \"{}\": {}", url.path, ec.message()));
    }
    const std::filesystem::path dir = url.path;
    objects_url = "file://" + PercentEncode((dir / "objects").string(), "/");
    index_url = index_kind == "rocksdb"
                    ? "rocksdb://" + PercentEncode((dir / "index").string(), "/")
                    : "sqlite://" + PercentEncode((dir / "index.db").string(), "/");
  } else if (objects_url.empty() || index_url.empty()) {
    return InvalidArgumentError(fmt::format(
        "\"{}\" names no store: give a directory (cas:///dir) or objects= and index=", text));
  }
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<object::ObjectStore> objects, object::Open(objects_url));
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<kv::Store> index, kv::Open(index_url));
  return BlobStore::Open(std::move(objects), std::move(index), options);
}

}  // namespace depot::cas
