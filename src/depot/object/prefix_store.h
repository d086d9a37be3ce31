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
  // The inner store's writers, on the prefixed key (errors of their calls name the inner key).
  Result<std::unique_ptr<ObjectWriter>> DoOpenWriter(std::string_view key,
                                                     const WriteOptions& options,
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
  Result<std::unique_ptr<PartWriter>> DoOpenPartWriter(std::string_view key,
                                                       std::string_view upload_id, int part_number,
                                                       const Context& ctx) override;
  Result<std::vector<PartInfo>> DoListParts(std::string_view key, std::string_view upload_id,
                                            const Context& ctx) override;
  Result<std::vector<MultipartUploadInfo>> DoListMultipartUploads(std::string_view prefix,
                                                                  const Context& ctx) override;

 private:
  std::string Full(std::string_view key) const { return prefix_ + std::string(key); }
  std::string Strip(const std::string& key) const { return key.substr(prefix_.size()); }

  std::shared_ptr<ObjectStore> inner_;
  std::string prefix_;
};

}  // namespace depot::object
