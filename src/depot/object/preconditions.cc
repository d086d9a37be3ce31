#include "depot/object/preconditions.h"

#include <fmt/format.h>

#include <chrono>

#include "depot/object/key.h"

namespace depot::object {
namespace {

// Whether an If-Match / If-None-Match value ("*", or ETags separated by commas, quoted or not,
// weak or not) names `etag`.
bool EtagMatches(std::string_view condition, std::string_view etag) {
  if (condition == "*") return true;
  // A comma-separated list of ETags, quoted or not, as HTTP allows.
  while (!condition.empty()) {
    size_t comma = condition.find(',');
    std::string_view one = condition.substr(0, comma);
    condition = comma == std::string_view::npos ? "" : condition.substr(comma + 1);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.substr(0, 2) == "W/") one.remove_prefix(2);
    if (one.size() >= 2 && one.front() == '"' && one.back() == '"') {
      one = one.substr(1, one.size() - 2);
    }
    if (one == etag) return true;
  }
  return false;
}

}  // namespace

Result<bool> EvaluatePreconditions(const GetOptions& options, const ObjectMeta& meta) {
  if (options.if_match && !EtagMatches(*options.if_match, meta.etag)) {
    return FailedPreconditionError(fmt::format("key {}: ETag \"{}\" does not match If-Match {}",
                                               QuoteKey(meta.key), meta.etag, *options.if_match));
  }
  if (!options.if_match && options.if_unmodified_since &&
      meta.last_modified > *options.if_unmodified_since) {
    return FailedPreconditionError(
        fmt::format("key {}: modified after the If-Unmodified-Since time", QuoteKey(meta.key)));
  }
  if (options.if_none_match) return EtagMatches(*options.if_none_match, meta.etag);
  if (options.if_modified_since) {
    // HTTP dates have one-second resolution: compare whole seconds.
    auto modified = std::chrono::floor<std::chrono::seconds>(meta.last_modified);
    auto since = std::chrono::floor<std::chrono::seconds>(*options.if_modified_since);
    return modified <= since;
  }
  return false;
}

}  // namespace depot::object
