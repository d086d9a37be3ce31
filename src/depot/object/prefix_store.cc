// PrefixStore: keys are validated as the caller wrote them (so "" stays invalid even though
// prefix + "" might be a valid inner key), then forwarded as prefix + key. Everything the inner
// store returns that names a key is mapped back; an error is prefixed with the caller's key
// (the inner message, naming the inner key, follows). Listing continuation tokens are the inner
// store's and pass through untouched.
#include "depot/object/prefix_store.h"

#include <fmt/format.h>

#include "depot/core/url.h"
#include "depot/object/backend_util.h"

namespace depot::object {
namespace {

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Errors from the inner store name the inner key; callers look for the key they passed, so it
// goes in front: key "c": key "tenant/c" already exists.
Status Named(Status status, std::string_view key) {
  return status.WithContext(fmt::format("key {}", QuoteKey(key)));
}
template <typename T>
Result<T> Named(Result<T> result, std::string_view key) {
  if (result.ok()) return result;
  return Named(result.status(), key);
}
Status Named(Status status, std::string_view from, std::string_view to) {
  return status.WithContext(fmt::format("from key {} to key {}", QuoteKey(from), QuoteKey(to)));
}

}  // namespace

PrefixStore::PrefixStore(std::shared_ptr<ObjectStore> inner, std::string prefix)
    : inner_(std::move(inner)), prefix_(std::move(prefix)) {}

Capabilities PrefixStore::capabilities() const { return inner_->capabilities(); }

std::string PrefixStore::ToString() const {
  std::string url = inner_->ToString();
  url += url.find('?') == std::string::npos ? "?prefix=" : "&prefix=";
  url += PercentEncode(prefix_);
  return url;
}

Result<PutResult> PrefixStore::DoPut(std::string_view key, Bytes data, const PutOptions& options,
                                     const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->Put(Full(key), std::move(data), options, ctx), key);
}

Result<GetResult> PrefixStore::DoGet(std::string_view key, const GetOptions& options,
                                     const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  DEPOT_ASSIGN_OR_RETURN(GetResult result, Named(inner_->Get(Full(key), options, ctx), key));
  result.meta.key = std::string(key);
  return result;
}

Status PrefixStore::DoGetStream(std::string_view key, const GetOptions& options,
                                const std::function<Status(const GetResult&)>& on_head,
                                const std::function<Status(std::string_view)>& on_data,
                                const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->GetStream(
                   Full(key), options,
                   [&](const GetResult& head) {
                     GetResult named = head;
                     named.meta.key = std::string(key);
                     return on_head(named);
                   },
                   on_data, ctx),
               key);
}

Result<ObjectMeta> PrefixStore::DoHead(std::string_view key, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  DEPOT_ASSIGN_OR_RETURN(ObjectMeta meta, Named(inner_->Head(Full(key), ctx), key));
  meta.key = std::string(key);
  return meta;
}

Result<std::unique_ptr<ObjectWriter>> PrefixStore::DoOpenWriter(std::string_view key,
                                                                const WriteOptions& options,
                                                                const Context& ctx) {
  return Named(inner_->OpenWriter(Full(key), options, ctx), key);
}

Result<std::unique_ptr<PartWriter>> PrefixStore::DoOpenPartWriter(std::string_view key,
                                                                  std::string_view upload_id,
                                                                  int part_number,
                                                                  const Context& ctx) {
  return Named(inner_->OpenPartWriter(Full(key), upload_id, part_number, ctx), key);
}

Status PrefixStore::DoDelete(std::string_view key, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->Delete(Full(key), ctx), key);
}

