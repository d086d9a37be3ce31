// depot::Url: the URLs that open depot stores ("file:///srv/data", "mem://name",
// "s3://bucket/prefix?endpoint=http://127.0.0.1:7480&region=us-east-1").
//
// Parse accepts scheme://[host[:port]][/path][?query]. The path and the query's names and values
// are percent-decoded; ToString() encodes them again, and Parse(u.ToString()) == u for every Url
// that Parse returned. Rejected with kInvalidArgument, naming the URL: a missing or malformed
// scheme, user info ("user@host"), a fragment, a port that is not a number in 1..65535, a bad
// percent escape, and control characters. Value type; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/result.h"

namespace depot {

struct Url {
  std::string scheme;  // lower-cased
  std::string host;
  std::optional<uint16_t> port;
  std::string path;  // decoded; starts with '/' when not empty
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order

  static Result<Url> Parse(std::string_view text);

  // The first value of query parameter `name`, if present.
  std::optional<std::string> Param(std::string_view name) const;

  std::string ToString() const;

  friend bool operator==(const Url&, const Url&) = default;
};

// Percent-encodes every byte except unreserved characters (A-Z a-z 0-9 - . _ ~) and those in
// `keep` (for example "/" for paths).
std::string PercentEncode(std::string_view text, std::string_view keep = "");
// Decodes %XX escapes; a malformed escape is kInvalidArgument naming `text`.
Result<std::string> PercentDecode(std::string_view text);

}  // namespace depot
