// depot::server::Versions: the versions of the objects in depot serve's versioned buckets, kept as
// ordinary objects of the backing store, so that versioning works over any store (internal).
//
// Layout. A bucket that was never versioned keeps each object at "B/KEY" (operations.h); that
// object is its one version, "null". Once versioning is set on a bucket (Enabled or Suspended,
// recorded in its marker; S3 never lets a bucket go back), every write makes a new object under
//
//     "_versions/B/" + Escaped(KEY) + "\x01/" + ID + KIND
//
// and never rewrites one:
//   - ID is 24 lowercase hex digits: 16 of (2^64 - 1 - the write's time in ns since the epoch),
//     then 8 random ones, so a key's versions list newest first; within one process the times
//     are strictly increasing. ID is the version id S3 shows, but for null versions.
//   - KIND is one letter: 'o' an object, 'd' a delete marker, and for the null version (written
//     while versioning is Suspended) 'n' an object, 'm' a delete marker.
//   - Escaped(KEY) is KEY with the byte 0x01 written as 0x02 0x02 and 0x02 as 0x02 0x03. It holds
//     no 0x01 and sorts as KEY does, so each key's versions are contiguous, in S3's key order, and
//     a key never shares the prefix of another's versions.
// The objects at "B/KEY" that a bucket held before versioning was set stay where they are, as
// their keys' null versions, older than every version under "_versions/". A key's null version is
// its newest 'n' or 'm' entry, else its "B/KEY" object; older ones were replaced and are removed
// after the write that replaced them (RetireNulls); until then, and after a crash in between,
// readers ignore them.
//
// Crash safety: every version is one Put (or Copy) of its own key, which the store makes visible
// whole or not at all; nothing is rewritten, so no crash loses or tears an acknowledged version,
// and concurrent PUTs, copies and deletes (servers sharing the store included) never race. The
// order of versions is that of the clocks of the servers that wrote them.
//
// Multipart uploads are the exception: the store completes an upload at "B/KEY", from where Adopt
// moves it into the layout. Until it has, the completed object reads as the key's null version,
// and a second completion of the key waits (up to 2 s) for the first to move on; a crash in
// between leaves it there as the null version, and on a store without atomic rename (S3) a crash
// inside the move leaves both copies. A suspended-versioning write or a delete of the null version
// racing a completion can remove the completed object before it moves: the completion then fails.
//
// Keys in a versioned bucket are limited by the store's key length (1024 bytes): "_versions/",
// the bucket's name, the escaped key and 27 bytes must fit (KeyFits).
//
// Thread-safe: every call reads the store afresh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::server {

// A bucket's versioning: kOff until it is first set (the "versioning" field of its marker).
enum class Versioning { kOff, kEnabled, kSuspended };

struct Version {
  std::string key;        // the object's key in its bucket
  std::string id;         // S3's version id; "null" for the null version
  std::string store_key;  // where the version is
  bool delete_marker = false;
  bool latest = false;      // in listings: the key's newest version
  object::ObjectMeta meta;  // size, ETag and time, from the listing (not read by Find)
};

inline constexpr std::string_view kVersionRoot = "_versions/";
inline constexpr size_t kVersionIdLength = 24;

// Whether `id` has the form of the ids this layout makes (not "null").
bool ValidVersionId(std::string_view id);
// Times as the layout and the attributes beside it record them: ns since the Unix epoch.
int64_t UnixNanos(object::Clock::time_point time);
object::Clock::time_point FromUnixNanos(int64_t ns);
// KEY as the layout writes it in store keys (Escaped above), followed by "\x01/": a prefix no
// other key's begins with.
std::string KeyPart(std::string_view key);

class Versions {
 public:
  // The store must outlive this.
  explicit Versions(object::ObjectStore& store) : store_(store) {}

  // Whether KEY of `bucket` can have versions under this layout (the store key's length).
  static bool KeyFits(std::string_view bucket, std::string_view key);

  // The version a read of `key` gets: `version_id`, or the latest when none is given. The latest
  // may be a delete marker (delete_marker set); a version of a bucket that was never versioned is
  // its null one, "B/KEY", returned without asking the store whether it exists. kNotFound
  // ("NoSuchVersion: ...") for an id the key does not have; kInvalidArgument for an id of a form
  // this layout never makes. Only the id and place are filled (the store's read gives the rest).
  Result<Version> Find(std::string_view bucket, std::string_view key,
                       const std::optional<std::string>& version_id, Versioning state,
                       const Context& ctx) const;

  // Where a new version of `key` goes in a bucket whose versioning is `state`: a new id when
  // Enabled, the null version when Suspended or off (Off: "B/KEY" itself).
  static Version Allocate(std::string_view bucket, std::string_view key, Versioning state,
                          bool delete_marker);
  // After the null version `written` (from Allocate) was stored: removes the null versions it
  // replaced (earlier 'n' and 'm' entries, and "B/KEY").
  Status RetireNulls(std::string_view bucket, std::string_view key, const Version& written,
                     const Context& ctx) const;
  // A multipart upload of `key` completes at "B/KEY", where the store keeps its uploads; in a
  // versioned bucket the object then becomes a new version. ClearPlain, before the completion,
  // moves an object from before versioning out of the way (into the layout, as the null version,
  // or removes it when a later null version replaced it); Adopt, after it, moves the completed
  // object to `version` (from Allocate). A crash between the two leaves the completed object at
  // "B/KEY", where it reads as the key's null version.
  Status ClearPlain(std::string_view bucket, std::string_view key, const Context& ctx) const;
  Status Adopt(std::string_view bucket, std::string_view key, const Version& version,
               const Context& ctx) const;
  // Removes one version (an object or a delete marker). Removing one the key does not have is OK,
  // as S3's is. Returns what was removed (empty when nothing was).
  Result<std::optional<Version>> Remove(std::string_view bucket, std::string_view key,
                                        std::string_view version_id, Versioning state,
                                        const Context& ctx) const;

  // A page of a versioned bucket's listing (ListObjectVersions, or with latest_only ListObjects):
  // keys under `prefix` in S3's order, each key's versions newest first, keys with the delimiter
  // after the prefix rolled up into common prefixes. Resumes after (key_marker, version_marker)
  // (no version marker: after every version of key_marker, or after all of it when it is a
  // common prefix). latest_only lists each key's latest version unless it is a delete marker,
  // and a common prefix only when a key under it has such a version.
  struct Query {
    std::string prefix;
    std::string delimiter;
    std::string key_marker;
    std::string version_marker;
    size_t max_entries = 1000;  // versions and common prefixes
    bool latest_only = false;
  };
  struct Page {
    std::vector<Version> versions;
    std::vector<std::string> common_prefixes;
    bool truncated = false;
    std::string next_key_marker;      // the last key or common prefix of the page
    std::string next_version_marker;  // the last version's id; empty after a common prefix
  };
  Result<Page> List(std::string_view bucket, const Query& query, const Context& ctx) const;

  // Whether any version or delete marker of `bucket` is stored under "_versions/".
  Result<bool> HoldsVersions(std::string_view bucket, const Context& ctx) const;

 private:
  // Every version of `key`, newest first (its superseded null versions left out).
  Result<std::vector<Version>> KeyVersions(std::string_view bucket, std::string_view key,
                                           const Context& ctx) const;

  object::ObjectStore& store_;
};

}  // namespace depot::server
