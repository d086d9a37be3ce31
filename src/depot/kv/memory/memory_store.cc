// MemoryStore: versions copied on write while someone looks at them.
//
// current_ is the latest version: a map from space name to that space's pairs. Scans and
// snapshots are views: each holds the version (or space) it started on and is counted in
// live_views_ for as long as it lives. A commit with no view alive changes current_ in place;
// with views alive it builds a new version, copying each space it writes, so no view ever sees a
// later write. Everything that touches current_ or live_views_ holds mu_.
#include "depot/kv/memory/memory_store.h"

#include <fmt/format.h>

#include <functional>
#include <set>

namespace depot::kv {
namespace {

// Ends a view when destroyed: the store counts it out.
class ViewRelease {
 public:
  explicit ViewRelease(std::function<void()> release) : release_(std::move(release)) {}
  ~ViewRelease() { release_(); }
  ViewRelease(const ViewRelease&) = delete;
  ViewRelease& operator=(const ViewRelease&) = delete;

 private:
  std::function<void()> release_;
};

class MemorySnapshot final : public Snapshot {
 public:
  MemorySnapshot(std::shared_ptr<const MemoryStore::Version> version, std::function<void()> release)
      : version(std::move(version)), release_(std::move(release)) {}
  const std::shared_ptr<const MemoryStore::Version> version;

 private:
  ViewRelease release_;
};

// Iterates [begin, end) of one space of one version, which it holds.
class MemoryIterator final : public Iterator {
 public:
  MemoryIterator(std::shared_ptr<const MemoryStore::Space> space, const ScanOptions& options,
                 std::function<void()> release)
      : space_(std::move(space)), reverse_(options.reverse), release_(std::move(release)) {
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
  ViewRelease release_;
  MemoryStore::Space::const_iterator first_, last_, at_;
  bool valid_ = false;
};

}  // namespace

Result<std::shared_ptr<MemoryStore>> MemoryStore::Open(const std::vector<std::string>& spaces) {
  auto version = std::make_shared<Version>();
  for (const std::string& space : spaces) {
    DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
    version->emplace(space, std::make_shared<Space>());
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

std::function<void()> MemoryStore::OpenView() {
  ++live_views_;
  return [this] {
    MutexLock lock(mu_);
    --live_views_;
  };
}

const MemoryStore::Version& MemoryStore::ReadVersion(
    const std::shared_ptr<const Snapshot>& snapshot) const {
  if (const auto* taken = dynamic_cast<const MemorySnapshot*>(snapshot.get())) {
    return *taken->version;
  }
  return *current_;
}

Result<std::shared_ptr<MemoryStore::Space>> MemoryStore::Find(const Version& version,
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
  if (live_views_ > 0) current_ = std::make_shared<Version>(*current_);
  current_->emplace(std::string(space), std::make_shared<Space>());
  return Status::Ok();
}

Result<std::optional<std::string>> MemoryStore::DoGet(std::string_view space, std::string_view key,
                                                      const ReadOptions& options) {
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Space> pairs, Find(ReadVersion(options.snapshot), space));
  auto it = pairs->find(key);
  if (it == pairs->end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemoryStore::DoCommit(const WriteBatch& batch, Durability /*durability*/) {
  MutexLock lock(mu_);
  // Every space first, so that a batch naming an unknown one changes nothing.
  for (const WriteBatch::Op& op : batch.ops()) {
    DEPOT_RETURN_IF_ERROR(Find(*current_, op.space).status());
  }
  // With views alive, a new version whose written spaces are copies; else in place.
  std::set<std::string, std::less<>> copied;
  if (live_views_ > 0) current_ = std::make_shared<Version>(*current_);
  for (const WriteBatch::Op& op : batch.ops()) {
    std::shared_ptr<Space>& pairs = current_->find(op.space)->second;
    if (live_views_ > 0 && copied.insert(op.space).second) {
      pairs = std::make_shared<Space>(*pairs);
    }
    switch (op.kind) {
      case WriteBatch::Kind::kPut:
        pairs->insert_or_assign(op.key, op.value);
        break;
      case WriteBatch::Kind::kDelete:
        pairs->erase(op.key);
        break;
      case WriteBatch::Kind::kDeleteRange:
        if (op.key < op.value) {
          pairs->erase(pairs->lower_bound(op.key), pairs->lower_bound(op.value));
        }
        break;
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Iterator>> MemoryStore::DoScan(std::string_view space,
                                                      const ScanOptions& options) {
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Space> pairs, Find(ReadVersion(options.snapshot), space));
  return std::unique_ptr<Iterator>(
      std::make_unique<MemoryIterator>(std::move(pairs), options, OpenView()));
}

Result<std::shared_ptr<const Snapshot>> MemoryStore::DoGetSnapshot() {
  MutexLock lock(mu_);
  return std::shared_ptr<const Snapshot>(std::make_shared<MemorySnapshot>(current_, OpenView()));
}

Result<uint64_t> MemoryStore::DoApproximateSize(std::string_view space, std::string_view begin,
                                                std::string_view end) {
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(std::shared_ptr<Space> pairs, Find(*current_, space));
  uint64_t bytes = 0;
  auto last = end.empty() ? pairs->end() : pairs->lower_bound(end);
  for (auto it = pairs->lower_bound(begin); it != pairs->end() && it != last; ++it) {
    bytes += it->first.size() + it->second.size();
  }
  return bytes;
}

Result<std::vector<SpaceStats>> MemoryStore::DoStats() {
  MutexLock lock(mu_);
  std::vector<SpaceStats> stats;
  for (const auto& [name, pairs] : *current_) {
    SpaceStats one{.space = name, .approximate_keys = pairs->size()};
    for (const auto& [key, value] : *pairs) one.approximate_bytes += key.size() + value.size();
    stats.push_back(std::move(one));
  }
  return stats;
}

}  // namespace depot::kv
