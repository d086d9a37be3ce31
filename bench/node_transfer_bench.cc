// depot_bench_node_transfer: a blob moving between two storage network nodes (node B's Get of
// a blob node A holds: 1 MiB verified slices over HTTP from A's endpoint on depot serve's stack,
// each checked against the id before B keeps it) against the baseline of the same bytes read
// from depot serve by a plain S3 GET (depot's S3 client, one request), in the same run,
// alternating, three rounds each. Both servers hold the blob in memory; so do both readers.
//
//   depot_bench_node_transfer [MIB]      (default 256)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

#include "served_node.h"

namespace {

using namespace depot;
using bench::Must;
using bench::ServedNode;
using bench::StartServedNode;
using Clock = std::chrono::steady_clock;

ServedNode StartNode(node::SimNetwork& net, std::vector<node::Address> bootstrap) {
  node::NodeOptions options;
  options.replication = 1;
  options.dht.bootstrap = std::move(bootstrap);
  return StartServedNode(net.Attach(), std::move(options));
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  std::string blob(mib << 20, '\0');
  std::mt19937_64 random(7);
  for (size_t i = 0; i + 8 <= blob.size(); i += 8) {
    const uint64_t x = random();
    std::memcpy(blob.data() + i, &x, 8);
  }

  node::SimNetwork net;
  ServedNode a = StartNode(net, {});
  ServedNode b = StartNode(net, {a.node->dht_address()});
  const cas::ContentId id = Must(a.node->Put(blob), "put").id;

  // The baseline: the same bytes as an object of depot serve, read by one S3 GET.
  bench::ServedStore serve = bench::StartServedStore();
  object::S3Store* client = serve.client.get();
  if (auto put = client->Put("blob", Bytes::Copy(blob)); !put.ok())
    Must(Result<int>(put.status()), "put");

  std::vector<double> node_s, serve_s;
  for (int round = 0; round < 3; ++round) {
    auto start = Clock::now();
    auto got = client->Get("blob");
    serve_s.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    if (!got.ok() || got->data.size() != blob.size()) Must(Result<int>(got.status()), "s3 get");
    start = Clock::now();
    auto fetched = b.node->Get(id);
    node_s.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    if (!fetched.ok() || *fetched != blob) Must(Result<int>(fetched.status()), "node get");
  }
  std::sort(node_s.begin(), node_s.end());
  std::sort(serve_s.begin(), serve_s.end());
  const double mb = static_cast<double>(blob.size()) / 1e6;
  fmt::print("{} MiB, median of 3 rounds each, alternating\n", mib);
  fmt::print("{:<52} {:>10} {:>10}\n", "", "s", "MB/s");
  fmt::print("{:<52} {:>10.3f} {:>10.0f}\n", "baseline: S3 GET from depot serve (one request)",
             serve_s[1], mb / serve_s[1]);
  fmt::print("{:<52} {:>10.3f} {:>10.0f}\n", "node to node: 1 MiB verified slices over HTTP",
             node_s[1], mb / node_s[1]);
  fmt::print("ratio (node / depot serve): {:.2f}x\n", serve_s[1] / node_s[1]);
  b.node->Stop();
  a.node->Stop();
  return 0;
}
