// Fuzzes object keys: ValidateKey and QuoteKey on any bytes, the memory store and, when it is
// built, the local store (both must accept exactly the keys ValidateKey accepts), the local one
// through a real Put / Get / List / Delete in a temporary directory:
//   - a key ValidateKey refuses is refused by every store with kInvalidArgument;
//   - a key a store accepts reads back the same bytes, is listed under its own name, and deletes;
//   - a local put never creates anything outside the store's root, and a key whose every segment
//     can be a file name is the plain file <root>/<key> (or <root>/<key>/.depot-self when a
//     directory left by an earlier key is in the way).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "depot/object/key.h"
#include "depot/object/memory/memory_store.h"

#if DEPOT_WITH_LOCAL
#include <stdlib.h>
#include <sys/stat.h>

#include "depot/object/local/local_store.h"
#endif

namespace {

using depot::Bytes;
using depot::StatusCode;
namespace object = depot::object;

[[noreturn]] void Fail(const char* what, std::string_view key, const std::string& detail) {
  std::fprintf(stderr, "fuzz_key: %s\n  key:    %s\n  detail: %s\n", what,
               object::QuoteKey(key).c_str(), detail.c_str());
  std::abort();
}

// Puts, reads back and deletes `key` in `store`; returns the Put status.
depot::Status RoundTrip(object::ObjectStore& store, std::string_view key, const Bytes& value) {
  auto put = store.Put(key, value, {});
  if (!put.ok()) return put.status();
  auto got = store.Get(key, {});
  if (!got.ok()) Fail("Get after a successful Put failed", key, got.status().ToString());
  if (!(got->data == value)) Fail("Get returned other bytes than were put", key, "");
  if (auto s = store.Delete(key); !s.ok()) Fail("Delete failed", key, s.ToString());
  auto gone = store.Head(key);
  if (gone.ok() || gone.status().code() != StatusCode::kNotFound) {
    Fail("key still there after Delete", key, gone.status().ToString());
  }
  return depot::Status::Ok();
}

#if DEPOT_WITH_LOCAL
struct LocalFixture {
  std::filesystem::path sandbox;  // holds only "store"
  std::filesystem::path root;
  std::shared_ptr<object::LocalStore> store;
};

LocalFixture& Local() {
  static LocalFixture* fixture = [] {
    auto* f = new LocalFixture;
    std::string pattern = (std::filesystem::temp_directory_path() / "depot-fuzz-key-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    f->sandbox = pattern;
    f->root = f->sandbox / "store";
    object::LocalStoreOptions options;
    options.etag = object::EtagPolicy::kUnique;
    auto store = object::LocalStore::Open(f->root, options);
    if (!store.ok()) {
      std::fprintf(stderr, "fuzz_key: %s\n", store.status().ToString().c_str());
      std::abort();
    }
    f->store = *std::move(store);
    std::atexit([] { std::filesystem::remove_all(Local().sandbox); });
    return f;
  }();
  return *fixture;
}

// Whether every '/'-separated segment of `key` can be a file name of its own.
bool PlainPath(std::string_view key) {
  for (size_t start = 0;;) {
    const size_t slash = key.find('/', start);
    const std::string_view segment = key.substr(start, slash - start);
    if (segment.empty() || segment == "." || segment == ".." || segment.starts_with(".depot") ||
        segment.size() > 255) {
      return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

void CheckLocal(std::string_view key, bool valid, const Bytes& value) {
  LocalFixture& local = Local();
  auto put = local.store->Put(key, value, {});
  if (put.ok() != valid) {
    Fail("local store and ValidateKey disagree", key,
         put.status().ToString() + " vs valid=" + std::to_string(valid));
  }
  if (put.ok()) {
    struct stat st;
    const std::filesystem::path file = local.root / std::string(key);
    const bool plain_file = lstat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    const bool in_directory =
        lstat((file / ".depot-self").c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (PlainPath(key) && !plain_file && !in_directory) {
      Fail("a plain key is not the file <root>/<key>", key, file.string());
    }
    auto got = local.store->Get(key, {});
    if (!got.ok()) Fail("local Get after Put failed", key, got.status().ToString());
    if (!(got->data == value)) Fail("local Get returned other bytes", key, "");
    auto listed = local.store->List({.prefix = std::string(key), .max_keys = 1});
    if (!listed.ok() || listed->objects.empty() || listed->objects[0].key != key) {
      Fail("local List does not name the key", key, listed.status().ToString());
    }
    if (auto s = local.store->Delete(key); !s.ok()) Fail("local Delete failed", key, s.ToString());
  }
  // Nothing may appear beside the root.
  for (const auto& entry : std::filesystem::directory_iterator(local.sandbox)) {
    if (entry.path() != local.root) Fail("a file appeared outside the root", key, entry.path());
  }
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view key(reinterpret_cast<const char*>(data), size);

  const depot::Status valid = object::ValidateKey(key);
  if (valid.ok()) {
    if (key.empty() || key.size() > object::kMaxKeyBytes) Fail("bad length accepted", key, "");
    if (key.find('\0') != std::string_view::npos) Fail("NUL accepted", key, "");
  } else if (valid.code() != StatusCode::kInvalidArgument) {
    Fail("rejected with a code other than InvalidArgument", key, valid.ToString());
  }

  const std::string quoted = object::QuoteKey(key);
  for (unsigned char c : quoted) {
    if (c < 0x20 || c == 0x7f) Fail("QuoteKey left a control character", key, quoted);
  }
  if (quoted.size() > 512) Fail("QuoteKey output is not bounded", key, quoted);

  static object::MemoryStore memory;
  const Bytes value = Bytes::Copy(key.substr(0, 16));
  const depot::Status memory_put = RoundTrip(memory, key, value);
  if (memory_put.ok() != valid.ok()) {
    Fail("memory store and ValidateKey disagree", key,
         memory_put.ToString() + " vs " + valid.ToString());
  }

#if DEPOT_WITH_LOCAL
  CheckLocal(key, valid.ok(), value);
#endif
  return 0;
}
