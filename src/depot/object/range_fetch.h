// depot::object::FetchRange: exactly the bytes [begin, end) of one version of an object, however
// many tries it takes; what ObjectReader and the resource fetcher build on.
//
// Every Get is pinned to the version's ETag (If-Match), so the bytes never mix two versions: an
// object changed since its ETag was read fails with kFailedPrecondition, never retried (a store
// that ignores If-Match is caught by the ETag it answers with). A retryable error (kUnavailable,
// kDeadlineExceeded, kDataLoss) or a short answer resumes from the first missing byte after a
// jittered backoff (`retry`, its budget renewed by every byte of progress), unless the store
// retries transient failures itself (Capabilities::retries_transient): then only short answers
// are resumed here. An answer longer than asked is kDataLoss. Cancellation and the deadline of
// `ctx` end the fetch, its backoff sleeps included. Errors name the key and the range.
#pragma once

#include <cstdint>
#include <string>

#include "depot/core/backoff.h"
#include "depot/core/bytes.h"
#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object {

// One version of one object, and how to retry reading it.
struct RangeSource {
  ObjectStore* store = nullptr;  // must outlive every fetch
  std::string key;
  std::string etag;  // If-Match for every Get; empty if the store gave none
  BackoffOptions retry;
  bool store_retries = false;  // the store's Capabilities::retries_transient

  // The version `meta` describes (its key and ETag) in `store`.
  static RangeSource Of(ObjectStore& store, const ObjectMeta& meta, BackoffOptions retry = {});
};

bool IsRetryable(StatusCode code);

// Exactly [begin, end) of `source`, as the header comment says.
Result<Bytes> FetchRange(const RangeSource& source, uint64_t begin, uint64_t end,
                         const Context& ctx = {});

}  // namespace depot::object
