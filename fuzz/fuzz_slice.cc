// Fuzzes depot::cas::VerifySlice, the decoder of verified slices (cas/outboard.h), against one
// fixed blob of three leaves. Two kinds of input, by the first byte's low bit:
//   0: a range (two u16, taken modulo the blob's size + 1) and then mutations (u16 position, u8
//      xor) applied to the genuine slice of that range: the slice must verify exactly when no
//      mutation changed it, and then give the blob's bytes;
//   1: the rest is a slice as is, checked for the range its header names: it may verify only
//      with the blob's own bytes of that range.
// In both, a failure is kDataLoss, kInvalidArgument or kOutOfRange, never anything else.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "depot/cas/outboard.h"

namespace {

using depot::StatusCode;

const std::string& Blob() {
  static const std::string blob = [] {
    std::string b(2 * depot::cas::kGroupLen + 500, '\0');
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (char& c : b) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c = static_cast<char>(x);
    }
    return b;
  }();
  return blob;
}

std::span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

[[noreturn]] void Fail(const char* what, const depot::Status& status) {
  std::fprintf(stderr, "fuzz_slice: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}

void CheckFailure(const depot::Status& status) {
  if (status.code() != StatusCode::kDataLoss && status.code() != StatusCode::kInvalidArgument &&
      status.code() != StatusCode::kOutOfRange) {
    Fail("unexpected error code", status);
  }
}

uint64_t U64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const depot::cas::Outboard outboard = depot::cas::MakeOutboard(Span(Blob()));
  if (size < 1) return 0;
  const std::string& blob = Blob();
  if ((data[0] & 1) == 0) {
    if (size < 5) return 0;
    uint64_t begin = (data[1] | data[2] << 8) % (blob.size() + 1);
    uint64_t end = (data[3] | data[4] << 8) % (blob.size() + 1);
    if (begin > end) std::swap(begin, end);
    auto genuine = depot::cas::ExtractSlice(Span(blob), Span(outboard.bytes), begin, end);
    if (!genuine.ok()) Fail("ExtractSlice", genuine.status());
    std::string slice = *genuine;
    for (size_t i = 5; i + 3 <= size; i += 3) {
      slice[(data[i] | data[i + 1] << 8) % slice.size()] ^= static_cast<char>(data[i + 2]);
    }
    auto bytes = depot::cas::VerifySlice(Span(slice), outboard.root, begin, end);
    if (slice == *genuine) {
      if (!bytes.ok()) Fail("a genuine slice did not verify", bytes.status());
      if (*bytes != blob.substr(begin, end - begin)) Fail("wrong bytes", depot::Status::Ok());
    } else {
      if (bytes.ok()) Fail("a changed slice verified", depot::Status::Ok());
      CheckFailure(bytes.status());
    }
    return 0;
  }
  const std::string slice(reinterpret_cast<const char*>(data + 1), size - 1);
  const uint64_t begin = slice.size() >= 24 ? U64(Span(slice).data() + 8) : 0;
  const uint64_t end = slice.size() >= 24 ? U64(Span(slice).data() + 16) : 0;
  auto bytes = depot::cas::VerifySlice(Span(slice), outboard.root, begin, end);
  if (bytes.ok()) {
    if (end > blob.size() || *bytes != blob.substr(begin, end - begin)) {
      Fail("a slice verified with bytes that are not the blob's", depot::Status::Ok());
    }
  } else {
    CheckFailure(bytes.status());
  }
  return 0;
}
