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

#include "depot/cas/blob_store.h"
#include "depot/kv/open.h"
#include "depot/node/node.h"
#include "depot/object/open.h"
#include "depot/object/s3/s3_store.h"
#include "depot/server/s3_server.h"

namespace {

using namespace depot;
using Clock = std::chrono::steady_clock;

template <typename T>
T Must(Result<T> result, const char* what) {
  if (!result.ok()) {
    fmt::print(stderr, "depot_bench_node_transfer: {}: {}\n", what, result.status().ToString());
    std::exit(1);
  }
  return std::move(*result);
}

// A node whose endpoint is depot serve's HTTP stack on a free loopback port.
struct ServedNode {
  std::unique_ptr<node::Node> node;
  std::unique_ptr<server::S3Server> server;
};

ServedNode StartNode(node::SimNetwork& net, std::vector<node::Address> bootstrap) {
  ServedNode served;
  auto holder = std::make_shared<node::Node*>(nullptr);
  server::S3ServerOptions options;
  options.port = 0;
  options.credentials["BENCH"] = "BENCHSECRET";
  options.node_endpoint = [holder](const server::RawRequest& request) {
    node::EndpointResponse response =
        (*holder)->Handle({request.method, request.target, request.body});
    return server::RawResponse{response.status, std::move(response.body), response.content_type};
  };
  served.server =
      Must(server::S3Server::Start(Must(object::Open("mem://"), "store"), options), "server");
  node::NodeParts parts;
  parts.blobs = Must(cas::BlobStore::Open(Must(object::Open("mem://"), "objects"),
                                          Must(kv::Open("mem://"), "index")),
                     "blobs");
  parts.ledger_store = Must(kv::Open("mem://"), "ledger");
  parts.transport = net.Attach();
  node::NodeOptions node_options;
  node_options.endpoint = fmt::format("127.0.0.1:{}", served.server->port());
  node_options.replication = 1;
  node_options.dht.bootstrap = std::move(bootstrap);
  node_options.dht.unlimited_requests = true;
  served.node = Must(node::Node::Start(std::move(parts), node_options), "node");
  *holder = served.node.get();
  return served;
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
  server::S3ServerOptions serve_options;
  serve_options.port = 0;
  serve_options.credentials["BENCH"] = "BENCHSECRET";
  auto store = Must(object::Open("mem://"), "store");
  auto serve = Must(server::S3Server::Start(store, serve_options), "serve");
  object::S3StoreOptions s3;
  s3.bucket = "bench";
  s3.endpoint = fmt::format("http://127.0.0.1:{}", serve->port());
  s3.credentials.access_key_id = "BENCH";
  s3.credentials.secret_access_key = "BENCHSECRET";
  s3.credentials.region = "us-east-1";
  auto client = Must(object::S3Store::Open(s3), "s3 client");
  if (auto made = client->CreateBucket(); !made.ok()) Must(Result<int>(made), "bucket");
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
