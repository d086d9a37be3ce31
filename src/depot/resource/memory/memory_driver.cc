#include "depot/resource/memory/memory_driver.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <shared_mutex>

namespace depot::resource {
namespace {

class MemoryDriver final : public Driver {
 public:
  explicit MemoryDriver(const MemoryOptions& options)
      : max_size_(options.max_size),
        name_(options.name.empty() ? "memory resource" : options.name) {
    Reserve(std::min(options.initial_capacity, max_size_));
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    const uint64_t end = offset + data.size();  // the Resource checked for overflow
    if (end > max_size_) {
      return ResourceExhaustedError(
          fmt::format("{}: write [{}, {}) passes the limit of {} bytes (MemoryOptions::max_size)",
                      name_, offset, end, max_size_));
    }
    if (end > capacity_) {
      std::unique_lock grow(mu_);  // readers copy out of the old buffer until here
      Reserve(std::min(std::max(end, capacity_ * 2), max_size_));
    }
    std::shared_lock lock(mu_);
    std::memcpy(buffer_.get() + offset, data.data(), data.size());
    if (end > size_.load(std::memory_order_relaxed)) size_.store(end, std::memory_order_release);
    return Status::Ok();
  }

  Status ReadAt(uint64_t offset, std::span<char> out) const override {
    std::shared_lock lock(mu_);
    const uint64_t size = size_.load(std::memory_order_acquire);
    if (offset > size || out.size() > size - offset) {
      return OutOfRangeError(fmt::format("{}: read of {} bytes at {} passes its {} bytes", name_,
                                         out.size(), offset, size));
    }
    std::memcpy(out.data(), buffer_.get() + offset, out.size());
    return Status::Ok();
  }

  Status Commit(uint64_t length) override {
    std::unique_lock lock(mu_);
    size_.store(std::min(size_.load(), length));
    return Status::Ok();
  }
  Status Reactivate() override { return Status::Ok(); }
  Status Persist(const RangeSet&, std::optional<uint64_t>) override { return Status::Ok(); }
  std::string name() const override { return name_; }

 private:
  // Requires the exclusive lock, or no reader yet (the constructor).
  void Reserve(uint64_t capacity) {
    auto grown = std::make_unique_for_overwrite<char[]>(capacity);
    if (const uint64_t size = size_.load(); size > 0) std::memcpy(grown.get(), buffer_.get(), size);
    buffer_ = std::move(grown);
    capacity_ = capacity;
  }

  const uint64_t max_size_;
  const std::string name_;
  mutable std::shared_mutex mu_;  // exclusive only while the buffer moves
  std::unique_ptr<char[]> buffer_;
  uint64_t capacity_ = 0;          // written only by the writer, under the exclusive lock
  std::atomic<uint64_t> size_{0};  // the end of the furthest write (the writer's, read by all)
};

}  // namespace

Resource OpenMemoryResource(const MemoryOptions& options) {
  return Resource::Open(std::make_unique<MemoryDriver>(options), DriverState{});
}

Resource MemoryResourceOf(std::string_view data, const MemoryOptions& options) {
  MemoryOptions sized = options;
  sized.initial_capacity = std::max<uint64_t>(data.size(), 1);
  sized.max_size = std::max<uint64_t>(sized.max_size, data.size());
  auto driver = std::make_unique<MemoryDriver>(sized);
  static_cast<void>(driver->WriteAt(0, data));  // fits: sized for it
  DriverState state;
  state.present.Insert(0, data.size());
  state.length = data.size();
  state.committed = true;
  return Resource::Open(std::move(driver), std::move(state));
}

}  // namespace depot::resource
