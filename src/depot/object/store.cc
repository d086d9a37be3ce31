#include "depot/object/store.h"

#include <fmt/format.h>

#include <algorithm>

#include "depot/core/base64.h"
#include "depot/core/checksum.h"
#include "depot/object/backend_util.h"
#include "depot/object/buffered_upload.h"
#include "depot/object/key.h"

namespace depot::object {
namespace {

// Pieces of a streamed read.
constexpr uint64_t kStreamPiece = 8 << 20;

// The writers of stores that cannot stream: the bytes are gathered in memory, then stored with
// one call at Finish.
class GatheringWriter final : public ObjectWriter {
 public:
  GatheringWriter(ObjectStore& store, std::string key, PutOptions put, uint64_t size_hint,
                  Context ctx)
      : store_(store), key_(std::move(key)), put_(std::move(put)), ctx_(std::move(ctx)) {
    if (size_hint > 0 && size_hint <= kMaxReserve) gathered_.reserve(size_hint);
  }

  Status Write(std::string_view data) override {
    DEPOT_RETURN_IF_ERROR(Usable());
    DEPOT_RETURN_IF_ERROR(ctx_.Check(fmt::format("write of key {}", QuoteKey(key_))));
    gathered_.append(data);
    written_ += data.size();
    return Status::Ok();
  }
  Result<PutResult> Finish() override { return FinishChecked({}); }
  Result<PutResult> FinishChecked(const Checksum& checksum) override {
    DEPOT_RETURN_IF_ERROR(Usable());
    finished_ = true;
    PutOptions put = put_;
    put.checksum = checksum;
    return store_.Put(key_, Bytes::FromString(std::move(gathered_)), put, ctx_);
  }
  Status Abort() override {
    if (finished_) return Status::Ok();
    aborted_ = true;
    gathered_ = std::string();
    return Status::Ok();
  }
  uint64_t bytes_written() const override { return written_; }

 private:
  static constexpr uint64_t kMaxReserve = uint64_t{1} << 30;

  Status Usable() const {
    if (aborted_) return CancelledError(fmt::format("write of key {}: aborted", QuoteKey(key_)));
    if (finished_) {
      return FailedPreconditionError(
          fmt::format("write of key {}: already finished", QuoteKey(key_)));
    }
    return Status::Ok();
  }

  ObjectStore& store_;
  const std::string key_;
  const PutOptions put_;
  const Context ctx_;
  std::string gathered_;
  uint64_t written_ = 0;
  bool finished_ = false;
  bool aborted_ = false;
};

class GatheringPartWriter final : public PartWriter {
 public:
  GatheringPartWriter(std::string key, std::string upload_id, int number, Context ctx,
                      PartStorer store)
      : store_(std::move(store)),
        key_(std::move(key)),
        upload_id_(std::move(upload_id)),
        number_(number),
        ctx_(std::move(ctx)) {}

  Status Write(std::string_view data) override {
    if (finished_) return FinishedError();
    DEPOT_RETURN_IF_ERROR(ctx_.Check(fmt::format("part {} of key {}", number_, QuoteKey(key_))));
    gathered_.append(data);
    return Status::Ok();
  }
  Result<PartInfo> Finish() override { return FinishChecked({}); }
  Result<PartInfo> FinishChecked(const Checksum& checksum) override {
    if (finished_) return FinishedError();
    DEPOT_RETURN_IF_ERROR(ctx_.Check(fmt::format("part {} of key {}", number_, QuoteKey(key_))));
    finished_ = true;
    return store_(Bytes::FromString(std::move(gathered_)), checksum);
  }

 private:
  Status FinishedError() const {
    return FailedPreconditionError(
        fmt::format("part {} of upload {}: already finished", number_, QuoteKey(upload_id_)));
  }

