// depot_bench_node_put_get: the whole storage network node, 100 of them in one process, each with
// its DHT on its own UDP socket and its endpoint on depot serve's HTTP stack, all on loopback.
// A blob put on one node (stored there, contracts made with the two closest nodes that accept,
// each fetching it as verified slices) and then read on another (providers looked up in the DHT,
// the blob fetched and verified): the latency of the put, of the get, and of both, p50 and p99,
// against the baseline of the same bytes PUT to and then GET from one depot serve by depot's S3
// client, in the same run, alternating.
//
//   depot_bench_node_put_get [NODES] [BLOBS] [KIB]      (defaults 100, 50 and 64)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "depot/core/testing/random_bytes.h"
#include "depot/node/testing/stop_all.h"
#include "served_node.h"

namespace {

using namespace depot;
using bench::Must;
using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> samples, double p) {
  std::sort(samples.begin(), samples.end());
  return samples[std::min(samples.size() - 1, static_cast<size_t>(p * samples.size()))];
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 100;
  const int blobs = argc > 2 ? std::atoi(argv[2]) : 50;
  const size_t size = (argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 64) << 10;

  std::vector<bench::ServedNode> nodes;
  node::NodeOptions options;
  options.replication = 3;
  options.transfer_slice = 64 << 10;
  for (int i = 0; i < count; ++i) {
    nodes.push_back(bench::StartServedNode(
        Must(node::OpenUdpTransport(*node::Address::Parse("127.0.0.1:0")), "udp"), options));
    if (i == 0) options.dht.bootstrap = {nodes[0].node->dht_address()};
  }
  // Joined: the directory, as every tenth node reads it, lists at least 20 nodes.
  const auto joining = Clock::now();
  for (bool joined = false; !joined && Clock::now() - joining < std::chrono::seconds(120);) {
    joined = true;
    for (int i = 0; i < count; i += 10) {
      auto closest = nodes[i].node->Closest(std::string(32, '\0'), 20);
      joined &= closest.ok() && closest->size() >= 20;
    }
    if (!joined) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double join_s = std::chrono::duration<double>(Clock::now() - joining).count();

  // The baseline: one depot serve, read and written by depot's S3 client.
  bench::ServedStore serve = bench::StartServedStore();
  object::S3Store* client = serve.client.get();

  std::mt19937 random(1);
  std::uniform_int_distribution<int> pick(0, count - 1);
  std::vector<double> puts, gets, both, s3_puts, s3_gets, s3_both;
  int failed = 0, contracts = 0;
  for (int k = 0; k < blobs; ++k) {
    const std::string blob = testing::RandomBytes(size, 1000 + k);
    const std::string key = fmt::format("blob-{}", k);
    auto start = Clock::now();
    auto stored = client->Put(key, Bytes::Copy(blob));
    s3_puts.push_back(Ms(Clock::now() - start));
    start = Clock::now();
    auto fetched = client->Get(key);
    s3_gets.push_back(Ms(Clock::now() - start));
    s3_both.push_back(s3_puts.back() + s3_gets.back());
    if (!stored.ok() || !fetched.ok()) Must(Result<int>(stored.status()), "s3 put/get");

    const int writer = pick(random);
    int reader = pick(random);
    if (reader == writer) reader = (reader + 1) % count;
    start = Clock::now();
    auto put = nodes[writer].node->Put(blob);
    puts.push_back(Ms(Clock::now() - start));
    start = Clock::now();
    auto got = put.ok() ? nodes[reader].node->Get(put->id) : Result<std::string>(put.status());
    gets.push_back(Ms(Clock::now() - start));
    both.push_back(puts.back() + gets.back());
    if (put.ok()) contracts += static_cast<int>(put->contracts.size());
    if (!got.ok() || *got != blob) {
      ++failed;
      fmt::print(stderr, "blob {}: {}\n", k, got.ok() ? "wrong bytes" : got.status().ToString());
    }
  }

  fmt::print(
      "{} nodes (UDP DHT + HTTP endpoint each) on loopback, one process; joined in {:.1f} s\n"
      "{} blobs of {} KiB, replication 3: {} contracts made, {} reads failed\n",
      count, join_s, blobs, size >> 10, contracts, failed);
  fmt::print("{:<40} {:>10} {:>10} {:>12} {:>12}\n", "", "p50 (ms)", "p99 (ms)", "p50 / S3",
             "p99 / S3");
  const auto row = [&](const char* what, const std::vector<double>& samples,
                       const std::vector<double>& baseline) {
    const double p50 = Percentile(samples, 0.5), p99 = Percentile(samples, 0.99);
    fmt::print("{:<40} {:>10.2f} {:>10.2f} {:>12.1f} {:>12.1f}\n", what, p50, p99,
               p50 / Percentile(baseline, 0.5), p99 / Percentile(baseline, 0.99));
  };
  row("baseline: S3 PUT to depot serve", s3_puts, s3_puts);
  row("baseline: S3 GET from depot serve", s3_gets, s3_gets);
  row("node put (3 copies under contract)", puts, s3_puts);
  row("node get on another node", gets, s3_gets);
  row("node put to get", both, s3_both);
  node::testing::StopAll(nodes, [](bench::ServedNode& served) { served.node->Stop(); });
  return failed == 0 ? 0 : 1;
}
