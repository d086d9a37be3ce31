#include "depot/server/versions.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>

#include "depot/object/helpers.h"
#include "depot/object/key.h"
#include "depot/server/operations.h"

namespace depot::server {
namespace {

constexpr char kObject = 'o';
constexpr char kDeleteMarker = 'd';
constexpr char kNullObject = 'n';
constexpr char kNullDeleteMarker = 'm';
constexpr std::string_view kKeyEnd = "\x01/";
// After every store key that starts with a given prefix: keys are UTF-8, which never holds 0xff.
constexpr char kPastAll = '\xff';

std::string Escaped(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '\x01' || c == '\x02') {
      out += '\x02';
      out += c == '\x01' ? '\x02' : '\x03';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Unescaped(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '\x02' && i + 1 < escaped.size()) {
      out += escaped[++i] == '\x02' ? '\x01' : '\x02';
    } else {
      out += escaped[i];
    }
  }
  return out;
}

std::string BucketVersions(std::string_view bucket) {
  return fmt::format("{}{}/", kVersionRoot, bucket);
}

// Where the versions of `key` are listed: every one of them starts with this.
std::string KeyPrefix(std::string_view bucket, std::string_view key) {
  return BucketVersions(bucket) + KeyPart(key);
}

bool IsNull(char kind) { return kind == kNullObject || kind == kNullDeleteMarker; }

// One entry of the layout, read back from its store key.
struct Entry {
  std::string key;
  std::string id;  // the 24 digits (also for null versions)
  char kind = kObject;
};

std::optional<Entry> ParseEntry(std::string_view bucket_versions, std::string_view store_key) {
  if (!store_key.starts_with(bucket_versions)) return std::nullopt;
  std::string_view rest = store_key.substr(bucket_versions.size());
  const size_t end = rest.find(kKeyEnd);
  if (end == std::string_view::npos || rest.size() != end + kKeyEnd.size() + kVersionIdLength + 1) {
    return std::nullopt;
  }
  const std::string_view id = rest.substr(end + kKeyEnd.size(), kVersionIdLength);
  const char kind = rest.back();
  if (!ValidVersionId(id) || std::string_view("odnm").find(kind) == std::string_view::npos) {
    return std::nullopt;
  }
  return Entry{Unescaped(rest.substr(0, end)), std::string(id), kind};
}

Version FromEntry(const Entry& entry, const object::ObjectMeta& meta) {
  return Version{entry.key, IsNull(entry.kind) ? "null" : entry.id,
                 meta.key,  entry.kind == kDeleteMarker || entry.kind == kNullDeleteMarker,
                 false,     meta};
}

// 16 hex digits of the inverted time, then 8 random ones.
std::string VersionIdAt(uint64_t ns) {
  thread_local std::mt19937 random{std::random_device{}()};
  return fmt::format("{:016x}{:08x}", UINT64_MAX - ns, static_cast<uint32_t>(random()));
}

// An id of now, strictly later than every other this process made.
std::string NewVersionId() {
  static std::atomic<uint64_t> last{0};
  const auto now = static_cast<uint64_t>(UnixNanos(object::Clock::now()));
  uint64_t previous = last.load();
  uint64_t ns = 0;
  do {
    ns = std::max(now, previous + 1);
  } while (!last.compare_exchange_weak(previous, ns));
  return VersionIdAt(ns);
}

// Moves the object at `from` to `to`: by the store's rename where it has one, else by a copy and a
// delete (a crash between leaves both, and readers take the one at `to`).
Status Move(object::ObjectStore& store, const std::string& from, const std::string& to,
            const Context& ctx) {
  if (store.capabilities().atomic_rename) {
    return store.Rename(from, to, object::CopyMode::kCreate, ctx);
  }
  DEPOT_RETURN_IF_ERROR(store.Copy(from, to, object::CopyMode::kOverwrite, ctx).status());
  return store.Delete(from, ctx);
}

// The entries of one store listing, one at a time, with pages fetched as they are needed.
class Cursor {
 public:
  Cursor(object::ObjectStore& store, object::ListOptions options, const Context& ctx)
      : store_(store), options_(std::move(options)), ctx_(ctx) {}

  // The next entry, nullptr after the last.
  Result<const object::ObjectMeta*> Peek() {
    while (index_ == page_.objects.size()) {
      if (fetched_ && page_.next_continuation_token.empty()) return nullptr;
      options_.continuation_token = fetched_ ? page_.next_continuation_token : "";
      DEPOT_ASSIGN_OR_RETURN(page_, store_.List(options_, ctx_));
      fetched_ = true;
      index_ = 0;
    }
    return &page_.objects[index_];
  }
  void Pop() { ++index_; }
  // Goes on after `after` (a store key): within the page when it holds a later key, else by
  // listing again from there.
  void SkipPast(const std::string& after) {
    if (!page_.objects.empty() && page_.objects.back().key > after) {
      while (index_ < page_.objects.size() && page_.objects[index_].key <= after) ++index_;
      return;
    }
    options_.start_after = after;
    page_ = {};
    index_ = 0;
    fetched_ = false;
  }

