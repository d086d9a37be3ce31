// Outboard trees and slices (outboard.h): three walks of one tree, in the same pre-order.
// MakeOutboard writes every parent; ExtractSlice copies the parents and leaves a slice needs and
// counts past the parents of the subtrees it skips; VerifySlice recomputes and checks what the
// slice holds, from the root down, refusing a node before it looks at its children's bytes.
#include "depot/cas/outboard.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace depot::cas {
namespace {

using NodeValue = blake3::Hasher::NodeValue;

constexpr size_t kParentLen = 2 * blake3::kOutLen;
constexpr size_t kOutboardHeader = 8;
constexpr size_t kSliceHeader = 24;

uint64_t Leaves(uint64_t length) { return length == 0 ? 1 : (length + kGroupLen - 1) / kGroupLen; }

void PutU64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>(value >> (8 * i));
}

uint64_t GetU64(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | p[i];
  return value;
}

// What a slice of [begin, end) of a blob of `length` bytes holds: the nodes over a byte of the
// range or over the last byte.
struct Needed {
  uint64_t length, begin, end;
  bool operator()(uint64_t start, uint64_t len) const {
    const bool in_range = begin < end && start < end && begin < start + len;
    const bool last = length > 0 && start <= length - 1 && length - 1 < start + len;
    return in_range || last;
  }
};

NodeValue Build(const blake3::Hasher& hasher, std::span<const uint8_t> blob, uint64_t start,
                uint64_t len, bool root, std::string& out) {
  if (len <= kGroupLen) {
    return hasher.SubtreeValue(blob.subspan(start, len), start / blake3::kChunkLen, root);
  }
  const size_t at = out.size();
  out.append(kParentLen, '\0');
  const uint64_t left = blake3::LeftSubtreeLength(len);
  const NodeValue l = Build(hasher, blob, start, left, false, out);
  const NodeValue r = Build(hasher, blob, start + left, len - left, false, out);
  std::memcpy(out.data() + at, l.data(), l.size());
  std::memcpy(out.data() + at + l.size(), r.data(), r.size());
  return hasher.ParentValue(l, r, root);
}

struct Extractor {
  std::span<const uint8_t> blob;
  std::span<const uint8_t> outboard;
  Needed needed;
  uint64_t parent = 0;  // the pre-order number of the next parent
  std::string out;

  void Walk(uint64_t start, uint64_t len) {
    if (len <= kGroupLen) {
      out.append(reinterpret_cast<const char*>(blob.data() + start), len);
      return;
    }
    out.append(
        reinterpret_cast<const char*>(outboard.data() + kOutboardHeader + parent * kParentLen),
        kParentLen);
    ++parent;
    const uint64_t left = blake3::LeftSubtreeLength(len);
    for (const auto& [child, size] :
         {std::pair{start, left}, std::pair{start + left, len - left}}) {
      if (needed(child, size)) {
        Walk(child, size);
      } else {
        parent += Leaves(size) - 1;  // the parents of the skipped subtree
      }
    }
  }
};

struct Verifier {
  const blake3::Hasher& hasher;
  std::span<const uint8_t> slice;
  size_t at = kSliceHeader;
  Needed needed;
  std::string out;

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
        out.append(reinterpret_cast<const char*>(bytes.data() + (from - start)), to - from);
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

}  // namespace

uint64_t OutboardSize(uint64_t length) {
  return kOutboardHeader + kParentLen * (Leaves(length) - 1);
}

Outboard MakeOutboard(std::span<const uint8_t> blob) {
  Outboard outboard;
  outboard.bytes.reserve(OutboardSize(blob.size()));
  PutU64(outboard.bytes, blob.size());
  outboard.root = Build(blake3::Hasher(), blob, 0, blob.size(), true, outboard.bytes);
  return outboard;
}

Result<std::string> ExtractSlice(std::span<const uint8_t> blob, std::span<const uint8_t> outboard,
                                 uint64_t begin, uint64_t end) {
  if (outboard.size() != OutboardSize(blob.size()) || GetU64(outboard.data()) != blob.size()) {
    return InvalidArgumentError(
        fmt::format("an outboard of {} bytes is not that of a {}-byte blob ({} bytes)",
                    outboard.size(), blob.size(), OutboardSize(blob.size())));
  }
  if (begin > end || end > blob.size()) {
    return OutOfRangeError(
        fmt::format("range [{}, {}) is not within a {}-byte blob", begin, end, blob.size()));
  }
  Extractor extractor{blob, outboard, Needed{blob.size(), begin, end}, 0, {}};
  PutU64(extractor.out, blob.size());
  PutU64(extractor.out, begin);
  PutU64(extractor.out, end);
  extractor.Walk(0, blob.size());
  return std::move(extractor.out);
}

Result<std::string> VerifySlice(std::span<const uint8_t> slice, const blake3::Digest& root,
                                uint64_t begin, uint64_t end) {
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
  return std::move(verifier.out);
}

}  // namespace depot::cas
