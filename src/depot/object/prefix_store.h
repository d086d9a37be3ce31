// depot::object::PrefixStore: a view of another store in which every key is prefixed by a fixed
// string; listings strip the prefix again. Keys are joined as prefix + key, so pass "tenant/" to
// make a folder. Capabilities and error codes are the inner store's; an error message starts with
// the caller's key, followed by the inner store's message (naming the inner key).
// Thread-safe if the inner store is.
#pragma once

#include <memory>
#include <string>

#include "depot/object/store.h"

namespace depot::object {

class PrefixStore final : public ObjectStore {
 public:
  PrefixStore(std::shared_ptr<ObjectStore> inner, std::string prefix);

  Capabilities capabilities() const override;
  std::string ToString() const override;

  Result<PutResult> Put(std::string_view key, Bytes data, const PutOptions& options) override;
  Result<GetResult> Get(std::string_view key, const GetOptions& options) override;
  Result<ObjectMeta> Head(std::string_view key) override;
  Status GetStream(std::string_view key, const GetOptions& options,
                   const std::function<Status(const GetResult&)>& on_head,
                   const std::function<Status(std::string_view)>& on_data) override;
  // The inner store's writers, on the prefixed key (errors of their calls name the inner key).
  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view key,
                                                   const WriteOptions& options) override;
  Status Delete(std::string_view key) override;
  std::vector<Status> DeleteMany(std::span<const std::string> keys) override;
  Result<ListResult> List(const ListOptions& options) override;
  Result<PutResult> Copy(std::string_view from, std::string_view to, CopyMode mode) override;
  Status Rename(std::string_view from, std::string_view to, CopyMode mode) override;

  Result<std::string> CreateMultipart(std::string_view key, const PutOptions& options) override;
  Result<PartInfo> PutPart(std::string_view key, std::string_view upload_id, int part_number,
                           Bytes data) override;
  Result<PutResult> CompleteMultipart(std::string_view key, std::string_view upload_id,
                                      std::span<const PartInfo> parts,
                                      const WriteCondition& condition = {}) override;
  Status AbortMultipart(std::string_view key, std::string_view upload_id) override;
  Result<std::unique_ptr<PartWriter>> OpenPartWriter(std::string_view key,
                                                     std::string_view upload_id,
                                                     int part_number) override;
  Result<std::vector<PartInfo>> ListParts(std::string_view key,
                                          std::string_view upload_id) override;
  Result<std::vector<MultipartUploadInfo>> ListMultipartUploads(std::string_view prefix) override;

 private:
  std::string Full(std::string_view key) const { return prefix_ + std::string(key); }
  std::string Strip(const std::string& key) const { return key.substr(prefix_.size()); }

  std::shared_ptr<ObjectStore> inner_;
  std::string prefix_;
};

}  // namespace depot::object
