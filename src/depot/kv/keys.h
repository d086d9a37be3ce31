// Building keys: composite keys from parts (vprogs' concat_bytes!) and integers encoded so that
// the bytewise order of the encodings is the numeric order (big-endian; signed values with the
// sign bit flipped), which is what range and prefix scans need. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace depot::kv {

// The parts one after another, in one allocation of the exact size.
template <class... Parts>
std::string ConcatBytes(const Parts&... parts) {
  std::string out;
  out.reserve((std::string_view(parts).size() + ... + 0));
  (out.append(std::string_view(parts)), ...);
  return out;
}

// 8 (or 4) bytes, most significant first.
std::string EncodeU64(uint64_t value);
std::string EncodeU32(uint32_t value);
// Signed: the sign bit flipped, so that -1 < 0 < 1 bytewise too.
std::string EncodeI64(int64_t value);

// The value encoded at the start of `bytes`, or nullopt when it holds fewer bytes than that.
std::optional<uint64_t> DecodeU64(std::string_view bytes);
std::optional<uint32_t> DecodeU32(std::string_view bytes);
std::optional<int64_t> DecodeI64(std::string_view bytes);

}  // namespace depot::kv
