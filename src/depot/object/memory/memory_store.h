// depot::object::MemoryStore: an object store held in process memory; the reference model that
// the other backends are compared against in tests.
//
// Everything the interface offers is supported: conditional puts, multipart uploads, delimiter
// listing, copy, copy-if-absent and atomic rename. Nothing is durable: the objects live as long as
// the store. ETags are the MD5 of the bytes (hex), or S3's md5-of-md5s-N for multipart objects, so
// that they match what an S3 service would report. One mutex guards the map; Bytes are shared,
// so a Get returns without copying. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "depot/core/mutex.h"
#include "depot/object/store.h"

namespace depot::object {

struct MemoryStoreOptions {
  // Minimum size of every multipart part but the last; S3's is 5 MiB.
  uint64_t min_part_size = 5 << 20;
};

class MemoryStore final : public ObjectStore {
 public:
  explicit MemoryStore(MemoryStoreOptions options = {}, std::string name = "");

  Capabilities capabilities() const override;
  std::string ToString() const override;

 protected:
  Result<PutResult> DoPut(std::string_view key, Bytes data, const PutOptions& options,
                          const Context& ctx) override;
  Result<GetResult> DoGet(std::string_view key, const GetOptions& options,
                          const Context& ctx) override;
  Result<ObjectMeta> DoHead(std::string_view key, const Context& ctx) override;
  Status DoDelete(std::string_view key, const Context& ctx) override;
  std::vector<Status> DoDeleteMany(std::span<const std::string> keys, const Context& ctx) override;
  Result<ListResult> DoList(const ListOptions& options, const Context& ctx) override;
  Result<PutResult> DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                           const Context& ctx) override;
  Result<std::unique_ptr<ObjectWriter>> DoOpenWriter(std::string_view key,
                                                     const WriteOptions& options,
                                                     const Context& ctx) override;
  Result<std::unique_ptr<PartWriter>> DoOpenPartWriter(std::string_view key,
                                                       std::string_view upload_id, int part_number,
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
  struct Object {
    ObjectMeta meta;
    Bytes data;
  };
  struct Upload {
    std::string key;
    PutOptions options;
    Clock::time_point initiated;
    std::map<int, std::pair<PartInfo, Bytes>> parts;
  };

  // Stores `data` under `key` if `options.mode` allows it.
  Result<PutResult> PutLocked(std::string_view key, Bytes data, const PutOptions& options,
                              std::string etag, std::vector<ObjectPart> parts = {})
      DEPOT_REQUIRES(mu_);
  // PutPart, keeping `checksum` with the part (KeepPartChecksum).
  Result<PartInfo> StorePart(std::string_view key, std::string_view upload_id, int part_number,
                             Bytes data, const Checksum& checksum);
  Result<Upload*> FindUploadLocked(std::string_view key, std::string_view upload_id)
      DEPOT_REQUIRES(mu_);

  const MemoryStoreOptions options_;
  const std::string name_;
  Mutex mu_;
  std::map<std::string, Object, std::less<>> objects_ DEPOT_GUARDED_BY(mu_);
  std::map<std::string, Upload, std::less<>> uploads_ DEPOT_GUARDED_BY(mu_);  // by upload id
};

}  // namespace depot::object
