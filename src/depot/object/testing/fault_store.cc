#include "depot/object/testing/fault_store.h"

#include <utility>

#include "depot/core/mutex.h"

namespace depot::object::testing {

static_assert(FaultInjectingStore::kOpCount ==
              static_cast<size_t>(FaultInjectingStore::Op::kListParts) + 1);

FaultInjectingStore::FaultInjectingStore(std::shared_ptr<ObjectStore> inner)
    : inner_(std::move(inner)) {}

void FaultInjectingStore::FailNext(Op op, Status status, int times) {
  MutexLock lock(mu_);
  for (int i = 0; i < times; ++i) failures_[static_cast<size_t>(op)].push_back(status);
}

void FaultInjectingStore::OnPut(PutHook hook) {
  MutexLock lock(mu_);
  put_hook_ = std::move(hook);
}

void FaultInjectingStore::OnGet(GetHook hook) {
  MutexLock lock(mu_);
  get_hook_ = std::move(hook);
}

void FaultInjectingStore::OnPutPart(PutPartHook hook) {
  MutexLock lock(mu_);
  put_part_hook_ = std::move(hook);
}

void FaultInjectingStore::SetCapabilities(Capabilities caps) {
  MutexLock lock(mu_);
  capabilities_ = caps;
}

Capabilities FaultInjectingStore::capabilities() const {
  {
    MutexLock lock(mu_);
    if (capabilities_) return *capabilities_;
  }
  return inner_->capabilities();
}

void FaultInjectingStore::ResetCalls() {
  for (auto& count : counts_) count.store(0);
}

Status FaultInjectingStore::Enter(Op op) {
  counts_[static_cast<size_t>(op)].fetch_add(1);
  MutexLock lock(mu_);
  auto& pending = failures_[static_cast<size_t>(op)];
  if (pending.empty()) return Status::Ok();
  Status status = std::move(pending.front());
  pending.pop_front();
  return status;
}

Result<PutResult> FaultInjectingStore::DoPut(std::string_view key, Bytes data,
                                             const PutOptions& options, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kPut));
  PutHook hook;
  {
    MutexLock lock(mu_);
    hook = put_hook_;
  }
  if (hook) {
    if (auto answer = hook(key, data, options)) return *std::move(answer);
  }
  return inner_->Put(key, std::move(data), options, ctx);
}

Result<GetResult> FaultInjectingStore::DoGet(std::string_view key, const GetOptions& options,
                                             const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kGet));
  GetHook hook;
  {
    MutexLock lock(mu_);
    hook = get_hook_;
  }
  if (hook) {
    if (auto answer = hook(key, options)) return *std::move(answer);
  }
  return inner_->Get(key, options, ctx);
}

Status FaultInjectingStore::DoGetStream(std::string_view key, const GetOptions& options,
                                        const std::function<Status(const GetResult&)>& on_head,
                                        const std::function<Status(std::string_view)>& on_data,
                                        const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kGet));
  return inner_->GetStream(key, options, on_head, on_data, ctx);
}

Result<ObjectMeta> FaultInjectingStore::DoHead(std::string_view key, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kHead));
  GetHook hook;
  {
    MutexLock lock(mu_);
    hook = get_hook_;
  }
  if (hook) {
    GetOptions options;
    options.head = true;
    if (auto answer = hook(key, options)) {
      if (!answer->ok()) return answer->status();
      return std::move(answer->value().meta);
    }
  }
  return inner_->Head(key, ctx);
}

Status FaultInjectingStore::DoDelete(std::string_view key, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kDelete));
  return inner_->Delete(key, ctx);
}

std::vector<Status> FaultInjectingStore::DoDeleteMany(std::span<const std::string> keys,
                                                      const Context& ctx) {
  if (Status status = Enter(Op::kDeleteMany); !status.ok()) {
    return std::vector<Status>(keys.size(), status);
  }
  return inner_->DeleteMany(keys, ctx);
}

Result<ListResult> FaultInjectingStore::DoList(const ListOptions& options, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kList));
  return inner_->List(options, ctx);
}

Result<PutResult> FaultInjectingStore::DoCopy(std::string_view from, std::string_view to,
                                              CopyMode mode, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kCopy));
  return inner_->Copy(from, to, mode, ctx);
}

Status FaultInjectingStore::DoRename(std::string_view from, std::string_view to, CopyMode mode,
                                     const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kRename));
  return inner_->Rename(from, to, mode, ctx);
}

Result<std::string> FaultInjectingStore::DoCreateMultipart(std::string_view key,
                                                           const PutOptions& options,
                                                           const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kCreateMultipart));
  return inner_->CreateMultipart(key, options, ctx);
}

Result<PartInfo> FaultInjectingStore::DoPutPart(std::string_view key, std::string_view upload_id,
                                                int part_number, Bytes data, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kPutPart));
  PutPartHook hook;
  {
    MutexLock lock(mu_);
    hook = put_part_hook_;
  }
  if (hook) {
    if (auto answer = hook(key, upload_id, part_number, data)) return *std::move(answer);
  }
  return inner_->PutPart(key, upload_id, part_number, std::move(data), ctx);
}

Result<PutResult> FaultInjectingStore::DoCompleteMultipart(std::string_view key,
                                                           std::string_view upload_id,
                                                           std::span<const PartInfo> parts,
                                                           const WriteCondition& condition,
                                                           const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kCompleteMultipart));
  return inner_->CompleteMultipart(key, upload_id, parts, condition, ctx);
}

Status FaultInjectingStore::DoAbortMultipart(std::string_view key, std::string_view upload_id,
                                             const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kAbortMultipart));
  return inner_->AbortMultipart(key, upload_id, ctx);
}

Result<std::vector<PartInfo>> FaultInjectingStore::DoListParts(std::string_view key,
                                                               std::string_view upload_id,
                                                               const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kListParts));
  return inner_->ListParts(key, upload_id, ctx);
}

Result<std::vector<MultipartUploadInfo>> FaultInjectingStore::DoListMultipartUploads(
    std::string_view prefix, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(Enter(Op::kListMultipartUploads));
  return inner_->ListMultipartUploads(prefix, ctx);
}

}  // namespace depot::object::testing
