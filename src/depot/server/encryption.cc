#include "depot/server/encryption.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <algorithm>

#include "depot/core/base64.h"
#include "depot/core/md5.h"

namespace depot::server {
namespace {

constexpr std::string_view kAlgorithmHeader = "server-side-encryption-customer-algorithm";
constexpr std::string_view kKeyHeader = "server-side-encryption-customer-key";
constexpr std::string_view kKeyMd5Header = "server-side-encryption-customer-key-md5";

Status Invalid(std::string what) {
  return InvalidArgumentError(fmt::format("InvalidArgument: {}", what));
}

}  // namespace

bool AsksForEncryption(const Exchange& exchange) {
  // On every GET: compared in place, nothing copied.
  constexpr boost::beast::string_view kPrefixes[] = {"x-amz-server-side-encryption",
                                                     "x-amz-copy-source-server-side-encryption"};
  for (const auto& field : exchange.request()) {
    const auto name = field.name_string();
    for (const auto prefix : kPrefixes) {
      if (name.size() >= prefix.size() &&
          boost::beast::iequals(name.substr(0, prefix.size()), prefix)) {
        return true;
      }
    }
  }
  return false;
}

Result<RequestedEncryption> EncryptionOfRequest(const Exchange& exchange, bool write,
                                                bool allow_sse_c_over_http,
                                                std::string_view prefix) {
  RequestedEncryption request;
  const bool source = prefix != "x-amz-";
  auto header = [&](std::string_view name) {
    return exchange.Header(fmt::format("{}{}", prefix, name));
  };
  const std::optional<std::string> sse =
      source ? std::nullopt : exchange.Header("x-amz-server-side-encryption");
  const std::optional<std::string> kms_key =
      source ? std::nullopt : exchange.Header("x-amz-server-side-encryption-aws-kms-key-id");
  const std::string algorithm_header = fmt::format("{}{}", prefix, kAlgorithmHeader);
  const std::string key_header = fmt::format("{}{}", prefix, kKeyHeader);
  const std::string key_md5_header = fmt::format("{}{}", prefix, kKeyMd5Header);
  const std::optional<std::string> algorithm = header(kAlgorithmHeader);
  const std::optional<std::string> key = header(kKeyHeader);
  const std::optional<std::string> key_md5 = header(kKeyMd5Header);
  if (sse) {
    if (!write) {
      return Invalid(fmt::format(
          "x-amz-server-side-encryption \"{}\" is for writes; a read names no encryption", *sse));
    }
    if (*sse == "aws:kms" || *sse == "aws:kms:dsse") {
      return UnimplementedError(fmt::format(
          "NotImplemented: x-amz-server-side-encryption \"{}\": no key service is configured",
          *sse));
    }
    if (*sse != "AES256") {
      return Invalid(fmt::format(
          "x-amz-server-side-encryption \"{}\" is not AES256, aws:kms or aws:kms:dsse", *sse));
    }
    request.kind = RequestedEncryption::Kind::kService;
  }
  if (kms_key) {
    return Invalid(fmt::format(
        "x-amz-server-side-encryption-aws-kms-key-id \"{}\" is given without aws:kms", *kms_key));
  }
  if (!source && exchange.Header("x-amz-server-side-encryption-context")) {
    return Invalid("x-amz-server-side-encryption-context is given without aws:kms");
  }
  if (!algorithm && !key && !key_md5) return request;
  if (request.kind == RequestedEncryption::Kind::kService) {
    return Invalid("x-amz-server-side-encryption and a customer key (SSE-C) are given together");
  }
  if (!algorithm) {
    return Invalid(fmt::format("{} is needed with a customer key", algorithm_header));
  }
  if (*algorithm != "AES256") {
    return InvalidArgumentError(fmt::format(
        "InvalidEncryptionAlgorithmError: {} \"{}\" is not AES256", algorithm_header, *algorithm));
  }
  if (!key || !key_md5) {
    return Invalid(fmt::format("SSE-C needs both {} and {}", key_header, key_md5_header));
  }
  auto decoded = Base64Decode(*key);
  if (!decoded.ok() || decoded->size() != request.customer_key.size()) {
    return Invalid(fmt::format("{} is not the base64 of a 256-bit key", key_header));
  }
  std::copy(decoded->begin(), decoded->end(), request.customer_key.begin());
  Md5 md5;
  md5.Update(*decoded);
  const std::array<uint8_t, 16> digest = md5.Finish();
  if (Base64Encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size())) !=
      *key_md5) {
    return Invalid(fmt::format("{} \"{}\" is not the MD5 of the key", key_md5_header, *key_md5));
  }
  if (!exchange.secure() && !allow_sse_c_over_http) {
    return InvalidArgumentError(
        "InvalidRequest: requests with a customer key (SSE-C) must be made over HTTPS");
  }
  request.kind = RequestedEncryption::Kind::kCustomer;
  request.customer_key_md5 = *key_md5;
  return request;
}

