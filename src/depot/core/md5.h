// depot::Md5: incremental MD5, for S3-compatible ETags and Content-MD5 (not for security).
//
// Update() any number of times, then Finish() once. Not thread-safe; cheap to create.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace depot {

class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(Md5&&) noexcept;
  Md5& operator=(Md5&&) noexcept;

  void Update(std::string_view data);
  std::array<uint8_t, 16> Finish();

  // Lower-case hex of the MD5 of `data`.
  static std::string HexOf(std::string_view data);

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// Lower-case hex encoding.
std::string HexEncode(const uint8_t* data, size_t size);
template <size_t N>
std::string HexEncode(const std::array<uint8_t, N>& bytes) {
  return HexEncode(bytes.data(), N);
}

}  // namespace depot
