#include "depot/kv/keys.h"

namespace depot::kv {
namespace {

template <class T>
std::string EncodeBigEndian(T value) {
  std::string out(sizeof(T), '\0');
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[sizeof(T) - 1 - i] = static_cast<char>(value & 0xFF);
    value >>= 8;
  }
  return out;
}

template <class T>
std::optional<T> DecodeBigEndian(std::string_view bytes) {
  if (bytes.size() < sizeof(T)) return std::nullopt;
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value = static_cast<T>((value << 8) | static_cast<unsigned char>(bytes[i]));
  }
  return value;
}

constexpr uint64_t kSignBit = uint64_t{1} << 63;

}  // namespace

std::string EncodeU64(uint64_t value) { return EncodeBigEndian(value); }
std::string EncodeU32(uint32_t value) { return EncodeBigEndian(value); }
std::string EncodeI64(int64_t value) {
  return EncodeBigEndian(static_cast<uint64_t>(value) ^ kSignBit);
}

std::optional<uint64_t> DecodeU64(std::string_view bytes) {
  return DecodeBigEndian<uint64_t>(bytes);
}
std::optional<uint32_t> DecodeU32(std::string_view bytes) {
  return DecodeBigEndian<uint32_t>(bytes);
}
std::optional<int64_t> DecodeI64(std::string_view bytes) {
  std::optional<uint64_t> raw = DecodeBigEndian<uint64_t>(bytes);
  if (!raw) return std::nullopt;
  return static_cast<int64_t>(*raw ^ kSignBit);
}

}  // namespace depot::kv
