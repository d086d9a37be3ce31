// depot::object::testing::FaultInjectingStore: a decorator for tests that forwards every call to
// an inner store, counts the calls, and lets a test answer or reshape any of them.
//
//   auto faults = std::make_shared<FaultInjectingStore>(std::make_shared<MemoryStore>());
//   faults->FailNext(FaultInjectingStore::Op::kGet, UnavailableError("flaky"), 2);
//   faults->OnPutPart([&](std::string_view, std::string_view, int number, const Bytes&)
//                         -> std::optional<Result<PartInfo>> {
//     if (number == 3) return Result<PartInfo>(UnavailableError("part 3 lost"));
//     return std::nullopt;  // forward to the inner store
//   });
//
// Order of a call: the counter is bumped, then a pending FailNext() failure for the operation is
// answered, then the hook (if any) runs; a hook returning std::nullopt forwards to inner(). Hooks
// run without any lock held, so they may block (to hold calls in flight) or call inner() to
// reshape a real answer (a short read, a changed ETag). Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "depot/core/mutex.h"
#include "depot/object/store.h"

namespace depot::object::testing {

class FaultInjectingStore final : public ObjectStore {
 public:
  enum class Op {
    kPut,
    kGet,
    kHead,
    kDelete,
    kDeleteMany,
    kList,
    kCopy,
    kRename,
    kCreateMultipart,
    kPutPart,
    kCompleteMultipart,
    kAbortMultipart,
    kListMultipartUploads,
    kListParts,
  };
  static constexpr size_t kOpCount = 14;

  using PutHook = std::function<std::optional<Result<PutResult>>(
      std::string_view key, const Bytes& data, const PutOptions& options)>;
  using GetHook = std::function<std::optional<Result<GetResult>>(std::string_view key,
                                                                 const GetOptions& options)>;
  using PutPartHook = std::function<std::optional<Result<PartInfo>>(
      std::string_view key, std::string_view upload_id, int part_number, const Bytes& data)>;

  explicit FaultInjectingStore(std::shared_ptr<ObjectStore> inner);

  ObjectStore& inner() const { return *inner_; }

  // The next `times` calls of `op` fail with `status` (queued after failures already pending).
  void FailNext(Op op, Status status, int times = 1);
  // Replace the hook for Put / Get (including the Gets behind Head) / PutPart; an empty function
  // removes it.
  void OnPut(PutHook hook);
  void OnGet(GetHook hook);
  void OnPutPart(PutPartHook hook);

  // From now on capabilities() answers `caps` instead of the inner store's (to test how callers
  // honour limits such as max_parts or equal_parts_required).
  void SetCapabilities(Capabilities caps);

  // How many times `op` was called (failed or not).
  int calls(Op op) const { return counts_[static_cast<size_t>(op)].load(); }
  void ResetCalls();

  Capabilities capabilities() const override;
  std::string ToString() const override { return "faults(" + inner_->ToString() + ")"; }

 protected:
  Result<PutResult> DoPut(std::string_view key, Bytes data, const PutOptions& options,
                          const Context& ctx) override;
  Result<GetResult> DoGet(std::string_view key, const GetOptions& options,
                          const Context& ctx) override;
  Result<ObjectMeta> DoHead(std::string_view key, const Context& ctx) override;
  Status DoGetStream(std::string_view key, const GetOptions& options,
                     const std::function<Status(const GetResult&)>& on_head,
                     const std::function<Status(std::string_view)>& on_data,
                     const Context& ctx) override;
  Status DoDelete(std::string_view key, const Context& ctx) override;
  std::vector<Status> DoDeleteMany(std::span<const std::string> keys, const Context& ctx) override;
  Result<ListResult> DoList(const ListOptions& options, const Context& ctx) override;
  Result<PutResult> DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                           const Context& ctx) override;
  Status DoRename(std::string_view from, std::string_view to, CopyMode mode,
                  const Context& ctx) override;

  Result<std::string> DoCreateMultipart(std::string_view key, const PutOptions& options,
                                        const Context& ctx) override;
  Result<PartInfo> DoPutPart(std::string_view key, std::string_view upload_id, int part_number,
                             Bytes data, const Context& ctx) override;
  Result<PutResult> DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                        std::span<const PartInfo> parts,
                                        const WriteCondition& condition,
                                        const Context& ctx) override;
  Status DoAbortMultipart(std::string_view key, std::string_view upload_id,
                          const Context& ctx) override;
  Result<std::vector<PartInfo>> DoListParts(std::string_view key, std::string_view upload_id,
                                            const Context& ctx) override;
  Result<std::vector<MultipartUploadInfo>> DoListMultipartUploads(std::string_view prefix,
                                                                  const Context& ctx) override;

 private:
  // Counts the call and returns the injected failure for it, or OK to go on.
  Status Enter(Op op);

  const std::shared_ptr<ObjectStore> inner_;
  std::array<std::atomic<int>, kOpCount> counts_{};
  mutable Mutex mu_;
  std::array<std::deque<Status>, kOpCount> failures_ DEPOT_GUARDED_BY(mu_);
  PutHook put_hook_ DEPOT_GUARDED_BY(mu_);
  GetHook get_hook_ DEPOT_GUARDED_BY(mu_);
  PutPartHook put_part_hook_ DEPOT_GUARDED_BY(mu_);
  std::optional<Capabilities> capabilities_ DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot::object::testing
