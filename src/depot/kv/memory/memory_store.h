// depot::kv::MemoryStore: the model backend, state spaces of std::map in memory.
//
// Versions are copied on write while someone looks at them: a scan or snapshot holds the version
// it started on and never sees a later write; a commit changes the store in place when no scan
// or snapshot is alive, and otherwise copies each space it writes (so a commit during a long
// scan of a big space costs a copy of that space). The store must outlive its scans and
// snapshots. Nothing survives the object. Thread-safe.
#pragma once

#include <functional>
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
  using Version = std::map<std::string, std::shared_ptr<Space>, std::less<>>;

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
  const Version& ReadVersion(const std::shared_ptr<const Snapshot>& snapshot) const
      DEPOT_REQUIRES(mu_);
  Result<std::shared_ptr<Space>> Find(const Version& version, std::string_view space) const;
  // Counts a new view in; the function returned counts it out (it takes mu_).
  std::function<void()> OpenView() DEPOT_REQUIRES(mu_);

  mutable Mutex mu_;
  std::shared_ptr<Version> current_ DEPOT_GUARDED_BY(mu_);
  int live_views_ DEPOT_GUARDED_BY(mu_) = 0;  // scans and snapshots alive
};

}  // namespace depot::kv
