// Internal to bench/: a storage network node whose endpoint is depot serve's HTTP stack on a free
// loopback port, as `depot node run` serves it, over in-memory blob, ledger and object stores;
// and the baseline the node benchmarks measure against: depot serve and depot's S3 client.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <utility>

#include "depot/cas/blob_store.h"
#include "depot/kv/open.h"
#include "depot/node/node.h"
#include "depot/object/open.h"
#include "depot/object/s3/s3_store.h"
#include "depot/server/s3_server.h"

namespace depot::bench {

// The value, or the error printed and the program ended.
template <typename T>
T Must(Result<T> result, const char* what) {
  if (!result.ok()) {
    fmt::print(stderr, "benchmark: {}: {}\n", what, result.status().ToString());
    std::exit(1);
  }
  return std::move(*result);
}

struct ServedNode {
  std::unique_ptr<node::Node> node;
  std::unique_ptr<server::S3Server> server;
};

// Starts a node on `transport` (its endpoint set here) and the server in front of it.
inline ServedNode StartServedNode(std::unique_ptr<node::DhtTransport> transport,
                                  node::NodeOptions options) {
  ServedNode served;
  // Set once the node has started; a request before that (a peer that found the endpoint in
  // the DHT first) is answered 503.
  auto holder = std::make_shared<std::atomic<node::Node*>>(nullptr);
  server::S3ServerOptions serve;
  serve.port = 0;
  serve.credentials["BENCH"] = "BENCHSECRET";
  serve.transfer_threads = 1;
  serve.node_endpoint = [holder](const server::RawRequest& request) {
    node::Node* node = holder->load();
    if (node == nullptr) return server::RawResponse{503, "starting", "text/plain"};
    node::EndpointResponse response = node->Handle({request.method, request.target, request.body});
    return server::RawResponse{response.status, std::move(response.body), response.content_type};
  };
  served.server =
      Must(server::S3Server::Start(Must(object::Open("mem://"), "store"), serve), "server");
  node::NodeParts parts;
  parts.blobs = Must(cas::BlobStore::Open(Must(object::Open("mem://"), "objects"),
                                          Must(kv::Open("mem://"), "index")),
                     "blobs");
  parts.ledger_store = Must(kv::Open("mem://"), "ledger");
  parts.transport = std::move(transport);
  options.endpoint = fmt::format("127.0.0.1:{}", served.server->port());
  options.dht.unlimited_requests = true;
  served.node = Must(node::Node::Start(std::move(parts), std::move(options)), "node");
  holder->store(served.node.get());
  return served;
}

// depot serve over a memory store on a free loopback port, and an S3 client of its bucket
// "bench" (made).
struct ServedStore {
  std::unique_ptr<server::S3Server> server;
  std::shared_ptr<object::S3Store> client;
};

inline ServedStore StartServedStore() {
  ServedStore served;
  server::S3ServerOptions options;
  options.port = 0;
  options.credentials["BENCH"] = "BENCHSECRET";
  served.server =
      Must(server::S3Server::Start(Must(object::Open("mem://"), "store"), options), "serve");
  object::S3StoreOptions s3;
  s3.bucket = "bench";
  s3.endpoint = fmt::format("http://127.0.0.1:{}", served.server->port());
  s3.credentials.access_key_id = "BENCH";
  s3.credentials.secret_access_key = "BENCHSECRET";
  s3.credentials.region = "us-east-1";
  served.client = Must(object::S3Store::Open(s3), "s3 client");
  if (auto made = served.client->CreateBucket(); !made.ok()) Must(Result<int>(made), "bucket");
  return served;
}

}  // namespace depot::bench