  const PartStorer store_;
  const std::string key_;
  const std::string upload_id_;
  const int number_;
  const Context ctx_;
  std::string gathered_;
  bool finished_ = false;
};

// OK when `checksum` is one that `store` can keep with an object: empty, or of an algorithm S3
// names, on a store with capabilities().checksums. `with_value`: a value is required (a put), or
// must be absent (CreateMultipart names only the algorithm and type).
Status CheckChecksum(const ObjectStore& store, std::string_view key, const Checksum& checksum,
                     bool with_value) {
  if (checksum.empty()) {
    if (checksum.value.empty()) return Status::Ok();
    return InvalidArgumentError(
        fmt::format("key {}: a checksum value without its algorithm", QuoteKey(key)));
  }
  if (!store.capabilities().checksums) {
    return UnimplementedError(fmt::format("key {}: this store does not keep checksums ({} given)",
                                          QuoteKey(key), checksum.algorithm));
  }
  const auto algorithm = PayloadChecksum::FromName(checksum.algorithm);
  if (!algorithm) {
    return InvalidArgumentError(
        fmt::format("key {}: checksum algorithm {} is not CRC32, CRC32C, CRC64NVME, SHA1 or SHA256",
                    QuoteKey(key), QuoteKey(checksum.algorithm)));
  }
  if (with_value && checksum.value.empty()) {
    return InvalidArgumentError(
        fmt::format("key {}: the {} checksum has no value", QuoteKey(key), checksum.algorithm));
  }
  if (!with_value && !checksum.value.empty()) {
    return InvalidArgumentError(
        fmt::format("key {}: a multipart upload names its {} checksum's type, not its value",
                    QuoteKey(key), checksum.algorithm));
  }
  if (with_value) {
    // The base64 of one digest; a composite one (of a multipart object, copied) ends in "-<n>".
    std::string_view digest = checksum.value;
    if (checksum.composite) digest = digest.substr(0, digest.rfind('-'));
    auto bytes = Base64Decode(digest);
    if (!bytes.ok() || bytes->size() != PayloadChecksum(*algorithm).Finish().size()) {
      return InvalidArgumentError(fmt::format("key {}: {} is not a {} checksum", QuoteKey(key),
                                              QuoteKey(checksum.value), checksum.algorithm));
    }
  }
  if (!with_value && !checksum.composite && !PayloadChecksum::IsCrc(*algorithm)) {
    return InvalidArgumentError(fmt::format(
        "key {}: a {} checksum of a multipart object can only be composite (the full-object type "
        "is for CRCs)",
        QuoteKey(key), checksum.algorithm));
  }
  return Status::Ok();
}

}  // namespace

Result<PutResult> ObjectWriter::FinishChecked(const Checksum& checksum) {
  if (!checksum.empty()) {
    return UnimplementedError(
        fmt::format("this writer does not keep checksums ({} given)", checksum.algorithm));
  }
  return Finish();
}

Result<PartInfo> PartWriter::FinishChecked(const Checksum& checksum) {
  if (!checksum.empty()) {
    return UnimplementedError(
        fmt::format("this part writer does not keep checksums ({} given)", checksum.algorithm));
  }
  return Finish();
}

Status ValidateObjectHeaders(std::string_view key, const ObjectHeaders& headers) {
  for (const auto& [name, member] : kObjectHeaderFields) {
    const std::string& value = headers.*member;
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return InvalidArgumentError(fmt::format(
          "key {}: the {} header {} holds a line break or NUL, which no header can carry",
          QuoteKey(key), name, QuoteKey(value)));
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<ObjectWriter>> ObjectStore::DoOpenWriter(std::string_view key,
                                                                const WriteOptions& options,
                                                                const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  if (capabilities().multipart) {
    BufferedUploadOptions upload;
    upload.put_options = options.put;
    upload.size_hint = options.size_hint;
    upload.executor = options.executor;
    upload.max_in_flight = options.max_in_flight;
    if (options.part_size > 0) upload.part_size = PartSizePolicy::Fixed(options.part_size);
    DEPOT_ASSIGN_OR_RETURN(auto writer,
                           BufferedUpload::Start(*this, std::string(key), upload, ctx));
    return std::unique_ptr<ObjectWriter>(std::move(writer));
  }
  return NewGatheringWriter(*this, std::string(key), options.put, options.size_hint, ctx);
}

std::unique_ptr<ObjectWriter> NewGatheringWriter(ObjectStore& store, std::string key,
                                                 PutOptions put, uint64_t size_hint, Context ctx) {
  return std::make_unique<GatheringWriter>(store, std::move(key), std::move(put), size_hint,
                                           std::move(ctx));
}

Result<std::unique_ptr<PartWriter>> ObjectStore::DoOpenPartWriter(std::string_view key,
                                                                  std::string_view upload_id,
                                                                  int part_number,
                                                                  const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  // PutPart takes no checksum: a part that comes with one is refused, as ObjectStore says.
  PartStorer put_part = [this, key = std::string(key), upload_id = std::string(upload_id),
                         part_number, ctx](Bytes data, const Checksum& checksum) {
    if (!checksum.empty()) {
      return Result<PartInfo>(UnimplementedError(
          fmt::format("part {} of key {}: this store does not keep checksums ({} given)",
                      part_number, QuoteKey(key), checksum.algorithm)));
    }
    return PutPart(key, upload_id, part_number, std::move(data), ctx);
  };
  return NewGatheringPartWriter(std::string(key), std::string(upload_id), part_number, ctx,
                                std::move(put_part));
}

std::unique_ptr<PartWriter> NewGatheringPartWriter(std::string key, std::string upload_id,
                                                   int part_number, Context ctx, PartStorer store) {
  return std::make_unique<GatheringPartWriter>(std::move(key), std::move(upload_id), part_number,
                                               std::move(ctx), std::move(store));
}

Status ObjectStore::DoGetStream(std::string_view key, const GetOptions& options,
                                const std::function<Status(const GetResult&)>& on_head,
                                const std::function<Status(std::string_view)>& on_data,
                                const Context& ctx) {
  // The first piece comes with the metadata: one request for objects up to a piece.
  GetOptions first = options;
  const bool whole = options.range.is_full();
  if (!options.head) {
    if (whole) {
      first.range = ByteRange::Bounded(0, kStreamPiece);
    } else {
      first.head = true;
    }
  }
  DEPOT_ASSIGN_OR_RETURN(GetResult got, Get(key, first, ctx));
  GetResult head = got;
  head.data = Bytes();
  if (!options.head && !got.not_modified) {
    DEPOT_ASSIGN_OR_RETURN(head.range, options.range.Validate(got.meta.size));
  }
  DEPOT_RETURN_IF_ERROR(on_head(head));
  if (options.head || got.not_modified) return Status::Ok();
  uint64_t at = head.range.begin;
  if (whole && !got.data.empty()) {
    DEPOT_RETURN_IF_ERROR(on_data(got.data.view()));
    at += got.data.size();
  }
  while (at < head.range.end) {
    GetOptions piece;
    piece.if_match = got.meta.etag;  // every piece from the same version
    piece.range = ByteRange::Bounded(at, std::min(head.range.end, at + kStreamPiece));
    DEPOT_ASSIGN_OR_RETURN(GetResult read, Get(key, piece, ctx));
    if (read.data.empty()) {
      return DataLossError(
          fmt::format("key {}: ended at byte {} of {}", QuoteKey(key), at, head.range.end));
    }
    DEPOT_RETURN_IF_ERROR(on_data(read.data.view()));
    at += read.data.size();
  }
  return Status::Ok();
}

// The public calls: the context first, then the backend.

Result<PutResult> ObjectStore::Put(std::string_view key, Bytes data, const PutOptions& options,
                                   const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "put of key", key));
  DEPOT_RETURN_IF_ERROR(ValidateObjectHeaders(key, options.headers));
  DEPOT_RETURN_IF_ERROR(CheckChecksum(*this, key, options.checksum, /*with_value=*/true));
  return DoPut(key, std::move(data), options, ctx);
}

Result<GetResult> ObjectStore::Get(std::string_view key, const GetOptions& options,
                                   const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "get of key", key));
  return DoGet(key, options, ctx);
}