HeaderList EncryptionHeaders(Sealing::Kind kind, const RequestedEncryption& request) {
  if (kind == Sealing::Kind::kService) return {{"x-amz-server-side-encryption", "AES256"}};
  return {{fmt::format("x-amz-{}", kAlgorithmHeader), "AES256"},
          {fmt::format("x-amz-{}", kKeyMd5Header), request.customer_key_md5}};
}

UnsealedView::UnsealedView(object::ObjectStore& target, std::string key, std::string record,
                           std::vector<SealedSegment> segments,
                           std::vector<object::ObjectPart> parts)
    : ForwardingStore(target),
      key_(std::move(key)),
      record_(std::move(record)),
      segments_(std::move(segments)),
      parts_(std::move(parts)) {
  for (const SealedSegment& segment : segments_) size_ += segment.plain_size;
}

Result<object::ObjectMeta> UnsealedView::Shown(object::ObjectMeta meta) const {
  const auto record = meta.user_metadata.find(std::string(kSealingField));
  if (record == meta.user_metadata.end() || record->second != record_) {
    return UnavailableError("SlowDown: the object was replaced while it was read; read it again");
  }
  meta.user_metadata.erase(record);
  meta.size = size_;
  meta.checksum = {};
  meta.parts = parts_;
  return meta;
}

Result<object::ObjectMeta> UnsealedView::DoHead(std::string_view key, const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(object::ObjectMeta meta, ForwardingStore::DoHead(key, ctx));
  if (key != key_) return meta;
  return Shown(std::move(meta));
}

Result<object::GetResult> UnsealedView::DoGet(std::string_view key,
                                              const object::GetOptions& options,
                                              const Context& ctx) {
  if (key != key_) return ForwardingStore::DoGet(key, options, ctx);
  object::GetResult result;
  std::string data;
  DEPOT_RETURN_IF_ERROR(DoGetStream(
      key, options,
      [&](const object::GetResult& head) {
        result = head;
        return Status::Ok();
      },
      [&](std::string_view piece) {
        data.append(piece);
        return Status::Ok();
      },
      ctx));
  result.data = Bytes::FromString(std::move(data));
  return result;
}

Status UnsealedView::DoGetStream(std::string_view key, const object::GetOptions& options,
                                 const std::function<Status(const object::GetResult&)>& on_head,
                                 const std::function<Status(std::string_view)>& on_data,
                                 const Context& ctx) {
  if (key != key_) return ForwardingStore::DoGetStream(key, options, on_head, on_data, ctx);
  ResolvedRange plain{0, size_};
  if (!options.range.is_full()) {
    DEPOT_ASSIGN_OR_RETURN(plain, options.range.Validate(size_));
  }
  // The stretch of each segment the range crosses: its whole chunks, and the plaintext bytes
  // before the range in its first chunk and of the range in it.
  struct Piece {
    const SealedSegment* segment;
    SealedRange sealed;
    uint64_t skip;
    uint64_t take;
  };
  std::vector<Piece> pieces;
  for (const SealedSegment& segment : segments_) {
    const uint64_t begin = std::max(plain.begin, segment.plain_offset);
    const uint64_t end = std::min(plain.end, segment.plain_offset + segment.plain_size);
    if (begin >= end) continue;
    const uint64_t local = begin - segment.plain_offset;
    const SealedRange sealed = SealedRangeOf(local, end - segment.plain_offset, segment.plain_size);
    pieces.push_back({&segment, sealed, local - sealed.first_chunk * kSealChunk, end - begin});
  }
  object::GetOptions inner = options;
  inner.range =
      pieces.empty()
          ? ByteRange::Bounded(0, 0)
          : ByteRange::Bounded(pieces.front().segment->stored_offset + pieces.front().sealed.begin,
                               pieces.back().segment->stored_offset + pieces.back().sealed.end);
  // Stored bytes go to the current piece's Unsealer until its chunks are whole, then to the next.
  size_t current = 0;
  uint64_t fed = 0;
  std::optional<Unsealer> unsealer;
  auto open = [&] {
    Piece& piece = pieces[current];
    unsealer.emplace(piece.segment->key, piece.sealed.first_chunk, piece.segment->plain_size,
                     [&piece, &on_data](std::string_view chunk) {
                       const size_t skipped = std::min<uint64_t>(piece.skip, chunk.size());
                       piece.skip -= skipped;
                       chunk.remove_prefix(skipped);
                       chunk = chunk.substr(0, std::min<uint64_t>(piece.take, chunk.size()));
                       piece.take -= chunk.size();
                       return chunk.empty() ? Status::Ok() : on_data(chunk);
                     });
    fed = 0;
  };
  auto feed = [&](std::string_view bytes) -> Status {
    while (!bytes.empty()) {
      if (current >= pieces.size()) {
        return DataLossError("the store sent more bytes than the range asked for");
      }
      if (!unsealer) open();
      const Piece& piece = pieces[current];
      const uint64_t want = piece.sealed.end - piece.sealed.begin - fed;
      const size_t take = std::min<uint64_t>(want, bytes.size());
      DEPOT_RETURN_IF_ERROR(unsealer->Write(bytes.substr(0, take)));
      bytes.remove_prefix(take);
      fed += take;
      if (fed == piece.sealed.end - piece.sealed.begin) {
        DEPOT_RETURN_IF_ERROR(unsealer->Finish());
        unsealer.reset();
        ++current;
      }
    }
    return Status::Ok();
  };
  bool body = false;
  DEPOT_RETURN_IF_ERROR(ForwardingStore::DoGetStream(
      key, inner,
      [&](const object::GetResult& head) -> Status {
        object::GetResult shown;
        if (head.not_modified) {
          shown.meta = head.meta;  // a 304 carries no metadata to check
        } else {
          DEPOT_ASSIGN_OR_RETURN(shown.meta, Shown(head.meta));
        }
        shown.range = plain;
        shown.not_modified = head.not_modified;
        body = !options.head && !head.not_modified;
        return on_head(shown);
      },
      feed, ctx));
  if (body && current < pieces.size()) {
    return DataLossError("the store sent the range short");
  }
  return Status::Ok();
}

