// The memory store keeps objects in a std::map under one mutex. Puts compute the MD5 ETag
// before taking the lock, so the lock is held only for the map update; Get shares the stored
// Bytes (or a slice of them) instead of copying.
#include "depot/object/memory/memory_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "depot/core/md5.h"
#include "depot/core/mutex.h"
#include "depot/object/backend_util.h"

namespace depot::object {

MemoryStore::MemoryStore(MemoryStoreOptions options, std::string name)
    : options_(options), name_(std::move(name)) {}

Capabilities MemoryStore::capabilities() const {
  Capabilities caps;
  caps.conditional_put = true;
  caps.put_unless_etag = true;
  caps.multipart = true;
  caps.delimiter_list = true;
  caps.copy = true;
  caps.copy_if_absent = true;
  caps.atomic_rename = true;
  caps.min_part_size = options_.min_part_size;
  caps.max_part_size = uint64_t{5} << 30;
  caps.max_parts = 10000;
  caps.max_delete_batch = 1000;
  caps.checksums = true;
  return caps;
}

std::string MemoryStore::ToString() const { return "mem://" + name_; }

Result<PutResult> MemoryStore::PutLocked(std::string_view key, Bytes data,
                                         const PutOptions& options, std::string etag,
                                         std::vector<ObjectPart> parts) {
  auto it = objects_.find(key);
  DEPOT_RETURN_IF_ERROR(
      CheckPutMode(key, options, it == objects_.end() ? nullptr : &it->second.meta));
  Object object;
  object.meta.key = std::string(key);
  object.meta.size = data.size();
  object.meta.last_modified = Clock::now();
  object.meta.etag = std::move(etag);
  object.meta.content_type = options.content_type;
  object.meta.headers = options.headers;
  object.meta.user_metadata = options.user_metadata;
  object.meta.checksum = options.checksum;
  object.meta.parts = std::move(parts);
  object.data = std::move(data);
  PutResult result{object.meta.etag, std::nullopt, options.checksum};
  objects_.insert_or_assign(std::string(key), std::move(object));
  return result;
}

Result<PutResult> MemoryStore::DoPut(std::string_view key, Bytes data, const PutOptions& options,
                                     const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  std::string etag = Md5::HexOf(data.view());
  MutexLock lock(mu_);
  return PutLocked(key, std::move(data), options, std::move(etag));
}

Result<GetResult> MemoryStore::DoGet(std::string_view key, const GetOptions& options,
                                     const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  GetResult result;
  Bytes data;
  {
    MutexLock lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) {
      return NotFoundError(fmt::format("key {} does not exist", QuoteKey(key)));
    }
    result.meta = it->second.meta;
    data = it->second.data;
  }
  DEPOT_ASSIGN_OR_RETURN(result.not_modified, EvaluatePreconditions(options, result.meta));
  DEPOT_ASSIGN_OR_RETURN(result.range, options.range.Validate(result.meta.size));
  if (!options.head && !result.not_modified) {
    result.data = data.Slice(result.range.begin, result.range.length());
  }
  return result;
}

Result<ObjectMeta> MemoryStore::DoHead(std::string_view key, const Context& /*ctx*/) {
  GetOptions options;
  options.head = true;
  DEPOT_ASSIGN_OR_RETURN(GetResult result, Get(key, options));
  return std::move(result.meta);
}

Status MemoryStore::DoDelete(std::string_view key, const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  MutexLock lock(mu_);
  if (auto it = objects_.find(key); it != objects_.end()) objects_.erase(it);
  return Status::Ok();
}

std::vector<Status> MemoryStore::DoDeleteMany(std::span<const std::string> keys,
                                              const Context& ctx) {
  return DeleteEach(*this, keys, ctx);
}

Result<ListResult> MemoryStore::DoList(const ListOptions& options, const Context& /*ctx*/) {
  ListBuilder builder(options);
  DEPOT_RETURN_IF_ERROR(builder.status());
  MutexLock lock(mu_);
  for (auto it = objects_.lower_bound(builder.seek_key()); it != objects_.end(); ++it) {
    if (!builder.Add(it->second.meta)) break;
  }
  return std::move(builder).Finish();
}

Result<PutResult> MemoryStore::DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                                      const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(from));
  DEPOT_RETURN_IF_ERROR(ValidateKey(to));
  MutexLock lock(mu_);
  auto it = objects_.find(from);
  if (it == objects_.end()) {
    return NotFoundError(fmt::format("copy: source key {} does not exist", QuoteKey(from)));
  }
  PutOptions options;
  options.mode = mode == CopyMode::kCreate ? PutMode::kCreate : PutMode::kOverwrite;
  options.content_type = it->second.meta.content_type;
  options.headers = it->second.meta.headers;
  options.user_metadata = it->second.meta.user_metadata;
  options.checksum = it->second.meta.checksum;  // the same bytes
  Bytes data = it->second.data;
  std::string etag = it->second.meta.etag;
  std::vector<ObjectPart> parts = it->second.meta.parts;
  return PutLocked(to, std::move(data), options, std::move(etag), std::move(parts));
}

Result<std::unique_ptr<ObjectWriter>> MemoryStore::DoOpenWriter(std::string_view key,
                                                                const WriteOptions& options,
                                                                const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  // The bytes end up in memory either way: gathered, they are stored whole, with their checksum.
  return NewGatheringWriter(*this, std::string(key), options.put, options.size_hint, ctx);
}

