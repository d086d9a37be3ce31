// depot::cas outboard trees and verified slices: any byte range of a blob checked against its
// BLAKE3 hash alone (the idea of Bao, in a format of depot's own).
//
//   OutboardBuilder builder;  builder.Update(part1);  builder.Update(part2);  // as bytes come
//   outboard_file.Write(builder.TakeBytes());                                   // as parents come
//   blake3::Digest root = builder.Finish();  outboard_file.Write(builder.TakeBytes());
//   std::string slice = *ExtractSlice(blob, outboard, begin, end);        // by who has the blob
//   Result<std::string> bytes = VerifySlice(slice, root, begin, end);     // by who has the hash
//
// The tree is BLAKE3's own (core/blake3), read in groups of 16 chunks: its nodes over at most
// kGroupLen (16 KiB) bytes are leaves, hashed from their bytes; every node above them is a parent
// whose two child values the outboard keeps. Layout of an outboard: the parents in post-order
// (left subtree, right subtree, parent), 64 bytes each (left value, right value), then the blob's
// length (u64, little-endian): 64 x (leaves - 1) + 8 bytes, leaves = ceil(length / 16 KiB) (at
// least 1), 0.4% of the blob. Post-order lets the builder write the outboard as the blob streams
// by, in O(log n) memory, without knowing the length in advance.
//
// A slice of [begin, end): the blob's length, begin and end (three u64, little-endian), then in
// pre-order every node that covers a byte of [begin, end) or the blob's last byte: a parent's 64
// bytes, a leaf's bytes (the whole leaf). The last leaf is always in, so that the length is
// proven by the hash, not only claimed. VerifySlice recomputes every node it is given, from the
// leaves' bytes up to the root, and compares each with the value its parent (or the hash, at the
// root) says it has: any changed, missing or extra byte is kDataLoss, and no byte is returned
// unless all of them check out. A slice is held whole in memory; ReadVerified streams a long range
// of a blob the reader has, through a window of bounded size.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/blake3/blake3.h"
#include "depot/core/result.h"

namespace depot::cas {

inline constexpr uint64_t kGroupLen = 16 * blake3::kChunkLen;
inline constexpr size_t kParentLen = 2 * blake3::kOutLen;

// The outboard of a blob fed in pieces of any size. Not thread-safe (a value).
class OutboardBuilder {
 public:
  OutboardBuilder() = default;

  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data) {
    Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  // Ends the blob and returns its hash; the last parents and the length are then in TakeBytes.
  blake3::Digest Finish();
  // The outboard bytes made since the last call, in order (moved out).
  std::string TakeBytes();
  uint64_t length() const { return length_; }

 private:
  using NodeValue = blake3::Hasher::NodeValue;
  // Folds one full leaf that more bytes follow, writing the parents it completes.
  void FoldLeaf(std::span<const uint8_t> leaf);
  void Emit(const NodeValue& left, const NodeValue& right);

  blake3::Hasher hasher_;
  std::string pending_;  // the current leaf's bytes, at most kGroupLen
  uint64_t length_ = 0;
  uint64_t leaves_ = 0;           // leaves folded
  std::vector<NodeValue> stack_;  // values of complete subtrees, largest first
  std::string out_;
};

struct Outboard {
  std::string bytes;    // the layout above
  blake3::Digest root;  // the blob's BLAKE3 hash
};

// The outboard tree of `blob`, in one call.
Outboard MakeOutboard(std::span<const uint8_t> blob);
// Its size for a blob of `length` bytes.
uint64_t OutboardSize(uint64_t length);

// Where ExtractSlice and ReadVerified read a blob and its outboard (the blob store reads them from
// objects). Errors are returned as they are.
class TreeReader {
 public:
  virtual ~TreeReader() = default;
  // The parent numbered `index` in post-order (the outboard's bytes [64 x index, +64)).
  virtual Status ReadParent(uint64_t index, uint8_t out[kParentLen]) = 0;
  // Appends the blob's bytes [begin, end) to `out`.
  virtual Status ReadBlob(uint64_t begin, uint64_t end, std::string& out) = 0;
};

// The slice of [begin, end) of a blob of `length` bytes. kOutOfRange if the range is not within
// the blob.
Result<std::string> ExtractSlice(TreeReader& reader, uint64_t length, uint64_t begin, uint64_t end);
// The same from the blob and its outboard in memory; kInvalidArgument if the outboard is not the
// blob's size.
Result<std::string> ExtractSlice(std::span<const uint8_t> blob, std::span<const uint8_t> outboard,
                                 uint64_t begin, uint64_t end);

// The bytes of [begin, end) of the blob whose hash is `root`, from a slice of exactly that range.
// kDataLoss if the slice does not check out (corrupted, truncated, extended, of another blob, or
// claiming a length that cannot hold the range); kInvalidArgument if it is for another range or
// the range ends before it begins.
Result<std::string> VerifySlice(std::span<const uint8_t> slice, const blake3::Digest& root,
                                uint64_t begin, uint64_t end);
// The same, without a copy: once the whole slice checked out, its bytes of [begin, end) go to
// `sink` in order, as views into `slice` (one per leaf); nothing goes to it otherwise. An error
// from the sink is returned as it is.
Status VerifySlice(std::span<const uint8_t> slice, const blake3::Digest& root, uint64_t begin,
                   uint64_t end, const std::function<Status(std::string_view)>& sink);

// Streams bytes [begin, end) of the blob of `length` bytes whose hash is `root` to `sink`, in
// order: the blob is read in windows of at most `window` bytes (rounded up to a leaf), and no
// byte of a window goes to the sink before every leaf and parent above it checked out (kDataLoss
// naming the bytes otherwise). Memory: one window. kOutOfRange if the range is not within the
// blob; an error from the reader or the sink is returned as it is.
Status ReadVerified(TreeReader& reader, uint64_t length, const blake3::Digest& root, uint64_t begin,
                    uint64_t end, const std::function<Status(std::string_view)>& sink,
                    uint64_t window = uint64_t{4} << 20);

}  // namespace depot::cas
