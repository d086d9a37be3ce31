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

  Result<PutResult> Put(std::string_view key, Bytes data, const PutOptions& options) override;
  Result<GetResult> Get(std::string_view key, const GetOptions& options) override;
  Result<ObjectMeta> Head(std::string_view key) override;
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
  Result<std::vector<PartInfo>> ListParts(std::string_view key,
                                          std::string_view upload_id) override;
  Result<std::vector<MultipartUploadInfo>> ListMultipartUploads(std::string_view prefix) override;

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
                              std::string etag) DEPOT_REQUIRES(mu_);
  Result<Upload*> FindUploadLocked(std::string_view key, std::string_view upload_id)
      DEPOT_REQUIRES(mu_);

  const MemoryStoreOptions options_;
  const std::string name_;
  Mutex mu_;
  std::map<std::string, Object, std::less<>> objects_ DEPOT_GUARDED_BY(mu_);
  std::map<std::string, Upload, std::less<>> uploads_ DEPOT_GUARDED_BY(mu_);  // by upload id
};

}  // namespace depot::object
