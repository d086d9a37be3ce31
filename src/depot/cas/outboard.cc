// Outboard trees and slices (outboard.h): walks of one tree. The builder folds leaves as the blob
// streams by and writes each parent once both its subtrees are done (post-order); the readers walk
// from the root down (pre-order), finding a parent's place in the outboard from the number of
// parents before its subtree. VerifySlice and ReadVerified refuse a node before they look at its
// children's bytes.
#include "depot/cas/outboard.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace depot::cas {
namespace {

using NodeValue = blake3::Hasher::NodeValue;

constexpr size_t kSliceHeader = 24;

uint64_t Leaves(uint64_t length) { return length == 0 ? 1 : (length + kGroupLen - 1) / kGroupLen; }

// The post-order number of the parent over a subtree of `len` bytes (more than one leaf) that
// `before` parents precede.
uint64_t ParentIndex(uint64_t before, uint64_t len) { return before + Leaves(len) - 2; }

void PutU64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>(value >> (8 * i));
}

uint64_t GetU64(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | p[i];
  return value;
}

std::span<const uint8_t> Span(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// What a slice of [begin, end) of a blob of `length` bytes holds: the nodes over a byte of the
// range or over the last byte.
struct Needed {
  uint64_t length, begin, end;
  bool last_leaf = true;
  bool operator()(uint64_t start, uint64_t len) const {
    const bool in_range = begin < end && start < end && begin < start + len;
    const bool last = last_leaf && length > 0 && start <= length - 1 && length - 1 < start + len;
    return in_range || last;
  }
};

Status CheckRange(uint64_t length, uint64_t begin, uint64_t end) {
  if (begin > end || end > length) {
    return OutOfRangeError(
        fmt::format("range [{}, {}) is not within a {}-byte blob", begin, end, length));
  }
  return Status::Ok();
}

struct Extractor {
  TreeReader& reader;
  Needed needed;
  std::string out;

  Status Walk(uint64_t start, uint64_t len, uint64_t before) {
    if (len <= kGroupLen) return reader.ReadBlob(start, start + len, out);
    uint8_t node[kParentLen];
    DEPOT_RETURN_IF_ERROR(reader.ReadParent(ParentIndex(before, len), node));
    out.append(reinterpret_cast<const char*>(node), kParentLen);
    const uint64_t left = blake3::LeftSubtreeLength(len);
    if (needed(start, left)) DEPOT_RETURN_IF_ERROR(Walk(start, left, before));
    if (needed(start + left, len - left)) {
      DEPOT_RETURN_IF_ERROR(Walk(start + left, len - left, before + Leaves(left) - 1));
    }
    return Status::Ok();
  }
};

// A blob and its outboard in memory.
class SpanReader final : public TreeReader {
 public:
  SpanReader(std::span<const uint8_t> blob, std::span<const uint8_t> outboard)
      : blob_(blob), outboard_(outboard) {}
  Status ReadParent(uint64_t index, uint8_t out[kParentLen]) override {
    std::memcpy(out, outboard_.data() + index * kParentLen, kParentLen);
    return Status::Ok();
  }
  Status ReadBlob(uint64_t begin, uint64_t end, std::string& out) override {
    out.append(reinterpret_cast<const char*>(blob_.data() + begin), end - begin);
    return Status::Ok();
  }

 private:
  std::span<const uint8_t> blob_;
  std::span<const uint8_t> outboard_;
};

struct Verifier {
  const blake3::Hasher& hasher;
  std::span<const uint8_t> slice;
  size_t at = kSliceHeader;
  Needed needed;
  std::vector<std::string_view> out;  // the range's bytes, in order, as views into the slice

  std::span<const uint8_t> Take(uint64_t n) {
    if (slice.size() - at < n) return {};
    const std::span<const uint8_t> piece = slice.subspan(at, n);
    at += n;
    return piece;
  }

  Status Walk(uint64_t start, uint64_t len, const NodeValue& expected, bool root) {
    if (len <= kGroupLen) {
      const std::span<const uint8_t> bytes = Take(len);
      if (bytes.size() != len) {
        return DataLossError(fmt::format("the slice ends inside the leaf at byte {}", start));
      }
      if (hasher.SubtreeValue(bytes, start / blake3::kChunkLen, root) != expected) {
        return DataLossError(
            fmt::format("the leaf of bytes [{}, {}) does not match its hash", start, start + len));
      }
      const uint64_t from = std::max(start, needed.begin);
      const uint64_t to = std::min(start + len, needed.end);
      if (from < to) {
        out.emplace_back(reinterpret_cast<const char*>(bytes.data() + (from - start)), to - from);
      }
      return Status::Ok();
    }
    const std::span<const uint8_t> node = Take(kParentLen);
    if (node.size() != kParentLen) {
      return DataLossError(fmt::format("the slice ends inside the parent of byte {}", start));
    }
    NodeValue l, r;
    std::memcpy(l.data(), node.data(), l.size());
    std::memcpy(r.data(), node.data() + l.size(), r.size());
    if (hasher.ParentValue(l, r, root) != expected) {
      return DataLossError(
          fmt::format("the parent of bytes [{}, {}) does not match its hash", start, start + len));
    }
    const uint64_t left = blake3::LeftSubtreeLength(len);
    if (needed(start, left)) DEPOT_RETURN_IF_ERROR(Walk(start, left, l, false));
    if (needed(start + left, len - left)) {
      DEPOT_RETURN_IF_ERROR(Walk(start + left, len - left, r, false));
    }
    return Status::Ok();
  }
};

// ReadVerified's walk: the first subtree of at most `window` bytes that holds a byte of the range
// reads its leaves in the range with one ReadBlob; the walk below it checks them from that buffer,
// and the window goes to the sink once the whole subtree checked out.
struct WindowedReader {
  TreeReader& reader;
  const blake3::Hasher& hasher;
  Needed needed;
  uint64_t window;
  const std::function<Status(std::string_view)>& sink;
  std::string buffer;
  uint64_t buffer_start = 0;
  bool filling = false;

  Status Walk(uint64_t start, uint64_t len, uint64_t before, const NodeValue& expected, bool root) {
    const bool opens_window = !filling && len <= window;
    if (opens_window) {
      const uint64_t from = start + (std::max(needed.begin, start) - start) / kGroupLen * kGroupLen;
      const uint64_t to =
          std::min(start + (std::min(needed.end, start + len) - start + kGroupLen - 1) / kGroupLen *
                               kGroupLen,
                   start + len);
      buffer.clear();
      DEPOT_RETURN_IF_ERROR(reader.ReadBlob(from, to, buffer));
      if (buffer.size() != to - from) {
        return DataLossError(
            fmt::format("bytes [{}, {}) of the blob read as {} bytes", from, to, buffer.size()));
      }
      buffer_start = from;
      filling = true;
    }
    if (len <= kGroupLen) {
      const auto bytes = Span(buffer).subspan(start - buffer_start, len);
      if (hasher.SubtreeValue(bytes, start / blake3::kChunkLen, root) != expected) {
        return DataLossError(
            fmt::format("bytes [{}, {}) of the blob do not match its hash", start, start + len));
      }
    } else {
      uint8_t node[kParentLen];
      DEPOT_RETURN_IF_ERROR(reader.ReadParent(ParentIndex(before, len), node));
      NodeValue l, r;
      std::memcpy(l.data(), node, l.size());
      std::memcpy(r.data(), node + l.size(), r.size());
      if (hasher.ParentValue(l, r, root) != expected) {
        return DataLossError(fmt::format(
            "the outboard's parent of bytes [{}, {}) does not match the hash", start, start + len));
      }
      const uint64_t left = blake3::LeftSubtreeLength(len);
      if (needed(start, left)) DEPOT_RETURN_IF_ERROR(Walk(start, left, before, l, false));
      if (needed(start + left, len - left)) {
        DEPOT_RETURN_IF_ERROR(Walk(start + left, len - left, before + Leaves(left) - 1, r, false));
      }
    }
    if (!opens_window) return Status::Ok();
    filling = false;
    const uint64_t from = std::max(needed.begin, buffer_start);
    const uint64_t to = std::min(needed.end, buffer_start + buffer.size());
    return sink(std::string_view(buffer).substr(from - buffer_start, to - from));
  }
};

}  // namespace

