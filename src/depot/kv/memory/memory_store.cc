#include "depot/kv/memory/memory_store.h"

#include <fmt/format.h>

namespace depot::kv {
namespace {

class MemorySnapshot final : public Snapshot {
 public:
  explicit MemorySnapshot(std::shared_ptr<const MemoryStore::Version> version)
      : version(std::move(version)) {}
  const std::shared_ptr<const MemoryStore::Version> version;
};

// Iterates [begin, end) of one space of one version, which it holds.
class MemoryIterator final : public Iterator {
 public:
  MemoryIterator(std::shared_ptr<const MemoryStore::Space> space, const ScanOptions& options)
      : space_(std::move(space)), reverse_(options.reverse) {
    first_ = space_->lower_bound(options.begin);
    last_ = options.end.empty() ? space_->end() : space_->lower_bound(options.end);
    at_ = reverse_ ? last_ : first_;
    if (reverse_) {
      Step();
    } else {
      valid_ = at_ != last_;
    }
  }

  bool Valid() const override { return valid_; }
  void Next() override {
    if (!reverse_) {
      ++at_;
      valid_ = at_ != last_;
    } else {
      Step();
    }
  }
  std::string_view key() const override { return at_->first; }
  std::string_view value() const override { return at_->second; }
  Status status() const override { return Status::Ok(); }

 private:
  // Reverse: moves back one pair, or ends at the front of the range.
  void Step() {
    if (at_ == first_) {
      valid_ = false;
      return;
    }
    --at_;
    valid_ = true;
  }

  const std::shared_ptr<const MemoryStore::Space> space_;
  const bool reverse_;
  MemoryStore::Space::const_iterator first_, last_, at_;
  bool valid_ = false;
};

}  // namespace

Result<std::shared_ptr<MemoryStore>> MemoryStore::Open(const std::vector<std::string>& spaces) {
  auto version = std::make_shared<Version>();
  for (const std::string& space : spaces) {
    DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
    version->emplace(space, std::make_shared<const Space>());
  }
  std::shared_ptr<MemoryStore> store(new MemoryStore());
  MutexLock lock(store->mu_);
  store->current_ = std::move(version);
  return store;
}

Capabilities MemoryStore::capabilities() const {
  return {.max_key_bytes = 64 << 10, .snapshots = true, .persistent = false};
}

std::vector<std::string> MemoryStore::Spaces() const {
  MutexLock lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, space] : *current_) names.push_back(name);
  return names;
}

std::shared_ptr<const MemoryStore::Version> MemoryStore::ReadVersion(
    const std::shared_ptr<const Snapshot>& snapshot) const {
  if (const auto* taken = dynamic_cast<const MemorySnapshot*>(snapshot.get())) {
    return taken->version;
  }
  MutexLock lock(mu_);
  return current_;
}

Result<std::shared_ptr<const MemoryStore::Space>> MemoryStore::Find(const Version& version,
                                                                    std::string_view space) const {
  auto it = version.find(space);
  if (it == version.end()) {
    std::vector<std::string> names;
    for (const auto& [name, unused] : version) names.push_back(name);
    return UnknownSpaceError(space, names);
  }
  return it->second;
}

Status MemoryStore::DoCreateSpace(std::string_view space) {
  MutexLock lock(mu_);
  if (current_->contains(space)) return Status::Ok();
  auto next = std::make_shared<Version>(*current_);
  next->emplace(std::string(space), std::make_shared<const Space>());
  current_ = std::move(next);
  return Status::Ok();
}

Result<std::optional<std::string>> MemoryStore::DoGet(std::string_view space, std::string_view key,
                                                      const ReadOptions& options) {
  std::shared_ptr<const Version> version = ReadVersion(options.snapshot);
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<const Space> pairs, Find(*version, space));
  auto it = pairs->find(key);
  if (it == pairs->end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemoryStore::DoCommit(const WriteBatch& batch, Durability /*durability*/) {
  MutexLock lock(mu_);
  // Every space first, so that a batch naming an unknown one changes nothing.
  for (const WriteBatch::Op& op : batch.ops())
    DEPOT_RETURN_IF_ERROR(Find(*current_, op.space).status());
  auto next = std::make_shared<Version>(*current_);
  std::map<std::string, std::shared_ptr<Space>, std::less<>> written;
  for (const WriteBatch::Op& op : batch.ops()) {
    auto copy = written.find(op.space);
    if (copy == written.end()) {
      copy = written.emplace(op.space, std::make_shared<Space>(*next->at(op.space))).first;
    }
    Space& pairs = *copy->second;
    switch (op.kind) {
      case WriteBatch::Kind::kPut:
        pairs.insert_or_assign(op.key, op.value);
        break;
      case WriteBatch::Kind::kDelete:
        pairs.erase(op.key);
        break;
      case WriteBatch::Kind::kDeleteRange:
        if (op.key < op.value) pairs.erase(pairs.lower_bound(op.key), pairs.lower_bound(op.value));
        break;
    }
  }
  for (auto& [name, pairs] : written) (*next)[name] = std::move(pairs);
  current_ = std::move(next);
  return Status::Ok();
}

Result<std::unique_ptr<Iterator>> MemoryStore::DoScan(std::string_view space,
                                                      const ScanOptions& options) {
  std::shared_ptr<const Version> version = ReadVersion(options.snapshot);
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<const Space> pairs, Find(*version, space));
  return std::unique_ptr<Iterator>(std::make_unique<MemoryIterator>(std::move(pairs), options));
}

Result<std::shared_ptr<const Snapshot>> MemoryStore::DoGetSnapshot() {
  MutexLock lock(mu_);
  return std::shared_ptr<const Snapshot>(std::make_shared<MemorySnapshot>(current_));
}

Result<uint64_t> MemoryStore::DoApproximateSize(std::string_view space, std::string_view begin,
                                                std::string_view end) {
  std::shared_ptr<const Version> version = ReadVersion(nullptr);
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<const Space> pairs, Find(*version, space));
  uint64_t bytes = 0;
  auto last = end.empty() ? pairs->end() : pairs->lower_bound(end);
  for (auto it = pairs->lower_bound(begin); it != pairs->end() && it != last; ++it) {
    bytes += it->first.size() + it->second.size();
  }
  return bytes;
}

Result<std::vector<SpaceStats>> MemoryStore::DoStats() {
  std::shared_ptr<const Version> version = ReadVersion(nullptr);
  std::vector<SpaceStats> stats;
  for (const auto& [name, pairs] : *version) {
    SpaceStats one{.space = name, .approximate_keys = pairs->size()};
    for (const auto& [key, value] : *pairs) one.approximate_bytes += key.size() + value.size();
    stats.push_back(std::move(one));
  }
  return stats;
}

}  // namespace depot::kv