std::vector<Status> PrefixStore::DoDeleteMany(std::span<const std::string> keys,
                                              const Context& ctx) {
  std::vector<Status> results(keys.size());
  std::vector<std::string> forwarded;
  std::vector<size_t> positions;  // of each forwarded key in `keys`
  for (size_t i = 0; i < keys.size(); ++i) {
    results[i] = ValidateKey(keys[i]);
    if (results[i].ok()) {
      forwarded.push_back(Full(keys[i]));
      positions.push_back(i);
    }
  }
  if (forwarded.empty()) return results;
  std::vector<Status> inner_results = inner_->DeleteMany(forwarded, ctx);
  for (size_t j = 0; j < positions.size(); ++j) {
    results[positions[j]] = j < inner_results.size()
                                ? inner_results[j]
                                : InternalError(fmt::format(
                                      "inner store {} returned {} statuses for {} keys",
                                      inner_->ToString(), inner_results.size(), forwarded.size()));
  }
  return results;
}

Result<ListResult> PrefixStore::DoList(const ListOptions& options, const Context& ctx) {
  ListOptions inner_options = options;
  inner_options.prefix = prefix_ + options.prefix;
  if (!options.start_after.empty()) inner_options.start_after = prefix_ + options.start_after;
  DEPOT_ASSIGN_OR_RETURN(ListResult result, inner_->List(inner_options, ctx));
  for (ObjectMeta& meta : result.objects) {
    if (!HasPrefix(meta.key, prefix_)) {
      return InternalError(fmt::format("inner store {} listed key {} outside prefix {}",
                                       inner_->ToString(), QuoteKey(meta.key), QuoteKey(prefix_)));
    }
    meta.key = Strip(meta.key);
  }
  for (std::string& common : result.common_prefixes) {
    if (!HasPrefix(common, prefix_)) {
      return InternalError(fmt::format("inner store {} listed prefix {} outside prefix {}",
                                       inner_->ToString(), QuoteKey(common), QuoteKey(prefix_)));
    }
    common = Strip(common);
  }
  return result;
}

Result<PutResult> PrefixStore::DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                                      const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(from));
  DEPOT_RETURN_IF_ERROR(ValidateKey(to));
  Result<PutResult> result = inner_->Copy(Full(from), Full(to), mode, ctx);
  if (!result.ok()) return Named(result.status(), from, to);
  return result;
}

Status PrefixStore::DoRename(std::string_view from, std::string_view to, CopyMode mode,
                             const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(from));
  DEPOT_RETURN_IF_ERROR(ValidateKey(to));
  return Named(inner_->Rename(Full(from), Full(to), mode, ctx), from, to);
}

Result<std::string> PrefixStore::DoCreateMultipart(std::string_view key, const PutOptions& options,
                                                   const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->CreateMultipart(Full(key), options, ctx), key);
}

Result<PartInfo> PrefixStore::DoPutPart(std::string_view key, std::string_view upload_id,
                                        int part_number, Bytes data, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->PutPart(Full(key), upload_id, part_number, std::move(data), ctx), key);
}

Result<PutResult> PrefixStore::DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                                   std::span<const PartInfo> parts,
                                                   const WriteCondition& condition,
                                                   const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->CompleteMultipart(Full(key), upload_id, parts, condition, ctx), key);
}

Status PrefixStore::DoAbortMultipart(std::string_view key, std::string_view upload_id,
                                     const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->AbortMultipart(Full(key), upload_id, ctx), key);
}

Result<std::vector<PartInfo>> PrefixStore::DoListParts(std::string_view key,
                                                       std::string_view upload_id,
                                                       const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->ListParts(Full(key), upload_id, ctx), key);
}

Result<std::vector<MultipartUploadInfo>> PrefixStore::DoListMultipartUploads(
    std::string_view prefix, const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(std::vector<MultipartUploadInfo> uploads,
                         inner_->ListMultipartUploads(Full(prefix), ctx));
  for (MultipartUploadInfo& upload : uploads) {
    if (!HasPrefix(upload.key, prefix_)) {
      return InternalError(
          fmt::format("inner store {} listed an upload of key {} outside prefix {}",
                      inner_->ToString(), QuoteKey(upload.key), QuoteKey(prefix_)));
    }
    upload.key = Strip(upload.key);
  }
  return uploads;
}

}  // namespace depot::object
