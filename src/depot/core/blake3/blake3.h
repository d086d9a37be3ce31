// depot::blake3: the BLAKE3 hash function, written from its specification (Aumasson, Neves,
// O'Connor, Wilcox-O'Hearn, 2020): hash, keyed_hash and derive_key, each with extendable output
// (any length, from any offset), through an incremental Hasher.
//
//   blake3::Digest d = blake3::Hash(data);                     // 32 bytes
//   blake3::Hasher h;  h.Update(part1);  h.Update(part2);
//   std::string hex = blake3::ToHex(h.Finalize());             // b3sum's hex
//   std::vector<uint8_t> more(131);  h.Finalize(more, /*offset=*/0);   // extendable output
//
// The three modes differ only in the key and flags they start from (Hasher(), Hasher::Keyed,
// Hasher::DeriveKey), so every mode has every feature. Finalize does not change the hasher: more
// input may follow, and finalizing again gives the hash of everything so far. Outputs are equal
// to the reference implementation's and b3sum's on the official test vectors (blake3_test.cc).
//
// Whole chunks (1 KiB) are hashed many at once by the widest chunk hasher the CPU has: AVX-512
// (16 chunks), AVX2 (8), SSE4.1 (4), chosen at run time, else the portable code. A Hasher is a
// value (copyable, 1.9 KiB); not thread-safe, as values are not.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace depot {
class Executor;
}

namespace depot::blake3 {

inline constexpr size_t kOutLen = 32;      // the default output length
inline constexpr size_t kKeyLen = 32;      // keyed_hash keys
inline constexpr size_t kBlockLen = 64;    // the compression function's input
inline constexpr size_t kChunkLen = 1024;  // the leaves of the tree

using Digest = std::array<uint8_t, kOutLen>;
using Key = std::array<uint8_t, kKeyLen>;

class Hasher {
 public:
  // The default mode, hash.
  Hasher();
  // keyed_hash: a MAC or PRF under a 32-byte key.
  static Hasher Keyed(const Key& key);
  // derive_key: feed the key material with Update; `context` should be a hard-coded, globally
  // unique, application-specific string.
  static Hasher DeriveKey(std::string_view context);

  Hasher& Update(std::span<const uint8_t> data);
  Hasher& Update(std::string_view data) {
    return Update(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }

  // Same as Update, with the work spread over `executor`'s threads: whole subtrees of 512 KiB
  // are hashed as tasks (no task waits for another), the rest here. For large inputs in
  // memory (a mapped file); small ones are simply hashed here.
  Hasher& UpdateParallel(std::span<const uint8_t> data, Executor& executor);

  // The first 32 bytes of the output.
  Digest Finalize() const;
  // out.size() bytes of the output stream, starting `offset` bytes into it.
  void Finalize(std::span<uint8_t> out, uint64_t offset = 0) const;

  // Back to the state right after construction (same mode and key).
  void Reset();

  // The BLAKE3 tree, for verifying parts of an input on their own (cas/): in this hasher's mode
  // and key, whatever it has been fed. A node's value is its chaining value, or at the root the
  // hash. A node over more than one chunk splits at LeftSubtreeLength.
  using NodeValue = std::array<uint8_t, 32>;
  // The value of the node covering `data`, which starts at chunk `chunk_index` of the whole
  // input; `root` when `data` is the whole input (its value is then the 32-byte hash). `data`
  // must be a node of the tree: the whole input, or a subtree the splits make.
  NodeValue SubtreeValue(std::span<const uint8_t> data, uint64_t chunk_index, bool root) const;
  // The value of the parent of two nodes.
  NodeValue ParentValue(const NodeValue& left, const NodeValue& right, bool root) const;

 private:
  struct Output;
  struct ChunkState {
    uint32_t cv[8];
    uint64_t counter;
    uint8_t block[kBlockLen];
    uint8_t block_len;
    uint8_t blocks_compressed;
    uint8_t flags;

    void Start(const uint32_t key[8], uint64_t chunk_counter, uint8_t mode_flags);
    size_t Length() const { return kBlockLen * blocks_compressed + block_len; }
    void Update(const uint8_t* data, size_t len);
    Output Finish() const;
  };

  Hasher(const uint32_t key[8], uint8_t flags);
  // The parent node of two chaining values.
  Output Parent(const uint32_t left[8], const uint32_t right[8]) const;
  // The node over `len` bytes at `data`, its first chunk number `chunk`.
  Output SubtreeOutput(const uint8_t* data, size_t len, uint64_t chunk) const;
  // A node's value: its chaining value, or at the root the first 32 bytes of output.
  static NodeValue ValueOf(const Output& output, bool root);
  // Adds the chaining value of a complete subtree of 2^level chunks ending after `total_chunks`
  // chunks, merging the subtrees it completes.
  void PushSubtree(const uint32_t cv[8], int level, uint64_t total_chunks);
  // Folds a full current chunk into the tree (more input follows) and starts the next.
  void FlushFullChunk();

  uint32_t key_[8];
  uint8_t flags_;
  ChunkState chunk_;
  // Chaining values of complete subtrees, one per level: 54 levels cover 2^64 bytes.
  uint32_t stack_[54][8];
  uint8_t stack_len_ = 0;
};

// The bytes of the left child of a tree node covering `length` bytes: the largest power of two
// number of chunks below `length` (0 for a node of one chunk or less, which has no children).
uint64_t LeftSubtreeLength(uint64_t length);

// One call: the 32-byte hash of `data`.
Digest Hash(std::string_view data);
// Lower-case hex, as b3sum prints it.
std::string ToHex(std::span<const uint8_t> bytes);

}  // namespace depot::blake3
