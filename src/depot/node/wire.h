// depot::node wire formats: the signed records the DHT carries and the signed messages nodes
// send each other. Everything a node accepts from the network passes through the Open* functions
// here, which check it whole before anything else looks at it.
//
//   std::string bytes = node::SealProviderRecord(keys, record);        // put in the DHT
//   DEPOT_ASSIGN_OR_RETURN(node::ProviderRecord r, node::OpenProviderRecord(bytes, NowMs()));
//
//   std::string request = node::SealMessage(keys, MessageKind::kChallenge, peer, body, NowMs());
//   DEPOT_ASSIGN_OR_RETURN(node::Envelope e, guard.Open(request, me, NowMs()));   // at the peer
//
// Contract:
//   - Records and messages are signed (Ed25519, identity.h) over a domain tag and every field; the
//     signer's public key travels with them and its BLAKE3 is the signer's NodeId, so no node can
//     speak for another: a record naming node A is valid only if signed by A's key.
//   - Open* refuse, with kInvalidArgument naming the defect: a wrong magic or kind, a field longer
//     than its limit (endpoints 255 bytes, message bodies kMaxMessageBody), bytes missing or left
//     over; and with kUnauthenticated: a signature that does not match. The signer's id is never
//     read from the wire: it is derived from the key the signature was checked with. Records past
//     their expiry are kFailedPrecondition (stale, not forged).
//   - Messages are for one receiver and one use: ReplayGuard::Open refuses a message addressed
//     to another node, one sent more than kMaxMessageAge ago or more than kMaxClockSkew ahead of
//     the receiver's clock, and one whose (sender, nonce) it has seen within that window
//     (kPermissionDenied naming which). A reply names the nonce of its request (Reply*), so an
//     answer cannot be replayed to another question.
//   - Encoding: little-endian, length-prefixed; versioned by the magic. Pure functions; a
//     ReplayGuard is thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "depot/cas/blob_store.h"
#include "depot/core/mutex.h"
#include "depot/core/result.h"
#include "depot/node/identity.h"
#include "depot/node/transport.h"

namespace depot::node {

inline constexpr size_t kMaxEndpoint = 255;
inline constexpr size_t kMaxMessageBody = size_t{4} << 20;
inline constexpr int64_t kMaxMessageAgeMs = 300'000;  // ZHTP's MAX_MESSAGE_AGE_SECS
inline constexpr int64_t kMaxClockSkewMs = 60'000;    // ZHTP's MAX_FUTURE_TIMESTAMP_SECS

// Milliseconds since the Unix epoch, the clock of every timestamp here.
int64_t NowMs();

// A node's statement about itself: its key and where it is reached.
struct NodeRecord {
  NodeId id;               // filled in from the key when sealed
  std::string public_key;  // likewise
  Address dht;             // its DHT transport's address
  std::string endpoint;    // its HTTP data endpoint, "host:port"
  int64_t issued_ms = 0;
  int64_t expires_ms = 0;
};

// A node's statement that it holds a blob and serves it at its endpoint.
struct ProviderRecord {
  cas::ContentId content;
  uint64_t size = 0;
  NodeId provider;  // filled in from the key when sealed
  std::string public_key;
  std::string endpoint;
  int64_t issued_ms = 0;
  int64_t expires_ms = 0;
};

std::string SealNodeRecord(const KeyPair& keys, NodeRecord record);
Result<NodeRecord> OpenNodeRecord(std::string_view bytes, int64_t now_ms);
std::string SealProviderRecord(const KeyPair& keys, ProviderRecord record);
Result<ProviderRecord> OpenProviderRecord(std::string_view bytes, int64_t now_ms);

enum class MessageKind : uint8_t {
  kPing = 1,      // body empty; answered with an empty reply
  kStoreRequest,  // a contract to sign and a blob to fetch (ledger.h StoreRequest)
  kChallenge,     // a proof of storage to give (ledger.h Challenge)
  kReply,         // the answer to any of them: the request's nonce, then the answer's body
  kError,         // a refusal: the request's nonce, then the reason
  kBreached,      // the client's notice that it breached a contract: the contract id (32 bytes)
  kLastKind = kBreached,
};

using Nonce = std::array<uint8_t, 16>;

struct Envelope {
  MessageKind kind = MessageKind::kPing;
  NodeId from;
  std::string public_key;
  NodeId to;
  Nonce nonce{};
  int64_t sent_ms = 0;
  std::string body;
};

// Encodes and signs a message to `to`, with a fresh random nonce.
std::string SealMessage(const KeyPair& keys, MessageKind kind, const NodeId& to,
                        std::string_view body, int64_t now_ms);
// Decodes and checks the signature only (no freshness or replay check): for fuzzing and tools.
Result<Envelope> DecodeMessage(std::string_view bytes);

// The answer to `request` (kReply, or kError with `body` the reason), addressed to its sender.
std::string SealReply(const KeyPair& keys, const Envelope& request, std::string_view body,
                      int64_t now_ms, bool error = false);
// Checks that `reply` comes from `request_to` and answers the request with `nonce`; returns the
// answer's body, or the refusal as kFailedPrecondition naming the reason.
Result<std::string> OpenReply(std::string_view reply, const NodeId& me, const NodeId& request_to,
                              const Nonce& nonce, int64_t now_ms);
// The nonce of a sealed message (to match its reply).
Result<Nonce> NonceOf(std::string_view sealed);

class ReplayGuard {
 public:
  Result<Envelope> Open(std::string_view bytes, const NodeId& me, int64_t now_ms);

 private:
  using Seen = std::pair<NodeId, Nonce>;
  Mutex mu_;
  // The (sender, nonce) of messages within the window, and the same by when they were sent, to
  // drop them once they are too old to be accepted anyway.
  std::set<Seen> seen_ DEPOT_GUARDED_BY(mu_);
  std::multimap<int64_t, Seen> by_time_ DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot::node
