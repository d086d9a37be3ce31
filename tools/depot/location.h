// Command-line locations: how the `depot` tool turns an argument into a store and a key, or into
// a plain local file. Every command resolves its arguments here, so a new kind of location (for
// example s3://bucket/key) is one more case in location.cc and nothing else.
//
// The forms:
//
//   mem://NAME/KEY      the process-wide memory store called NAME (see object::Open), key KEY.
//                       Lives only as long as the process, so it is useful within one command
//                       (cp between stores). "mem://NAME" or "mem://NAME/" is the whole store.
//                       NAME is letters, digits, '.', '_' and '-'; KEY is taken verbatim.
//   PATH                a plain path, relative or absolute. The store root is the nearest
//   file:///ABS/PATH    ancestor directory (the path itself when it is a directory) that holds a
//                       `.depot` directory (see `depot init`); the key is the rest of the path
//                       with '/' separators ("" when the path is the root itself). With no such
//                       ancestor the argument is a plain local file. A file URL's path is
//                       percent-decoded; its host must be empty or "localhost".
//
//   s3://BUCKET/KEY     key KEY (verbatim) in an S3 bucket. The service is AWS unless
//                       AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL names another endpoint
//                       ("http://127.0.0.1:7480"), addressed path-style; credentials and region
//                       come from the AWS_* variables and ~/.aws files, as for every AWS tool.
//                       "s3://BUCKET" or "s3://BUCKET/" is the whole bucket.
//
// A location "names a directory" when the argument ends with '/' or is an existing directory on
// disk that is not also an object of its store ("a" beside "a/b"); commands use that to treat a
// store key as a prefix (ls, rm --recursive) or to append the source's file name (cp into a
// directory). Paths inside a store's own `.depot` directory are refused. Resolving opens each store
// once and shares it between the locations of one command, so that two keys of one store are
// recognised as the same store (cp then copies server-side).
//
// Errors are kInvalidArgument naming the argument: the caller treats them as usage errors.
#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::cli {

struct Location {
  enum class Kind { kStore, kFile };

  Kind kind = Kind::kFile;
  std::string text;  // the argument as the user gave it, for messages

  // kStore: the opened store, a short description of it ("mem://a", "/srv/data") and the key
  // within it ("" for the whole store; ends with '/' when the location names a directory).
  std::shared_ptr<object::ObjectStore> store;
  std::string store_label;
  std::string key;

  // kFile: the local path (absolute, lexically normal).
  std::filesystem::path path;

  bool names_directory = false;

  bool is_store() const { return kind == Kind::kStore; }

  // The last segment of the key or path ("c" for "a/b/c"), "" if none.
  std::string BaseName() const;
};

class LocationResolver {
 public:
  Result<Location> Resolve(std::string_view arg);

 private:
  Result<Location> ResolveMemory(std::string_view arg);
  Result<Location> ResolveS3(std::string_view arg);
  Result<Location> ResolvePath(std::string_view arg, const std::filesystem::path& path,
                               bool trailing_slash);
  Result<std::shared_ptr<object::ObjectStore>> OpenLocalStore(const std::filesystem::path& root);

  // Stores opened so far, by "mem://NAME", "s3://BUCKET" or the local root path.
  std::map<std::string, std::shared_ptr<object::ObjectStore>> stores_;
};

// Parses a byte count: decimal digits with an optional binary suffix, case-insensitive: B, K/KiB,
// M/MiB, G/GiB, T/TiB ("8MiB", "256m", "1g"). kInvalidArgument names the text.
Result<uint64_t> ParseByteSize(std::string_view text);

// "0 B", "12.0 KiB", "256.0 MiB": for messages and progress.
std::string FormatBytes(uint64_t bytes);

// "2026-12-07T15:42:01Z": a time in --json output (ISO 8601, UTC, whole seconds).
std::string FormatIso8601(std::time_t seconds);
// Prints `value` on one line of standard output (--json); bytes that are not UTF-8 become U+FFFD.
void PrintJsonLine(const nlohmann::json& value);

}  // namespace depot::cli
