// Binary fields for the node's wire formats and ledger records (internal to node/): little-endian
// integers, byte strings behind a u32 length, and fixed-size fields. A Reader never reads past its
// input: a short or overlong field makes ok() false, and every later read returns zeros.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace depot::node {

class Writer {
 public:
  Writer& U8(uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  Writer& U32(uint32_t v) { return Int(v, 4); }
  Writer& U64(uint64_t v) { return Int(v, 8); }
  Writer& I64(int64_t v) { return Int(static_cast<uint64_t>(v), 8); }
  Writer& F64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    return U64(bits);
  }
  Writer& Fixed(std::string_view bytes) {
    out_.append(bytes);
    return *this;
  }
  template <size_t N>
  Writer& Fixed(const std::array<uint8_t, N>& bytes) {
    return Fixed({reinterpret_cast<const char*>(bytes.data()), N});
  }
  Writer& Bytes(std::string_view bytes) {
    U32(static_cast<uint32_t>(bytes.size()));
    return Fixed(bytes);
  }
  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  Writer& Int(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  uint8_t U8() { return static_cast<uint8_t>(Int(1)); }
  uint32_t U32() { return static_cast<uint32_t>(Int(4)); }
  uint64_t U64() { return Int(8); }
  int64_t I64() { return static_cast<int64_t>(Int(8)); }
  double F64() {
    const uint64_t bits = U64();
    double v;
    std::memcpy(&v, &bits, 8);
    return v;
  }
  std::string_view Fixed(size_t n) {
    if (!ok_ || in_.size() - at_ < n) {
      ok_ = false;
      return {};
    }
    const std::string_view bytes = in_.substr(at_, n);
    at_ += n;
    return bytes;
  }
  template <size_t N>
  void Fixed(std::array<uint8_t, N>& out) {
    const std::string_view bytes = Fixed(N);
    if (ok_) std::memcpy(out.data(), bytes.data(), N);
  }
  // A length-prefixed string of at most `limit` bytes.
  std::string_view Bytes(size_t limit) {
    const uint32_t n = U32();
    if (n > limit) ok_ = false;
    return Fixed(n);
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && at_ == in_.size(); }
  size_t position() const { return at_; }

 private:
  uint64_t Int(size_t n) {
    const std::string_view bytes = Fixed(n);
    uint64_t v = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
      v |= uint64_t{static_cast<uint8_t>(bytes[i])} << (8 * i);
    }
    return v;
  }
  std::string_view in_;
  size_t at_ = 0;
  bool ok_ = true;
};

}  // namespace depot::node
