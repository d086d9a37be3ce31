#include "depot/server/encryption.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <algorithm>

#include "depot/core/ascii.h"
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
  for (const auto& field : exchange.request()) {
    const auto raw = field.name_string();
    const std::string name = AsciiLower(std::string_view(raw.data(), raw.size()));
    if (name.starts_with("x-amz-server-side-encryption") ||
        name.starts_with("x-amz-copy-source-server-side-encryption")) {
      return true;
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

Result<object::ObjectMeta> UnsealedView::Shown(object::ObjectMeta meta) const {
  const auto record = meta.user_metadata.find(std::string(kSealingField));
  if (record == meta.user_metadata.end() || record->second != record_) {
    return UnavailableError("SlowDown: the object was replaced while it was read; read it again");
  }
  meta.user_metadata.erase(record);
  meta.size = size_;
  meta.checksum = {};
  meta.parts.clear();  // in stored bytes: the plaintext is read as one part
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
  const SealedRange sealed = SealedRangeOf(plain.begin, plain.end, size_);
  object::GetOptions inner = options;
  inner.range = ByteRange::Bounded(sealed.begin, sealed.end);
  // Plaintext bytes before the range in its first chunk, and those still to send.
  uint64_t skip = plain.begin - sealed.first_chunk * kSealChunk;
  uint64_t left = plain.length();
  Unsealer unsealer(object_key_, sealed.first_chunk, size_, [&](std::string_view chunk) {
    const size_t skipped = std::min<uint64_t>(skip, chunk.size());
    skip -= skipped;
    chunk.remove_prefix(skipped);
    chunk = chunk.substr(0, std::min<uint64_t>(left, chunk.size()));
    left -= chunk.size();
    return chunk.empty() ? Status::Ok() : on_data(chunk);
  });
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
      [&](std::string_view piece) { return unsealer.Write(piece); }, ctx));
  if (!body) return Status::Ok();
  DEPOT_RETURN_IF_ERROR(unsealer.Finish());
  if (left > 0) {
    return DataLossError(fmt::format("the store sent {} bytes of the range short", left));
  }
  return Status::Ok();
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
  DEPOT_ASSIGN_OR_RETURN(uint64_t size, PlainSize(meta.size));
  SealKey base{};
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
    base = request.customer_key;
  } else {
    if (request.kind == RequestedEncryption::Kind::kCustomer) {
      return Invalid("the object is encrypted with SSE-S3, not a customer key; send none");
    }
    if (!service_key) {
      return UnimplementedError(
          "NotImplemented: the object is encrypted with SSE-S3 and depot serve has no master key "
          "(--sse-master-key)");
    }
    base = *service_key;
  }
  SealedRead read;
  read.view = std::make_unique<UnsealedView>(store, store_key, record->second,
                                             ObjectKey(base, sealing.salt), size);
  read.headers = EncryptionHeaders(sealing.kind, request);
  return std::optional<SealedRead>(std::move(read));
}

}  // namespace depot::server
