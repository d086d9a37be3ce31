// depot::node identities: every node holds an Ed25519 key pair, and is named by the BLAKE3 of its
// public key.
//
//   DEPOT_ASSIGN_OR_RETURN(node::KeyPair keys, node::KeyPair::LoadOrCreate(dir / "node.key"));
//   const node::NodeId me = keys.id();
//   std::string signature = keys.Sign(message);                          // 64 bytes
//   DEPOT_RETURN_IF_ERROR(node::Verify(keys.public_key(), message, signature));
//
// Contract:
//   - A NodeId is 32 bytes, the BLAKE3-256 of the node's 32-byte Ed25519 public key, so an id
//     cannot be claimed without the key: whoever shows the public key behind an id and a valid
//     signature speaks for that node, and no one else can (RFC 8032 signatures through OpenSSL).
//   - Verify is kUnauthenticated for a signature that does not match, naming what was checked;
//     a malformed key or signature (wrong length) is kInvalidArgument.
//   - Key files hold the 32-byte private seed, hex, created with mode 0600 and written whole
//     (temporary file, fsync, rename); a file of anything else is kInvalidArgument naming it.
//   - KeyPair is immutable after creation and thread-safe.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "depot/core/result.h"

namespace depot::node {

inline constexpr size_t kPublicKeyLen = 32;
inline constexpr size_t kSignatureLen = 64;

// 256 bits; XOR distance between ids (and between an id and a content id) orders the network.
struct NodeId {
  std::array<uint8_t, 32> bytes{};

  static NodeId FromPublicKey(std::string_view public_key);
  // 64 hex digits; anything else is kInvalidArgument naming the text.
  static Result<NodeId> FromHex(std::string_view hex);
  std::string ToHex() const;
  std::string Short() const { return ToHex().substr(0, 12); }  // for logs and tables
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  friend auto operator<=>(const NodeId&, const NodeId&) = default;
};

class KeyPair {
 public:
  static KeyPair Generate();
  // From a 32-byte private seed (RFC 8032): the same seed gives the same keys.
  static Result<KeyPair> FromSeed(std::string_view seed);
  // Reads the key file at `path`, or creates it with fresh keys when there is none.
  static Result<KeyPair> LoadOrCreate(const std::filesystem::path& path);

  const NodeId& id() const { return id_; }
  const std::string& public_key() const { return public_key_; }  // 32 bytes
  std::string Sign(std::string_view message) const;              // 64 bytes

 private:
  struct Key;
  KeyPair(std::shared_ptr<const Key> key, std::string public_key);
  std::shared_ptr<const Key> key_;
  std::string public_key_;
  NodeId id_;
};

Status Verify(std::string_view public_key, std::string_view message, std::string_view signature);

}  // namespace depot::node
