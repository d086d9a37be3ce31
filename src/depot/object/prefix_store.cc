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

Result<PutResult> PrefixStore::Put(std::string_view key, Bytes data, const PutOptions& options) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->Put(Full(key), std::move(data), options), key);
}

Result<GetResult> PrefixStore::Get(std::string_view key, const GetOptions& options) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  DEPOT_ASSIGN_OR_RETURN(GetResult result, Named(inner_->Get(Full(key), options), key));
  result.meta.key = std::string(key);
  return result;
}

Status PrefixStore::GetStream(std::string_view key, const GetOptions& options,
                              const std::function<Status(const GetResult&)>& on_head,
                              const std::function<Status(std::string_view)>& on_data) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->GetStream(
                   Full(key), options,
                   [&](const GetResult& head) {
                     GetResult named = head;
                     named.meta.key = std::string(key);
                     return on_head(named);
                   },
                   on_data),
               key);
}

Result<ObjectMeta> PrefixStore::Head(std::string_view key) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  DEPOT_ASSIGN_OR_RETURN(ObjectMeta meta, Named(inner_->Head(Full(key)), key));
  meta.key = std::string(key);
  return meta;
}

Result<std::unique_ptr<ObjectWriter>> PrefixStore::OpenWriter(std::string_view key,
                                                              const WriteOptions& options) {
  return Named(inner_->OpenWriter(Full(key), options), key);
}

Result<std::unique_ptr<PartWriter>> PrefixStore::OpenPartWriter(std::string_view key,
                                                                std::string_view upload_id,
                                                                int part_number) {
  return Named(inner_->OpenPartWriter(Full(key), upload_id, part_number), key);
}

Status PrefixStore::Delete(std::string_view key) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->Delete(Full(key)), key);
}

std::vector<Status> PrefixStore::DeleteMany(std::span<const std::string> keys) {
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
  std::vector<Status> inner_results = inner_->DeleteMany(forwarded);
  for (size_t j = 0; j < positions.size(); ++j) {
    results[positions[j]] = j < inner_results.size()
                                ? inner_results[j]
                                : InternalError(fmt::format(
                                      "inner store {} returned {} statuses for {} keys",
                                      inner_->ToString(), inner_results.size(), forwarded.size()));
  }
  return results;
}

Result<ListResult> PrefixStore::List(const ListOptions& options) {
  ListOptions inner_options = options;
  inner_options.prefix = prefix_ + options.prefix;
  if (!options.start_after.empty()) inner_options.start_after = prefix_ + options.start_after;
  DEPOT_ASSIGN_OR_RETURN(ListResult result, inner_->List(inner_options));
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

Result<PutResult> PrefixStore::Copy(std::string_view from, std::string_view to, CopyMode mode) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(from));
  DEPOT_RETURN_IF_ERROR(ValidateKey(to));
  Result<PutResult> result = inner_->Copy(Full(from), Full(to), mode);
  if (!result.ok()) return Named(result.status(), from, to);
  return result;
}

Status PrefixStore::Rename(std::string_view from, std::string_view to, CopyMode mode) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(from));
  DEPOT_RETURN_IF_ERROR(ValidateKey(to));
  return Named(inner_->Rename(Full(from), Full(to), mode), from, to);
}

Result<std::string> PrefixStore::CreateMultipart(std::string_view key, const PutOptions& options) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->CreateMultipart(Full(key), options), key);
}

Result<PartInfo> PrefixStore::PutPart(std::string_view key, std::string_view upload_id,
                                      int part_number, Bytes data) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->PutPart(Full(key), upload_id, part_number, std::move(data)), key);
}

Result<PutResult> PrefixStore::CompleteMultipart(std::string_view key, std::string_view upload_id,
                                                 std::span<const PartInfo> parts,
                                                 const WriteCondition& condition) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->CompleteMultipart(Full(key), upload_id, parts, condition), key);
}

Status PrefixStore::AbortMultipart(std::string_view key, std::string_view upload_id) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->AbortMultipart(Full(key), upload_id), key);
}

Result<std::vector<PartInfo>> PrefixStore::ListParts(std::string_view key,
                                                     std::string_view upload_id) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  return Named(inner_->ListParts(Full(key), upload_id), key);
}

Result<std::vector<MultipartUploadInfo>> PrefixStore::ListMultipartUploads(
    std::string_view prefix) {
  DEPOT_ASSIGN_OR_RETURN(std::vector<MultipartUploadInfo> uploads,
                         inner_->ListMultipartUploads(Full(prefix)));
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
