#include "location.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <system_error>

#include "depot/core/url.h"
#include "depot/object/open.h"

#if DEPOT_WITH_LOCAL
#include "depot/object/local/local_store.h"
#endif
#if DEPOT_WITH_S3
#include "depot/object/s3/s3_store.h"
#endif

namespace depot::cli {
namespace {

namespace fs = std::filesystem;

bool IsSchemeText(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsMemoryName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

Status BadLocation(std::string_view arg, std::string_view why) {
  return InvalidArgumentError(fmt::format("location \"{}\": {}", arg, why));
}

}  // namespace

std::string Location::BaseName() const {
  if (kind == Kind::kFile) {
    fs::path p = path;
    if (!p.has_filename()) p = p.parent_path();
    return p.filename().string();
  }
  std::string_view k = key;
  while (!k.empty() && k.back() == '/') k.remove_suffix(1);
  size_t slash = k.rfind('/');
  return std::string(slash == std::string_view::npos ? k : k.substr(slash + 1));
}

Result<Location> LocationResolver::Resolve(std::string_view arg) {
  if (arg.empty()) return BadLocation(arg, "empty");
  if (size_t sep = arg.find("://"); sep != std::string_view::npos) {
    std::string_view scheme_text = arg.substr(0, sep);
    if (IsSchemeText(scheme_text)) {
      std::string scheme = Lower(scheme_text);
      if (scheme == "mem") return ResolveMemory(arg);
      if (scheme == "s3") return ResolveS3(arg);
      if (scheme == "file") {
        Result<Url> url = Url::Parse(arg);
        if (!url.ok()) return BadLocation(arg, url.status().message());
        if (!url->host.empty() && url->host != "localhost") {
          return BadLocation(arg, fmt::format("file URLs name local paths; host \"{}\" is not "
                                              "supported (write file:///abs/path)",
                                              url->host));
        }
        if (url->port || !url->query.empty()) {
          return BadLocation(arg, "file URLs take no port and no query");
        }
        if (url->path.empty()) return BadLocation(arg, "missing path (write file:///abs/path)");
        return ResolvePath(arg, fs::path(url->path), url->path.back() == '/');
      }
      return BadLocation(arg, fmt::format("unsupported scheme \"{}\" (use mem://NAME/KEY, "
                                          "s3://BUCKET/KEY, file:///PATH or a plain path)",
                                          scheme));
    }
  }
  return ResolvePath(arg, fs::path(std::string(arg)), arg.back() == '/');
}

Result<Location> LocationResolver::ResolveMemory(std::string_view arg) {
  std::string_view rest = arg.substr(arg.find("://") + 3);
  size_t slash = rest.find('/');
  std::string_view name = rest.substr(0, slash);
  std::string_view key = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (!IsMemoryName(name)) {
    return BadLocation(arg,
                       "a memory store needs a name of letters, digits, '.', '_' or '-' "
                       "(mem://NAME/KEY)");
  }
  Location loc;
  loc.kind = Location::Kind::kStore;
  loc.text = std::string(arg);
  loc.store_label = fmt::format("mem://{}", name);
  loc.key = std::string(key);
  loc.names_directory = key.empty() || key.back() == '/';
  auto it = stores_.find(loc.store_label);
  if (it == stores_.end()) {
    Result<std::shared_ptr<object::ObjectStore>> store = object::Open(loc.store_label);
    if (!store.ok()) return store.status().WithContext(std::string(arg));
    it = stores_.emplace(loc.store_label, *std::move(store)).first;
  }
  loc.store = it->second;
  return loc;
}

Result<Location> LocationResolver::ResolveS3(std::string_view arg) {
#if DEPOT_WITH_S3
  std::string_view rest = arg.substr(arg.find("://") + 3);
  size_t slash = rest.find('/');
  std::string bucket(rest.substr(0, slash));
  std::string_view key = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  bool valid = bucket.size() >= 3 && bucket.size() <= 63;
  for (char c : bucket) {
    valid = valid && (std::islower(static_cast<unsigned char>(c)) ||
                      std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-');
  }
  if (!valid) {
    return BadLocation(arg, fmt::format("\"{}\" is not a bucket name (3 to 63 characters: "
                                        "lower-case letters, digits, '.' and '-')",
                                        bucket));
  }
  Location loc;
  loc.kind = Location::Kind::kStore;
  loc.text = std::string(arg);
  loc.store_label = "s3://" + bucket;
  loc.key = std::string(key);
  loc.names_directory = key.empty() || key.back() == '/';
  auto it = stores_.find(loc.store_label);
  if (it == stores_.end()) {
    object::S3StoreOptions options;
    options.bucket = bucket;
    for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
      const char* endpoint = std::getenv(name);
      if (endpoint != nullptr && *endpoint != '\0') {
        options.endpoint = endpoint;
        break;
      }
    }
    // Stored checksums: AWS keeps them; another endpoint may not (RGW 16), so there the user says.
    options.checksums = options.endpoint.empty();
    if (const char* checksums = std::getenv("DEPOT_S3_CHECKSUMS");
        checksums != nullptr && *checksums != '\0') {
      const std::string_view value = checksums;
      if (value != "0" && value != "1") {
        return BadLocation(arg, fmt::format("DEPOT_S3_CHECKSUMS=\"{}\" must be 0 or 1", value));
      }
      options.checksums = value == "1";
    }
    Result<std::shared_ptr<object::S3Store>> store = object::S3Store::Open(std::move(options));
    if (!store.ok()) return store.status().WithContext(std::string(arg));
    it = stores_.emplace(loc.store_label, std::shared_ptr<object::ObjectStore>(*std::move(store)))
             .first;
  }
  loc.store = it->second;
  return loc;
#else
  return BadLocation(arg, "this depot was built without S3 support (DEPOT_WITH_S3=OFF)");
#endif
}

Result<Location> LocationResolver::ResolvePath(std::string_view arg, const fs::path& path,
                                               bool trailing_slash) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) return BadLocation(arg, ec.message());
  abs = abs.lexically_normal();
  if (!abs.has_filename() && abs.has_relative_path()) abs = abs.parent_path();
  const bool is_dir = fs::is_directory(abs, ec);

