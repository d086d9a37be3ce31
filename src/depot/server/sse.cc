#include "depot/server/sse.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <memory>

#include "depot/core/hex.h"

namespace depot::server {
namespace {

struct CipherFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;

SealKey Hmac(std::string_view key, std::string_view label, std::string_view data) {
  const std::string message = std::string(label) + std::string(data);
  SealKey out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(), &length);
  return out;
}

std::string_view View(const SealKey& key) {
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

// Chunk `index`'s nonce and additional data.
std::array<unsigned char, 12> Nonce(uint64_t index) {
  std::array<unsigned char, 12> nonce{};
  for (int i = 0; i < 8; ++i) nonce[11 - i] = static_cast<unsigned char>(index >> (8 * i));
  return nonce;
}

std::array<unsigned char, 9> Aad(uint64_t index, bool last) {
  std::array<unsigned char, 9> aad{};
  for (int i = 0; i < 8; ++i) aad[7 - i] = static_cast<unsigned char>(index >> (8 * i));
  aad[8] = last ? 1 : 0;
  return aad;
}

// An empty object has one empty chunk: no stored object of 0 bytes reads as a valid one.
uint64_t Chunks(uint64_t size) {
  return std::max<uint64_t>(1, (size + kSealChunk - 1) / kSealChunk);
}

}  // namespace

uint64_t SealedSize(uint64_t plain) { return plain + Chunks(plain) * kSealTag; }

Result<uint64_t> PlainSize(uint64_t sealed) {
  const uint64_t chunks = (sealed + kSealChunk + kSealTag - 1) / (kSealChunk + kSealTag);
  const uint64_t plain = sealed - std::min(sealed, chunks * kSealTag);
  if (SealedSize(plain) != sealed) {
    return DataLossError(
        fmt::format("an encrypted object of {} stored bytes cannot be: a chunk was cut", sealed));
  }
  return plain;
}

std::string Sealing::Encode() const {
  return fmt::format("{} {} {}{}", kind == Kind::kCustomer ? 'c' : 's', HexEncode(salt),
                     check.empty() ? "-" : HexEncode(check), parts ? " p" : "");
}

Result<Sealing> Sealing::Decode(std::string_view text) {
  auto bad = [&] {
    return DataLossError(fmt::format("the object's encryption record \"{}\" is unreadable", text));
  };
  Sealing sealing;
  const size_t first = text.find(' ');
  const size_t second = text.find(' ', first == std::string_view::npos ? first : first + 1);
  if (second == std::string_view::npos || first != 1 || (text[0] != 'c' && text[0] != 's')) {
    return bad();
  }
  sealing.kind = text[0] == 'c' ? Kind::kCustomer : Kind::kService;
  std::array<uint8_t, 16> bytes{};
  if (!HexDecode(text.substr(first + 1, second - first - 1), bytes)) return bad();
  sealing.salt.assign(bytes.begin(), bytes.end());
  std::string_view check = text.substr(second + 1);
  if (check.ends_with(" p")) {
    sealing.parts = true;
    check.remove_suffix(2);
  }
  if (check != "-") {
    if (!HexDecode(check, bytes)) return bad();
    sealing.check.assign(bytes.begin(), bytes.end());
  }
  if ((sealing.kind == Kind::kCustomer) == sealing.check.empty()) return bad();
  return sealing;
}

Result<Sealing> NewSealing(const SealKey& base, bool customer) {
  Sealing sealing;
  sealing.kind = customer ? Sealing::Kind::kCustomer : Sealing::Kind::kService;
  sealing.salt.resize(16);
  // A salt repeated would repeat keys and nonces: without randomness nothing is written.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(sealing.salt.data()), 16) != 1) {
    return InternalError("no random bytes for an encryption salt (RAND_bytes failed)");
  }
  if (customer) sealing.check = CheckValue(base, sealing.salt);
  return sealing;
}

std::string CheckValue(const SealKey& customer_key, std::string_view salt) {
  return std::string(View(Hmac(View(customer_key), "depot-sse-check", salt)).substr(0, 16));
}

SealKey ObjectKey(const SealKey& base, std::string_view salt) {
  return Hmac(View(base), "depot-sse-object", salt);
}

