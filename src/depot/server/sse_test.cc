// Chunked AES-256-GCM (sse.h): round trips at chunk edges, ranges decrypted alone, and every
// change to the stored bytes caught.
#include "depot/server/sse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "depot/core/testing/status_matchers.h"

namespace depot::server {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

SealKey KeyOf(char c) {
  SealKey key;
  key.fill(static_cast<uint8_t>(c));
  return key;
}

std::string Plain(size_t size) {
  std::mt19937 random(static_cast<unsigned>(size));
  std::string text(size, '\0');
  for (char& c : text) c = static_cast<char>('a' + random() % 26);
  return text;
}

// `plain` sealed with `key`, fed in pieces of `piece` bytes.
std::string Seal(const SealKey& key, const std::string& plain, size_t piece = 1000) {
  std::string stored;
  Sealer sealer(key, [&](std::string_view bytes) {
    stored.append(bytes);
    return Status::Ok();
  });
  for (size_t at = 0; at < plain.size(); at += piece) {
    EXPECT_THAT(sealer.Write(std::string_view(plain).substr(at, piece)), IsOk());
  }
  EXPECT_THAT(sealer.Finish(), IsOk());
  EXPECT_EQ(sealer.size(), plain.size());
  return stored;
}

// Plaintext [begin, end) of an object of `size` bytes whose stored bytes are `stored`.
Result<std::string> Open(const SealKey& key, const std::string& stored, uint64_t size,
                         uint64_t begin, uint64_t end) {
  const SealedRange range = SealedRangeOf(begin, end, size);
  std::string plain;
  Unsealer unsealer(key, range.first_chunk, size, [&](std::string_view bytes) {
    plain.append(bytes);
    return Status::Ok();
  });
  DEPOT_RETURN_IF_ERROR(
      unsealer.Write(std::string_view(stored).substr(range.begin, range.end - range.begin)));
  DEPOT_RETURN_IF_ERROR(unsealer.Finish());
  return plain.substr(begin - range.first_chunk * kSealChunk, end - begin);
}

TEST(SseTest, RoundTripsAtChunkEdgesAndRangesDecryptAlone) {
  const SealKey key = KeyOf('k');
  for (size_t size :
       {size_t{0}, size_t{1}, kSealChunk - 1, kSealChunk, kSealChunk + 1, 3 * kSealChunk + 5}) {
    SCOPED_TRACE(size);
    const std::string plain = Plain(size);
    const std::string stored = Seal(key, plain, 7777);
    EXPECT_EQ(stored.size(), SealedSize(size));
    EXPECT_THAT(PlainSize(stored.size()), depot::testing::IsOkAndHolds(size));
    if (size >= 32) {
      EXPECT_EQ(stored.find(plain.substr(0, 32)), std::string::npos);
    }
    if (size == 0) {
      EXPECT_EQ(stored.size(), kSealTag);  // one empty chunk: a stored 0 bytes is no object
      EXPECT_THAT(PlainSize(0), StatusIs(StatusCode::kDataLoss));
      continue;
    }
    EXPECT_THAT(Open(key, stored, size, 0, size), depot::testing::IsOkAndHolds(plain));
    for (auto [begin, end] : {std::pair<uint64_t, uint64_t>{0, 1},
                              {size - 1, size},
                              {size / 2, size},
                              {size / 3, 2 * size / 3 + 1}}) {
      if (begin >= end) continue;
      EXPECT_THAT(Open(key, stored, size, begin, end),
                  depot::testing::IsOkAndHolds(plain.substr(begin, end - begin)))
          << begin << "-" << end;
    }
  }
  // Stored sizes no object has: less than a tag, a chunk cut short of its tag.
  EXPECT_THAT(PlainSize(kSealTag - 1), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(PlainSize(kSealChunk + kSealTag + 3), StatusIs(StatusCode::kDataLoss));
  // A range inside the third chunk reads only that chunk.
  const SealedRange range = SealedRangeOf(2 * kSealChunk + 10, 2 * kSealChunk + 20, 5 * kSealChunk);
  EXPECT_EQ(range.first_chunk, 2u);
  EXPECT_EQ(range.end - range.begin, kSealChunk + kSealTag);
}

TEST(SseTest, ChangedReorderedOrCutBytesAndOtherKeysAreCaught) {
  const SealKey key = KeyOf('k');
  const uint64_t size = 3 * kSealChunk;
  const std::string plain = Plain(size);
  const std::string stored = Seal(key, plain);
  std::string flipped = stored;
  flipped[kSealChunk + kSealTag + 5] ^= 1;
  EXPECT_THAT(Open(key, flipped, size, 0, size),
              StatusIs(StatusCode::kDataLoss, HasSubstr("chunk 1")));
  EXPECT_THAT(Open(KeyOf('x'), stored, size, 0, size), StatusIs(StatusCode::kDataLoss));
  // The first two chunks swapped.
  const size_t whole = kSealChunk + kSealTag;
  const std::string swapped =
      stored.substr(whole, whole) + stored.substr(0, whole) + stored.substr(2 * whole);
  EXPECT_THAT(Open(key, swapped, size, 0, size), StatusIs(StatusCode::kDataLoss));
  // Cut after two chunks, and read as a two-chunk object: the second was not the last.
  EXPECT_THAT(Open(key, stored.substr(0, 2 * whole), 2 * kSealChunk, 0, 2 * kSealChunk),
              StatusIs(StatusCode::kDataLoss));
  // Cut inside a chunk.
  std::string read;
  Unsealer cut(key, 0, size, [&](std::string_view bytes) {
    read.append(bytes);
    return Status::Ok();
  });
  EXPECT_THAT(cut.Write(std::string_view(stored).substr(0, whole + 10)), IsOk());
  EXPECT_THAT(cut.Finish(), StatusIs(StatusCode::kDataLoss, HasSubstr("inside chunk 1")));
  EXPECT_EQ(read, plain.substr(0, kSealChunk));
}

TEST(SseTest, KeysAreDerivedPerObjectAndSealingsRoundTrip) {
  const SealKey customer = KeyOf('c');
  const Sealing a = NewSealing(customer, true).value();
  const Sealing b = NewSealing(customer, true).value();
  EXPECT_NE(a.salt, b.salt);
  EXPECT_NE(ObjectKey(customer, a.salt), ObjectKey(customer, b.salt));
  EXPECT_EQ(a.check, CheckValue(customer, a.salt));
  EXPECT_NE(a.check, CheckValue(KeyOf('d'), a.salt));
  auto decoded = Sealing::Decode(a.Encode());
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(decoded->salt, a.salt);
  EXPECT_EQ(decoded->check, a.check);
  EXPECT_EQ(decoded->kind, Sealing::Kind::kCustomer);
  const Sealing service = NewSealing(ServiceKey("master"), false).value();
  EXPECT_TRUE(service.check.empty());
  EXPECT_THAT(Sealing::Decode(service.Encode()), IsOk());
  for (const char* bad : {"", "c", "x 00 -", "s 0011 -", "c 00112233445566778899aabbccddeeff -",
                          "s 00112233445566778899aabbccddeeff 00"}) {
    EXPECT_THAT(Sealing::Decode(bad), StatusIs(StatusCode::kDataLoss)) << bad;
  }
  EXPECT_NE(ServiceKey("master"), ServiceKey("other"));
}

}  // namespace
}  // namespace depot::server
