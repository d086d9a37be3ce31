#include "depot/core/range_set.h"

#include <fmt/format.h>

#include <algorithm>

namespace depot {

void RangeSet::Insert(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  // The first range that could touch [begin, end): the last one starting at or before `begin`.
  auto it = ranges_.upper_bound(begin);
  if (it != ranges_.begin()) {
    auto before = std::prev(it);
    if (before->second >= begin) it = before;
  }
  while (it != ranges_.end() && it->first <= end) {
    begin = std::min(begin, it->first);
    end = std::max(end, it->second);
    it = ranges_.erase(it);
  }
  ranges_.emplace_hint(it, begin, end);
}

void RangeSet::Erase(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto it = ranges_.upper_bound(begin);
  if (it != ranges_.begin()) {
    auto before = std::prev(it);
    if (before->second > begin) it = before;
  }
  while (it != ranges_.end() && it->first < end) {
    const uint64_t range_begin = it->first;
    const uint64_t range_end = it->second;
    it = ranges_.erase(it);
    if (range_begin < begin) ranges_.emplace(range_begin, begin);
    if (range_end > end) {
      ranges_.emplace(end, range_end);
      break;
    }
  }
}

bool RangeSet::Contains(uint64_t begin, uint64_t end) const {
  if (begin >= end) return true;
  std::optional<Span64> range = RangeAt(begin);
  return range && range->end >= end;
}

std::optional<Span64> RangeSet::RangeAt(uint64_t offset) const {
  auto it = ranges_.upper_bound(offset);
  if (it == ranges_.begin()) return std::nullopt;
  --it;
  if (it->second <= offset) return std::nullopt;
  return Span64{it->first, it->second};
}

std::optional<Span64> RangeSet::FirstGap(uint64_t from, uint64_t limit) const {
  if (from >= limit) return std::nullopt;
  uint64_t at = from;
  if (std::optional<Span64> range = RangeAt(from)) at = range->end;
  if (at >= limit) return std::nullopt;
  auto next = ranges_.upper_bound(at);
  const uint64_t gap_end = next == ranges_.end() ? limit : std::min(limit, next->first);
  return Span64{at, gap_end};
}

std::vector<Span64> RangeSet::Gaps(uint64_t from, uint64_t limit) const {
  std::vector<Span64> gaps;
  while (std::optional<Span64> gap = FirstGap(from, limit)) {
    gaps.push_back(*gap);
    from = gap->end;
  }
  return gaps;
}

uint64_t RangeSet::covered() const {
  uint64_t total = 0;
  for (const auto& [begin, end] : ranges_) total += end - begin;
  return total;
}

std::vector<Span64> RangeSet::ranges() const {
  std::vector<Span64> out;
  out.reserve(ranges_.size());
  for (const auto& [begin, end] : ranges_) out.push_back({begin, end});
  return out;
}

std::string RangeSet::ToString() const {
  if (ranges_.empty()) return "{}";
  std::string out;
  for (const auto& [begin, end] : ranges_) {
    if (!out.empty()) out += ' ';
    out += fmt::format("[{}, {})", begin, end);
  }
  return out;
}

}  // namespace depot
