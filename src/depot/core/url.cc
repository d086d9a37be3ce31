#include "depot/core/url.h"

#include <fmt/format.h>

#include <charconv>

namespace depot {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "[" hex digits, ':' and '.' "]": an IPv6 literal, kept verbatim (never percent-coded).
bool IsIpLiteral(std::string_view host) {
  if (host.size() < 3 || host.front() != '[' || host.back() != ']') return false;
  for (char c : host.substr(1, host.size() - 2)) {
    if (HexValue(c) < 0 && c != ':' && c != '.') return false;
  }
  return true;
}

bool IsValidScheme(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(s[0])) return false;
  for (char c : s) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

std::string PercentEncode(std::string_view text, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (IsUnreserved(c) || keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      return InvalidArgumentError(fmt::format("\"{}\": truncated percent escape", text));
    }
    int hi = HexValue(text[i + 1]);
    int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) {
      return InvalidArgumentError(
          fmt::format("\"{}\": bad percent escape \"{}\"", text, text.substr(i, 3)));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

Result<Url> Url::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(fmt::format("URL \"{}\": {}", text, why));
  };
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
  }
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) return bad("missing \"scheme://\"");
  Url url;
  std::string_view scheme = text.substr(0, sep);
  if (!IsValidScheme(scheme)) return bad("malformed scheme");
  url.scheme.reserve(scheme.size());
  for (char c : scheme) url.scheme.push_back(static_cast<char>(std::tolower(c)));

  std::string_view rest = text.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) return bad("fragments are not supported");
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");

  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    host = authority.substr(0, close + 1);
    if (!IsIpLiteral(host)) return bad("malformed IPv6 address");
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return bad("junk after IPv6 address");
    authority = after;
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    authority = authority.substr(colon);
  } else {
    authority = "";
  }
  if (!authority.empty()) {
    std::string_view port = authority.substr(1);
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return bad(fmt::format("port \"{}\" is not a number in 1..65535", port));
    }
    url.port = static_cast<uint16_t>(value);
  }
  if (IsIpLiteral(host)) {
    url.host = std::string(host);
  } else {
    DEPOT_ASSIGN_OR_RETURN(url.host, PercentDecode(host));
  }
  DEPOT_ASSIGN_OR_RETURN(url.path, PercentDecode(path));
  if (url.host.find('\0') != std::string::npos || url.path.find('\0') != std::string::npos) {
    return bad("contains an encoded NUL byte");
  }

  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    DEPOT_ASSIGN_OR_RETURN(std::string name, PercentDecode(pair.substr(0, eq)));
    std::string value;
    if (eq != std::string_view::npos) {
      DEPOT_ASSIGN_OR_RETURN(value, PercentDecode(pair.substr(eq + 1)));
    }
    if (name.empty()) return bad("query parameter without a name");
    url.query.emplace_back(std::move(name), std::move(value));
  }
  return url;
}

std::optional<std::string> Url::Param(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

std::string Url::ToString() const {
  std::string out = scheme + "://";
  if (IsIpLiteral(host)) {
    out += host;
  } else {
    out += PercentEncode(host, "!$&'()*+,;=");
  }
  if (port) out += fmt::format(":{}", *port);
  out += PercentEncode(path, "/!$&'()*+,;=:@");
  char sep = '?';
  for (const auto& [name, value] : query) {
    out += sep;
    out += PercentEncode(name);
    out += '=';
    out += PercentEncode(value);
    sep = '&';
  }
  return out;
}

}  // namespace depot