Result<ObjectMeta> ObjectStore::Head(std::string_view key, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "head of key", key));
  return DoHead(key, ctx);
}

Status ObjectStore::GetStream(std::string_view key, const GetOptions& options,
                              const std::function<Status(const GetResult&)>& on_head,
                              const std::function<Status(std::string_view)>& on_data,
                              const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "get of key", key));
  return DoGetStream(key, options, on_head, on_data, ctx);
}

Result<std::unique_ptr<ObjectWriter>> ObjectStore::OpenWriter(std::string_view key,
                                                              const WriteOptions& options,
                                                              const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "write of key", key));
  DEPOT_RETURN_IF_ERROR(ValidateObjectHeaders(key, options.put.headers));
  if (!options.put.checksum.empty()) {
    return InvalidArgumentError(fmt::format(
        "write of key {}: a writer's checksum is given to FinishChecked, once the bytes are known",
        QuoteKey(key)));
  }
  return DoOpenWriter(key, options, ctx);
}

Status ObjectStore::Delete(std::string_view key, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "delete of key", key));
  return DoDelete(key, ctx);
}

std::vector<Status> ObjectStore::DeleteMany(std::span<const std::string> keys, const Context& ctx) {
  if (ctx.IsCancelled() || ctx.Expired()) {
    std::vector<Status> stopped;
    stopped.reserve(keys.size());
    for (const std::string& key : keys) stopped.push_back(CheckContext(ctx, "delete of key", key));
    return stopped;
  }
  return DoDeleteMany(keys, ctx);
}

