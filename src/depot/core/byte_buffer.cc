#include "depot/core/byte_buffer.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace depot {
namespace {

constexpr size_t kMapThreshold = size_t{1} << 20;
constexpr size_t kMaxPopulate = size_t{256} << 20;

[[noreturn]] void Die(const char* what, size_t a, size_t b) {
  std::fprintf(stderr, "depot: ByteBuffer: %s (%zu, %zu)\n", what, a, b);
  std::abort();
}

}  // namespace

ByteBuffer::ByteBuffer(size_t capacity, Fill fill) : capacity_(capacity) {
  if (capacity == 0) return;
  if (capacity >= kMapThreshold) {
    // Pre-faulting is capped: a length that came off the network must not pin memory at once.
    const int populate = fill == Fill::kWhole && capacity <= kMaxPopulate ? MAP_POPULATE : 0;
    void* mapped = mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
    if (mapped == MAP_FAILED) Die("cannot map memory of the requested capacity", capacity, 0);
    storage_ = std::shared_ptr<char>(static_cast<char*>(mapped),
                                     [capacity](char* p) { munmap(p, capacity); });
  } else {
    storage_ = std::shared_ptr<char>(new char[capacity], std::default_delete<char[]>());
  }
  data_ = storage_.get();
}

void ByteBuffer::Append(std::string_view bytes) {
  if (bytes.size() > remaining()) Die("append past the capacity", bytes.size(), remaining());
  if (!bytes.empty()) std::memcpy(data_ + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

void ByteBuffer::Commit(size_t n) {
  if (n > remaining()) Die("commit past the capacity", n, remaining());
  size_ += n;
}

Bytes ByteBuffer::Freeze() && {
  Bytes frozen = Bytes::WithOwner(std::move(storage_), data_, size_);
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
  return frozen;
}

}  // namespace depot
