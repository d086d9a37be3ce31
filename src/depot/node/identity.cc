#include "depot/node/identity.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "depot/core/blake3/blake3.h"
#include "depot/core/hex.h"
#include "depot/resource/atomic/atomic_file.h"

namespace depot::node {
namespace {

constexpr size_t kSeedLen = 32;

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

const unsigned char* Data(std::string_view bytes) {
  return reinterpret_cast<const unsigned char*>(bytes.data());
}

}  // namespace

struct KeyPair::Key {
  Pkey pkey;
  std::string seed;
};

NodeId NodeId::FromPublicKey(std::string_view public_key) {
  return NodeId{blake3::Hash(public_key)};
}

Result<NodeId> NodeId::FromHex(std::string_view hex) {
  NodeId id;
  if (!HexDecode(hex, id.bytes)) {
    return InvalidArgumentError(
        fmt::format("\"{}\" is not a node id (64 hex digits)", hex.substr(0, 80)));
  }
  return id;
}

std::string NodeId::ToHex() const { return HexEncode(bytes); }

KeyPair::KeyPair(std::shared_ptr<const Key> key, std::string public_key)
    : key_(std::move(key)),
      public_key_(std::move(public_key)),
      id_(NodeId::FromPublicKey(public_key_)) {}

KeyPair KeyPair::Generate() {
  std::string seed(kSeedLen, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), kSeedLen) != 1) {
    std::abort();  // no randomness: nothing safe to do
  }
  return *FromSeed(seed);
}

Result<KeyPair> KeyPair::FromSeed(std::string_view seed) {
  if (seed.size() != kSeedLen) {
    return InvalidArgumentError(
        fmt::format("an Ed25519 seed is {} bytes, not {}", kSeedLen, seed.size()));
  }
  Pkey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Data(seed), seed.size()));
  std::string public_key(kPublicKeyLen, '\0');
  size_t len = public_key.size();
  if (pkey == nullptr ||
      EVP_PKEY_get_raw_public_key(pkey.get(), reinterpret_cast<unsigned char*>(public_key.data()),
                                  &len) != 1 ||
      len != kPublicKeyLen) {
    return InternalError("OpenSSL could not make an Ed25519 key");
  }
  auto key = std::make_shared<Key>(Key{std::move(pkey), std::string(seed)});
  return KeyPair(std::move(key), std::move(public_key));
}

Result<KeyPair> KeyPair::LoadOrCreate(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      return UnavailableError(fmt::format("cannot read the key file {}", path.string()));
    }
    KeyPair keys = Generate();
    DEPOT_RETURN_IF_ERROR(
        resource::WriteFileAtomically(path.string(), HexEncode(keys.key_->seed) + "\n"));
    if (::chmod(path.c_str(), 0600) != 0) {
      return UnavailableError(fmt::format("cannot make {} private", path.string()));
    }
    return keys;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string hex = text.str();
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  std::string seed(kSeedLen, '\0');
  if (!HexDecode(hex, {reinterpret_cast<uint8_t*>(seed.data()), seed.size()})) {
    return InvalidArgumentError(fmt::format(
        "the key file {} does not hold a key (64 hex digits and a newline)", path.string()));
  }
  return FromSeed(seed);
}

std::string KeyPair::Sign(std::string_view message) const {
  MdCtx ctx(EVP_MD_CTX_new());
  std::string signature(kSignatureLen, '\0');
  size_t len = signature.size();
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     Data(message), message.size()) != 1) {
    std::abort();  // signing with a valid key cannot fail but for memory
  }
  return signature;
}

Status Verify(std::string_view public_key, std::string_view message, std::string_view signature) {
  if (public_key.size() != kPublicKeyLen || signature.size() != kSignatureLen) {
    return InvalidArgumentError(
        fmt::format("an Ed25519 public key is {} bytes and a signature {} (got {} and {})",
                    kPublicKeyLen, kSignatureLen, public_key.size(), signature.size()));
  }
  Pkey pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Data(public_key), public_key.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  if (pkey == nullptr || ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return InvalidArgumentError(
        fmt::format("{} is not an Ed25519 public key", HexEncode(public_key)));
  }
  if (EVP_DigestVerify(ctx.get(), Data(signature), signature.size(), Data(message),
                       message.size()) != 1) {
    return UnauthenticatedError(fmt::format("the signature does not match the key of node {}",
                                            NodeId::FromPublicKey(public_key).Short()));
  }
  return Status::Ok();
}

}  // namespace depot::node
