// depot::Bytes: an immutable, shared, sliceable byte buffer.
//
// Copying a Bytes or taking a Slice() shares the underlying storage (a reference count, no byte
// copy); the storage is freed when the last Bytes referring to it goes away. The bytes never
// change after construction, so a Bytes may be read from any number of threads at once.
//
// Slice(offset, length) clamps nothing: a slice outside the buffer is a programming error and
// aborts. Equality compares contents.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace depot {

class Bytes {
 public:
  Bytes() = default;

  // Copies `size` bytes from `data`.
  static Bytes Copy(const void* data, size_t size);
  static Bytes Copy(std::string_view data) { return Copy(data.data(), data.size()); }
  // Takes ownership of `s` without copying its bytes.
  static Bytes FromString(std::string s);
  // Takes ownership of `size` bytes at `data`.
  static Bytes Adopt(std::unique_ptr<char[]> data, size_t size);
  // Refers to `size` bytes at `data`, kept alive (and unchanged) by `owner`.
  static Bytes WithOwner(std::shared_ptr<const void> owner, const char* data, size_t size) {
    if (size == 0) return Bytes();
    return Bytes(std::move(owner), data, size);
  }

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_, size_}; }
  std::string ToString() const { return std::string(view()); }

  // A Bytes over [offset, offset + length) of this one, sharing storage.
  Bytes Slice(size_t offset, size_t length) const;
  // A Bytes over [offset, size()).
  Bytes Slice(size_t offset) const { return Slice(offset, size_ - offset); }

  friend bool operator==(const Bytes& a, const Bytes& b) { return a.view() == b.view(); }

 private:
  Bytes(std::shared_ptr<const void> owner, const char* data, size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  std::shared_ptr<const void> owner_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace depot
