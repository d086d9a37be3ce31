// depot::node::DhtTransport: what carries the DHT's datagrams between nodes. OpenDHT itself runs
// on top of it (dht.h plugs it in as OpenDHT's datagram socket), so the simulated network below
// carries OpenDHT's real protocol, not a model of it.
//
//   DEPOT_ASSIGN_OR_RETURN(auto udp,
//   node::OpenUdpTransport(*node::Address::Parse("0.0.0.0:4222")));
//
//   node::SimNetwork net({.min_latency = 1ms, .max_latency = 20ms, .loss = 0.05});
//   std::unique_ptr<node::DhtTransport> a = net.Attach(), b = net.Attach();
//   net.Partition({{a->local()}, {b->local()}});                 // a and b cannot reach each other
//
// Contract:
//   - Datagrams, as UDP: each Send is delivered whole once or not at all, in any order; no
//     acknowledgement. Send refuses a datagram longer than mtu() (kInvalidArgument naming both
//     sizes) and sends nothing after Close (kUnavailable); a datagram it accepted may still be
//     lost. Addresses are IPv4 and a port.
//   - Received datagrams go to the receiver set before traffic starts, one at a time, on the
//     transport's own thread; the receiver must not block. Close stops delivery and returns once
//     no receiver call is running; it is idempotent, and the destructor closes.
//   - The MTU is the transport's, as ZHTP gives each kind of link its own (UDP 1400 bytes; the
//     simulated network takes it as an option). OpenDHT's packets fit 1400 (values travel in
//     parts of 600 bytes).
//   - Thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"

namespace depot::node {

inline constexpr size_t kUdpMtu = 1400;

struct Address {
  std::array<uint8_t, 4> ip{};
  uint16_t port = 0;

  // "a.b.c.d:port"; anything else is kInvalidArgument naming the text.
  static Result<Address> Parse(std::string_view text);
  std::string ToString() const;
  friend auto operator<=>(const Address&, const Address&) = default;
};

class DhtTransport {
 public:
  using Receiver = std::function<void(const Address& from, std::string_view datagram)>;

  virtual ~DhtTransport() = default;
  virtual Address local() const = 0;
  virtual size_t mtu() const = 0;
  virtual void SetReceiver(Receiver receiver) = 0;
  virtual Status Send(const Address& to, std::string_view datagram) = 0;
  virtual void Close() = 0;
};

// A UDP socket bound to `bind` (port 0: any free port; local() tells which), with a receiving
// thread. kUnavailable naming the address when it cannot be bound.
Result<std::unique_ptr<DhtTransport>> OpenUdpTransport(const Address& bind, size_t mtu = kUdpMtu);

struct SimNetworkOptions {
  // Each datagram is delayed by a uniformly drawn time in [min_latency, max_latency] (OpenDHT
  // drops packets it holds for more than 650 ms, so stay well below).
  std::chrono::microseconds min_latency{500};
  std::chrono::microseconds max_latency{5'000};
  double loss = 0;  // the chance that a datagram is lost, 0..1
  size_t mtu = kUdpMtu;
  uint64_t seed = 1;  // the random draws (latency, loss) are reproducible from it
};

struct SimNetworkStats {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;         // by chance (options.loss)
  uint64_t partitioned = 0;  // between nodes the partition keeps apart, or to a closed node
  uint64_t oversized = 0;    // refused by Send: longer than the MTU
};

// An in-process network: every attached transport gets an address 10.0.x.y:4222 and one delivery
// thread carries all datagrams. Thread-safe. Transports must be closed or destroyed before it.
class SimNetwork {
 public:
  explicit SimNetwork(SimNetworkOptions options = {});
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  std::unique_ptr<DhtTransport> Attach();
  // From now on datagrams pass only between addresses of the same group; an address in no group
  // is cut off from every other. Heal() lets everything through again.
  void Partition(std::vector<std::vector<Address>> groups);
  void Heal();
  void SetLoss(double loss);
  SimNetworkStats stats() const;

 private:
  class Impl;
  class Transport;
  std::shared_ptr<Impl> impl_;
};

}  // namespace depot::node
