#include "depot/kv/backup/backup.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "depot/core/quote.h"
#include "depot/core/unique_fd.h"
#include "depot/core/url.h"
#include "depot/kv/keys.h"
#include "depot/kv/open.h"
#include "depot/object/helpers.h"

namespace depot::kv {
namespace {

namespace fs = std::filesystem;

constexpr size_t kPiece = 8 << 20;  // file pieces read, hashed and uploaded at once

// Incremental SHA-256 (OpenSSL's EVP), hex at the end.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void Update(std::string_view bytes) { EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()); }
  std::string Hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &size);
    std::string hex;
    for (unsigned int i = 0; i < size; ++i) hex += fmt::format("{:02x}", digest[i]);
    return hex;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

std::string RandomHex() {
  std::random_device random;
  return fmt::format("{:08x}", random());
}

// UTC time to the microsecond, then a random suffix: ids sort in the order backups were taken.
std::string NewBackupId() {
  const auto now = std::chrono::system_clock::now();
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1'000'000;
  return fmt::format("{:%Y%m%dT%H%M%S}.{:06d}Z-{}",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(now)), micros, RandomHex());
}

std::string Prefixed(std::string_view prefix, std::string_view rest) {
  return fmt::format("{}{}", prefix, rest);
}

// Where a backend's store lives, from the URL that opens it.
struct StoreLocation {
  std::string backend;
  fs::path path;
};

Result<StoreLocation> Locate(std::string_view url_text) {
  DEPOT_ASSIGN_OR_RETURN(Url url, Url::Parse(url_text));
  if (url.scheme != "rocksdb" && url.scheme != "sqlite" && url.scheme != "lmdb") {
    return InvalidArgumentError(fmt::format(
        "kv backup: {} is not a rocksdb://, sqlite:// or lmdb:// store", Quote(url_text)));
  }
  return StoreLocation{url.scheme, fs::path(url.path)};
}

// A directory beside the store's files for a copy of them: on the same file system, so that
// RocksDB hard-links its table files instead of copying them.
fs::path BesideStore(const StoreLocation& where, std::string_view what) {
  const fs::path parent = where.path.parent_path();
  return parent / fmt::format(".{}.{}-{}", where.path.filename().string(), what, RandomHex());
}

// A file's SHA-256 and size.
Result<std::pair<std::string, uint64_t>> HashFile(const fs::path& path) {
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return ErrnoToStatus(errno, fmt::format("reading {}", Quote(path.string())));
  UniqueFd fd(raw);
  Sha256 sha;
  std::string buffer(1 << 20, '\0');
  uint64_t size = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, fmt::format("reading {}", Quote(path.string())));
    if (n == 0) break;
    sha.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
    size += static_cast<uint64_t>(n);
  }
  return std::make_pair(sha.Hex(), size);
}

// Streams a file into `key` of `target`.
Status UploadFile(const fs::path& path, uint64_t size, object::ObjectStore& target,
                  const std::string& key, const Context& ctx) {
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return ErrnoToStatus(errno, fmt::format("reading {}", Quote(path.string())));
  UniqueFd fd(raw);
  DEPOT_ASSIGN_OR_RETURN(auto writer, target.OpenWriter(key, {.size_hint = size}, ctx));
  std::string buffer(kPiece, '\0');
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, fmt::format("reading {}", Quote(path.string())));
    if (n == 0) break;
    DEPOT_RETURN_IF_ERROR(writer->Write(std::string_view(buffer.data(), static_cast<size_t>(n))));
  }
  return writer->Finish().status();
}

nlohmann::json SpacesJson(const std::vector<SpaceStats>& spaces) {
  nlohmann::json out = nlohmann::json::array();
  for (const SpaceStats& s : spaces) {
    out.push_back(
        {{"space", s.space}, {"keys", s.approximate_keys}, {"bytes", s.approximate_bytes}});
  }
  return out;
}

// Removes a directory tree when it goes out of scope (the local copy, a failed restore).
class RemoveOnExit {
 public:
  explicit RemoveOnExit(fs::path path) : path_(std::move(path)) {}
  ~RemoveOnExit() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  void Keep() { path_.clear(); }

 private:
  fs::path path_;
};

}  // namespace

