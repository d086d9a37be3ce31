// depot::object::ForwardingStore: the base of store decorators (LevelDB's EnvWrapper). Every call
// goes to the target store unchanged; a decorator overrides only the calls it changes, so a call
// added to ObjectStore is forwarded by every decorator without each one repeating it.
//
// The target is not owned: it must outlive the ForwardingStore (hold it in a subclass when it
// should own it). Thread-safe if the target is. ForwardingWriter is the same for ObjectWriter
// decorators (it owns the inner writer).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "depot/object/store.h"

namespace depot::object {

class ForwardingStore : public ObjectStore {
 public:
  explicit ForwardingStore(ObjectStore& target) : target_(target) {}

  ObjectStore& target() const { return target_; }

  Capabilities capabilities() const override { return target_.capabilities(); }
  std::string ToString() const override { return target_.ToString(); }

 protected:
  Result<PutResult> DoPut(std::string_view key, Bytes data, const PutOptions& options,
                          const Context& ctx) override {
    return target_.Put(key, std::move(data), options, ctx);
  }
  Result<GetResult> DoGet(std::string_view key, const GetOptions& options,
                          const Context& ctx) override {
    return target_.Get(key, options, ctx);
  }
  Result<ObjectMeta> DoHead(std::string_view key, const Context& ctx) override {
    return target_.Head(key, ctx);
  }
  Status DoGetStream(std::string_view key, const GetOptions& options,
                     const std::function<Status(const GetResult&)>& on_head,
                     const std::function<Status(std::string_view)>& on_data,
                     const Context& ctx) override {
    return target_.GetStream(key, options, on_head, on_data, ctx);
  }
  Result<std::unique_ptr<ObjectWriter>> DoOpenWriter(std::string_view key,
                                                     const WriteOptions& options,
                                                     const Context& ctx) override {
    return target_.OpenWriter(key, options, ctx);
  }
  Status DoDelete(std::string_view key, const Context& ctx) override {
    return target_.Delete(key, ctx);
  }
  std::vector<Status> DoDeleteMany(std::span<const std::string> keys, const Context& ctx) override {
    return target_.DeleteMany(keys, ctx);
  }
  Result<ListResult> DoList(const ListOptions& options, const Context& ctx) override {
    return target_.List(options, ctx);
  }
  Result<PutResult> DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                           const Context& ctx) override {
    return target_.Copy(from, to, mode, ctx);
  }
  Status DoRename(std::string_view from, std::string_view to, CopyMode mode,
                  const Context& ctx) override {
    return target_.Rename(from, to, mode, ctx);
  }

  Result<std::string> DoCreateMultipart(std::string_view key, const PutOptions& options,
                                        const Context& ctx) override {
    return target_.CreateMultipart(key, options, ctx);
  }
  Result<PartInfo> DoPutPart(std::string_view key, std::string_view upload_id, int part_number,
                             Bytes data, const Context& ctx) override {
    return target_.PutPart(key, upload_id, part_number, std::move(data), ctx);
  }
  Result<PutResult> DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                        std::span<const PartInfo> parts,
                                        const WriteCondition& condition,
                                        const Context& ctx) override {
    return target_.CompleteMultipart(key, upload_id, parts, condition, ctx);
  }
  Status DoAbortMultipart(std::string_view key, std::string_view upload_id,
                          const Context& ctx) override {
    return target_.AbortMultipart(key, upload_id, ctx);
  }
  Result<std::unique_ptr<PartWriter>> DoOpenPartWriter(std::string_view key,
                                                       std::string_view upload_id, int part_number,
                                                       const Context& ctx) override {
    return target_.OpenPartWriter(key, upload_id, part_number, ctx);
  }
  Result<std::vector<PartInfo>> DoListParts(std::string_view key, std::string_view upload_id,
                                            const Context& ctx) override {
    return target_.ListParts(key, upload_id, ctx);
  }
  Result<std::vector<MultipartUploadInfo>> DoListMultipartUploads(std::string_view prefix,
                                                                  const Context& ctx) override {
    return target_.ListMultipartUploads(prefix, ctx);
  }

 private:
  ObjectStore& target_;
};

// The base of writer decorators: every call goes to the inner writer, which it owns; a decorator
// overrides what it changes (usually FinishChecked, which Finish calls).
class ForwardingWriter : public ObjectWriter {
 public:
  explicit ForwardingWriter(std::unique_ptr<ObjectWriter> inner) : inner_(std::move(inner)) {}

  Status Write(std::string_view data) override { return inner_->Write(data); }
  Status Write(Bytes data) override { return inner_->Write(std::move(data)); }
  Result<PutResult> Finish() final { return FinishChecked({}); }
  Result<PutResult> FinishChecked(const Checksum& checksum) override {
    return inner_->FinishChecked(checksum);
  }
  Status Abort() override { return inner_->Abort(); }
  uint64_t bytes_written() const override { return inner_->bytes_written(); }

 protected:
  ObjectWriter& inner() const { return *inner_; }

 private:
  std::unique_ptr<ObjectWriter> inner_;
};

}  // namespace depot::object
