// depot::RangeSet: which bytes of something are present, as disjoint half-open ranges of uint64.
//
// Insert merges: inserting [0, 10) and then [10, 20) leaves the one range [0, 20), and inserting a
// range that overlaps or touches several ranges replaces them by their union. The ranges are kept
// sorted by start, so lookups are O(log n) in the number of ranges (not of bytes). Empty ranges
// (begin == end) are ignored by every call; a range with begin > end is a caller's bug and is
// treated as empty.
//
//   RangeSet present;
//   present.Insert(0, 4096);
//   present.Insert(8192, 12288);
//   present.Contains(0, 4096);          // true
//   present.FirstGap(0, 12288);         // [4096, 8192)
//
// Value type; thread-compatible (a resource keeps its RangeSet under its own mutex).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace depot {

struct Span64 {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t length() const { return end - begin; }
  bool empty() const { return begin >= end; }
  friend bool operator==(const Span64&, const Span64&) = default;
};

class RangeSet {
 public:
  RangeSet() = default;

  // Adds [begin, end), merging it with every range it overlaps or touches.
  void Insert(uint64_t begin, uint64_t end);
  // Removes [begin, end), splitting a range that straddles it.
  void Erase(uint64_t begin, uint64_t end);
  void Clear() { ranges_.clear(); }

  // True when every byte of [begin, end) is present (an empty range is always contained).
  bool Contains(uint64_t begin, uint64_t end) const;
  // The present range holding `offset`, if any.
  std::optional<Span64> RangeAt(uint64_t offset) const;
  // The first absent stretch of [from, limit), or nullopt when all of it is present.
  std::optional<Span64> FirstGap(uint64_t from, uint64_t limit) const;
  // Every absent stretch of [from, limit), in order.
  std::vector<Span64> Gaps(uint64_t from, uint64_t limit) const;

  bool empty() const { return ranges_.empty(); }
  size_t range_count() const { return ranges_.size(); }
  // The number of bytes present.
  uint64_t covered() const;
  // The end of the last range (0 when empty).
  uint64_t end() const { return ranges_.empty() ? 0 : ranges_.rbegin()->second; }
  // The ranges in order.
  std::vector<Span64> ranges() const;

  // "[0, 4096) [8192, 12288)", or "{}" when empty.
  std::string ToString() const;

  friend bool operator==(const RangeSet&, const RangeSet&) = default;

 private:
  std::map<uint64_t, uint64_t> ranges_;  // begin -> end, disjoint and not touching
};

}  // namespace depot
