#include "depot/cas/outboard.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  EXPECT_EQ(OutboardSize(0), 8u);
  EXPECT_EQ(OutboardSize(kGroupLen), 8u);
  EXPECT_EQ(OutboardSize(kGroupLen + 1), 8u + 64);
  EXPECT_EQ(OutboardSize(uint64_t{1} << 30), 8u + 64 * ((uint64_t{1} << 30) / kGroupLen - 1));
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