Result<std::string> ContentDigest(Store& store, std::vector<SpaceStats>* spaces) {
  ReadOptions read;
  if (store.capabilities().snapshots) {
    DEPOT_ASSIGN_OR_RETURN(read.snapshot, store.GetSnapshot());
  }
  Sha256 sha;
  const auto field = [&](std::string_view bytes) {
    sha.Update(EncodeU64(bytes.size()));
    sha.Update(bytes);
  };
  for (const std::string& space : store.Spaces()) {
    SpaceStats stats{.space = space};
    field(space);
    DEPOT_ASSIGN_OR_RETURN(auto it, store.Scan(space, {.snapshot = read.snapshot}));
    for (; it->Valid(); it->Next()) {
      field(it->key());
      field(it->value());
      ++stats.approximate_keys;
      stats.approximate_bytes += it->key().size() + it->value().size();
    }
    DEPOT_RETURN_IF_ERROR(it->status());
    sha.Update(EncodeU64(stats.approximate_keys));  // the end of the space
    if (spaces != nullptr) spaces->push_back(std::move(stats));
  }
  return sha.Hex();
}

Result<BackupReport> BackupStore(Store& store, object::ObjectStore& target, std::string_view prefix,
                                 const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(StoreLocation where, Locate(store.ToString()));
  BackupReport report{.id = NewBackupId(), .backend = where.backend};
  const fs::path copy_dir = BesideStore(where, "backup");
  RemoveOnExit remove_copy(copy_dir);
  DEPOT_RETURN_IF_ERROR(store.Checkpoint(copy_dir.string(), ctx).status());

  // The copy's content, as a store of its own (closed before its files are read).
  {
    const std::string copy_url =
        where.backend == "sqlite"
            ? fmt::format("sqlite://{}?create=0", (copy_dir / "kv.db").string())
            : fmt::format("{}://{}?create=0", where.backend, copy_dir.string());
    DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Store> copy, Open(copy_url));
    DEPOT_ASSIGN_OR_RETURN(report.digest, ContentDigest(*copy, &report.spaces));
  }

  // Listed after the copy was opened and closed (RocksDB rewrote its MANIFEST then), without the
  // lock and info-log files every open makes anew.
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(copy_dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = fs::relative(entry.path(), copy_dir).string();
    if (name == "LOCK" || name == "lock.mdb" || name.starts_with("LOG")) continue;
    files.push_back(name);
  }
  std::sort(files.begin(), files.end());
  nlohmann::json manifest_files = nlohmann::json::array();
  for (const std::string& name : files) {
    DEPOT_RETURN_IF_ERROR(ctx.Check(fmt::format("kv backup {}", report.id)));
    const fs::path path = copy_dir / name;
    DEPOT_ASSIGN_OR_RETURN(auto hashed, HashFile(path));
    const auto& [sha256, size] = hashed;
    const std::string blob = Prefixed(prefix, "blobs/" + sha256);
    Result<object::ObjectMeta> there = target.Head(blob, ctx);
    if (!there.ok() && there.status().code() != StatusCode::kNotFound) return there.status();
    if (!there.ok() || there->size != size) {
      DEPOT_RETURN_IF_ERROR(UploadFile(path, size, target, blob, ctx)
                                .WithContext(fmt::format("kv backup: uploading {}", name)));
      ++report.uploaded_files;
      report.uploaded_bytes += size;
    }
    ++report.files;
    report.bytes += size;
    manifest_files.push_back({{"name", name}, {"size", size}, {"sha256", sha256}});
  }
  const nlohmann::json manifest = {{"format", 1},
                                   {"id", report.id},
                                   {"backend", report.backend},
                                   {"source", store.ToString()},
                                   {"files", manifest_files},
                                   {"spaces", SpacesJson(report.spaces)},
                                   {"digest", report.digest}};
  DEPOT_RETURN_IF_ERROR(target
                            .Put(Prefixed(prefix, "backups/" + report.id + ".json"),
                                 Bytes::FromString(manifest.dump(2)), {}, ctx)
                            .status());
  return report;
}

