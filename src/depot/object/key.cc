#include "depot/object/key.h"

#include <fmt/format.h>

#include "depot/core/quote.h"

namespace depot::object {
std::string QuoteKey(std::string_view key) { return Quote(key); }

Status ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgumentError("key \"\": keys must not be empty");
  if (key.size() > kMaxKeyBytes) {
    return InvalidArgumentError(fmt::format("key {}: {} bytes is longer than the {}-byte limit",
                                            QuoteKey(key), key.size(), kMaxKeyBytes));
  }
  for (size_t i = 0; i < key.size();) {
    if (key[i] == '\0') {
      return InvalidArgumentError(
          fmt::format("key {}: NUL byte at offset {} is not allowed", QuoteKey(key), i));
    }
    size_t n = Utf8SequenceLength(key, i);
    if (n == 0) {
      return InvalidArgumentError(
          fmt::format("key {}: invalid UTF-8 at offset {}", QuoteKey(key), i));
    }
    i += n;
  }
  return Status::Ok();
}

}  // namespace depot::object
