#include "depot/cas/outboard.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "depot/core/testing/status_matchers.h"

namespace depot::cas {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;

std::span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Blob(size_t n, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string blob(n, '\0');
  for (char& c : blob) c = static_cast<char>(random());
  return blob;
}

TEST(OutboardTest, TheRootIsTheHashAndTheSizeIsAsStated) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{kGroupLen - 1}, size_t{kGroupLen},
                   size_t{kGroupLen + 1}, size_t{5 * kGroupLen + 3}, size_t{1 << 20}}) {
    const std::string blob = Blob(n, n);
    const Outboard outboard = MakeOutboard(Span(blob));
    EXPECT_EQ(outboard.root, blake3::Hash(blob)) << n;
    EXPECT_EQ(outboard.bytes.size(), OutboardSize(n)) << n;
  }
  EXPECT_EQ(OutboardSize(0), 8u);  // the length alone
  EXPECT_EQ(OutboardSize(kGroupLen), 8u);
  EXPECT_EQ(OutboardSize(kGroupLen + 1), 8u + 64);
  EXPECT_EQ(OutboardSize(uint64_t{1} << 30), 8u + 64 * ((uint64_t{1} << 30) / kGroupLen - 1));
}

TEST(OutboardTest, TheParentsAreInPostOrderThenTheLength) {
  // Three leaves: the parent of leaves 0 and 1 comes first, then the root's (its children: that
  // parent and leaf 2), then the length.
  const std::string blob = Blob(2 * kGroupLen + 500, 3);
  const Outboard outboard = MakeOutboard(Span(blob));
  const blake3::Hasher h;
  const auto leaf = [&](uint64_t i) {
    return h.SubtreeValue(
        Span(blob).subspan(i * kGroupLen, std::min(kGroupLen, blob.size() - i * kGroupLen)), i * 16,
        false);
  };
  const auto join = [](const auto& l, const auto& r) {
    return std::string(l.begin(), l.end()) + std::string(r.begin(), r.end());
  };
  const auto p01 = h.ParentValue(leaf(0), leaf(1), false);
  std::string length(8, '\0');
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>(blob.size() >> (8 * i));
  EXPECT_TRUE(outboard.bytes == join(leaf(0), leaf(1)) + join(p01, leaf(2)) + length);
  EXPECT_EQ(h.ParentValue(p01, leaf(2), true), outboard.root);
}

TEST(OutboardTest, TheBuilderGivesTheSameOutboardForAnyPieces) {
  std::mt19937_64 random(5);
  for (size_t n : {size_t{0}, size_t{kGroupLen}, size_t{kGroupLen + 1}, size_t{7 * kGroupLen},
                   size_t{1 << 20}, size_t{(1 << 20) + 12345}}) {
    const std::string blob = Blob(n, n + 7);
    const Outboard whole = MakeOutboard(Span(blob));
    OutboardBuilder builder;
    std::string streamed;
    for (size_t at = 0; at < n;) {
      const size_t piece = std::min<size_t>(n - at, random() % (3 * kGroupLen) + 1);
      builder.Update(std::string_view(blob).substr(at, piece));
      streamed += builder.TakeBytes();
      at += piece;
    }
    EXPECT_EQ(builder.Finish(), whole.root) << n;
    streamed += builder.TakeBytes();
    EXPECT_TRUE(streamed == whole.bytes) << n;
    EXPECT_EQ(builder.length(), n);
  }
}

// A blob and outboard in memory, with the reads counted and a byte of either changeable.
struct MemoryTree final : TreeReader {
  std::string blob, outboard;
  int blob_reads = 0;
  Status ReadParent(uint64_t index, uint8_t out[kParentLen]) override {
    std::memcpy(out, outboard.data() + index * kParentLen, kParentLen);
    return Status::Ok();
  }
  Status ReadBlob(uint64_t begin, uint64_t end, std::string& out) override {
    ++blob_reads;
    out.append(blob, begin, end - begin);
    return Status::Ok();
  }
};

TEST(OutboardTest, VerifiedReadsStreamRandomRangesThroughTheWindow) {
  std::mt19937_64 random(6);
  for (size_t n : {size_t{1}, size_t{kGroupLen}, size_t{5 * kGroupLen + 1}, size_t{1 << 20}}) {
    MemoryTree tree;
    tree.blob = Blob(n, n + 9);
    const Outboard outboard = MakeOutboard(Span(tree.blob));
    tree.outboard = outboard.bytes;
    for (int trial = 0; trial < 20; ++trial) {
      uint64_t begin = random() % (n + 1), end = random() % (n + 1);
      if (begin > end) std::swap(begin, end);
      const uint64_t window = (random() % 8 + 1) * kGroupLen;
      SCOPED_TRACE(fmt::format("{}-byte blob, [{}, {}), window {}", n, begin, end, window));
      std::string got;
      size_t largest = 0;
      tree.blob_reads = 0;
      ASSERT_THAT(ReadVerified(
                      tree, n, outboard.root, begin, end,
                      [&](std::string_view piece) {
                        got += piece;
                        largest = std::max(largest, piece.size());
                        return Status::Ok();
                      },
                      window),
                  IsOk());
      EXPECT_TRUE(got == tree.blob.substr(begin, end - begin));
      EXPECT_LE(largest, window);
      EXPECT_LE(tree.blob_reads, (end - begin) / window + 2 + 2 * 20);
    }
  }
}

