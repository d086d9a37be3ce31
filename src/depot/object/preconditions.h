// depot::object::EvaluatePreconditions: RFC 9110's read preconditions (If-Match, If-None-Match,
// If-Modified-Since, If-Unmodified-Since, as GetOptions carries them) applied to an object's
// metadata, the one rule every backend and every store that answers reads itself follows.
#pragma once

#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object {

// Returns kFailedPrecondition for a failed If-Match / If-Unmodified-Since, true when the caller
// should answer "not modified" (HTTP's 304), false to go on and read.
Result<bool> EvaluatePreconditions(const GetOptions& options, const ObjectMeta& meta);

}  // namespace depot::object