Result<std::unique_ptr<PartWriter>> MemoryStore::DoOpenPartWriter(std::string_view key,
                                                                  std::string_view upload_id,
                                                                  int part_number,
                                                                  const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  // Gathered, then stored whole with its checksum.
  return NewGatheringPartWriter(std::string(key), std::string(upload_id), part_number, ctx,
                                [this, key = std::string(key), upload_id = std::string(upload_id),
                                 part_number](Bytes data, const Checksum& checksum) {
                                  return StorePart(key, upload_id, part_number, std::move(data),
                                                   checksum);
                                });
}

Status MemoryStore::DoRename(std::string_view from, std::string_view to, CopyMode mode,
                             const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(from));
  DEPOT_RETURN_IF_ERROR(ValidateKey(to));
  MutexLock lock(mu_);
  auto it = objects_.find(from);
  if (it == objects_.end()) {
    return NotFoundError(fmt::format("rename: source key {} does not exist", QuoteKey(from)));
  }
  if (from == to) return Status::Ok();
  if (mode == CopyMode::kCreate && objects_.find(to) != objects_.end()) {
    return AlreadyExistsError(fmt::format("rename: destination {} exists", QuoteKey(to)));
  }
  Object object = std::move(it->second);
  objects_.erase(it);
  object.meta.key = std::string(to);
  objects_.insert_or_assign(std::string(to), std::move(object));
  return Status::Ok();
}

Result<std::string> MemoryStore::DoCreateMultipart(std::string_view key, const PutOptions& options,
                                                   const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  DEPOT_RETURN_IF_ERROR(CheckNoCreateCondition(key, options));
  std::string id = RandomHexId();
  MutexLock lock(mu_);
  uploads_[id] = Upload{std::string(key), options, Clock::now(), {}};
  return id;
}

Result<MemoryStore::Upload*> MemoryStore::FindUploadLocked(std::string_view key,
                                                           std::string_view upload_id) {
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end() || it->second.key != key) {
    return NotFoundError(
        fmt::format("multipart upload \"{}\" for key {} does not exist", upload_id, QuoteKey(key)));
  }
  return &it->second;
}

Result<PartInfo> MemoryStore::DoPutPart(std::string_view key, std::string_view upload_id,
                                        int part_number, Bytes data, const Context& /*ctx*/) {
  return StorePart(key, upload_id, part_number, std::move(data), {});
}

Result<PartInfo> MemoryStore::StorePart(std::string_view key, std::string_view upload_id,
                                        int part_number, Bytes data, const Checksum& checksum) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  if (part_number < 1 || part_number > 10000) {
    return InvalidArgumentError(fmt::format("part number {} is outside 1..10000", part_number));
  }
  PartInfo part{part_number, Md5::HexOf(data.view()), data.size(), Clock::now()};
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(Upload * upload, FindUploadLocked(key, upload_id));
  DEPOT_RETURN_IF_ERROR(KeepPartChecksum(key, upload->options.checksum, checksum, part));
  upload->parts[part_number] = {part, std::move(data)};
  return part;
}

Result<PutResult> MemoryStore::DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                                   std::span<const PartInfo> parts,
                                                   const WriteCondition& condition,
                                                   const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(Upload * upload, FindUploadLocked(key, upload_id));
  std::vector<PartInfo> staged;
  for (const auto& [number, part] : upload->parts) staged.push_back(part.first);
  DEPOT_RETURN_IF_ERROR(ValidateCompleteParts(parts, staged, options_.min_part_size));
  uint64_t total = 0;
  std::vector<std::string> etags;
  std::vector<PartInfo> listed;  // the staged parts, in list order
  for (const PartInfo& part : parts) {
    total += upload->parts[part.part_number].second.size();
    etags.push_back(part.etag);
    listed.push_back(upload->parts[part.part_number].first);
  }
  DEPOT_ASSIGN_OR_RETURN(AssembledChecksums checksums,
                         AssembleChecksums(key, upload->options.checksum, listed));
  std::unique_ptr<char[]> buffer(new char[total == 0 ? 1 : total]);
  uint64_t offset = 0;
  for (const PartInfo& part : parts) {
    const Bytes& bytes = upload->parts[part.part_number].second;
    std::copy(bytes.data(), bytes.data() + bytes.size(), buffer.get() + offset);
    offset += bytes.size();
  }
  PutOptions options = ConditionedPut(upload->options, condition);
  options.checksum = std::move(checksums.checksum);
  DEPOT_ASSIGN_OR_RETURN(PutResult result,
                         PutLocked(key, Bytes::Adopt(std::move(buffer), total), options,
                                   MultipartEtag(etags), std::move(checksums.parts)));
  uploads_.erase(uploads_.find(upload_id));
  return result;
}

Status MemoryStore::DoAbortMultipart(std::string_view key, std::string_view upload_id,
                                     const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(Upload * upload, FindUploadLocked(key, upload_id));
  (void)upload;
  uploads_.erase(uploads_.find(upload_id));
  return Status::Ok();
}

Result<std::vector<PartInfo>> MemoryStore::DoListParts(std::string_view key,
                                                       std::string_view upload_id,
                                                       const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(Upload * upload, FindUploadLocked(key, upload_id));
  std::vector<PartInfo> parts;
  for (const auto& [number, part] : upload->parts) parts.push_back(part.first);
  return parts;
}

Result<std::vector<MultipartUploadInfo>> MemoryStore::DoListMultipartUploads(
    std::string_view prefix, const Context& /*ctx*/) {
  MutexLock lock(mu_);
  std::vector<MultipartUploadInfo> out;
  for (const auto& [id, upload] : uploads_) {
    if (upload.key.substr(0, prefix.size()) == prefix) {
      out.push_back({upload.key, id, upload.initiated});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.key, a.initiated) < std::tie(b.key, b.initiated);
  });
  return out;
}

}  // namespace depot::object