TEST(OutboardTest, AVerifiedReadRefusesAnyChangedByteBeforeItsWindowGoesOut) {
  const size_t n = 8 * kGroupLen + 300;
  MemoryTree genuine;
  genuine.blob = Blob(n, 11);
  const Outboard outboard = MakeOutboard(Span(genuine.blob));
  genuine.outboard = outboard.bytes;
  std::mt19937_64 random(12);
  for (int trial = 0; trial < 200; ++trial) {
    MemoryTree tree = genuine;
    const bool in_blob = trial % 2 == 0;
    std::string& target = in_blob ? tree.blob : tree.outboard;
    const size_t at = random() % (target.size() - (in_blob ? 0 : 8));  // not the length
    target[at] = static_cast<char>(target[at] ^ (1 << (trial % 8)));
    std::string got;
    const Status status = ReadVerified(
        tree, n, outboard.root, 0, n,
        [&](std::string_view piece) {
          got += piece;
          return Status::Ok();
        },
        2 * kGroupLen);
    ASSERT_THAT(status, StatusIs(StatusCode::kDataLoss))
        << (in_blob ? "blob" : "outboard") << " byte " << at;
    // What went out before the error is a prefix of the blob, ending before the changed byte.
    EXPECT_TRUE(got == genuine.blob.substr(0, got.size()));
    if (in_blob) {
      EXPECT_LE(got.size(), at);
    }
  }
}

TEST(OutboardTest, RandomRangesOfRandomBlobsVerify) {
  std::mt19937_64 random(1);
  for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{kGroupLen}, size_t{kGroupLen + 1},
                   size_t{3 * kGroupLen + 77}, size_t{700000}}) {
    const std::string blob = Blob(n, n + 1);
    const Outboard outboard = MakeOutboard(Span(blob));
    for (int trial = 0; trial < 20; ++trial) {
      uint64_t begin = n == 0 ? 0 : random() % (n + 1);
      uint64_t end = n == 0 ? 0 : random() % (n + 1);
      if (begin > end) std::swap(begin, end);
      SCOPED_TRACE(fmt::format("{}-byte blob, [{}, {})", n, begin, end));
      auto slice = ExtractSlice(Span(blob), Span(outboard.bytes), begin, end);
      ASSERT_THAT(slice.status(), IsOk());
      auto bytes = VerifySlice(Span(*slice), outboard.root, begin, end);
      ASSERT_THAT(bytes.status(), IsOk());
      EXPECT_TRUE(*bytes == blob.substr(begin, end - begin));
      // The slice holds the range's leaves, the last leaf, and the parents above them: far less
      // than the blob for a small range of a large one.
      if (n == 700000 && end - begin < 100) {
        EXPECT_LT(slice->size(), 3 * kGroupLen + 2000);
      }
    }
  }
}

TEST(OutboardTest, EveryCorruptedOrMissingByteIsDetected) {
  const std::string blob = Blob(2 * kGroupLen + 500, 9);  // three leaves, two parents
  const Outboard outboard = MakeOutboard(Span(blob));
  const uint64_t begin = kGroupLen - 10, end = kGroupLen + 10;
  const std::string slice = *ExtractSlice(Span(blob), Span(outboard.bytes), begin, end);
  for (size_t i = 0; i < slice.size(); ++i) {
    std::string bad = slice;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    const Status status = VerifySlice(Span(bad), outboard.root, begin, end).status();
    ASSERT_FALSE(status.ok()) << "byte " << i << " changed and the slice still verified";
    // The range fields are the caller's to compare; the rest is the hash's.
    if (i < 8 || i >= 24) {
      ASSERT_EQ(status.code(), StatusCode::kDataLoss) << i << ": " << status.ToString();
    }
  }
  for (size_t n = 0; n < slice.size(); ++n) {
    ASSERT_FALSE(VerifySlice(Span(slice.substr(0, n)), outboard.root, begin, end).ok())
        << "truncated to " << n;
  }
  EXPECT_THAT(VerifySlice(Span(slice + "x"), outboard.root, begin, end).status(),
              StatusIs(StatusCode::kDataLoss));
  blake3::Digest other = outboard.root;
  other[0] ^= 1;
  EXPECT_THAT(VerifySlice(Span(slice), other, begin, end).status(),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(VerifySlice(Span(slice), outboard.root, begin, end + 1).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(OutboardTest, AClaimedLengthIsProvenByTheLastLeaf) {
  const std::string blob = Blob(5 * kGroupLen + 100, 4);
  const Outboard outboard = MakeOutboard(Span(blob));
  // A range at the start: a forged, longer length splits the tree the same way near the start,
  // so only the last leaf (always in the slice) can refute it.
  std::string slice = *ExtractSlice(Span(blob), Span(outboard.bytes), 0, 100);
  const uint64_t forged = blob.size() + kGroupLen;
  for (int i = 0; i < 8; ++i) slice[i] = static_cast<char>(forged >> (8 * i));
  EXPECT_THAT(VerifySlice(Span(slice), outboard.root, 0, 100).status(),
              StatusIs(StatusCode::kDataLoss));
}

TEST(OutboardTest, BadArgumentsAreRefused) {
  const std::string blob = Blob(100, 2);
  const Outboard outboard = MakeOutboard(Span(blob));
  EXPECT_THAT(ExtractSlice(Span(blob), Span(outboard.bytes), 50, 101).status(),
              StatusIs(StatusCode::kOutOfRange));
  EXPECT_THAT(ExtractSlice(Span(blob), Span(outboard.bytes), 60, 50).status(),
              StatusIs(StatusCode::kOutOfRange));
  EXPECT_THAT(ExtractSlice(Span(blob + "x"), Span(outboard.bytes), 0, 1).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace depot::cas