  Location loc;
  loc.text = std::string(arg);
  loc.names_directory = trailing_slash || is_dir;

#if DEPOT_WITH_LOCAL
  // The nearest enclosing store root, if any.
  fs::path root;
  for (fs::path dir = is_dir ? abs : abs.parent_path();; dir = dir.parent_path()) {
    if (fs::is_directory(dir / ".depot", ec)) {
      root = dir;
      break;
    }
    if (dir == dir.parent_path()) break;
  }
  if (!root.empty()) {
    fs::path rel = abs.lexically_relative(root);
    std::string key = rel == "." ? "" : rel.generic_string();
    if (key == ".depot" || key.starts_with(".depot/")) {
      return BadLocation(
          arg, fmt::format("is inside the private directory of the store at {}", root.string()));
    }
    DEPOT_ASSIGN_OR_RETURN(loc.store, OpenLocalStore(root));
    // A directory of keys can be an object too ("a" beside "a/b"): then it names the object.
    if (is_dir && !trailing_slash && !key.empty() && loc.store->Head(key).ok()) {
      loc.names_directory = false;
    }
    if (loc.names_directory && !key.empty()) key += '/';
    loc.kind = Location::Kind::kStore;
    loc.store_label = root.string();
    loc.key = std::move(key);
    return loc;
  }
#endif

  loc.kind = Location::Kind::kFile;
  loc.path = abs;
  return loc;
}

Result<std::shared_ptr<object::ObjectStore>> LocationResolver::OpenLocalStore(
    const fs::path& root) {
  auto it = stores_.find(root.string());
  if (it != stores_.end()) return it->second;
#if DEPOT_WITH_LOCAL
  object::LocalStoreOptions options;
  options.create = false;
  auto store = object::LocalStore::Open(root, options);
  if (!store.ok()) return store.status().WithContext(fmt::format("store {}", root.string()));
  std::shared_ptr<object::ObjectStore> opened = *std::move(store);
  stores_.emplace(root.string(), opened);
  return opened;
#else
  return UnimplementedError(
      fmt::format("store {}: built without the local store (DEPOT_WITH_LOCAL=OFF)", root.string()));
#endif
}

Result<uint64_t> ParseByteSize(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(fmt::format(
        "size \"{}\": {} (expected digits with an optional B, K, M, G or T suffix)", text, why));
  };
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  if (digits == 0) return bad("no number");
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc() || ptr != text.data() + digits) return bad("number too large");
  std::string suffix = Lower(text.substr(digits));
  int shift = 0;
  if (suffix.empty() || suffix == "b") {
    shift = 0;
  } else if (suffix == "k" || suffix == "kib") {
    shift = 10;
  } else if (suffix == "m" || suffix == "mib") {
    shift = 20;
  } else if (suffix == "g" || suffix == "gib") {
    shift = 30;
  } else if (suffix == "t" || suffix == "tib") {
    shift = 40;
  } else {
    return bad(fmt::format("unknown suffix \"{}\"", text.substr(digits)));
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) return bad("number too large");
  return value << shift;
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string FormatIso8601(std::time_t seconds) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(seconds));
}

void PrintJsonLine(const nlohmann::json& value) {
  fmt::print("{}\n", value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace depot::cli
