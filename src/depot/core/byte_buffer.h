// depot::ByteBuffer: a fixed-capacity, writable buffer that becomes an immutable Bytes without a
// copy.
//
// Capacity is reserved once, at construction, and never grows, so filling a buffer never holds two
// copies of its bytes. Large buffers (>= 1 MiB) are anonymous memory mappings: pages become
// resident only as they are written and return to the system as soon as the last Bytes sharing
// them is gone, so a buffer reserved for a 128 MiB part that receives 8 MiB costs 8 MiB, and freed
// part buffers never linger in the allocator's heap. Small buffers come from the heap.
//
// Append past the capacity is a programming error and aborts. Not thread-safe while writable;
// the Bytes that Freeze() returns is.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "depot/core/bytes.h"

namespace depot {

class ByteBuffer {
 public:
  // kWhole: the caller will fill the whole capacity (a download of known length), so a mapped
  // buffer's pages (up to 256 MiB) are made resident at once (MAP_POPULATE) instead of one page
  // fault per 4 KiB.
  enum class Fill { kPartial, kWhole };

  ByteBuffer() = default;
  explicit ByteBuffer(size_t capacity, Fill fill = Fill::kPartial);

  char* data() { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  size_t remaining() const { return capacity_ - size_; }

  void Append(std::string_view bytes);
  // Marks `n` more bytes, written directly at data() + size(), as filled.
  void Commit(size_t n);

  // The bytes written so far, sharing this buffer's storage; leaves this buffer empty, with no
  // capacity.
  Bytes Freeze() &&;

 private:
  std::shared_ptr<char> storage_;
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace depot
