// depot::cas outboard trees and verified slices: any byte range of a blob checked against its
// BLAKE3 hash alone (the idea of Bao, in a format of depot's own).
//
//   Outboard tree = MakeOutboard(blob);              // kept beside the blob: 0.4% of its size
//   std::string slice = ExtractSlice(blob, tree.bytes, begin, end);      // by who has the blob
//   Result<std::string> bytes = VerifySlice(slice, tree.root, begin, end);  // by who has the hash
//
// The tree is BLAKE3's own (core/blake3), read in groups of 16 chunks: its nodes over at most
// kGroupLen (16 KiB) bytes are leaves, hashed from their bytes; every node above them is a parent
// whose two child values the outboard keeps. Layout of an outboard: the blob's length (u64,
// little-endian), then the parents in pre-order (parent, left subtree, right subtree), 64 bytes
// each (left value, right value): 8 + 64 x (leaves - 1) bytes, leaves = ceil(length / 16 KiB)
// (at least 1).
//
// A slice of [begin, end): the blob's length, begin and end (three u64, little-endian), then in
// pre-order every node that covers a byte of [begin, end) or the blob's last byte: a parent's 64
// bytes, a leaf's bytes (the whole leaf). The last leaf is always in, so that the length is
// proven by the hash, not only claimed. VerifySlice recomputes every node it is given, from the
// leaves' bytes up to the root, and compares each with the value its parent (or the hash, at the
// root) says it has: any changed, missing or extra byte is kDataLoss, and no byte is returned
// unless all of them check out. Memory: the whole slice; streaming comes with the blob store.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "depot/core/blake3/blake3.h"
#include "depot/core/result.h"

namespace depot::cas {

inline constexpr uint64_t kGroupLen = 16 * blake3::kChunkLen;

struct Outboard {
  std::string bytes;    // the layout above
  blake3::Digest root;  // the blob's BLAKE3 hash
};

// The outboard tree of `blob`.
Outboard MakeOutboard(std::span<const uint8_t> blob);
// Its size for a blob of `length` bytes.
uint64_t OutboardSize(uint64_t length);

// The slice of [begin, end) of `blob`, from the blob and its outboard. kOutOfRange if the range
// is not within the blob; kInvalidArgument if the outboard is not the blob's size.
Result<std::string> ExtractSlice(std::span<const uint8_t> blob, std::span<const uint8_t> outboard,
                                 uint64_t begin, uint64_t end);

// The bytes of [begin, end) of the blob whose hash is `root`, from a slice of exactly that range.
// kDataLoss if the slice does not check out (corrupted, truncated, extended, of another blob, or
// claiming a length that cannot hold the range); kInvalidArgument if it is for another range or
// the range ends before it begins.
Result<std::string> VerifySlice(std::span<const uint8_t> slice, const blake3::Digest& root,
                                uint64_t begin, uint64_t end);

}  // namespace depot::cas
