// depot::object::ForwardingStore: the base of store decorators (LevelDB's EnvWrapper). Every call
// goes to the target store unchanged; a decorator overrides only the calls it changes, so a call
// added to ObjectStore is forwarded by every decorator without each one repeating it.
//
// The target is not owned: it must outlive the ForwardingStore (hold it in a subclass when it
// should own it). Thread-safe if the target is.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "depot/object/store.h"

namespace depot::object {

class ForwardingStore : public ObjectStore {
 public:
  explicit ForwardingStore(ObjectStore& target) : target_(target) {}

  ObjectStore& target() const { return target_; }

  Capabilities capabilities() const override { return target_.capabilities(); }
  std::string ToString() const override { return target_.ToString(); }

  Result<PutResult> Put(std::string_view key, Bytes data, const PutOptions& options) override {
    return target_.Put(key, std::move(data), options);
  }
  Result<GetResult> Get(std::string_view key, const GetOptions& options) override {
    return target_.Get(key, options);
  }
  Result<ObjectMeta> Head(std::string_view key) override { return target_.Head(key); }
  Status GetStream(std::string_view key, const GetOptions& options,
                   const std::function<Status(const GetResult&)>& on_head,
                   const std::function<Status(std::string_view)>& on_data) override {
    return target_.GetStream(key, options, on_head, on_data);
  }
  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view key,
                                                   const WriteOptions& options) override {
    return target_.OpenWriter(key, options);
  }
  Status Delete(std::string_view key) override { return target_.Delete(key); }
  std::vector<Status> DeleteMany(std::span<const std::string> keys) override {
    return target_.DeleteMany(keys);
  }
  Result<ListResult> List(const ListOptions& options) override { return target_.List(options); }
  Result<PutResult> Copy(std::string_view from, std::string_view to, CopyMode mode) override {
    return target_.Copy(from, to, mode);
  }
  Status Rename(std::string_view from, std::string_view to, CopyMode mode) override {
    return target_.Rename(from, to, mode);
  }

  Result<std::string> CreateMultipart(std::string_view key, const PutOptions& options) override {
    return target_.CreateMultipart(key, options);
  }
  Result<PartInfo> PutPart(std::string_view key, std::string_view upload_id, int part_number,
                           Bytes data) override {
    return target_.PutPart(key, upload_id, part_number, std::move(data));
  }
  Result<PutResult> CompleteMultipart(std::string_view key, std::string_view upload_id,
                                      std::span<const PartInfo> parts,
                                      const WriteCondition& condition = {}) override {
    return target_.CompleteMultipart(key, upload_id, parts, condition);
  }
  Status AbortMultipart(std::string_view key, std::string_view upload_id) override {
    return target_.AbortMultipart(key, upload_id);
  }
  Result<std::unique_ptr<PartWriter>> OpenPartWriter(std::string_view key,
                                                     std::string_view upload_id,
                                                     int part_number) override {
    return target_.OpenPartWriter(key, upload_id, part_number);
  }
  Result<std::vector<PartInfo>> ListParts(std::string_view key,
                                          std::string_view upload_id) override {
    return target_.ListParts(key, upload_id);
  }
  Result<std::vector<MultipartUploadInfo>> ListMultipartUploads(std::string_view prefix) override {
    return target_.ListMultipartUploads(prefix);
  }

 private:
  ObjectStore& target_;
};

}  // namespace depot::object
