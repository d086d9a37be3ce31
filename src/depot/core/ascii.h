// ASCII text helpers for protocol work (HTTP header names, INI keys): locale-independent, so a
// header name compares the same under every C locale. Bytes outside A-Z pass through unchanged.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace depot {

inline char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// `s` without leading and trailing spaces and tabs.
inline std::string_view TrimBlanks(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// Whether every byte of `s` is printable ASCII (space to '~'): what an HTTP header value can carry
// everywhere.
inline bool IsPrintableAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// The items of a comma-separated header value ("gzip, br", "content-type,x-amz-date"), trimmed of
// blanks, empty items dropped.
inline std::vector<std::string> SplitCommaList(std::string_view list) {
  std::vector<std::string> items;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = TrimBlanks(list.substr(0, comma));
    if (!item.empty()) items.emplace_back(item);
    list = comma == std::string_view::npos ? "" : list.substr(comma + 1);
  }
  return items;
}

// Whether `text` matches `pattern`, where * matches any run of characters and ? any one
// (bucket policies' patterns, CORS origins).
inline bool WildcardMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace depot
