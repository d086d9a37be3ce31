// depot base64: RFC 4648 standard alphabet with padding, as S3 wants it (Content-MD5,
// x-amz-checksum-*). Decode refuses anything else (kInvalidArgument naming the text): wrong
// length, characters outside the alphabet, misplaced padding. Pure functions: thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "depot/core/result.h"

namespace depot {

std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace depot