 private:
  object::ObjectStore& store_;
  object::ListOptions options_;
  const Context& ctx_;
  object::ListResult page_;
  size_t index_ = 0;
  bool fetched_ = false;
};

// A key's versions in listing order: the entries under "_versions/" (newest first, superseded
// null versions left out), then its object at "B/KEY" as the null version if it has no other.
void Arrange(std::vector<std::pair<Entry, object::ObjectMeta>>& entries,
             const std::optional<object::ObjectMeta>& plain, std::vector<Version>& out) {
  bool null_seen = false;
  for (const auto& [entry, meta] : entries) {
    if (IsNull(entry.kind)) {
      if (null_seen) continue;
      null_seen = true;
    }
    out.push_back(FromEntry(entry, meta));
  }
  if (plain && !null_seen) {
    out.push_back(Version{"", "null", plain->key, false, false, *plain});
  }
  if (!out.empty()) out.front().latest = true;
}

}  // namespace

int64_t UnixNanos(object::Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

object::Clock::time_point FromUnixNanos(int64_t ns) {
  return object::Clock::time_point(
      std::chrono::duration_cast<object::Clock::duration>(std::chrono::nanoseconds(ns)));
}

std::string KeyPart(std::string_view key) { return Escaped(key) + std::string(kKeyEnd); }

bool ValidVersionId(std::string_view id) {
  return id.size() == kVersionIdLength && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool Versions::KeyFits(std::string_view bucket, std::string_view key) {
  return KeyPrefix(bucket, key).size() + kVersionIdLength + 1 <= object::kMaxKeyBytes;
}

Version Versions::Allocate(std::string_view bucket, std::string_view key, Versioning state,
                           bool delete_marker) {
  if (state == Versioning::kOff) {
    return Version{std::string(key), "null", StoreKey(bucket, key), delete_marker};
  }
  const bool null = state == Versioning::kSuspended;
  const std::string id = NewVersionId();
  const char kind = null ? (delete_marker ? kNullDeleteMarker : kNullObject)
                         : (delete_marker ? kDeleteMarker : kObject);
  return Version{std::string(key), null ? "null" : id, KeyPrefix(bucket, key) + id + kind,
                 delete_marker};
}

Result<std::vector<Version>> Versions::KeyVersions(std::string_view bucket, std::string_view key,
                                                   const Context& ctx) const {
  const std::string bucket_versions = BucketVersions(bucket);
  std::vector<std::pair<Entry, object::ObjectMeta>> entries;
  object::ListPager pages(store_, {.prefix = KeyPrefix(bucket, key)}, ctx);
  while (auto listed = pages.Next()) {
    DEPOT_ASSIGN_OR_RETURN(object::ListResult page, std::move(*listed));
    for (object::ObjectMeta& meta : page.objects) {
      if (auto entry = ParseEntry(bucket_versions, meta.key)) {
        entries.emplace_back(std::move(*entry), std::move(meta));
      }
    }
  }
  std::optional<object::ObjectMeta> plain;
  auto head = store_.Head(StoreKey(bucket, key), ctx);
  if (head.ok()) {
    plain = std::move(*head);
    plain->key = StoreKey(bucket, key);
  } else if (head.status().code() != StatusCode::kNotFound) {
    return head.status();
  }
  std::vector<Version> versions;
  Arrange(entries, plain, versions);
  for (Version& version : versions) version.key = std::string(key);
  return versions;
}

Result<Version> Versions::Find(std::string_view bucket, std::string_view key,
                               const std::optional<std::string>& version_id, Versioning state,
                               const Context& ctx) const {
  if (version_id && *version_id != "null" && !ValidVersionId(*version_id)) {
    return InvalidArgumentError(
        fmt::format("InvalidArgument: version id \"{}\" is not one of this server's", *version_id));
  }
  const auto no_version = [&] {
    return NotFoundError(fmt::format("NoSuchVersion: {} has no version {}", object::QuoteKey(key),
                                     version_id.value_or("")));
  };
  if (state == Versioning::kOff) {
    if (version_id && *version_id != "null") return no_version();
    return Version{std::string(key), "null", StoreKey(bucket, key)};
  }
  const std::string bucket_versions = BucketVersions(bucket);
  if (!version_id) {
    // The newest entry, or else the object from before versioning.
    DEPOT_ASSIGN_OR_RETURN(object::ListResult page,
                           store_.List({.prefix = KeyPrefix(bucket, key), .max_keys = 1}, ctx));
    for (const object::ObjectMeta& meta : page.objects) {
      if (auto entry = ParseEntry(bucket_versions, meta.key)) return FromEntry(*entry, meta);
    }
    return Version{std::string(key), "null", StoreKey(bucket, key)};
  }
  if (*version_id == "null") {
    DEPOT_ASSIGN_OR_RETURN(std::vector<Version> versions, KeyVersions(bucket, key, ctx));
    for (Version& version : versions) {
      if (version.id == "null") return std::move(version);
    }
    return no_version();
  }
  DEPOT_ASSIGN_OR_RETURN(
      object::ListResult page,
      store_.List({.prefix = KeyPrefix(bucket, key) + *version_id, .max_keys = 1}, ctx));
  for (const object::ObjectMeta& meta : page.objects) {
    if (auto entry = ParseEntry(bucket_versions, meta.key); entry && !IsNull(entry->kind)) {
      return FromEntry(*entry, meta);
    }
  }
  return no_version();
}

Status Versions::RetireNulls(std::string_view bucket, std::string_view key, const Version& written,
                             const Context& ctx) const {
  const std::string bucket_versions = BucketVersions(bucket);
  std::vector<std::string> replaced;
  object::ListPager pages(store_, {.prefix = KeyPrefix(bucket, key)}, ctx);
  while (auto listed = pages.Next()) {
    DEPOT_ASSIGN_OR_RETURN(object::ListResult page, std::move(*listed));
    for (const object::ObjectMeta& meta : page.objects) {
      auto entry = ParseEntry(bucket_versions, meta.key);
      // Only the null versions older than the one written: a newer one (a write racing this)
      // replaced it in turn.
      if (entry && IsNull(entry->kind) && meta.key > written.store_key) {
        replaced.push_back(meta.key);
      }
    }
  }
  replaced.push_back(StoreKey(bucket, key));
  for (const Status& status : store_.DeleteMany(replaced, ctx)) DEPOT_RETURN_IF_ERROR(status);
  return Status::Ok();
}

Status Versions::ClearPlain(std::string_view bucket, std::string_view key,
                            const Context& ctx) const {
  const std::string plain = StoreKey(bucket, key);
  auto head = store_.Head(plain, ctx);
  if (!head.ok())
    return head.status().code() == StatusCode::kNotFound ? Status::Ok() : head.status();
  DEPOT_ASSIGN_OR_RETURN(std::vector<Version> versions, KeyVersions(bucket, key, ctx));
  const bool replaced = std::any_of(versions.begin(), versions.end(), [&](const Version& version) {
    return version.id == "null" && version.store_key != plain;
  });
  if (replaced) return store_.Delete(plain, ctx);
  // Its id is of its time: it is older than every version written since versioning was set.
  return Move(store_, plain,
              KeyPrefix(bucket, key) +
                  VersionIdAt(static_cast<uint64_t>(UnixNanos(head->last_modified))) + kNullObject,
              ctx);
}

Status Versions::Adopt(std::string_view bucket, std::string_view key, const Version& version,
                       const Context& ctx) const {
  return Move(store_, StoreKey(bucket, key), version.store_key, ctx);
}

Result<std::optional<Version>> Versions::Remove(std::string_view bucket, std::string_view key,
                                                std::string_view version_id, Versioning state,
                                                const Context& ctx) const {
  auto found = Find(bucket, key, std::string(version_id), state, ctx);
  if (!found.ok()) {
    if (found.status().code() == StatusCode::kNotFound) return std::optional<Version>();
    return found.status();
  }
  // Removing the null version removes any older one its write left behind.
  if (found->id == "null" && state != Versioning::kOff) {
    DEPOT_RETURN_IF_ERROR(RetireNulls(bucket, key, *found, ctx));
  }
  std::vector<std::string> doomed = {found->store_key};
  std::optional<Version> removed = std::move(*found);
  for (const Status& status : store_.DeleteMany(doomed, ctx)) DEPOT_RETURN_IF_ERROR(status);
  return removed;
}

Result<bool> Versions::HoldsVersions(std::string_view bucket, const Context& ctx) const {
  DEPOT_ASSIGN_OR_RETURN(object::ListResult page,
                         store_.List({.prefix = BucketVersions(bucket), .max_keys = 1}, ctx));
  return !page.objects.empty();
}

Result<Versions::Page> Versions::List(std::string_view bucket, const Query& query,
                                      const Context& ctx) const {
  const std::string bucket_versions = BucketVersions(bucket);
  const std::string root = StoreKey(bucket, "");
  Cursor entries(store_, {.prefix = bucket_versions + Escaped(query.prefix)}, ctx);
  Cursor plain(store_, {.prefix = root + query.prefix}, ctx);
  // Both cursors after every key that starts with `key_prefix`, or after `key` and its versions.
  const auto skip_prefix = [&](const std::string& key_prefix) {
    entries.SkipPast(bucket_versions + Escaped(key_prefix) + kPastAll);
    plain.SkipPast(root + key_prefix + kPastAll);
  };
  const auto skip_key = [&](const std::string& key) {
    entries.SkipPast(bucket_versions + Escaped(key) + std::string(kKeyEnd) + kPastAll);
    plain.SkipPast(root + key);
  };
  // The common prefix `key` rolls up into, or "".
  const auto common_prefix = [&](std::string_view key) -> std::string {
    if (query.delimiter.empty() || !key.starts_with(query.prefix)) return "";
    const size_t at = key.find(query.delimiter, query.prefix.size());
    return at == std::string_view::npos ? ""
                                        : std::string(key.substr(0, at + query.delimiter.size()));
  };

  Page page;
  size_t count = 0;
  // False when the page is full and `next` would have been its next entry.
  const auto room = [&] {
    if (count < query.max_entries) return true;
    page.truncated = true;
    return false;
  };
  const auto add_version = [&](const Version& version) {
    page.versions.push_back(version);
    page.next_key_marker = version.key;
    page.next_version_marker = version.id;
    ++count;
  };

  if (!query.key_marker.empty()) {
    const std::string marker_prefix = common_prefix(query.key_marker);
    if (!marker_prefix.empty() && marker_prefix == query.key_marker) {
      skip_prefix(query.key_marker);
    } else {
      if (!query.version_marker.empty() && !query.latest_only) {
        // The rest of the marker's versions, after the one named.
        DEPOT_ASSIGN_OR_RETURN(std::vector<Version> versions,
                               KeyVersions(bucket, query.key_marker, ctx));
        // After the marker's place: ids sort newest first, so a marker deleted since still
        // has one (its store key); "null" is found by name.
        const std::string key_prefix = KeyPrefix(bucket, query.key_marker);
        const std::string place = key_prefix + query.version_marker;
        auto it = std::find_if(versions.begin(), versions.end(), [&](const Version& version) {
          if (query.version_marker == "null") return version.id == "null";
          return !version.store_key.starts_with(key_prefix) ||
                 version.store_key.substr(0, place.size()) > place;
        });
        if (query.version_marker == "null" && it != versions.end()) ++it;
        for (; it != versions.end(); ++it) {
          if (!room()) return page;
          add_version(*it);
        }
      }
      skip_key(query.key_marker);
    }
  }

  while (true) {
    // The next key of either listing, with all its versions.
    DEPOT_ASSIGN_OR_RETURN(const object::ObjectMeta* next_entry, entries.Peek());
    std::optional<Entry> parsed;
    if (next_entry != nullptr) {
      parsed = ParseEntry(bucket_versions, next_entry->key);
      if (!parsed) {  // not of this layout: passed over
        entries.Pop();
        continue;
      }
    }
    DEPOT_ASSIGN_OR_RETURN(const object::ObjectMeta* next_plain, plain.Peek());
    if (!parsed && next_plain == nullptr) break;
    std::string key;
    if (parsed) key = parsed->key;
    if (next_plain != nullptr) {
      const std::string plain_key = next_plain->key.substr(root.size());
      if (!parsed || plain_key < key) key = plain_key;
    }
    std::vector<std::pair<Entry, object::ObjectMeta>> key_entries;
    while (parsed && parsed->key == key) {
      key_entries.emplace_back(std::move(*parsed), *next_entry);
      entries.Pop();
      DEPOT_ASSIGN_OR_RETURN(next_entry, entries.Peek());
      parsed = next_entry == nullptr ? std::nullopt : ParseEntry(bucket_versions, next_entry->key);
    }
    std::optional<object::ObjectMeta> plain_meta;
    if (next_plain != nullptr && next_plain->key.substr(root.size()) == key) {
      plain_meta = *next_plain;
      plain.Pop();
    }
    std::vector<Version> versions;
    Arrange(key_entries, plain_meta, versions);
    for (Version& version : versions) version.key = key;
    if (versions.empty()) continue;
    if (query.latest_only && versions.front().delete_marker) continue;

    if (const std::string rolled = common_prefix(key); !rolled.empty()) {
      if (!room()) break;
      page.common_prefixes.push_back(rolled);
      page.next_key_marker = rolled;
      page.next_version_marker.clear();
      ++count;
      skip_prefix(rolled);
      continue;
    }
    if (query.latest_only) versions.resize(1);
    bool full = false;
    for (const Version& version : versions) {
      if (!room()) {
        full = true;
        break;
      }
      add_version(version);
    }
    if (full) break;
  }
  return page;
}

}  // namespace depot::server
