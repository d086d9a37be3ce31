#include "depot/node/transport.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <queue>
#include <random>
#include <thread>

#include "depot/core/mutex.h"
#include "depot/core/unique_fd.h"

namespace depot::node {

Result<Address> Address::Parse(std::string_view text) {
  Address address;
  const auto bad = [&] {
    return InvalidArgumentError(
        fmt::format("\"{}\" is not an IPv4 address and port (a.b.c.d:port)", text));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad();
  std::string_view rest = text.substr(0, colon);
  for (size_t i = 0; i < 4; ++i) {
    const size_t dot = i < 3 ? rest.find('.') : rest.size();
    if (dot == std::string_view::npos || dot == 0) return bad();
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + dot, value);
    if (ec != std::errc() || end != rest.data() + dot || value > 255) return bad();
    address.ip[i] = static_cast<uint8_t>(value);
    rest = i < 3 ? rest.substr(dot + 1) : std::string_view();
  }
  const std::string_view port = text.substr(colon + 1);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size()) return bad();
  return address;
}

std::string Address::ToString() const {
  return fmt::format("{}.{}.{}.{}:{}", ip[0], ip[1], ip[2], ip[3], port);
}

namespace {

Status Oversized(size_t size, size_t mtu) {
  return InvalidArgumentError(
      fmt::format("a datagram of {} bytes is over the transport's MTU of {}", size, mtu));
}

sockaddr_in ToSockaddr(const Address& address) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(address.port);
  std::memcpy(&sin.sin_addr.s_addr, address.ip.data(), 4);
  return sin;
}

Address FromSockaddr(const sockaddr_in& sin) {
  Address address;
  std::memcpy(address.ip.data(), &sin.sin_addr.s_addr, 4);
  address.port = ntohs(sin.sin_port);
  return address;
}

class UdpTransport final : public DhtTransport {
 public:
  UdpTransport(UniqueFd socket, UniqueFd wake, Address local, size_t mtu)
      : socket_(std::move(socket)), wake_(std::move(wake)), local_(local), mtu_(mtu) {
    thread_ = std::thread([this] { ReceiveLoop(); });
  }
  ~UdpTransport() override { Close(); }

  Address local() const override { return local_; }
  size_t mtu() const override { return mtu_; }

  void SetReceiver(Receiver receiver) override {
    MutexLock lock(mu_);
    receiver_ = std::move(receiver);
  }

  Status Send(const Address& to, std::string_view datagram) override {
    if (datagram.size() > mtu_) return Oversized(datagram.size(), mtu_);
    if (closed_.load()) return UnavailableError("the UDP transport is closed");
    const sockaddr_in sin = ToSockaddr(to);
    const ssize_t sent = ::sendto(socket_.get(), datagram.data(), datagram.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&sin), sizeof(sin));
    if (sent < 0) {
      return UnavailableError(fmt::format("sending {} bytes from {} to {}: {}", datagram.size(),
                                          local_.ToString(), to.ToString(), std::strerror(errno)));
    }
    return Status::Ok();
  }

  void Close() override {
    if (closed_.exchange(true)) return;
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof(one));
    if (thread_.joinable()) thread_.join();
  }

 private:
  void ReceiveLoop() {
    std::string buffer(65536, '\0');
    pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    while (!closed_.load()) {
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      sockaddr_in from{};
      socklen_t from_len = sizeof(from);
      const ssize_t n = ::recvfrom(socket_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) continue;
      MutexLock lock(mu_);
      if (receiver_) receiver_(FromSockaddr(from), std::string_view(buffer.data(), n));
    }
  }

  const UniqueFd socket_;
  const UniqueFd wake_;
  const Address local_;
  const size_t mtu_;
  std::atomic<bool> closed_{false};
  Mutex mu_;
  Receiver receiver_ DEPOT_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<DhtTransport>> OpenUdpTransport(const Address& bind, size_t mtu) {
  UniqueFd socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC));
  if (!socket.valid() || !wake.valid()) {
    return UnavailableError(fmt::format("cannot open a UDP socket: {}", std::strerror(errno)));
  }
  sockaddr_in sin = ToSockaddr(bind);
  if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&sin), sizeof(sin)) != 0) {
    return UnavailableError(
        fmt::format("cannot bind UDP {}: {}", bind.ToString(), std::strerror(errno)));
  }
  socklen_t len = sizeof(sin);
  ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&sin), &len);
  return std::unique_ptr<DhtTransport>(
      std::make_unique<UdpTransport>(std::move(socket), std::move(wake), FromSockaddr(sin), mtu));
}

// --- the simulated network ---

class SimNetwork::Impl {
 public:
  using Receiver = DhtTransport::Receiver;

  explicit Impl(SimNetworkOptions options)
      : mtu_(options.mtu), options_(options), random_(options.seed) {
    thread_ = std::thread([this] { DeliveryLoop(); });
  }
  ~Impl() {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    changed_.NotifyAll();
    thread_.join();
  }

