// The BLAKE3 tree (the specification, section 2.1): the input splits into 1 KiB chunks, each
// hashed block by block into a chaining value; chaining values merge pairwise into parents up to
// the root. The hasher keeps one chaining value per level of complete subtrees (stack_): after
// chunk n (counting from 1) it merges as many times as n has trailing zero bits, so the stack
// always holds the left subtrees still waiting for a right sibling. Nothing is merged that could
// be the root: the last chunk and the stack are folded only by Finalize, which sets kRoot on the
// topmost compression and runs it at block counters 0, 1, 2, ... for the extendable output.
#include "depot/core/blake3/blake3.h"

#include <algorithm>
#include <cstring>
#include <future>
#include <vector>

#include "depot/core/blake3/blake3_impl.h"
#include "depot/core/executor.h"
#include "depot/core/hex.h"

namespace depot::blake3 {

using internal::Compress;
using internal::kIv;

// What a compression would be fed: turned into a chaining value, or into root output blocks.
struct Hasher::Output {
  uint32_t cv[8];
  uint8_t block[kBlockLen];
  uint8_t block_len;
  uint64_t counter;
  uint8_t flags;

  void ChainingValue(uint32_t out[8]) const {
    uint32_t words[16];
    Compress(cv, block, block_len, counter, flags, words);
    std::memcpy(out, words, 8 * sizeof(uint32_t));
  }
  void RootBytes(std::span<uint8_t> out, uint64_t offset) const {
    uint64_t block_index = offset / kBlockLen;
    size_t skip = offset % kBlockLen;
    size_t done = 0;
    while (done < out.size()) {
      uint32_t words[16];
      Compress(cv, block, block_len, block_index, flags | internal::kRoot, words);
      uint8_t bytes[kBlockLen];
      internal::StoreWords(words, bytes, 16);
      const size_t take = std::min(out.size() - done, kBlockLen - skip);
      std::memcpy(out.data() + done, bytes + skip, take);
      done += take;
      skip = 0;
      ++block_index;
    }
  }
};

Hasher::Output Hasher::Parent(const uint32_t left[8], const uint32_t right[8]) const {
  Output parent;
  std::memcpy(parent.cv, key_, sizeof(key_));
  internal::StoreWords(left, parent.block, 8);
  internal::StoreWords(right, parent.block + 32, 8);
  parent.block_len = kBlockLen;
  parent.counter = 0;
  parent.flags = static_cast<uint8_t>(flags_ | internal::kParent);
  return parent;
}

void Hasher::ChunkState::Start(const uint32_t key[8], uint64_t chunk_counter, uint8_t mode_flags) {
  std::memcpy(cv, key, sizeof(cv));
  counter = chunk_counter;
  std::memset(block, 0, sizeof(block));
  block_len = 0;
  blocks_compressed = 0;
  flags = mode_flags;
}

void Hasher::ChunkState::Update(const uint8_t* data, size_t len) {
  while (len > 0) {
    // A full block is compressed only once more input follows: the last block of a chunk is
    // compressed by Finish, with kChunkEnd.
    if (block_len == kBlockLen) {
      uint32_t words[16];
      const uint8_t start = blocks_compressed == 0 ? internal::kChunkStart : 0;
      Compress(cv, block, kBlockLen, counter, flags | start, words);
      std::memcpy(cv, words, sizeof(cv));
      ++blocks_compressed;
      std::memset(block, 0, sizeof(block));
      block_len = 0;
    }
    const size_t take = std::min(len, kBlockLen - block_len);
    std::memcpy(block + block_len, data, take);
    block_len = static_cast<uint8_t>(block_len + take);
    data += take;
    len -= take;
  }
}

Hasher::Output Hasher::ChunkState::Finish() const {
  Output out;
  std::memcpy(out.cv, cv, sizeof(cv));
  std::memcpy(out.block, block, sizeof(block));
  out.block_len = block_len;
  out.counter = counter;
  out.flags = static_cast<uint8_t>(flags | internal::kChunkEnd |
                                   (blocks_compressed == 0 ? internal::kChunkStart : 0));
  return out;
}

Hasher::Hasher() : Hasher(kIv, 0) {}

Hasher::Hasher(const uint32_t key[8], uint8_t flags) : flags_(flags) {
  std::memcpy(key_, key, sizeof(key_));
  chunk_.Start(key_, 0, flags_);
}

Hasher Hasher::Keyed(const Key& key) {
  uint32_t words[8];
  internal::LoadWords(key.data(), words, 8);
  return Hasher(words, internal::kKeyedHash);
}

Hasher Hasher::DeriveKey(std::string_view context) {
  Hasher context_hasher(kIv, internal::kDeriveKeyContext);
  context_hasher.Update(context);
  const Digest context_key = context_hasher.Finalize();
  uint32_t words[8];
  internal::LoadWords(context_key.data(), words, 8);
  return Hasher(words, internal::kDeriveKeyMaterial);
}

void Hasher::Reset() {
  chunk_.Start(key_, 0, flags_);
  stack_len_ = 0;
}

void Hasher::PushSubtree(const uint32_t cv[8], int level, uint64_t total_chunks) {
  uint32_t merged[8];
  std::memcpy(merged, cv, sizeof(merged));
  for (uint64_t subtrees = total_chunks >> level; (subtrees & 1) == 0; subtrees >>= 1) {
    Parent(stack_[--stack_len_], merged).ChainingValue(merged);
  }
  std::memcpy(stack_[stack_len_++], merged, sizeof(merged));
}

void Hasher::FlushFullChunk() {
  if (chunk_.Length() != kChunkLen) return;
  uint32_t cv[8];
  chunk_.Finish().ChainingValue(cv);
  const uint64_t total_chunks = chunk_.counter + 1;
  PushSubtree(cv, 0, total_chunks);
  chunk_.Start(key_, total_chunks, flags_);
}

Hasher& Hasher::Update(std::span<const uint8_t> data) {
  const uint8_t* p = data.data();
  size_t len = data.size();
  while (len > 0) {
    // A full chunk is folded into the tree only once more input follows (it could be the last).
    FlushFullChunk();
    // Whole chunks that more input follows go through the chunk hasher, many at once (SIMD).
    if (chunk_.Length() == 0 && len > kChunkLen) {
      constexpr size_t kBatch = 64;
      const size_t count = std::min(kBatch, (len - 1) / kChunkLen);
      uint32_t cvs[8 * kBatch];
      const uint64_t first = chunk_.counter;
      internal::HashChunks(p, count, key_, first, flags_, cvs);
      for (size_t i = 0; i < count; ++i) PushSubtree(cvs + 8 * i, 0, first + i + 1);
      chunk_.Start(key_, first + count, flags_);
      p += count * kChunkLen;
      len -= count * kChunkLen;
      continue;
    }
    const size_t take = std::min(len, kChunkLen - chunk_.Length());
    chunk_.Update(p, take);
    p += take;
    len -= take;
  }
  return *this;
}

namespace {

constexpr int kSubtreeLevel = 9;  // UpdateParallel's tasks: subtrees of 2^9 chunks, 512 KiB
constexpr uint64_t kSubtreeChunks = uint64_t{1} << kSubtreeLevel;
constexpr size_t kSubtreeBytes = kSubtreeChunks * kChunkLen;

}  // namespace

Hasher& Hasher::UpdateParallel(std::span<const uint8_t> data, Executor& executor) {
  const uint8_t* p = data.data();
  size_t len = data.size();
  // Here, up to the next subtree boundary.
  const uint64_t into = chunk_.counter % kSubtreeChunks * kChunkLen + chunk_.Length();
  if (into % kSubtreeBytes != 0) {
    const size_t take = std::min<size_t>(len, kSubtreeBytes - into % kSubtreeBytes);
    Update(data.first(take));
    p += take;
    len -= take;
  }
  if (len > 0) FlushFullChunk();
  // Whole subtrees that more input follows, a window of tasks at a time.
  constexpr size_t kWindow = 64;
  while (len > kSubtreeBytes) {
    const size_t count = std::min(kWindow, (len - 1) / kSubtreeBytes);
    const uint64_t first = chunk_.counter;
    std::vector<std::future<std::array<uint32_t, 8>>> values;
    values.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      values.push_back(executor.Submit([this, input = p + i * kSubtreeBytes, first, i] {
        std::array<uint32_t, 8> cv;
        SubtreeOutput(input, kSubtreeBytes, first + i * kSubtreeChunks).ChainingValue(cv.data());
        return cv;
      }));
    }
    for (size_t i = 0; i < count; ++i) {
      PushSubtree(values[i].get().data(), kSubtreeLevel, first + (i + 1) * kSubtreeChunks);
    }
    chunk_.Start(key_, first + count * kSubtreeChunks, flags_);
    p += count * kSubtreeBytes;
    len -= count * kSubtreeBytes;
  }
  return Update(std::span<const uint8_t>(p, len));
}