SealKey PartKey(const SealKey& object_key, int number) {
  const std::string index = {static_cast<char>(number >> 24), static_cast<char>(number >> 16),
                             static_cast<char>(number >> 8), static_cast<char>(number)};
  return Hmac(View(object_key), "depot-sse-part", index);
}

SealKey ServiceKey(std::string_view master) { return Hmac(master, "depot-sse-s3", ""); }

Sealer::Sealer(const SealKey& object_key, Sink out) : key_(object_key), out_(std::move(out)) {
  pending_.reserve(kSealChunk);
}

Status Sealer::Write(std::string_view plain) {
  size_ += plain.size();
  while (!plain.empty()) {
    // A full chunk is sealed once more follows: only then is it known not to be the last.
    if (pending_.size() == kSealChunk) DEPOT_RETURN_IF_ERROR(Seal(false));
    const size_t take = std::min<size_t>(plain.size(), kSealChunk - pending_.size());
    pending_.append(plain.substr(0, take));
    plain.remove_prefix(take);
  }
  return Status::Ok();
}

Status Sealer::Finish() { return Seal(true); }

Status Sealer::Seal(bool last) {
  CipherContext ctx(EVP_CIPHER_CTX_new());
  const auto nonce = Nonce(index_);
  const auto aad = Aad(index_, last);
  sealed_.resize(pending_.size() + kSealTag);
  auto* out = reinterpret_cast<unsigned char*>(sealed_.data());
  int length = 0;
  int final_length = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, aad.data(), aad.size()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &length,
                        reinterpret_cast<const unsigned char*>(pending_.data()),
                        static_cast<int>(pending_.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + length, &final_length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kSealTag, out + pending_.size()) != 1) {
    return InternalError(fmt::format("AES-256-GCM failed on chunk {}", index_));
  }
  ++index_;
  pending_.clear();
  return out_(sealed_);
}

SealedRange SealedRangeOf(uint64_t begin, uint64_t end, uint64_t size) {
  if (begin >= end)
    return {begin / kSealChunk * (kSealChunk + kSealTag),
            begin / kSealChunk * (kSealChunk + kSealTag), begin / kSealChunk};
  const uint64_t first = begin / kSealChunk;
  const uint64_t last = (end - 1) / kSealChunk;
  return {first * (kSealChunk + kSealTag),
          std::min((last + 1) * (kSealChunk + kSealTag), SealedSize(size)), first};
}

Unsealer::Unsealer(const SealKey& object_key, uint64_t first_chunk, uint64_t size, Sink out)
    : key_(object_key),
      out_(std::move(out)),
      index_(first_chunk),
      chunks_(Chunks(size)),
      size_(size) {}

Status Unsealer::Write(std::string_view sealed) {
  while (!sealed.empty()) {
    if (index_ >= chunks_) {
      return DataLossError(fmt::format("stored bytes past the last chunk ({})", chunks_));
    }
    const uint64_t want = std::min(kSealChunk, size_ - index_ * kSealChunk) + kSealTag;
    const size_t take = std::min<size_t>(sealed.size(), want - pending_.size());
    pending_.append(sealed.substr(0, take));
    sealed.remove_prefix(take);
    if (pending_.size() == want) DEPOT_RETURN_IF_ERROR(Open());
  }
  return Status::Ok();
}

Status Unsealer::Finish() {
  if (!pending_.empty()) {
    return DataLossError(fmt::format("the stored bytes end inside chunk {}", index_));
  }
  return Status::Ok();
}

Status Unsealer::Open() {
  const size_t length = pending_.size() - kSealTag;
  const auto nonce = Nonce(index_);
  const auto aad = Aad(index_, index_ + 1 == chunks_);
  CipherContext ctx(EVP_CIPHER_CTX_new());
  plain_.resize(length);
  auto* out = reinterpret_cast<unsigned char*>(plain_.data());
  auto* tag = reinterpret_cast<unsigned char*>(pending_.data() + length);
  int written = 0;
  int final_length = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &written, aad.data(), aad.size()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &written,
                        reinterpret_cast<const unsigned char*>(pending_.data()),
                        static_cast<int>(length)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kSealTag, tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out + written, &final_length) != 1) {
    return DataLossError(fmt::format(
        "chunk {} of an encrypted object does not authenticate (damaged, or not this key's)",
        index_));
  }
  ++index_;
  pending_.clear();
  return out_(plain_);
}

}  // namespace depot::server
