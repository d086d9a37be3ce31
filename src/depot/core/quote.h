// Untrusted text made safe to print, and the UTF-8 rule that decides what is printable. Every
// message that names a value a user gave (a key, a path, a header) quotes it with Quote(), so that
// a control byte or a megabyte-long name cannot garble a log line. Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace depot {

// The length of the well-formed UTF-8 sequence that starts at text[at] (1..4), or 0 when the
// bytes there are not one (overlong forms, surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(std::string_view text, size_t at);

// `text` in double quotes, control and non-UTF-8 bytes as \xNN, quotes and backslashes escaped,
// at most ~100 bytes (then "...(N bytes)").
std::string Quote(std::string_view text);

}  // namespace depot