Result<ListResult> ObjectStore::List(const ListOptions& options, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "list of prefix", options.prefix));
  return DoList(options, ctx);
}

Result<PutResult> ObjectStore::Copy(std::string_view from, std::string_view to, CopyMode mode,
                                    const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "copy of key", from));
  return DoCopy(from, to, mode, ctx);
}

Status ObjectStore::Rename(std::string_view from, std::string_view to, CopyMode mode,
                           const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "rename of key", from));
  return DoRename(from, to, mode, ctx);
}

Result<std::string> ObjectStore::CreateMultipart(std::string_view key, const PutOptions& options,
                                                 const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "multipart upload of key", key));
  DEPOT_RETURN_IF_ERROR(ValidateObjectHeaders(key, options.headers));
  DEPOT_RETURN_IF_ERROR(CheckChecksum(*this, key, options.checksum, /*with_value=*/false));
  return DoCreateMultipart(key, options, ctx);
}

Result<PartInfo> ObjectStore::PutPart(std::string_view key, std::string_view upload_id,
                                      int part_number, Bytes data, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "part upload of key", key));
  return DoPutPart(key, upload_id, part_number, std::move(data), ctx);
}

Result<PutResult> ObjectStore::CompleteMultipart(std::string_view key, std::string_view upload_id,
                                                 std::span<const PartInfo> parts,
                                                 const WriteCondition& condition,
                                                 const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "completion of key", key));
  return DoCompleteMultipart(key, upload_id, parts, condition, ctx);
}

Status ObjectStore::AbortMultipart(std::string_view key, std::string_view upload_id,
                                   const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "abort of upload of key", key));
  return DoAbortMultipart(key, upload_id, ctx);
}

Result<std::unique_ptr<PartWriter>> ObjectStore::OpenPartWriter(std::string_view key,
                                                                std::string_view upload_id,
                                                                int part_number,
                                                                const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "part upload of key", key));
  return DoOpenPartWriter(key, upload_id, part_number, ctx);
}

Result<std::vector<PartInfo>> ObjectStore::ListParts(std::string_view key,
                                                     std::string_view upload_id,
                                                     const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "parts of key", key));
  return DoListParts(key, upload_id, ctx);
}

Result<std::vector<MultipartUploadInfo>> ObjectStore::ListMultipartUploads(std::string_view prefix,
                                                                           const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "uploads under prefix", prefix));
  return DoListMultipartUploads(prefix, ctx);
}

}  // namespace depot::object