void Hasher::Finalize(std::span<uint8_t> out, uint64_t offset) const {
  Output output = chunk_.Finish();
  for (size_t level = stack_len_; level-- > 0;) {
    uint32_t right[8];
    output.ChainingValue(right);
    output = Parent(stack_[level], right);
  }
  output.RootBytes(out, offset);
}

uint64_t LeftSubtreeLength(uint64_t length) {
  if (length <= kChunkLen) return 0;
  const uint64_t chunks = (length + kChunkLen - 1) / kChunkLen;
  return (uint64_t{1} << (63 - __builtin_clzll(chunks - 1))) * kChunkLen;
}

Hasher::Output Hasher::SubtreeOutput(const uint8_t* data, size_t len, uint64_t chunk) const {
  if (len <= kChunkLen) {
    ChunkState state;
    state.Start(key_, chunk, flags_);
    state.Update(data, len);
    return state.Finish();
  }
  const size_t chunks = len / kChunkLen;
  if (len % kChunkLen == 0 && chunks <= 64 && (chunks & (chunks - 1)) == 0) {
    // A complete subtree of up to 64 chunks: its chunks many at once (SIMD), then the parents
    // level by level, up to the top node's two children.
    uint32_t cvs[8 * 64];
    internal::HashChunks(data, chunks, key_, chunk, flags_, cvs);
    for (size_t count = chunks; count > 2; count /= 2) {
      for (size_t i = 0; i < count / 2; ++i)
        Parent(&cvs[16 * i], &cvs[16 * i + 8]).ChainingValue(&cvs[8 * i]);
    }
    return Parent(&cvs[0], &cvs[8]);
  }
  const size_t left = LeftSubtreeLength(len);
  uint32_t left_cv[8], right_cv[8];
  SubtreeOutput(data, left, chunk).ChainingValue(left_cv);
  SubtreeOutput(data + left, len - left, chunk + left / kChunkLen).ChainingValue(right_cv);
  return Parent(left_cv, right_cv);
}

Hasher::NodeValue Hasher::ValueOf(const Output& output, bool root) {
  NodeValue value;
  if (root) {
    output.RootBytes(value, 0);
  } else {
    uint32_t cv[8];
    output.ChainingValue(cv);
    internal::StoreWords(cv, value.data(), 8);
  }
  return value;
}

Hasher::NodeValue Hasher::SubtreeValue(std::span<const uint8_t> data, uint64_t chunk_index,
                                       bool root) const {
  return ValueOf(SubtreeOutput(data.data(), data.size(), chunk_index), root);
}

Hasher::NodeValue Hasher::ParentValue(const NodeValue& left, const NodeValue& right,
                                      bool root) const {
  uint32_t left_cv[8], right_cv[8];
  internal::LoadWords(left.data(), left_cv, 8);
  internal::LoadWords(right.data(), right_cv, 8);
  return ValueOf(Parent(left_cv, right_cv), root);
}

Digest Hasher::Finalize() const {
  Digest digest;
  Finalize(digest);
  return digest;
}

Digest Hash(std::string_view data) { return Hasher().Update(data).Finalize(); }

std::string ToHex(std::span<const uint8_t> bytes) { return HexEncode(bytes); }

}  // namespace depot::blake3
