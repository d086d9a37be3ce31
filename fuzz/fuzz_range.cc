// Fuzzes depot::ByteRange: ParseHttp and Parse never crash and reject only with kInvalidArgument;
// Validate(size), for an object size taken from the input, resolves to begin <= end <= size with
// the shape the request asked for, or fails with kOutOfRange / kInvalidArgument; and a range whose
// ToHttpHeader() is not empty parses back equal with ParseHttp.
//
// Input: 8 bytes of object size (little-endian), then the range text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "depot/core/byte_range.h"

namespace {

using depot::ByteRange;
using depot::StatusCode;

[[noreturn]] void Fail(const char* what, const ByteRange& range, uint64_t size,
                       const std::string& detail) {
  std::fprintf(stderr, "fuzz_range: %s\n  range: %s\n  size:  %llu\n  detail: %s\n", what,
               range.ToString().c_str(), static_cast<unsigned long long>(size), detail.c_str());
  std::abort();
}

void Check(const ByteRange& range, uint64_t size) {
  depot::Result<depot::ResolvedRange> resolved = range.Validate(size);
  if (resolved.ok()) {
    const auto [begin, end] = *resolved;
    if (begin > end || end > size) Fail("resolved range outside the object", range, size, "");
    switch (range.kind()) {
      case ByteRange::Kind::kFull:
        if (begin != 0 || end != size) Fail("full range not [0, size)", range, size, "");
        break;
      case ByteRange::Kind::kBounded:
        if (begin != range.begin() || end != std::min(range.end(), size)) {
          Fail("bounded range resolved wrongly", range, size, "");
        }
        break;
      case ByteRange::Kind::kFrom:
        if (begin != range.begin() || end != size)
          Fail("open range resolved wrongly", range, size, "");
        break;
      case ByteRange::Kind::kSuffix:
        if (end != size || end - begin != std::min(range.end(), size)) {
          Fail("suffix range resolved wrongly", range, size, "");
        }
        break;
    }
  } else {
    const StatusCode code = resolved.status().code();
    if (code != StatusCode::kOutOfRange && code != StatusCode::kInvalidArgument) {
      Fail("Validate failed with an unexpected code", range, size, resolved.status().ToString());
    }
    if (range.kind() == ByteRange::Kind::kFull || range.kind() == ByteRange::Kind::kSuffix) {
      Fail("Validate rejected a range that always resolves", range, size,
           resolved.status().ToString());
    }
  }

  const std::string header = range.ToHttpHeader();
  if (header.empty()) {
    const bool empty_ok = range.is_full() || (range.kind() == ByteRange::Kind::kBounded &&
                                              range.begin() == range.end());
    if (!empty_ok) Fail("no HTTP header for a non-empty range", range, size, "");
    return;
  }
  depot::Result<ByteRange> back = ByteRange::ParseHttp(header);
  if (!back.ok()) Fail("ToHttpHeader() does not parse", range, size, back.status().ToString());
  if (!(*back == range)) Fail("ParseHttp(ToHttpHeader(r)) != r", range, size, header);
  if (range.ToString().empty()) Fail("empty ToString()", range, size, "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t object_size = 0;
  const size_t head = size < 8 ? size : 8;
  std::memcpy(&object_size, data, head);  // little-endian on every platform depot targets
  const std::string_view text(reinterpret_cast<const char*>(data) + head, size - head);

  for (bool http : {true, false}) {
    depot::Result<ByteRange> range = http ? ByteRange::ParseHttp(text) : ByteRange::Parse(text);
    if (!range.ok()) {
      if (range.status().code() != StatusCode::kInvalidArgument) {
        std::fprintf(stderr, "fuzz_range: rejected \"%.*s\" with %s\n",
                     static_cast<int>(text.size()), text.data(), range.status().ToString().c_str());
        std::abort();
      }
      continue;
    }
    Check(*range, object_size);
  }

  // Ranges built directly, including shapes no parser makes (begin > end).
  if (text.size() >= 17) {
    uint64_t a = 0;
    uint64_t b = 0;
    std::memcpy(&a, text.data() + 1, 8);
    std::memcpy(&b, text.data() + 9, 8);
    switch (text[0] & 3) {
      case 0:
        Check(ByteRange::Full(), object_size);
        break;
      case 1:
        if (a <= b)
          Check(ByteRange::Bounded(a, b), object_size);
        else if (ByteRange::Bounded(a, b).Validate(object_size).status().code() !=
                 StatusCode::kInvalidArgument) {
          Fail("begin > end not rejected", ByteRange::Bounded(a, b), object_size, "");
        }
        break;
      case 2:
        Check(ByteRange::From(a), object_size);
        break;
      default:
        Check(ByteRange::Suffix(a), object_size);
        break;
    }
  }
  return 0;
}
