#include "depot/node/wire.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include "depot/core/hex.h"
#include "depot/node/codec.h"

namespace depot::node {
namespace {

constexpr std::string_view kNodeMagic = "DNR1";
constexpr std::string_view kProviderMagic = "DPR1";
constexpr std::string_view kMessageMagic = "DNM1";

// What a signature covers: a domain tag naming the format, then the encoded fields.
std::string Signed(std::string_view magic, std::string_view fields) {
  return fmt::format("depot-node/{}/", magic) + std::string(fields);
}

// Appends the signature to the fields and returns the whole.
std::string Seal(const KeyPair& keys, std::string_view magic, Writer fields) {
  std::string signature = keys.Sign(Signed(magic, fields.str()));
  return fields.Fixed(signature).Take();
}

// Splits `bytes` into the signed fields and the signature, and checks it against `public_key`
// once the fields are parsed (the caller passes the key it read).
Status CheckSignature(std::string_view magic, std::string_view bytes, size_t fields_end,
                      std::string_view public_key, std::string_view what) {
  const std::string_view signature = bytes.substr(fields_end);
  if (signature.size() != kSignatureLen) {
    return InvalidArgumentError(
        fmt::format("{} has {} bytes after its fields, not a {}-byte signature", what,
                    signature.size(), kSignatureLen));
  }
  const Status verified = Verify(public_key, Signed(magic, bytes.substr(0, fields_end)), signature);
  if (!verified.ok()) {
    return Status(verified.code(), fmt::format("{}: {}", what, verified.message()));
  }
  return Status::Ok();
}

Status CheckFresh(int64_t issued_ms, int64_t expires_ms, int64_t now_ms, std::string_view what) {
  if (expires_ms < issued_ms) {
    return InvalidArgumentError(fmt::format("{} expires before it was issued", what));
  }
  if (issued_ms > now_ms + kMaxClockSkewMs) {
    return InvalidArgumentError(
        fmt::format("{} was issued {} ms in the future", what, issued_ms - now_ms));
  }
  if (expires_ms <= now_ms) {
    return FailedPreconditionError(fmt::format("{} expired {} ms ago", what, now_ms - expires_ms));
  }
  return Status::Ok();
}

Writer Fields(std::string_view magic) {
  Writer w;
  w.Fixed(magic);
  return w;
}

Status CheckMagic(Reader& r, std::string_view magic, std::string_view what) {
  if (r.Fixed(magic.size()) != magic) {
    return InvalidArgumentError(fmt::format("{} does not start with {}", what, magic));
  }
  return Status::Ok();
}

Address ReadAddress(Reader& r) {
  Address address;
  r.Fixed(address.ip);
  address.port = static_cast<uint16_t>(r.U32());
  return address;
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string SealNodeRecord(const KeyPair& keys, NodeRecord record) {
  Writer w = Fields(kNodeMagic);
  w.Fixed(keys.public_key())
      .Fixed(record.dht.ip)
      .U32(record.dht.port)
      .Bytes(record.endpoint.substr(0, kMaxEndpoint))
      .I64(record.issued_ms)
      .I64(record.expires_ms);
  return Seal(keys, kNodeMagic, std::move(w));
}

Result<NodeRecord> OpenNodeRecord(std::string_view bytes, int64_t now_ms) {
  constexpr std::string_view what = "a node record";
  Reader r(bytes);
  DEPOT_RETURN_IF_ERROR(CheckMagic(r, kNodeMagic, what));
  NodeRecord record;
  record.public_key = std::string(r.Fixed(kPublicKeyLen));
  record.dht = ReadAddress(r);
  record.endpoint = std::string(r.Bytes(kMaxEndpoint));
  record.issued_ms = r.I64();
  record.expires_ms = r.I64();
  if (!r.ok()) return InvalidArgumentError(fmt::format("{} is cut short", what));
  DEPOT_RETURN_IF_ERROR(CheckSignature(kNodeMagic, bytes, r.position(), record.public_key, what));
  record.id = NodeId::FromPublicKey(record.public_key);
  DEPOT_RETURN_IF_ERROR(CheckFresh(record.issued_ms, record.expires_ms, now_ms, what));
  return record;
}

std::string SealProviderRecord(const KeyPair& keys, ProviderRecord record) {
  Writer w = Fields(kProviderMagic);
  w.Fixed(record.content.digest)
      .U64(record.size)
      .Fixed(keys.public_key())
      .Bytes(record.endpoint.substr(0, kMaxEndpoint))
      .I64(record.issued_ms)
      .I64(record.expires_ms);
  return Seal(keys, kProviderMagic, std::move(w));
}

Result<ProviderRecord> OpenProviderRecord(std::string_view bytes, int64_t now_ms) {
  constexpr std::string_view what = "a provider record";
  Reader r(bytes);
  DEPOT_RETURN_IF_ERROR(CheckMagic(r, kProviderMagic, what));
  ProviderRecord record;
  r.Fixed(record.content.digest);
  record.size = r.U64();
  record.public_key = std::string(r.Fixed(kPublicKeyLen));
  record.endpoint = std::string(r.Bytes(kMaxEndpoint));
  record.issued_ms = r.I64();
  record.expires_ms = r.I64();
  if (!r.ok()) return InvalidArgumentError(fmt::format("{} is cut short", what));
  DEPOT_RETURN_IF_ERROR(
      CheckSignature(kProviderMagic, bytes, r.position(), record.public_key, what));
  record.provider = NodeId::FromPublicKey(record.public_key);
  DEPOT_RETURN_IF_ERROR(CheckFresh(record.issued_ms, record.expires_ms, now_ms, what));
  return record;
}

std::string SealMessage(const KeyPair& keys, MessageKind kind, const NodeId& to,
                        std::string_view body, int64_t now_ms) {
  Nonce nonce;
  if (RAND_bytes(nonce.data(), nonce.size()) != 1) std::abort();  // no randomness: nothing safe
  Writer w = Fields(kMessageMagic);
  w.U8(static_cast<uint8_t>(kind))
      .Fixed(keys.public_key())
      .Fixed(to.bytes)
      .Fixed(nonce)
      .I64(now_ms)
      .Bytes(body);
  return Seal(keys, kMessageMagic, std::move(w));
}

Result<Envelope> DecodeMessage(std::string_view bytes) {
  constexpr std::string_view what = "a node message";
  Reader r(bytes);
  DEPOT_RETURN_IF_ERROR(CheckMagic(r, kMessageMagic, what));
  Envelope e;
  const uint8_t kind = r.U8();
  e.public_key = std::string(r.Fixed(kPublicKeyLen));
  r.Fixed(e.to.bytes);
  r.Fixed(e.nonce);
  e.sent_ms = r.I64();
  e.body = std::string(r.Bytes(kMaxMessageBody));
  if (!r.ok()) return InvalidArgumentError(fmt::format("{} is cut short or too long", what));
  if (kind < static_cast<uint8_t>(MessageKind::kPing) ||
      kind > static_cast<uint8_t>(MessageKind::kLastKind)) {
    return InvalidArgumentError(fmt::format("{} of unknown kind {}", what, kind));
  }
  e.kind = static_cast<MessageKind>(kind);
  DEPOT_RETURN_IF_ERROR(CheckSignature(kMessageMagic, bytes, r.position(), e.public_key, what));
  e.from = NodeId::FromPublicKey(e.public_key);
  return e;
}

Result<Nonce> NonceOf(std::string_view sealed) {
  DEPOT_ASSIGN_OR_RETURN(Envelope e, DecodeMessage(sealed));
  return e.nonce;
}

std::string SealReply(const KeyPair& keys, const Envelope& request, std::string_view body,
                      int64_t now_ms, bool error) {
  Writer w;
  w.Fixed(request.nonce).Fixed(body);
  return SealMessage(keys, error ? MessageKind::kError : MessageKind::kReply, request.from, w.str(),
                     now_ms);
}

Result<std::string> OpenReply(std::string_view reply, const NodeId& me, const NodeId& request_to,
                              const Nonce& nonce, int64_t now_ms) {
  DEPOT_ASSIGN_OR_RETURN(Envelope e, DecodeMessage(reply));
  if (e.from != request_to || e.to != me) {
    return PermissionDeniedError(fmt::format("a reply from node {} to node {}, not from {} to {}",
                                             e.from.Short(), e.to.Short(), request_to.Short(),
                                             me.Short()));
  }
  if ((e.kind != MessageKind::kReply && e.kind != MessageKind::kError) ||
      e.body.size() < nonce.size() || std::memcmp(e.body.data(), nonce.data(), nonce.size()) != 0) {
    return PermissionDeniedError(
        fmt::format("node {} sent a message that answers no request of ours", e.from.Short()));
  }
  if (e.sent_ms < now_ms - kMaxMessageAgeMs || e.sent_ms > now_ms + kMaxClockSkewMs) {
    return PermissionDeniedError(
        fmt::format("a reply from node {} sent at {} ms is not fresh", e.from.Short(), e.sent_ms));
  }
  std::string body = e.body.substr(nonce.size());
  if (e.kind == MessageKind::kError) {
    return FailedPreconditionError(fmt::format("node {} refused: {}", e.from.Short(), body));
  }
  return body;
}

Result<Envelope> ReplayGuard::Open(std::string_view bytes, const NodeId& me, int64_t now_ms) {
  DEPOT_ASSIGN_OR_RETURN(Envelope e, DecodeMessage(bytes));
  if (e.to != me) {
    return PermissionDeniedError(
        fmt::format("a message from node {} for node {}, not this one ({})", e.from.Short(),
                    e.to.Short(), me.Short()));
  }
  if (e.sent_ms < now_ms - kMaxMessageAgeMs) {
    return PermissionDeniedError(fmt::format("a message from node {} sent {} ms ago is too old",
                                             e.from.Short(), now_ms - e.sent_ms));
  }
  if (e.sent_ms > now_ms + kMaxClockSkewMs) {
    return PermissionDeniedError(fmt::format("a message from node {} is dated {} ms ahead",
                                             e.from.Short(), e.sent_ms - now_ms));
  }
  MutexLock lock(mu_);
  while (!by_time_.empty() && by_time_.begin()->first < now_ms - kMaxMessageAgeMs) {
    seen_.erase(by_time_.begin()->second);
    by_time_.erase(by_time_.begin());
  }
  if (seen_.insert({e.from, e.nonce}).second) {
    by_time_.emplace(e.sent_ms, Seen{e.from, e.nonce});
  } else {
    return PermissionDeniedError(fmt::format("a message from node {} with nonce {} was replayed",
                                             e.from.Short(), HexEncode(e.nonce)));
  }
  return e;
}

}  // namespace depot::node