Result<BackupReport> RestoreStore(object::ObjectStore& source, std::string_view prefix,
                                  std::string_view id, std::string_view store_url,
                                  const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(StoreLocation where, Locate(store_url));
  std::error_code ec;
  if (fs::exists(where.path, ec)) {
    return AlreadyExistsError(fmt::format(
        "kv restore: {} exists already; a restore makes a new store and never overwrites one",
        Quote(where.path.string())));
  }
  // The manifest: the one named, or the latest.
  std::string manifest_key;
  if (!id.empty()) {
    manifest_key = Prefixed(prefix, fmt::format("backups/{}.json", id));
  } else {
    DEPOT_ASSIGN_OR_RETURN(auto listed, object::ListAll(source, Prefixed(prefix, "backups/"), ctx));
    if (listed.empty()) {
      return NotFoundError(
          fmt::format("kv restore: no backup under {}backups/ of {}", prefix, source.ToString()));
    }
    manifest_key = listed.back().key;
  }
  DEPOT_ASSIGN_OR_RETURN(Bytes manifest_bytes, object::GetAll(source, manifest_key, ctx));
  const nlohmann::json manifest =
      nlohmann::json::parse(manifest_bytes.view(), nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object() || manifest.value("format", 0) != 1 || !manifest.contains("files") ||
      !manifest["files"].is_array()) {
    return DataLossError(
        fmt::format("kv restore: {} is not a depot kv backup manifest", Quote(manifest_key)));
  }
  BackupReport report{.id = manifest.value("id", ""),
                      .backend = manifest.value("backend", ""),
                      .digest = manifest.value("digest", "")};
  if (report.backend != where.backend) {
    return InvalidArgumentError(
        fmt::format("kv restore: backup {} is of a {} store; restore it to a {}:// URL, not {}",
                    report.id, report.backend, report.backend, Quote(store_url)));
  }

  const fs::path staging = BesideStore(where, "restore");
  RemoveOnExit remove_staging(staging);
  fs::create_directories(staging, ec);
  if (ec)
    return InternalError(
        fmt::format("kv restore: creating {}: {}", staging.string(), ec.message()));
  for (const auto& file : manifest["files"]) {
    const std::string name = file.value("name", "");
    const std::string sha256 = file.value("sha256", "");
    const uint64_t size = file.value("size", uint64_t{0});
    if (name.empty() || name.find("..") != std::string::npos || name.front() == '/' ||
        sha256.size() != 64) {
      return DataLossError(
          fmt::format("kv restore: {} names a bad file {}", Quote(manifest_key), Quote(name)));
    }
    const std::string blob = Prefixed(prefix, "blobs/" + sha256);
    const fs::path path = staging / name;
    fs::create_directories(path.parent_path(), ec);
    const int raw = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (raw < 0) return ErrnoToStatus(errno, fmt::format("kv restore: creating {}", path.string()));
    UniqueFd fd(raw);
    Sha256 sha;
    uint64_t got = 0;
    DEPOT_RETURN_IF_ERROR(source.GetStream(
        blob, {}, [](const object::GetResult&) { return Status::Ok(); },
        [&](std::string_view data) -> Status {
          sha.Update(data);
          got += data.size();
          for (size_t done = 0; done < data.size();) {
            const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0)
              return ErrnoToStatus(errno, fmt::format("kv restore: writing {}", path.string()));
            done += static_cast<size_t>(n);
          }
          return Status::Ok();
        },
        ctx));
    if (sha.Hex() != sha256 || got != size) {
      return DataLossError(fmt::format(
          "kv restore: blob {} holds {} bytes with SHA-256 {}, but the backup recorded {} bytes "
          "with SHA-256 {}; the backup is damaged",
          Quote(blob), got, sha.Hex(), size, sha256));
    }
    if (::fsync(fd.get()) != 0)
      return ErrnoToStatus(errno, fmt::format("kv restore: syncing {}", path.string()));
    ++report.files;
    report.bytes += size;
  }
  // Into place: the directory itself (RocksDB, LMDB) or the one database file (SQLite).
  const fs::path from = where.backend == "sqlite" ? staging / "kv.db" : staging;
  fs::rename(from, where.path, ec);
  if (ec) {
    return InternalError(fmt::format("kv restore: moving {} to {}: {}", from.string(),
                                     where.path.string(), ec.message()));
  }
  RemoveOnExit remove_restored(where.path);
  {
    DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Store> restored, Open(store_url));
    std::vector<SpaceStats> spaces;
    DEPOT_ASSIGN_OR_RETURN(std::string digest, ContentDigest(*restored, &spaces));
    if (digest != report.digest) {
      return DataLossError(fmt::format(
          "kv restore: the restored store's content digest is {}, the backup's {}; removed it",
          digest, report.digest));
    }
    report.spaces = std::move(spaces);
  }
  remove_restored.Keep();
  return report;
}

}  // namespace depot::kv
