#include "depot/node/dht.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <opendht/dhtrunner.h>

#include <cstring>
#include <future>
#include <set>

namespace depot::node {
namespace {

// The value type of depot's records, registered on every depot node: it sets how long a stored
// value lives.
constexpr dht::ValueType::Id kRecordType = 0x6470;

dht::SockAddr ToSockAddr(const Address& address) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(address.port);
  std::memcpy(&sin.sin_addr.s_addr, address.ip.data(), 4);
  return dht::SockAddr(reinterpret_cast<const sockaddr*>(&sin), sizeof(sin));
}

// OpenDHT's datagram socket over a DhtTransport. Received datagrams are handed to OpenDHT from
// the transport's one receiving thread, which is also the only caller of getNewPacket.
class TransportSocket final : public dht::net::DatagramSocket {
 public:
  explicit TransportSocket(std::unique_ptr<DhtTransport> transport)
      : transport_(std::move(transport)), bound_(ToSockAddr(transport_->local())) {
    transport_->SetReceiver([this](const Address& from, std::string_view datagram) {
      dht::net::PacketList packets = getNewPacket();
      dht::net::ReceivedPacket& packet = packets.front();
      packet.data.assign(datagram.begin(), datagram.end());
      packet.from = ToSockAddr(from);
      packet.received = dht::clock::now();
      onReceived(std::move(packets));
    });
  }
  ~TransportSocket() override { stop(); }

  int sendTo(const dht::SockAddr& to, const uint8_t* data, size_t size, bool) override {
    if (to.getFamily() != AF_INET) return EAFNOSUPPORT;
    Address address;
    std::memcpy(address.ip.data(), &to.getIPv4().sin_addr.s_addr, 4);
    address.port = to.getPort();
    const Status sent = transport_->Send(address, {reinterpret_cast<const char*>(data), size});
    if (sent.ok()) return 0;
    return sent.code() == StatusCode::kInvalidArgument ? EMSGSIZE : EHOSTUNREACH;
  }
  bool hasIPv4() const override { return true; }
  bool hasIPv6() const override { return false; }
  const dht::SockAddr& getBoundRef(sa_family_t family) const override {
    return family == AF_INET6 ? none_ : bound_;
  }
  void stop() override { transport_->Close(); }

  Address local() const { return transport_->local(); }

 private:
  const std::unique_ptr<DhtTransport> transport_;
  const dht::SockAddr bound_;
  const dht::SockAddr none_;
};

// Waits for `future` as the context allows, and at most `limit`.
template <typename T>
Result<T> Await(std::future<T>& future, const Context& ctx, std::chrono::milliseconds limit,
                std::string_view what) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (future.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    DEPOT_RETURN_IF_ERROR(ctx.Check(what));
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceededError(
          fmt::format("{}: OpenDHT did not finish in {} ms", what, limit.count()));
    }
  }
  return future.get();
}

}  // namespace

class Dht::Impl {
 public:
  Impl(std::unique_ptr<DhtTransport> transport, DhtOptions options) : options_(std::move(options)) {
    auto socket = std::make_unique<TransportSocket>(std::move(transport));
    socket_ = socket.get();
    dht::DhtRunner::Config config;
    config.dht_config.node_config.network = static_cast<dht::NetId>(options_.network);
    if (options_.unlimited_requests) {
      config.dht_config.node_config.max_req_per_sec = -1;
      config.dht_config.node_config.max_peer_req_per_sec = -1;
    }
    config.threaded = true;
    config.peer_discovery = false;
    config.peer_publish = false;
    dht::DhtRunner::Context context;
    context.sock = std::move(socket);
    runner_.run(config, std::move(context));
    runner_.registerType(dht::ValueType(kRecordType, "depot record", options_.record_ttl));
    for (const Address& peer : options_.bootstrap) runner_.bootstrap(ToSockAddr(peer));
  }
  ~Impl() { Stop(); }

  Address address() const { return socket_->local(); }
  void Bootstrap(const Address& peer) { runner_.bootstrap(ToSockAddr(peer)); }