  Address Register() {
    MutexLock lock(mu_);
    const uint32_t n = ++attached_;
    Address address{
        {10, static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)},
        4222};
    endpoints_[address];
    return address;
  }

  void SetReceiver(const Address& at, Receiver receiver) {
    MutexLock lock(mu_);
    endpoints_[at] = std::move(receiver);
  }

  Status Send(const Address& from, const Address& to, std::string_view datagram) {
    MutexLock lock(mu_);
    ++stats_.sent;
    if (datagram.size() > mtu_) {
      ++stats_.oversized;
      return Oversized(datagram.size(), mtu_);
    }
    if (!endpoints_.contains(from)) return UnavailableError("the simulated transport is closed");
    if (!Reachable(from, to)) {
      ++stats_.partitioned;
      return Status::Ok();
    }
    if (std::bernoulli_distribution(options_.loss)(random_)) {
      ++stats_.lost;
      return Status::Ok();
    }
    const auto delay = std::uniform_int_distribution<int64_t>(
        options_.min_latency.count(), options_.max_latency.count())(random_);
    queue_.push({std::chrono::steady_clock::now() + std::chrono::microseconds(delay), ++sequence_,
                 from, to, std::string(datagram)});
    changed_.NotifyAll();
    return Status::Ok();
  }

  void Close(const Address& at) {
    MutexLock lock(mu_);
    endpoints_.erase(at);
    // Returns once no delivery to `at` runs (unless called from inside one).
    while (delivering_to_ == at && std::this_thread::get_id() != thread_.get_id()) {
      changed_.Wait(lock);
    }
  }

  void Partition(std::vector<std::vector<Address>> groups) {
    MutexLock lock(mu_);
    group_of_.clear();
    for (size_t g = 0; g < groups.size(); ++g) {
      for (const Address& address : groups[g]) group_of_[address] = g + 1;
    }
    partitioned_ = true;
  }
  void Heal() {
    MutexLock lock(mu_);
    partitioned_ = false;
    group_of_.clear();
  }
  void SetLoss(double loss) {
    MutexLock lock(mu_);
    options_.loss = loss;
  }
  SimNetworkStats stats() const {
    MutexLock lock(mu_);
    return stats_;
  }
  size_t mtu() const { return mtu_; }

 private:
  struct InFlight {
    std::chrono::steady_clock::time_point at;
    uint64_t sequence;
    Address from, to;
    std::string data;
    bool operator>(const InFlight& other) const {
      return std::tie(at, sequence) > std::tie(other.at, other.sequence);
    }
  };

  bool Reachable(const Address& from, const Address& to) const DEPOT_REQUIRES(mu_) {
    if (!partitioned_) return true;
    const auto a = group_of_.find(from), b = group_of_.find(to);
    return a != group_of_.end() && b != group_of_.end() && a->second == b->second;
  }

  void DeliveryLoop() {
    MutexLock lock(mu_);
    while (!stopping_) {
      if (queue_.empty()) {
        changed_.Wait(lock);
        continue;
      }
      if (queue_.top().at > std::chrono::steady_clock::now()) {
        changed_.WaitUntil(lock, queue_.top().at);
        continue;
      }
      InFlight packet = std::move(const_cast<InFlight&>(queue_.top()));
      queue_.pop();
      const auto endpoint = endpoints_.find(packet.to);
      // A partition made while the datagram flew cuts it too.
      if (endpoint == endpoints_.end() || !endpoint->second || !Reachable(packet.from, packet.to)) {
        ++stats_.partitioned;
        continue;
      }
      ++stats_.delivered;
      Receiver receiver = endpoint->second;
      delivering_to_ = packet.to;
      lock.Unlock();
      receiver(packet.from, packet.data);
      lock.Lock();
      delivering_to_.reset();
      changed_.NotifyAll();
    }
  }

  const size_t mtu_;
  mutable Mutex mu_;
  CondVar changed_;
  SimNetworkOptions options_ DEPOT_GUARDED_BY(mu_);
  std::mt19937_64 random_ DEPOT_GUARDED_BY(mu_);
  uint32_t attached_ DEPOT_GUARDED_BY(mu_) = 0;
  uint64_t sequence_ DEPOT_GUARDED_BY(mu_) = 0;
  std::map<Address, Receiver> endpoints_ DEPOT_GUARDED_BY(mu_);
  std::map<Address, size_t> group_of_ DEPOT_GUARDED_BY(mu_);
  bool partitioned_ DEPOT_GUARDED_BY(mu_) = false;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_ DEPOT_GUARDED_BY(mu_);
  std::optional<Address> delivering_to_ DEPOT_GUARDED_BY(mu_);
  SimNetworkStats stats_ DEPOT_GUARDED_BY(mu_);
  bool stopping_ DEPOT_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class SimNetwork::Transport final : public DhtTransport {
 public:
  Transport(std::shared_ptr<SimNetwork::Impl> net, Address local)
      : net_(std::move(net)), local_(local) {}
  ~Transport() override { Close(); }

  Address local() const override { return local_; }
  size_t mtu() const override { return net_->mtu(); }
  void SetReceiver(Receiver receiver) override { net_->SetReceiver(local_, std::move(receiver)); }
  Status Send(const Address& to, std::string_view datagram) override {
    return net_->Send(local_, to, datagram);
  }
  void Close() override { net_->Close(local_); }

 private:
  const std::shared_ptr<SimNetwork::Impl> net_;
  const Address local_;
};

SimNetwork::SimNetwork(SimNetworkOptions options) : impl_(std::make_shared<Impl>(options)) {}
SimNetwork::~SimNetwork() = default;

std::unique_ptr<DhtTransport> SimNetwork::Attach() {
  return std::make_unique<Transport>(impl_, impl_->Register());
}
void SimNetwork::Partition(std::vector<std::vector<Address>> groups) {
  impl_->Partition(std::move(groups));
}
void SimNetwork::Heal() { impl_->Heal(); }
void SimNetwork::SetLoss(double loss) { impl_->SetLoss(loss); }
SimNetworkStats SimNetwork::stats() const { return impl_->stats(); }

}  // namespace depot::node
