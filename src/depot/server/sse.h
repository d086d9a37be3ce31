// depot::server server-side encryption: objects encrypted at rest with AES-256-GCM in fixed-size
// chunks, and the keys S3's SSE-C and SSE-S3 give them (internal).
//
// Format. An encrypted object's plaintext is cut into chunks of kSealChunk bytes (the last one
// shorter; an empty object has one empty chunk). Each is stored as its ciphertext (the same length)
// followed by its 16-byte GCM tag, so n plaintext bytes are SealedSize(n) stored bytes and a range
// of the plaintext is read and decrypted chunk by chunk, nothing else. Chunk i's nonce is i (96
// bits, big-endian) and its additional data is i and whether it is the last chunk: chunks cannot be
// reordered, dropped or cut off unnoticed. Every object has a key of its own, derived from a base
// key and the object's random 128-bit salt (HMAC-SHA256(base, "depot-sse-object" || salt)), so a
// nonce is never used twice with one key:
//   - SSE-C: the base key is the customer's (x-amz-server-side-encryption-customer-key). depot
//     never stores it; it keeps a keyed check value (HMAC-SHA256(key, "depot-sse-check" || salt),
//     16 bytes) that tells a read with the wrong key (400) from a damaged object.
//   - SSE-S3: the base key is HMAC-SHA256(master, "depot-sse-s3") of the master key file given to
//     `depot serve --sse-master-key`; losing that file loses every SSE-S3 object.
// Multipart objects: each part is sealed as an object of its own under a key of its own (PartKey),
// and read by the part sizes the store keeps (ObjectMeta::parts; stores without them cannot take
// encrypted multipart uploads).
// What the object's reader needs (kind, salt, check value) is kept in the object's
// own metadata (Sealing, the user metadata field kSealingField), written with it in one Put: an
// encrypted object is never visible without it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::server {

inline constexpr uint64_t kSealChunk = 64 << 10;
inline constexpr uint64_t kSealTag = 16;
// The user metadata field of an encrypted object (never shown to clients, never taken from them).
inline constexpr std::string_view kSealingField = "depot-sse";

using SealKey = std::array<uint8_t, 32>;

// The stored size of `plain` bytes of plaintext.
uint64_t SealedSize(uint64_t plain);

// The plaintext size of an object stored in `sealed` bytes; kDataLoss for a size SealedSize never
// gives.
Result<uint64_t> PlainSize(uint64_t sealed);

// How an object is encrypted, as its metadata records it.
struct Sealing {
  enum class Kind { kCustomer, kService };  // SSE-C, SSE-S3
  Kind kind = Kind::kService;
  std::string salt;   // 16 bytes
  std::string check;  // SSE-C: the key's check value (16 bytes); empty for SSE-S3
  // A multipart object: each part sealed on its own, with PartKey (chunk indexes from 0 in each).
  bool parts = false;
  // "c|s SALT-HEX CHECK-HEX|-[ p]", and back (kDataLoss for a field that is not one).
  std::string Encode() const;
  static Result<Sealing> Decode(std::string_view text);
};

// A new sealing for an object encrypted with `base` (the customer's key, `customer` set, or the
// service's), with a fresh random salt.
// kInternal when the system has no random bytes to give.
Result<Sealing> NewSealing(const SealKey& base, bool customer);
// The check value of a customer's key for `salt`.
std::string CheckValue(const SealKey& customer_key, std::string_view salt);
// The key an object of `salt` is encrypted with.
SealKey ObjectKey(const SealKey& base, std::string_view salt);
// The key part `number` of a multipart object is encrypted with.
SealKey PartKey(const SealKey& object_key, int number);
// The SSE-S3 base key of a master key.
SealKey ServiceKey(std::string_view master);

// Encrypts a stream of plaintext: Write as it comes, Finish at its end; `out` gets the stored
// bytes, whole chunks at a time.
class Sealer {
 public:
  using Sink = std::function<Status(std::string_view)>;
  Sealer(const SealKey& object_key, Sink out);
  Status Write(std::string_view plain);
  Status Finish();
  uint64_t size() const { return size_; }  // plaintext bytes written so far

 private:
  Status Seal(bool last);

  SealKey key_;
  Sink out_;
  std::string pending_;  // at most one chunk of plaintext
  std::string sealed_;
  uint64_t index_ = 0;
  uint64_t size_ = 0;
};

// The stored byte range holding plaintext [begin, end) of an object of `size` plaintext bytes,
// whole chunks; and the index of its first chunk.
struct SealedRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t first_chunk = 0;
};
SealedRange SealedRangeOf(uint64_t begin, uint64_t end, uint64_t size);

// Decrypts stored bytes of whole chunks, fed in any pieces, from chunk `first_chunk` of an object
// of `size` plaintext bytes: `out` gets the plaintext, chunk by chunk, only once each chunk's tag
// holds. kDataLoss naming the chunk when one does not (damaged, or encrypted with another key).
class Unsealer {
 public:
  using Sink = std::function<Status(std::string_view)>;
  Unsealer(const SealKey& object_key, uint64_t first_chunk, uint64_t size, Sink out);
  Status Write(std::string_view sealed);
  // kDataLoss when the bytes stopped inside a chunk.
  Status Finish();

 private:
  Status Open();

  SealKey key_;
  Sink out_;
  uint64_t index_;
  uint64_t chunks_;  // of the whole object
  uint64_t size_;
  std::string pending_;
  std::string plain_;
};

}  // namespace depot::server
