// Opening object stores by URL: a scheme -> factory table under one mutex, filled explicitly by
// RegisterBuiltinBackends() (once, through std::call_once) and by later RegisterScheme calls.
//
// Open() parses the URL (a string without "://" is a local path, made absolute), takes every
// "prefix" query parameter out of it (several are joined in order, which is what nested
// PrefixStores print), hands the rest to the scheme's factory, and wraps the store in a
// PrefixStore when the prefix is not empty. Each factory rejects query parameters it does not
// know, naming them. The factory is called without the table's lock held, so a slow open (a
// local store scanning its root) does not stall other opens.
#include "depot/object/open.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/prefix_store.h"
#if DEPOT_WITH_S3
#include "depot/object/s3/s3_store.h"
#endif

#if DEPOT_WITH_LOCAL
#include "depot/object/local/local_store.h"
#endif

namespace depot::object {
namespace {

struct SchemeTable {
  Mutex mu;
  std::map<std::string, StoreFactory, std::less<>> factories DEPOT_GUARDED_BY(mu);
};

// Never destroyed, so that opening a store from another static's destructor stays safe.
SchemeTable& Schemes() {
  static auto* table = new SchemeTable;
  return *table;
}

// The named memory stores of this process ("mem://name"); they live until the process exits.
struct NamedMemoryStores {
  Mutex mu;
  std::map<std::string, std::shared_ptr<MemoryStore>, std::less<>> stores DEPOT_GUARDED_BY(mu);
};

NamedMemoryStores& MemoryStores() {
  static auto* stores = new NamedMemoryStores;
  return *stores;
}

Status RejectOptions(const Url& url, std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : url.query) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || name == k;
    if (!ok) {
      return InvalidArgumentError(fmt::format("URL \"{}\": unknown option \"{}\" for scheme \"{}\"",
                                              url.ToString(), name, url.scheme));
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<ObjectStore>> OpenMemory(const Url& url) {
  DEPOT_RETURN_IF_ERROR(RejectOptions(url, {}));
  if (url.port || (!url.path.empty() && url.path != "/")) {
    return InvalidArgumentError(
        fmt::format("URL \"{}\": a memory store URL is mem:// or mem://name (use ?prefix= for "
                    "a folder)",
                    url.ToString()));
  }
  if (url.host.empty()) return std::shared_ptr<ObjectStore>(std::make_shared<MemoryStore>());
  NamedMemoryStores& named = MemoryStores();
  MutexLock lock(named.mu);
  auto it = named.stores.find(url.host);
  if (it == named.stores.end()) {
    it = named.stores
             .emplace(url.host, std::make_shared<MemoryStore>(MemoryStoreOptions{}, url.host))
             .first;
  }
  return std::shared_ptr<ObjectStore>(it->second);
}

Result<std::shared_ptr<ObjectStore>> OpenFile(const Url& url) {
  if (!url.host.empty() && url.host != "localhost") {
    return InvalidArgumentError(
        fmt::format("URL \"{}\": file URLs name no host (\"{}\"); write file:///absolute/path",
                    url.ToString(), url.host));
  }
  if (url.port || url.path.empty()) {
    return InvalidArgumentError(
        fmt::format("URL \"{}\": expected file:///absolute/path", url.ToString()));
  }
#if DEPOT_WITH_LOCAL
  LocalStoreOptions options;
  for (const auto& [name, value] : url.query) {
    if (name != "etag") continue;
    if (value == "md5") {
      options.etag = EtagPolicy::kContentMd5;
    } else if (value == "unique") {
      options.etag = EtagPolicy::kUnique;
    } else {
      return InvalidArgumentError(fmt::format(
          "URL \"{}\": etag=\"{}\" is neither \"md5\" nor \"unique\"", url.ToString(), value));
    }
  }
  DEPOT_RETURN_IF_ERROR(RejectOptions(url, {"etag"}));
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<LocalStore> store,
                         LocalStore::Open(std::filesystem::path(url.path), options));
  return std::shared_ptr<ObjectStore>(std::move(store));
#else
  DEPOT_RETURN_IF_ERROR(RejectOptions(url, {"etag"}));
  return UnimplementedError(
      fmt::format("URL \"{}\": depot was built without the local store (DEPOT_WITH_LOCAL=OFF)",
                  url.ToString()));
#endif
}

#if DEPOT_WITH_S3
// s3://bucket/prefix?options (S3Store::OpenUrl), the prefix as a PrefixStore.
Result<std::shared_ptr<ObjectStore>> OpenS3(const Url& url) {
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<S3Store> s3, S3Store::OpenUrl(url));
  std::shared_ptr<ObjectStore> store = std::move(s3);
  std::string prefix = url.path.empty() ? "" : url.path.substr(1);
  if (!prefix.empty()) store = std::make_shared<PrefixStore>(std::move(store), std::move(prefix));
  return store;
}
#endif

}  // namespace

void RegisterScheme(std::string scheme, StoreFactory factory) {
  SchemeTable& table = Schemes();
  MutexLock lock(table.mu);
  table.factories.insert_or_assign(std::move(scheme), std::move(factory));
}

void RegisterBuiltinBackends() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterScheme("mem", OpenMemory);
    RegisterScheme("file", OpenFile);
#if DEPOT_WITH_S3
    RegisterScheme("s3", OpenS3);
#endif
  });
}

Result<std::shared_ptr<ObjectStore>> Open(std::string_view url_or_path) {
  RegisterBuiltinBackends();
  if (url_or_path.empty()) return InvalidArgumentError("empty store URL or path");
  Url url;
  if (url_or_path.find("://") == std::string_view::npos) {
    // A plain local path; '?' and '%' in it are part of the file name, not URL syntax.
    std::error_code error;
    std::filesystem::path path = std::filesystem::absolute(url_or_path, error);
    if (error) {
      return InvalidArgumentError(fmt::format("path \"{}\": {}", url_or_path, error.message()));
    }
    url.scheme = "file";
    url.path = path.lexically_normal().string();
  } else {
    DEPOT_ASSIGN_OR_RETURN(url, Url::Parse(url_or_path));
  }

  std::string prefix;
  std::vector<std::pair<std::string, std::string>> options;
  for (auto& option : url.query) {
    if (option.first == "prefix") {
      prefix += option.second;
    } else {
      options.push_back(std::move(option));
    }
  }
  url.query = std::move(options);

  StoreFactory factory;
  {
    SchemeTable& table = Schemes();
    MutexLock lock(table.mu);
    auto it = table.factories.find(url.scheme);
    if (it == table.factories.end()) {
      std::string known;
      for (const auto& [scheme, unused] : table.factories) {
        known += known.empty() ? "" : ", ";
        known += scheme;
      }
      return InvalidArgumentError(fmt::format("\"{}\": unknown store scheme \"{}\" (known: {})",
                                              url_or_path, url.scheme, known));
    }
    factory = it->second;
  }
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<ObjectStore> store, factory(url));
  if (!prefix.empty()) store = std::make_shared<PrefixStore>(std::move(store), std::move(prefix));
  return store;
}

}  // namespace depot::object
