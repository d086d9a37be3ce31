// depot::node::Dht: a node's presence in the DHT. OpenDHT (a dht::DhtRunner, Kademlia as deployed
// by Jami) runs over a DhtTransport, plugged in as OpenDHT's own datagram socket, so the same code
// runs on UDP and on the simulated network.
//
//   DEPOT_ASSIGN_OR_RETURN(auto udp, node::OpenUdpTransport(*node::Address::Parse("0.0.0.0:0")));
//   DEPOT_ASSIGN_OR_RETURN(auto dht, node::Dht::Start(std::move(udp), {.bootstrap = {peer}}));
//   DEPOT_RETURN_IF_ERROR(dht->Put("some key", record));
//   DEPOT_ASSIGN_OR_RETURN(std::vector<std::string> records, dht->Get("some key"));
//
// Contract:
//   - Keys are any bytes, mapped onto OpenDHT's 160-bit keyspace by SHA-1 (InfoHash::get); callers
//     keep the full key inside their values. A value is at most kMaxDhtValue bytes (OpenDHT drops a
//     longer one silently on the receiving side, so Put refuses it: kInvalidArgument naming both
//     sizes).
//   - Values are kept by the nodes closest to their key for `options.record_ttl` after the put
//     (a value type every depot node registers), then forgotten: a writer that wants a value to
//     stay puts it again before then, and what a node that left had put disappears within the ttl.
//     Values carry no authority of their own: what they claim is the caller's to sign and check.
//   - Put waits until OpenDHT says whether the closest nodes took the value (kUnavailable if none
//     did); Get returns every distinct value the search found under the key, possibly none. Both
//     take a Context: cancelled or late (or past options.request_timeout), they return kCancelled
//     / kDeadlineExceeded (a put may still land).
//   - Only depot nodes of the same `options.network` talk to each other (OpenDHT's network id), so
//     a node never joins the public Jami network. Bootstrapping is by address only.
//   - Thread-safe. OpenDHT runs on its own thread and the transport's; Stop (or the destructor)
//     leaves the network and joins them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/node/transport.h"

namespace depot::node {

// OpenDHT's limit on the data of a value of depot's type (found by probe: one byte more and the
// receiving node drops it; untyped values may carry 2 bytes more).
inline constexpr size_t kMaxDhtValue = 65'528;

// The shortest record_ttl: OpenDHT re-sends a value 10 s before its type's expiry, so a put of a
// value that lives 10 s or less never completes (found by probe); 20 s leaves it room.
inline constexpr std::chrono::seconds kMinRecordTtl{20};

struct DhtOptions {
  uint64_t network = 0x6465706f;  // "depo": OpenDHT's network id (it keeps 32 bits)
  std::vector<Address> bootstrap;
  std::chrono::seconds record_ttl{120};  // at least kMinRecordTtl
  // A put or get OpenDHT has not finished by then is kDeadlineExceeded (its searches can wait on
  // silent nodes for a long time, and rarely never finish: its issue #360).
  std::chrono::milliseconds request_timeout{30'000};
  // Lifts OpenDHT's request limits, which count per IP address: for many nodes on one machine.
  bool unlimited_requests = false;
};

struct DhtStats {
  unsigned good_nodes = 0;     // peers OpenDHT's routing table has heard from lately
  unsigned dubious_nodes = 0;  // peers it has not heard from for a while
};

class Dht {
 public:
  static Result<std::unique_ptr<Dht>> Start(std::unique_ptr<DhtTransport> transport,
                                            DhtOptions options = {});
  ~Dht();
  Dht(const Dht&) = delete;
  Dht& operator=(const Dht&) = delete;

  Address address() const;
  void Bootstrap(const Address& peer);
  Status Put(std::string_view key, std::string_view value, const Context& ctx = {});
  // The same put, not waited for (announcements renewed before they expire): only a value over
  // kMaxDhtValue is refused.
  Status PutAsync(std::string_view key, std::string_view value);
  Result<std::vector<std::string>> Get(std::string_view key, const Context& ctx = {});
  DhtStats stats() const;
  // Leaves the network and joins OpenDHT's threads. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit Dht(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot::node
