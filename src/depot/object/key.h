// depot::object keys: the rule every backend applies, and how keys are quoted in messages. Keys
// are UTF-8 strings of 1..1024 bytes without NUL (store.h); every key S3 accepts is valid here.
// Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "depot/core/status.h"

namespace depot::object {

inline constexpr size_t kMaxKeyBytes = 1024;

// OK for a valid key; kInvalidArgument naming the key (quoted) and the reason otherwise.
Status ValidateKey(std::string_view key);

// A key made printable for messages: in double quotes, control and non-UTF-8 bytes as \xNN,
// quotes and backslashes escaped, at most ~100 bytes (then "...(N bytes)").
std::string QuoteKey(std::string_view key);

}  // namespace depot::object
