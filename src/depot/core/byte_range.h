// depot::ByteRange: which bytes of an object a read asks for, before the object's size is known.
//
// Four shapes, as HTTP has them: the whole object; [begin, end) (half-open); [begin, size) (open
// end); and the last N bytes (suffix). Validate(size) resolves a request against an object size:
//
//   - bounded [b, e): b > e is kInvalidArgument; b > size is kOutOfRange; e past the size is
//     truncated to the size; b == size gives an empty range (a zero-length read at the end).
//   - from b: b > size is kOutOfRange; b == size is empty.
//   - suffix n: the last min(n, size) bytes; n == 0 is empty.
//
// ParseHttp accepts a single RFC 9110 range ("bytes=0-99", "bytes=100-", "bytes=-50"); several
// ranges in one header are kInvalidArgument (depot serves one range per request). Value type;
// thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "depot/core/result.h"

namespace depot {

// A range resolved against a known size: [begin, end), begin <= end <= size.
struct ResolvedRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t length() const { return end - begin; }
  friend bool operator==(const ResolvedRange&, const ResolvedRange&) = default;
};

class ByteRange {
 public:
  enum class Kind { kFull, kBounded, kFrom, kSuffix };

  // The whole object.
  ByteRange() = default;
  static ByteRange Full() { return ByteRange(); }
  // [begin, end).
  static ByteRange Bounded(uint64_t begin, uint64_t end) { return {Kind::kBounded, begin, end}; }
  // [begin, size).
  static ByteRange From(uint64_t begin) { return {Kind::kFrom, begin, 0}; }
  // The last `length` bytes.
  static ByteRange Suffix(uint64_t length) { return {Kind::kSuffix, 0, length}; }

  // Parses an HTTP Range header value; the error names the value.
  static Result<ByteRange> ParseHttp(std::string_view header);
  // Parses depot's CLI form, HTTP's without its unit (which may be given): "A-B" (bytes A to B,
  // both included, as curl -r and HTTP read it), "A-" (from A) or "-N" (the last N bytes).
  static Result<ByteRange> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  bool is_full() const { return kind_ == Kind::kFull; }
  uint64_t begin() const { return begin_; }
  // End for kBounded; the length for kSuffix.
  uint64_t end() const { return end_; }

  // Resolves against an object of `size` bytes (see the header comment for the rules).
  Result<ResolvedRange> Validate(uint64_t size) const;

  // "bytes=0-99" etc., the form ParseHttp reads back. Full gives "" and an empty bounded range
  // cannot be written as an HTTP range (callers skip the request).
  std::string ToHttpHeader() const;
  // Readable: "[0, 100)", "[100, end)", "last 50 bytes", "all".
  std::string ToString() const;

  friend bool operator==(const ByteRange&, const ByteRange&) = default;

 private:
  ByteRange(Kind kind, uint64_t begin, uint64_t end) : kind_(kind), begin_(begin), end_(end) {}

  Kind kind_ = Kind::kFull;
  uint64_t begin_ = 0;
  uint64_t end_ = 0;
};

}  // namespace depot
