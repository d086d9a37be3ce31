#include "depot/kv/write_batch.h"

namespace depot::kv {

void WriteBatch::Put(std::string_view space, std::string_view key, std::string_view value) {
  ops_.push_back({Kind::kPut, std::string(space), std::string(key), std::string(value)});
  bytes_ += key.size() + value.size();
}

void WriteBatch::Delete(std::string_view space, std::string_view key) {
  ops_.push_back({Kind::kDelete, std::string(space), std::string(key), {}});
  bytes_ += key.size();
}

void WriteBatch::DeleteRange(std::string_view space, std::string_view begin, std::string_view end) {
  ops_.push_back({Kind::kDeleteRange, std::string(space), std::string(begin), std::string(end)});
  bytes_ += begin.size() + end.size();
}

void WriteBatch::Append(const WriteBatch& other) {
  ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
  bytes_ += other.bytes_;
}

void WriteBatch::Clear() {
  ops_.clear();
  bytes_ = 0;
}

}  // namespace depot::kv
