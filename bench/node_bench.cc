// depot_bench_node: the storage network's DHT on 100 nodes over UDP on loopback, in one process.
// Measures the latency of a put (a provider record stored on the nodes closest to its key) and of
// a lookup from another node (a get of that key), p50 and p99 over 200 keys, against the baseline
// of one UDP round trip between two sockets on the same loopback, measured in the same run.
//
//   depot_bench_node [NODES] [KEYS]      (defaults 100 and 200)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "depot/node/dht.h"
#include "depot/node/testing/stop_all.h"

namespace {

using namespace depot::node;
using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> samples, double p) {
  std::sort(samples.begin(), samples.end());
  return samples[std::min(samples.size() - 1, static_cast<size_t>(p * samples.size()))];
}

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Round trips of one datagram between two UDP sockets on loopback.
std::vector<double> UdpRoundTrips(int n) {
  auto a = *OpenUdpTransport(*Address::Parse("127.0.0.1:0"));
  auto b = *OpenUdpTransport(*Address::Parse("127.0.0.1:0"));
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  b->SetReceiver([&](const Address& from, std::string_view data) { (void)b->Send(from, data); });
  a->SetReceiver([&](const Address&, std::string_view) {
    std::lock_guard lock(mu);
    ++answered;
    cv.notify_all();
  });
  std::vector<double> samples;
  for (int i = 0; i < n; ++i) {
    const auto start = Clock::now();
    (void)a->Send(b->local(), std::string(100, 'p'));
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return answered > i; });
    samples.push_back(Us(Clock::now() - start));
  }
  return samples;
}

}  // namespace

int main(int argc, char** argv) {
  const int nodes_wanted = argc > 1 ? std::atoi(argv[1]) : 100;
  const int keys = argc > 2 ? std::atoi(argv[2]) : 200;
  const std::vector<double> rtt = UdpRoundTrips(2000);

  std::vector<std::unique_ptr<Dht>> nodes;
  DhtOptions options{.unlimited_requests = true};
  for (int i = 0; i < nodes_wanted; ++i) {
    auto node = Dht::Start(*OpenUdpTransport(*Address::Parse("127.0.0.1:0")), options);
    if (!node.ok()) {
      fmt::print(stderr, "depot_bench_node: {}\n", node.status().ToString());
      return 1;
    }
    nodes.push_back(std::move(*node));
    if (i == 0) options.bootstrap = {nodes[0]->address()};
  }
  const auto joining = Clock::now();
  while (true) {
    bool all = true;
    for (const auto& node : nodes) all &= node->stats().good_nodes >= 8;
    if (all || Clock::now() - joining > std::chrono::seconds(60)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double join_s = std::chrono::duration<double>(Clock::now() - joining).count();

  std::mt19937 random(1);
  std::uniform_int_distribution<int> pick(0, nodes_wanted - 1);
  std::vector<double> puts, gets;
  int missed = 0;
  for (int k = 0; k < keys; ++k) {
    const std::string key = fmt::format("bench-{}", k);
    const int writer = pick(random);
    int reader = pick(random);
    if (reader == writer) reader = (reader + 1) % nodes_wanted;
    auto start = Clock::now();
    if (!nodes[writer]->Put(key, std::string(200, 'r')).ok()) ++missed;
    puts.push_back(Us(Clock::now() - start));
    start = Clock::now();
    auto got = nodes[reader]->Get(key);
    gets.push_back(Us(Clock::now() - start));
    if (!got.ok() || got->empty()) ++missed;
  }
  std::vector<double> put_to_get(keys);
  for (int k = 0; k < keys; ++k) put_to_get[k] = puts[k] + gets[k];

  fmt::print(
      "{} DHT nodes over UDP on loopback, one process; joined in {:.1f} s; {} keys, {} missed\n",
      nodes_wanted, join_s, keys, missed);
  fmt::print("{:<34} {:>12} {:>12} {:>14} {:>14}\n", "", "p50 (us)", "p99 (us)", "p50 / UDP RTT",
             "p99 / UDP RTT");
  const double rtt50 = Percentile(rtt, 0.5), rtt99 = Percentile(rtt, 0.99);
  const auto row = [&](const char* what, const std::vector<double>& samples) {
    const double p50 = Percentile(samples, 0.5), p99 = Percentile(samples, 0.99);
    fmt::print("{:<34} {:>12.0f} {:>12.0f} {:>14.1f} {:>14.1f}\n", what, p50, p99, p50 / rtt50,
               p99 / rtt99);
  };
  row("baseline: UDP round trip", rtt);
  row("put (stored on the closest nodes)", puts);
  row("lookup from another node", gets);
  row("put to get", put_to_get);
  testing::StopAll(nodes, [](auto& node) { node->Stop(); });
  return 0;  // misses are a measurement (a lookup right after a put may reach other nodes)
}