void OutboardBuilder::Update(std::span<const uint8_t> data) {
  length_ += data.size();
  while (!data.empty()) {
    if (pending_.size() == kGroupLen) {  // full, and more bytes follow
      FoldLeaf(Span(pending_));
      pending_.clear();
    }
    if (pending_.empty() && data.size() > kGroupLen) {
      FoldLeaf(data.first(kGroupLen));
      data = data.subspan(kGroupLen);
      continue;
    }
    const size_t take = std::min<size_t>(kGroupLen - pending_.size(), data.size());
    pending_.append(reinterpret_cast<const char*>(data.data()), take);
    data = data.subspan(take);
  }
}

void OutboardBuilder::FoldLeaf(std::span<const uint8_t> leaf) {
  NodeValue value = hasher_.SubtreeValue(leaf, leaves_ * (kGroupLen / blake3::kChunkLen), false);
  // More bytes follow, so every subtree this leaf completes is a node of the final tree.
  for (uint64_t total = ++leaves_; total % 2 == 0; total /= 2) {
    Emit(stack_.back(), value);
    value = hasher_.ParentValue(stack_.back(), value, false);
    stack_.pop_back();
  }
  stack_.push_back(value);
}

void OutboardBuilder::Emit(const NodeValue& left, const NodeValue& right) {
  out_.append(reinterpret_cast<const char*>(left.data()), left.size());
  out_.append(reinterpret_cast<const char*>(right.data()), right.size());
}

