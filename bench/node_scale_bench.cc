// depot_bench_node_scale: how the storage network's DHT grows, measured on the simulated network
// (OpenDHT's real protocol, datagrams counted by SimNetwork) at several sizes, so that the estimate
// for 10,000 nodes in BENCHMARKS.md is drawn from measured growth rather than from theory alone.
// For each size: the nodes join through the first, then 40 keys are each put from a random node
// and looked up from another; each operation's datagrams are counted (less the background
// maintenance traffic measured over a quiet second before, at the same size), and its time taken.
// The baseline is the smallest size of the same run: every row reports its datagrams per lookup
// as a ratio to it, beside the ratio log2(N) / log2(N0) that Kademlia's lookups would follow.
// At the end, datagrams per lookup are fitted as a + b * log2(N) and extended to 10,000 nodes.
//
//   depot_bench_node_scale [SIZE...]      (defaults 25 50 100 200 400)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "depot/node/dht.h"
#include "depot/node/testing/stop_all.h"
#include "depot/node/transport.h"

namespace {

using namespace depot::node;
using Clock = std::chrono::steady_clock;

constexpr int kKeys = 40;

struct Row {
  int nodes = 0;
  double join_s = 0;
  double background = 0;                        // datagrams per second per node, with nothing asked
  double put_datagrams = 0, get_datagrams = 0;  // per operation, background taken out
  double put_ms = 0, get_ms = 0;                // medians
  int missed = 0;
};

double Median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

Row Measure(int size) {
  Row row{.nodes = size};
  SimNetwork net({.min_latency = std::chrono::microseconds(200),
                  .max_latency = std::chrono::microseconds(2000),
                  .seed = static_cast<uint64_t>(size)});
  std::vector<std::unique_ptr<Dht>> nodes;
  DhtOptions options{.unlimited_requests = true};
  for (int i = 0; i < size; ++i) {
    auto node = Dht::Start(net.Attach(), options);
    if (!node.ok()) {
      fmt::print(stderr, "depot_bench_node_scale: {}\n", node.status().ToString());
      std::exit(1);
    }
    nodes.push_back(std::move(*node));
    if (i == 0) options.bootstrap = {nodes[0]->address()};
  }
  const auto joining = Clock::now();
  while (Clock::now() - joining < std::chrono::seconds(180)) {
    bool all = true;
    for (const auto& node : nodes) all &= node->stats().good_nodes >= 8;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  row.join_s = Seconds(Clock::now() - joining);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the joining burst dies down

  const auto quiet_start = Clock::now();
  const uint64_t quiet_sent = net.stats().sent;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double background_total =
      static_cast<double>(net.stats().sent - quiet_sent) / Seconds(Clock::now() - quiet_start);
  row.background = background_total / size;

  std::mt19937 random(7);
  std::uniform_int_distribution<int> pick(0, size - 1);
  std::vector<double> put_ms, get_ms;
  double put_datagrams = 0, get_datagrams = 0;
  // The datagrams `op` sent beyond the background; its time in `times`.
  auto counted = [&](auto op, std::vector<double>& times) {
    const uint64_t before = net.stats().sent;
    const auto start = Clock::now();
    const bool ok = op();
    const double took = Seconds(Clock::now() - start);
    times.push_back(took * 1000);
    if (!ok) ++row.missed;
    return std::max(0.0, static_cast<double>(net.stats().sent - before) - background_total * took);
  };
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = fmt::format("scale-{}", k);
    const int writer = pick(random);
    int reader = pick(random);
    if (reader == writer) reader = (reader + 1) % size;
    put_datagrams +=
        counted([&] { return nodes[writer]->Put(key, std::string(200, 'r')).ok(); }, put_ms);
    get_datagrams += counted(
        [&] {
          auto got = nodes[reader]->Get(key);
          return got.ok() && !got->empty();
        },
        get_ms);
  }
  row.put_datagrams = put_datagrams / kKeys;
  row.get_datagrams = get_datagrams / kKeys;
  row.put_ms = Median(put_ms);
  row.get_ms = Median(get_ms);
  testing::StopAll(nodes, [](auto& node) { node->Stop(); });
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {25, 50, 100, 200, 400};
  for (int size : sizes) {
    if (size < 2) {
      fmt::print(stderr, "depot_bench_node_scale: a size of {} nodes is below 2\n", size);
      return 2;
    }
  }
  std::vector<Row> rows;
  fmt::print("{:>6} {:>8} {:>12} {:>10} {:>10} {:>12} {:>14} {:>9} {:>9} {:>7}\n", "nodes",
             "join s", "bg dg/s/node", "put dg", "lookup dg", "lookup / N0", "log2 N / N0",
             "put ms", "get ms", "missed");
  for (int size : sizes) {
    rows.push_back(Measure(size));
    const Row& r = rows.back();
    const Row& base = rows.front();
    fmt::print(
        "{:>6} {:>8.1f} {:>12.1f} {:>10.1f} {:>10.1f} {:>12.2f} {:>14.2f} {:>9.1f} {:>9.1f} "
        "{:>7}\n",
        r.nodes, r.join_s, r.background, r.put_datagrams, r.get_datagrams,
        r.get_datagrams / base.get_datagrams, std::log2(r.nodes) / std::log2(base.nodes), r.put_ms,
        r.get_ms, r.missed);
    std::fflush(stdout);
  }
  if (rows.size() >= 2) {
    // Least squares of datagrams per operation against log2(N).
    auto fit = [&](double Row::*member) {
      double sx = 0, sy = 0, sxx = 0, sxy = 0;
      for (const Row& r : rows) {
        const double x = std::log2(r.nodes), y = r.*member;
        sx += x, sy += y, sxx += x * x, sxy += x * y;
      }
      const double n = static_cast<double>(rows.size());
      const double b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
      const double a = (sy - b * sx) / n;
      return std::pair{a, b};
    };
    for (auto [name, member] :
         {std::pair{"lookup", &Row::get_datagrams}, std::pair{"put", &Row::put_datagrams}}) {
      const auto [a, b] = fit(member);
      fmt::print("{} datagrams ~ {:.1f} + {:.1f} x log2(N): {:.0f} at 10,000 nodes\n", name, a, b,
                 a + b * std::log2(10000.0));
    }
  }
  return 0;
}
