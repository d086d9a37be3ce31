// depot::kv::MemoryStore: the model backend, state spaces of std::map in memory.
//
// Every commit makes a new version of the spaces it touches (copy on write), so snapshots and
// scans hold a version for as long as they live and never see a later write. That makes a commit
// cost a copy of each space it writes: the model is for tests and small data, not for millions
// of keys. Nothing survives the object. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/kv/store.h"

namespace depot::kv {

class MemoryStore final : public Store {
 public:
  // A store with these state spaces (each name checked).
  static Result<std::shared_ptr<MemoryStore>> Open(const std::vector<std::string>& spaces);

  Capabilities capabilities() const override;
  std::string ToString() const override { return "mem://"; }
  std::vector<std::string> Spaces() const override;

  using Space = std::map<std::string, std::string, std::less<>>;
  using Version = std::map<std::string, std::shared_ptr<const Space>, std::less<>>;

 protected:
  Status DoCreateSpace(std::string_view space) override;
  Result<std::optional<std::string>> DoGet(std::string_view space, std::string_view key,
                                           const ReadOptions& options) override;
  Status DoCommit(const WriteBatch& batch, Durability durability) override;
  Result<std::unique_ptr<Iterator>> DoScan(std::string_view space,
                                           const ScanOptions& options) override;
  Result<std::shared_ptr<const Snapshot>> DoGetSnapshot() override;
  Result<uint64_t> DoApproximateSize(std::string_view space, std::string_view begin,
                                     std::string_view end) override;
  Result<std::vector<SpaceStats>> DoStats() override;

 private:
  MemoryStore() = default;
  // The version a read sees: the snapshot's, or the current one.
  std::shared_ptr<const Version> ReadVersion(const std::shared_ptr<const Snapshot>& snapshot) const;
  Result<std::shared_ptr<const Space>> Find(const Version& version, std::string_view space) const;

  mutable Mutex mu_;
  std::shared_ptr<const Version> current_ DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot::kv
