// depot::node::Node: a storage network node: a content-addressed store (cas), a presence in the
// DHT (dht.h), a data endpoint peers reach over HTTP, and the economic ledger (ledger.h).
//
//   DEPOT_ASSIGN_OR_RETURN(auto node, node::Node::Start(std::move(parts), options));
//   DEPOT_ASSIGN_OR_RETURN(node::PutOutcome put, node->Put(bytes));   // stored under contracts
//   DEPOT_ASSIGN_OR_RETURN(std::string back, node->Get(put.id));       // from any holder
//
// Contract:
//   - Put stores the blob here, then contracts `replication` - 1 other nodes for it (all at
//     once), the closest to its id by XOR distance that accept: each gets a signed store request
//     naming the terms and where to fetch from, fetches the blob as verified slices (so it never
//     stores a byte it did not check against the id), announces itself as a provider, and
//     answers with its signed acceptance; both sides record the contract. Put returns once the
//     contracts are made (kUnavailable if fewer nodes than asked accepted: the contracts made
//     stay).
//   - Get returns a blob from the local store, or from a provider the DHT names (each slice
//     verified against the id; a provider that sends a wrong byte is skipped). kNotFound when no
//     provider has it (after three lookups: one just after a put may miss).
//   - Providers announce a signed record per blob every announce interval, kept by the DHT for
//     record_ttl: a node that stops (or loses the blob) stops being named within that time.
//   - Every repair interval, each holder of a blob under an active contract counts the live
//     providers; when fewer than the contract's replication are left, the live holder with the
//     smallest id contracts the closest nodes that do not hold it, until the count is restored.
//   - Every proof interval, a client challenges each provider of its active contracts
//     (contract.h: the leaf group is derived from a committed chain), checks the verified slice
//     against the id alone and records the result in the ledger: a provider that dropped the
//     blob fails and is penalised. A provider that does not answer at all (down, or beyond a
//     partition) is not penalised at once: the contract is disputed and the challenge asked
//     again every proof interval (30 s at most); an answer settles it, and dispute_window
//     without one fails every epoch due. A provider whose answer was lost answers the same
//     challenge again. A client that breaches a contract tells the provider (a signed notice),
//     whose book ends it too.
//   - Messages between nodes are signed and checked, refused when replayed (wire.h); a node acts
//     only on requests addressed to it by their signer.
//   - Thread-safe. Background work runs on the node's own thread; Stop (or the destructor) ends
//     it and leaves the DHT.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/cas/blob_store.h"
#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/kv/store.h"
#include "depot/node/dht.h"
#include "depot/node/identity.h"
#include "depot/node/ledger.h"
#include "depot/node/transport.h"
#include "depot/node/wire.h"

namespace depot::node {

// The data endpoint's requests and answers (HTTP, served by depot serve's stack in server/).
struct EndpointRequest {
  std::string method;  // GET or POST
  std::string target;  // /_node/v1/message or /_node/v1/slice/<id>?begin=B&end=E
  std::string body;
};
struct EndpointResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/octet-stream";
};

// How a node reaches another's endpoint: HTTP (HttpPeerLink) between processes; in one process
// (the many-node simulation) straight to the other node's Handle.
class PeerLink {
 public:
  virtual ~PeerLink() = default;
  virtual Result<EndpointResponse> Send(const std::string& endpoint, const EndpointRequest& request,
                                        const Context& ctx) = 0;
};
std::shared_ptr<PeerLink> HttpPeerLink();

struct NodeParts {
  KeyPair keys = KeyPair::Generate();
  std::shared_ptr<cas::BlobStore> blobs;
  std::shared_ptr<kv::Store> ledger_store;
  std::unique_ptr<DhtTransport> transport;
  std::shared_ptr<PeerLink> link;  // HttpPeerLink() when null
};

struct NodeOptions {
  std::string endpoint;  // "host:port" where peers reach this node's endpoint
  DhtOptions dht;
  uint32_t replication = 3;
  Tier tier = Tier::kWarm;
  Quality quality = Quality::kBasic;  // the service bought: a price multiplier (contract.h)
  std::chrono::milliseconds contract_duration{std::chrono::hours(24 * 30)};
  std::chrono::milliseconds proof_interval{std::chrono::hours(1)};
  uint32_t allowed_misses = 1;
  // How long a challenge may go unanswered (the provider unreachable: down, or cut off by a
  // partition) before it counts as failed; until then the contract is disputed, not penalised.
  std::chrono::milliseconds dispute_window{std::chrono::hours(6)};
  std::chrono::milliseconds announce_interval{std::chrono::seconds(40)};  // < dht.record_ttl
  std::chrono::milliseconds repair_interval{std::chrono::seconds(30)};
  uint64_t transfer_slice = uint64_t{1} << 20;  // bytes per verified slice fetched: 16 KiB..64 MiB
  LedgerOptions ledger;
};

struct PutOutcome {
  cas::ContentId id;
  uint64_t size = 0;
  std::vector<ContractRecord> contracts;  // one per provider that accepted
};

struct NodeStatus {
  NodeId id;
  std::string endpoint;
  Address dht;
  DhtStats dht_stats;
  size_t known_nodes = 0;  // in the DHT's directory of nodes (this one included)
  uint64_t blobs = 0;
  uint64_t bytes = 0;
  Account account;
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Start(NodeParts parts, NodeOptions options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const NodeId& id() const;
  Address dht_address() const;
  // Joins the network through a node at `peer` (a DHT address).
  void Bootstrap(const Address& peer);

  Result<PutOutcome> Put(std::string_view data, const Context& ctx = {});
  // The same for a blob already in this node's blob store (streamed there with
  // BlobStore::OpenWriter, for blobs too big to hold in memory; the writer's pin keeps it):
  // announced, and put under contract as by Put. kNotFound naming the id if the store lacks it.
  Result<PutOutcome> Distribute(const cas::ContentId& id, const Context& ctx = {});
  Result<std::string> Get(const cas::ContentId& id, const Context& ctx = {});
  // The same, streamed to `sink` in order (for blobs too big to hold): every byte verified before
  // it goes; on an error, what the sink got is a verified prefix.
  Status Read(const cas::ContentId& id, const std::function<Status(std::string_view)>& sink,
              const Context& ctx = {});
  // The live providers the DHT names for `id` (this node included if it holds it).
  Result<std::vector<ProviderRecord>> Providers(const cas::ContentId& id, const Context& ctx = {});
  // The nodes closest to `target` by XOR distance, closest first, from the DHT's directory.
  Result<std::vector<NodeRecord>> Closest(std::string_view target, size_t count,
                                          const Context& ctx = {});
  Result<NodeStatus> Describe(const Context& ctx = {});
  Ledger& ledger();

  // One round of the background work, now (tests call these to run the clock by hand).
  void AnnounceNow();
  void RepairNow();
  void ChallengeNow();

  // The data endpoint: what the HTTP server hands over for targets under /_node/.
  EndpointResponse Handle(const EndpointRequest& request);

  void Stop();

 private:
  class Impl;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// XOR distance between two 32-byte ids, compared as big-endian numbers: true when `a` is closer
// to `target` than `b`.
bool CloserTo(std::string_view target, const NodeId& a, const NodeId& b);

}  // namespace depot::node
