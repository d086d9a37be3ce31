#include "depot/object/range_fetch.h"

#include <fmt/format.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "depot/object/backend_util.h"

namespace depot::object {

RangeSource RangeSource::Of(ObjectStore& store, const ObjectMeta& meta, BackoffOptions retry) {
  return {.store = &store,
          .key = meta.key,
          .etag = meta.etag,
          .retry = retry,
          .store_retries = store.capabilities().retries_transient};
}

bool IsRetryable(StatusCode code) {
  return code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded ||
         code == StatusCode::kDataLoss;
}

Result<Bytes> FetchRange(const RangeSource& spec, uint64_t begin, uint64_t end,
                         const Context& ctx) {
  const std::string key = QuoteKey(spec.key);
  std::vector<Bytes> pieces;
  uint64_t offset = begin;
  Backoff backoff(spec.retry);
  Status last;
  while (offset < end) {
    DEPOT_RETURN_IF_ERROR(ctx.Check(fmt::format("read of key {}", key)));
    GetOptions options;
    options.range = ByteRange::Bounded(offset, end);
    if (!spec.etag.empty()) options.if_match = spec.etag;
    Result<GetResult> got = spec.store->Get(spec.key, options, ctx);
    if (!got.ok() && got.status().code() == StatusCode::kFailedPrecondition) {
      return FailedPreconditionError(
          fmt::format("object changed while reading key {} (ETag was \"{}\"): {}", key, spec.etag,
                      got.status().message()));
    }
    if (got.ok() && !spec.etag.empty() && !got->meta.etag.empty() && got->meta.etag != spec.etag) {
      // A store that ignored If-Match: the bytes belong to another version.
      return FailedPreconditionError(
          fmt::format("object changed while reading key {}: ETag \"{}\" is now \"{}\"", key,
                      spec.etag, got->meta.etag));
    }
    const uint64_t wanted = end - offset;
    if (got.ok() && got->data.size() > wanted) {
      last = DataLossError(fmt::format("read of [{}, {}) of key {} returned {} bytes", offset, end,
                                       key, got->data.size()));
    } else if (got.ok()) {
      const size_t n = got->data.size();
      if (n > 0) {
        if (n == wanted && pieces.empty()) return std::move(got->data);  // the common case
        pieces.push_back(std::move(got->data));
        offset += n;
        backoff = Backoff(spec.retry);  // progress: the retry budget is per stall
      }
      if (offset == end) break;
      last = DataLossError(
          fmt::format("short read of key {}: [{}, {}) gave {} bytes", key, offset - n, end, n));
    } else if (!IsRetryable(got.status().code()) || spec.store_retries) {
      return got.status().WithContext(fmt::format("reading [{}, {}) of key {}", offset, end, key));
    } else {
      last = got.status();
    }
    std::optional<std::chrono::milliseconds> delay = backoff.Next();
    if (!delay) {
      return last.WithContext(fmt::format("reading [{}, {}) of key {}: giving up after {} retries",
                                          offset, end, key, backoff.attempts()));
    }
    DEPOT_RETURN_IF_ERROR(ctx.SleepFor(*delay, fmt::format("read of key {}", key)));
  }
  if (pieces.size() == 1) return std::move(pieces.front());
  std::unique_ptr<char[]> joined(new char[end - begin]);
  size_t at = 0;
  for (const Bytes& piece : pieces) {
    std::memcpy(joined.get() + at, piece.data(), piece.size());
    at += piece.size();
  }
  return Bytes::Adopt(std::move(joined), at);
}

}  // namespace depot::object
