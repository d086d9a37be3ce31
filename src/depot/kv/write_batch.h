// depot::kv::WriteBatch: puts, deletes and range deletes across state spaces, applied by
// Store::Commit all at once or not at all.
//
// Operations apply in the order they were added (a put after a delete of the same key wins).
// The batch owns copies of its keys and values; building one does no I/O and checks nothing:
// Commit checks the whole batch before it applies any of it. Not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace depot::kv {

class WriteBatch {
 public:
  enum class Kind { kPut, kDelete, kDeleteRange };
  struct Op {
    Kind kind;
    std::string space;
    std::string key;    // kDeleteRange: the first key of [key, end)
    std::string value;  // kPut: the value; kDeleteRange: the end of the range (exclusive)
  };

  void Put(std::string_view space, std::string_view key, std::string_view value);
  void Delete(std::string_view space, std::string_view key);
  // Deletes every key in [begin, end); nothing when begin >= end.
  void DeleteRange(std::string_view space, std::string_view begin, std::string_view end);
  // Appends another batch's operations after this one's.
  void Append(const WriteBatch& other);
  void Clear();

  const std::vector<Op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  // Bytes of keys and values held.
  size_t bytes() const { return bytes_; }

 private:
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

}  // namespace depot::kv
