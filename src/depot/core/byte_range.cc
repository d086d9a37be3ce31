#include "depot/core/byte_range.h"

#include <fmt/format.h>

#include <charconv>

namespace depot {
namespace {

// Parses a non-empty run of decimal digits that fits in uint64_t.
bool ParseDecimal(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

namespace {

// Parses "A-B", "A-" or "-N"; B is the last byte (inclusive) unless `inclusive_end` is false.
// `bad` turns a reason into the caller's error, which names the whole input.
template <typename Bad>
Result<ByteRange> ParseSpec(std::string_view spec, bool inclusive_end, const Bad& bad) {
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return bad("missing '-'");
  std::string_view first = spec.substr(0, dash);
  std::string_view last = spec.substr(dash + 1);
  uint64_t a = 0;
  uint64_t b = 0;
  if (first.empty()) {
    if (!ParseDecimal(last, &b)) return bad("suffix length is not a number");
    return ByteRange::Suffix(b);
  }
  if (!ParseDecimal(first, &a)) return bad("start is not a number");
  if (last.empty()) return ByteRange::From(a);
  if (!ParseDecimal(last, &b)) return bad("end is not a number");
  if (b < a) return bad("end before start");
  if (!inclusive_end) return ByteRange::Bounded(a, b);
  if (b == UINT64_MAX) return bad("end too large");
  return ByteRange::Bounded(a, b + 1);
}

}  // namespace

Result<ByteRange> ByteRange::ParseHttp(std::string_view header) {
  auto bad = [&](std::string_view why) -> Status {
    return InvalidArgumentError(fmt::format("range \"{}\": {}", header, why));
  };
  constexpr std::string_view kUnit = "bytes=";
  if (header.substr(0, kUnit.size()) != kUnit) return bad("must start with \"bytes=\"");
  std::string_view spec = header.substr(kUnit.size());
  if (spec.find(',') != std::string_view::npos) return bad("multiple ranges are not supported");
  return ParseSpec(spec, /*inclusive_end=*/true, bad);
}

Result<ByteRange> ByteRange::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) -> Status {
    return InvalidArgumentError(
        fmt::format("range \"{}\": {} (expected A-B, bytes A to B inclusive; A-; -N; or bytes=...)",
                    text, why));
  };
  constexpr std::string_view kUnit = "bytes=";
  const std::string_view spec = text.starts_with(kUnit) ? text.substr(kUnit.size()) : text;
  return ParseSpec(spec, /*inclusive_end=*/true, bad);
}

Result<ResolvedRange> ByteRange::Validate(uint64_t size) const {
  switch (kind_) {
    case Kind::kFull:
      return ResolvedRange{0, size};
    case Kind::kBounded:
      if (begin_ > end_) {
        return InvalidArgumentError(fmt::format("range {}: start after end", ToString()));
      }
      if (begin_ > size) {
        return OutOfRangeError(
            fmt::format("range {} starts past the end of a {}-byte object", ToString(), size));
      }
      return ResolvedRange{begin_, std::min(end_, size)};
    case Kind::kFrom:
      if (begin_ > size) {
        return OutOfRangeError(
            fmt::format("range {} starts past the end of a {}-byte object", ToString(), size));
      }
      return ResolvedRange{begin_, size};
    case Kind::kSuffix:
      return ResolvedRange{size - std::min(end_, size), size};
  }
  return InternalError("unknown ByteRange kind");
}

std::string ByteRange::ToHttpHeader() const {
  switch (kind_) {
    case Kind::kFull:
      return "";
    case Kind::kBounded:
      if (end_ == begin_) return "";
      return fmt::format("bytes={}-{}", begin_, end_ - 1);
    case Kind::kFrom:
      return fmt::format("bytes={}-", begin_);
    case Kind::kSuffix:
      return fmt::format("bytes=-{}", end_);
  }
  return "";
}

std::string ByteRange::ToString() const {
  switch (kind_) {
    case Kind::kFull:
      return "all";
    case Kind::kBounded:
      return fmt::format("[{}, {})", begin_, end_);
    case Kind::kFrom:
      return fmt::format("[{}, end)", begin_);
    case Kind::kSuffix:
      return fmt::format("last {} bytes", end_);
  }
  return "?";
}

}  // namespace depot