  Status Put(std::string_view key, std::string_view value, const Context& ctx) {
    DEPOT_RETURN_IF_ERROR(ctx.Check("a DHT put"));
    DEPOT_RETURN_IF_ERROR(CheckSize(value));
    auto done = std::make_shared<std::promise<bool>>();
    std::future<bool> stored = done->get_future();
    auto record = std::make_shared<dht::Value>(
        kRecordType, reinterpret_cast<const uint8_t*>(value.data()), value.size());
    runner_.put(Hash(key), record, [done](bool ok) { done->set_value(ok); });
    DEPOT_ASSIGN_OR_RETURN(bool ok, Await(stored, ctx, options_.request_timeout, "a DHT put"));
    if (!ok) return UnavailableError("no DHT node took the put (is the node connected?)");
    return Status::Ok();
  }

  Status PutAsync(std::string_view key, std::string_view value) {
    DEPOT_RETURN_IF_ERROR(CheckSize(value));
    runner_.put(Hash(key),
                std::make_shared<dht::Value>(
                    kRecordType, reinterpret_cast<const uint8_t*>(value.data()), value.size()),
                [](bool) {});
    return Status::Ok();
  }

  Result<std::vector<std::string>> Get(std::string_view key, const Context& ctx) {
    DEPOT_RETURN_IF_ERROR(ctx.Check("a DHT get"));
    struct Search {
      std::mutex mu;
      std::set<std::string> values;
      std::promise<bool> done;
    };
    auto search = std::make_shared<Search>();
    std::future<bool> finished = search->done.get_future();
    runner_.get(
        Hash(key),
        [search](const std::vector<std::shared_ptr<dht::Value>>& values) {
          std::lock_guard lock(search->mu);
          for (const auto& value : values) {
            search->values.emplace(value->data.begin(), value->data.end());
          }
          return true;
        },
        [search](bool ok) { search->done.set_value(ok); });
    DEPOT_RETURN_IF_ERROR(Await(finished, ctx, options_.request_timeout, "a DHT get").status());
    std::lock_guard lock(search->mu);
    return std::vector<std::string>(search->values.begin(), search->values.end());
  }

  DhtStats stats() const {
    DhtStats stats;
    unsigned cached = 0, incoming = 0;
    runner_.getNodesStats(AF_INET, &stats.good_nodes, &stats.dubious_nodes, &cached, &incoming);
    return stats;
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> shut = done->get_future();
    runner_.shutdown([done] { done->set_value(); });
    // OpenDHT does not always call back (its issue #461): wait a little, then join regardless.
    shut.wait_for(std::chrono::seconds(2));
    runner_.join();
  }

 private:
  static Status CheckSize(std::string_view value) {
    if (value.size() > kMaxDhtValue) {
      return InvalidArgumentError(fmt::format(
          "a DHT value of {} bytes is over OpenDHT's limit of {}", value.size(), kMaxDhtValue));
    }
    return Status::Ok();
  }
  static dht::InfoHash Hash(std::string_view key) {
    return dht::InfoHash::get(reinterpret_cast<const uint8_t*>(key.data()), key.size());
  }

  const DhtOptions options_;
  TransportSocket* socket_ = nullptr;  // owned by runner_
  mutable dht::DhtRunner runner_;
  std::atomic<bool> stopped_{false};
};

Result<std::unique_ptr<Dht>> Dht::Start(std::unique_ptr<DhtTransport> transport,
                                        DhtOptions options) {
  if (transport == nullptr) return InvalidArgumentError("a DHT node needs a transport");
  if (options.record_ttl < kMinRecordTtl) {
    return InvalidArgumentError(fmt::format("a record ttl of {} s is below the {} s OpenDHT needs",
                                            options.record_ttl.count(), kMinRecordTtl.count()));
  }
  if (options.request_timeout.count() <= 0) {
    return InvalidArgumentError(
        fmt::format("a request timeout of {} ms is not positive", options.request_timeout.count()));
  }
  return std::unique_ptr<Dht>(
      new Dht(std::make_unique<Impl>(std::move(transport), std::move(options))));
}

Dht::Dht(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Dht::~Dht() = default;
Address Dht::address() const { return impl_->address(); }
void Dht::Bootstrap(const Address& peer) { impl_->Bootstrap(peer); }
Status Dht::Put(std::string_view key, std::string_view value, const Context& ctx) {
  return impl_->Put(key, value, ctx);
}
Status Dht::PutAsync(std::string_view key, std::string_view value) {
  return impl_->PutAsync(key, value);
}
Result<std::vector<std::string>> Dht::Get(std::string_view key, const Context& ctx) {
  return impl_->Get(key, ctx);
}
DhtStats Dht::stats() const { return impl_->stats(); }
void Dht::Stop() { impl_->Stop(); }

}  // namespace depot::node