blake3::Digest OutboardBuilder::Finish() {
  NodeValue value = hasher_.SubtreeValue(Span(pending_), leaves_ * (kGroupLen / blake3::kChunkLen),
                                         stack_.empty());
  while (!stack_.empty()) {
    const NodeValue left = stack_.back();
    stack_.pop_back();
    Emit(left, value);
    value = hasher_.ParentValue(left, value, stack_.empty());
  }
  PutU64(out_, length_);
  return value;
}

std::string OutboardBuilder::TakeBytes() { return std::exchange(out_, {}); }

uint64_t OutboardSize(uint64_t length) { return kParentLen * (Leaves(length) - 1) + 8; }

Outboard MakeOutboard(std::span<const uint8_t> blob) {
  OutboardBuilder builder;
  builder.Update(blob);
  Outboard outboard;
  outboard.root = builder.Finish();
  outboard.bytes = builder.TakeBytes();
  return outboard;
}

Result<std::string> ExtractSlice(TreeReader& reader, uint64_t length, uint64_t begin,
                                 uint64_t end) {
  DEPOT_RETURN_IF_ERROR(CheckRange(length, begin, end));
  Extractor extractor{reader, Needed{length, begin, end}, {}};
  PutU64(extractor.out, length);
  PutU64(extractor.out, begin);
  PutU64(extractor.out, end);
  DEPOT_RETURN_IF_ERROR(extractor.Walk(0, length, 0));
  return std::move(extractor.out);
}

Result<std::string> ExtractSlice(std::span<const uint8_t> blob, std::span<const uint8_t> outboard,
                                 uint64_t begin, uint64_t end) {
  if (outboard.size() != OutboardSize(blob.size()) ||
      GetU64(outboard.data() + outboard.size() - 8) != blob.size()) {
    return InvalidArgumentError(
        fmt::format("an outboard of {} bytes is not that of a {}-byte blob ({} bytes)",
                    outboard.size(), blob.size(), OutboardSize(blob.size())));
  }
  SpanReader reader(blob, outboard);
  return ExtractSlice(reader, blob.size(), begin, end);
}

Result<std::string> VerifySlice(std::span<const uint8_t> slice, const blake3::Digest& root,
                                uint64_t begin, uint64_t end) {
  std::string out;
  out.reserve(end > begin ? std::min<uint64_t>(end - begin, slice.size()) : 0);
  DEPOT_RETURN_IF_ERROR(VerifySlice(slice, root, begin, end, [&](std::string_view bytes) {
    out.append(bytes);
    return Status::Ok();
  }));
  return out;
}

Status VerifySlice(std::span<const uint8_t> slice, const blake3::Digest& root, uint64_t begin,
                   uint64_t end, const std::function<Status(std::string_view)>& sink) {
  if (slice.size() < kSliceHeader) {
    return DataLossError(fmt::format("a slice of {} bytes has no header", slice.size()));
  }
  const uint64_t length = GetU64(slice.data());
  if (GetU64(slice.data() + 8) != begin || GetU64(slice.data() + 16) != end) {
    return InvalidArgumentError(fmt::format("the slice is of [{}, {}), not of [{}, {})",
                                            GetU64(slice.data() + 8), GetU64(slice.data() + 16),
                                            begin, end));
  }
  if (length > (uint64_t{1} << 62)) {
    return DataLossError(fmt::format("the slice claims a blob of {} bytes", length));
  }
  if (begin > end) {
    return InvalidArgumentError(fmt::format("range [{}, {}) ends before it begins", begin, end));
  }
  if (end > length) {
    // Not proven: the length is only claimed until the last leaf checks out, and a genuine slice
    // never names a range past its blob's end.
    return DataLossError(fmt::format("the slice claims a {}-byte blob, which cannot hold [{}, {})",
                                     length, begin, end));
  }
  const blake3::Hasher hasher;
  Verifier verifier{hasher, slice, kSliceHeader, Needed{length, begin, end}, {}};
  DEPOT_RETURN_IF_ERROR(verifier.Walk(0, length, root, true));
  if (verifier.at != slice.size()) {
    return DataLossError(
        fmt::format("the slice has {} bytes past its last node", slice.size() - verifier.at));
  }
  for (std::string_view piece : verifier.out) DEPOT_RETURN_IF_ERROR(sink(piece));
  return Status::Ok();
}

Status ReadVerified(TreeReader& reader, uint64_t length, const blake3::Digest& root, uint64_t begin,
                    uint64_t end, const std::function<Status(std::string_view)>& sink,
                    uint64_t window) {
  DEPOT_RETURN_IF_ERROR(CheckRange(length, begin, end));
  if (begin == end) return Status::Ok();
  const blake3::Hasher hasher;
  WindowedReader walk{
      reader, hasher, Needed{length, begin, end, /*last_leaf=*/false}, std::max(window, kGroupLen),
      sink,   {}};
  return walk.Walk(0, length, 0, root, true);
}

}  // namespace depot::cas