Result<uint64_t> PlainSizeOf(const object::ObjectMeta& meta) {
  const auto record = meta.user_metadata.find(std::string(kSealingField));
  if (record == meta.user_metadata.end()) return meta.size;
  DEPOT_ASSIGN_OR_RETURN(Sealing sealing, Sealing::Decode(record->second));
  if (!sealing.parts) return PlainSize(meta.size);
  if (meta.parts.empty()) {
    return DataLossError("an encrypted multipart object whose part sizes the store did not keep");
  }
  uint64_t size = 0;
  for (const object::ObjectPart& part : meta.parts) {
    DEPOT_ASSIGN_OR_RETURN(uint64_t plain, PlainSize(part.size));
    size += plain;
  }
  return size;
}

Result<SealKey> BaseKeyOf(const Sealing& sealing, const RequestedEncryption& request,
                          const std::optional<SealKey>& service_key) {
  if (sealing.kind == Sealing::Kind::kCustomer) {
    if (request.kind != RequestedEncryption::Kind::kCustomer) {
      return InvalidArgumentError(
          "InvalidRequest: the object is encrypted with a customer key (SSE-C): send it with "
          "x-amz-server-side-encryption-customer-algorithm, -key and -key-MD5");
    }
    const std::string check = CheckValue(request.customer_key, sealing.salt);
    if (CRYPTO_memcmp(check.data(), sealing.check.data(), check.size()) != 0) {
      return Invalid("the customer key sent is not the one the object was encrypted with");
    }
    return request.customer_key;
  }
  if (request.kind == RequestedEncryption::Kind::kCustomer) {
    return Invalid("the object is encrypted with SSE-S3, not a customer key; send none");
  }
  if (!service_key) {
    return UnimplementedError(
        "NotImplemented: the object is encrypted with SSE-S3 and depot serve has no master key "
        "(--sse-master-key)");
  }
  return *service_key;
}

Result<std::optional<SealedRead>> OpenSealed(object::ObjectStore& store,
                                             const std::string& store_key,
                                             const object::ObjectMeta& meta,
                                             const RequestedEncryption& request,
                                             const std::optional<SealKey>& service_key) {
  const auto record = meta.user_metadata.find(std::string(kSealingField));
  if (record == meta.user_metadata.end()) {
    if (request.kind == RequestedEncryption::Kind::kCustomer) {
      return Invalid("the object is not encrypted with a customer key; send none");
    }
    return std::optional<SealedRead>();
  }
  DEPOT_ASSIGN_OR_RETURN(Sealing sealing, Sealing::Decode(record->second));
  DEPOT_ASSIGN_OR_RETURN(const SealKey base, BaseKeyOf(sealing, request, service_key));
  const SealKey object_key = ObjectKey(base, sealing.salt);
  std::vector<SealedSegment> segments;
  std::vector<object::ObjectPart> parts;
  if (!sealing.parts) {
    DEPOT_ASSIGN_OR_RETURN(uint64_t size, PlainSize(meta.size));
    segments.push_back({0, meta.size, 0, size, object_key});
  } else {
    if (meta.parts.empty()) {
      return DataLossError("an encrypted multipart object whose part sizes the store did not keep");
    }
    uint64_t stored = 0;
    uint64_t plain = 0;
    for (size_t i = 0; i < meta.parts.size(); ++i) {
      DEPOT_ASSIGN_OR_RETURN(uint64_t size, PlainSize(meta.parts[i].size));
      segments.push_back(
          {stored, meta.parts[i].size, plain, size, PartKey(object_key, static_cast<int>(i + 1))});
      parts.push_back({size, ""});
      stored += meta.parts[i].size;
      plain += size;
    }
  }
  SealedRead read;
  read.view = std::make_unique<UnsealedView>(store, store_key, record->second, std::move(segments),
                                             std::move(parts));
  read.headers = EncryptionHeaders(sealing.kind, request);
  return std::optional<SealedRead>(std::move(read));
}

}  // namespace depot::server
