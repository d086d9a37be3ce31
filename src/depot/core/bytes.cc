#include "depot/core/bytes.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace depot {

Bytes Bytes::Copy(const void* data, size_t size) {
  if (size == 0) return Bytes();
  std::unique_ptr<char[]> buffer(new char[size]);
  std::memcpy(buffer.get(), data, size);
  return Adopt(std::move(buffer), size);
}

Bytes Bytes::FromString(std::string s) {
  if (s.empty()) return Bytes();
  auto owner = std::make_shared<const std::string>(std::move(s));
  const char* data = owner->data();
  size_t size = owner->size();
  return Bytes(std::move(owner), data, size);
}

Bytes Bytes::Adopt(std::unique_ptr<char[]> data, size_t size) {
  if (size == 0) return Bytes();
  const char* raw = data.get();
  std::shared_ptr<const char[]> owner(data.release());
  return Bytes(std::move(owner), raw, size);
}

Bytes Bytes::Slice(size_t offset, size_t length) const {
  if (offset > size_ || length > size_ - offset) {
    std::fprintf(stderr, "depot: Bytes::Slice(%zu, %zu) outside a buffer of %zu bytes\n", offset,
                 length, size_);
    std::abort();
  }
  if (length == 0) return Bytes();
  return Bytes(owner_, data_ + offset, length);
}

}  // namespace depot
