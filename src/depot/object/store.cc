#include "depot/object/store.h"

#include <fmt/format.h>

#include <algorithm>

#include "depot/object/backend_util.h"

namespace depot::object {
namespace {

// Pieces of a streamed read.
constexpr uint64_t kStreamPiece = 8 << 20;

}  // namespace

Status ObjectStore::GetStream(std::string_view key, const GetOptions& options,
                              const std::function<Status(const GetResult&)>& on_head,
                              const std::function<Status(std::string_view)>& on_data) {
  // The first piece comes with the metadata: one request for objects up to a piece.
  GetOptions first = options;
  const bool whole = options.range.is_full();
  if (!options.head) {
    if (whole) {
      first.range = ByteRange::Bounded(0, kStreamPiece);
    } else {
      first.head = true;
    }
  }
  DEPOT_ASSIGN_OR_RETURN(GetResult got, Get(key, first));
  GetResult head = got;
  head.data = Bytes();
  if (!options.head && !got.not_modified) {
    DEPOT_ASSIGN_OR_RETURN(head.range, options.range.Validate(got.meta.size));
  }
  DEPOT_RETURN_IF_ERROR(on_head(head));
  if (options.head || got.not_modified) return Status::Ok();
  uint64_t at = head.range.begin;
  if (whole && !got.data.empty()) {
    DEPOT_RETURN_IF_ERROR(on_data(got.data.view()));
    at += got.data.size();
  }
  while (at < head.range.end) {
    GetOptions piece;
    piece.if_match = got.meta.etag;  // every piece from the same version
    piece.range = ByteRange::Bounded(at, std::min(head.range.end, at + kStreamPiece));
    DEPOT_ASSIGN_OR_RETURN(GetResult read, Get(key, piece));
    if (read.data.empty()) {
      return DataLossError(
          fmt::format("key {}: ended at byte {} of {}", QuoteKey(key), at, head.range.end));
    }
    DEPOT_RETURN_IF_ERROR(on_data(read.data.view()));
    at += read.data.size();
  }
  return Status::Ok();
}

}  // namespace depot::object
