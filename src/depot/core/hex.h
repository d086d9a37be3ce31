// Hexadecimal for people: bytes to lower-case hex digits and back.
//
// HexDecode accepts digits of either case and fills `out` exactly: text of another length, or
// with a character that is not a hex digit, is false (callers name the text in their errors).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace depot {

std::string HexEncode(std::span<const uint8_t> bytes);
std::string HexEncode(std::string_view bytes);
bool HexDecode(std::string_view hex, std::span<uint8_t> out);

}  // namespace depot
