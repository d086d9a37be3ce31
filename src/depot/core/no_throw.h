// depot::CallNoThrow: runs a call that returns Status or Result<T> and turns an exception escaping
// it (a store that throws bad_alloc, say) into kInternal naming `what`, so that it never crosses a
// thread boundary or skips the bookkeeping after the call.
//
//   Result<PartInfo> info = CallNoThrow("PutPart", [&] { return store.PutPart(...); });
#pragma once

#include <fmt/format.h>

#include <exception>
#include <string_view>

#include "depot/core/status.h"

namespace depot {

template <typename F>
auto CallNoThrow(std::string_view what, F&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const std::exception& e) {
    return InternalError(fmt::format("{} threw: {}", what, e.what()));
  } catch (...) {
    return InternalError(fmt::format("{} threw a non-standard exception", what));
  }
}

}  // namespace depot
