#include "depot/object/backend_util.h"

#include <fmt/format.h>
#include <sys/random.h>

#include <algorithm>

#include "depot/core/base64.h"
#include "depot/core/checksum.h"
#include "depot/core/md5.h"

namespace depot::object {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Status CheckPutMode(std::string_view key, const PutOptions& options, const ObjectMeta* current) {
  switch (options.mode) {
    case PutMode::kOverwrite:
      return Status::Ok();
    case PutMode::kCreate:
      if (current != nullptr) {
        return AlreadyExistsError(fmt::format("key {} already exists", QuoteKey(key)));
      }
      return Status::Ok();
    case PutMode::kUpdate:
      if (current == nullptr) {
        return FailedPreconditionError(
            fmt::format("key {}: conditional update, but the key does not exist", QuoteKey(key)));
      }
      if (current->etag != options.if_match) {
        return FailedPreconditionError(
            fmt::format("key {}: ETag is \"{}\", the update expected \"{}\"", QuoteKey(key),
                        current->etag, options.if_match));
      }
      return Status::Ok();
    case PutMode::kUnlessEtag:
      if (current != nullptr && current->etag == options.if_match) {
        return FailedPreconditionError(
            fmt::format("key {}: ETag is \"{}\", which the write was to replace only if it was not "
                        "(If-None-Match)",
                        QuoteKey(key), current->etag));
      }
      return Status::Ok();
  }
  return InternalError("unknown PutMode");
}

ListBuilder::ListBuilder(const ListOptions& options) : options_(options) {
  if (options_.max_keys == 0) {
    status_ = InvalidArgumentError("list: max_keys must be at least 1");
    return;
  }
  start_ = options_.start_after;
  const std::string& token = options_.continuation_token;
  if (!token.empty()) {
    // Tokens are "K" + last key returned, or "P" + last common prefix returned.
    if (token[0] == 'K') {
      start_ = std::max(start_, token.substr(1));
    } else if (token[0] == 'P') {
      start_ = std::max(start_, token.substr(1));
      skip_prefix_ = token.substr(1);
    } else {
      status_ = InvalidArgumentError(
          fmt::format("list: continuation token {} was not made by this store", QuoteKey(token)));
      return;
    }
  }
  seek_key_ = std::max(options_.prefix, start_);
}

bool ListBuilder::Add(const ObjectMeta& meta) {
  const std::string& key = meta.key;
  if (!StartsWith(key, options_.prefix)) return key < options_.prefix;
  if (key <= start_) return true;
  if (!skip_prefix_.empty() && StartsWith(key, skip_prefix_)) return true;
  std::string entry;
  bool is_prefix = false;
  if (!options_.delimiter.empty()) {
    size_t pos = key.find(options_.delimiter, options_.prefix.size());
    if (pos != std::string::npos) {
      entry = key.substr(0, pos + options_.delimiter.size());
      is_prefix = true;
      if (!result_.common_prefixes.empty() && result_.common_prefixes.back() == entry) {
        return true;
      }
    }
  }
  if (count_ == options_.max_keys) {
    result_.next_continuation_token = last_emitted_token_;
    return false;
  }
  ++count_;
  if (is_prefix) {
    last_emitted_token_ = "P" + entry;
    result_.common_prefixes.push_back(std::move(entry));
  } else {
    last_emitted_token_ = "K" + key;
    result_.objects.push_back(meta);
  }
  return true;
}

ListResult ListBuilder::Finish() && { return std::move(result_); }

std::string MultipartEtag(std::span<const std::string> part_etags) {
  Md5 md5;
  for (const std::string& hex : part_etags) {
    std::string raw(hex.size() / 2, '\0');
    for (size_t i = 0; i < raw.size(); ++i) {
      raw[i] = static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    }
    md5.Update(raw);
  }
  return fmt::format("{}-{}", HexEncode(md5.Finish()), part_etags.size());
}

Status ValidateCompleteParts(std::span<const PartInfo> requested, std::span<const PartInfo> staged,
                             uint64_t min_part_size) {
  if (requested.empty()) {
    return InvalidArgumentError("complete multipart: the part list is empty");
  }
  for (size_t i = 1; i < requested.size(); ++i) {
    if (requested[i].part_number <= requested[i - 1].part_number) {
      return InvalidArgumentError(fmt::format(
          "complete multipart: part {} listed after part {} (InvalidPartOrder: part numbers must "
          "ascend)",
          requested[i].part_number, requested[i - 1].part_number));
    }
  }
  for (size_t i = 0; i < requested.size(); ++i) {
    const PartInfo& part = requested[i];
    auto it = std::find_if(staged.begin(), staged.end(),
                           [&](const PartInfo& s) { return s.part_number == part.part_number; });
    if (it == staged.end()) {
      return InvalidArgumentError(fmt::format(
          "complete multipart: part {} was never uploaded (InvalidPart)", part.part_number));
    }
    if (it->etag != part.etag) {
      return InvalidArgumentError(fmt::format(
          "complete multipart: part {} has ETag \"{}\", the list says \"{}\" (InvalidPart)",
          part.part_number, it->etag, part.etag));
    }
    if (!part.checksum.empty() && part.checksum != it->checksum) {
      return InvalidArgumentError(fmt::format(
          "complete multipart: part {} has checksum \"{}\", the list says \"{}\" (InvalidPart)",
          part.part_number, it->checksum, part.checksum));
    }
    if (i + 1 < requested.size() && it->size < min_part_size) {
      return InvalidArgumentError(fmt::format(
          "complete multipart: part {} is {} bytes, below the {}-byte minimum for all but the "
          "last part (EntityTooSmall)",
          part.part_number, it->size, min_part_size));
    }
  }
  return Status::Ok();
}

Status KeepPartChecksum(std::string_view key, const Checksum& spec, const Checksum& checksum,
                        PartInfo& part) {
  const auto algorithm = PayloadChecksum::FromName(spec.algorithm);
  if (checksum.empty() || !algorithm) return Status::Ok();
  auto invalid = [&](std::string_view why) {
    return InvalidArgumentError(fmt::format("key {} part {}: {} checksum {} {} (InvalidRequest)",
                                            QuoteKey(key), part.part_number, checksum.algorithm,
                                            QuoteKey(checksum.value), why));
  };
  if (PayloadChecksum::FromName(checksum.algorithm) != algorithm) {
    return invalid(fmt::format("given to an upload of {} checksums", spec.algorithm));
  }
  const size_t digest_size = PayloadChecksum(*algorithm).Finish().size();
  auto digest = Base64Decode(checksum.value);
  if (!digest.ok() || digest->size() != digest_size) {
    return invalid(fmt::format("is not the base64 of a {}-byte digest", digest_size));
  }
  part.checksum = checksum.value;
  part.checksum_algorithm = spec.algorithm;
  return Status::Ok();
}

Status CheckContext(const Context& ctx, std::string_view what, std::string_view key) {
  if (!ctx.IsCancelled() && !ctx.Expired()) return Status::Ok();  // the common case: no message
  return ctx.Check(fmt::format("{} {}", what, QuoteKey(key)));
}

std::vector<Status> DeleteEach(ObjectStore& store, std::span<const std::string> keys,
                               const Context& ctx) {
  std::vector<Status> results;
  results.reserve(keys.size());
  for (const std::string& key : keys) results.push_back(store.Delete(key, ctx));
  return results;
}

std::string RandomHexId() {
  // 128 bits from the kernel's CSPRNG for every id: ids and unique ETags must not repeat across
  // threads, processes or restarts.
  uint8_t bytes[16];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (n > 0) filled += static_cast<size_t>(n);
  }
  return HexEncode(bytes, sizeof(bytes));
}

Status CheckNoCreateCondition(std::string_view key, const PutOptions& options) {
  if (options.mode == PutMode::kOverwrite) return Status::Ok();
  return InvalidArgumentError(fmt::format(
      "multipart upload of key {}: a write condition (create-only or If-Match) is checked when "
      "the upload completes; give it to CompleteMultipart, not CreateMultipart",
      QuoteKey(key)));
}

PutOptions ConditionedPut(PutOptions options, const WriteCondition& condition) {
  options.mode = condition.mode;
  options.if_match = condition.if_match;
  return options;
}

}  // namespace depot::object
