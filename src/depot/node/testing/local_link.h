// Test support: nodes of one process reaching each other's endpoints directly (Node::Handle), for
// simulations with many nodes where a hundred HTTP servers would measure the sockets, not the
// network. Real deployments and the multi-process tests use HttpPeerLink. Thread-safe.
//
//   auto link = std::make_shared<LocalPeerLink>();
//   parts.link = link->From("node-1");            // what node-1 sends goes through this port
//   link->Add("node-1", node.get());
//   link->Partition({{"node-1", "node-2"}, {"node-3"}});  // as SimNetwork::Partition, for HTTP
//   link->Tamper("node-2", [](const EndpointRequest&, EndpointResponse& r) { r.body[0] ^= 1; });
//
// A request to an endpoint not added, or across a partition, fails with kUnavailable, as an
// unreachable HTTP peer does.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/node/node.h"

namespace depot::node::testing {

class LocalPeerLink final : public PeerLink, public std::enable_shared_from_this<LocalPeerLink> {
 public:
  void Add(const std::string& endpoint, Node* node) {
    MutexLock lock(mu_);
    nodes_[endpoint] = node;
  }
  void Remove(const std::string& endpoint) {
    MutexLock lock(mu_);
    nodes_.erase(endpoint);
  }
  // Endpoints in different groups cannot reach each other; one in no group reaches only
  // endpoints in no group. Heal() ends it.
  void Partition(const std::vector<std::vector<std::string>>& groups) {
    MutexLock lock(mu_);
    group_of_.clear();
    for (size_t g = 0; g < groups.size(); ++g) {
      for (const std::string& endpoint : groups[g]) group_of_[endpoint] = g + 1;
    }
  }
  void Heal() {
    MutexLock lock(mu_);
    group_of_.clear();
  }
  // Every answer from `endpoint` goes through `tamper` first (a peer, or a path, that lies).
  void Tamper(const std::string& endpoint,
              std::function<void(const EndpointRequest&, EndpointResponse&)> tamper) {
    MutexLock lock(mu_);
    tamper_[endpoint] = std::move(tamper);
  }

  // The link as the node at `from` uses it (partitions apply to it).
  std::shared_ptr<PeerLink> From(std::string from) {
    return std::make_shared<Port>(shared_from_this(), std::move(from));
  }

  // A request from outside every partition.
  Result<EndpointResponse> Send(const std::string& endpoint, const EndpointRequest& request,
                                const Context& ctx) override {
    return SendFrom("", endpoint, request, ctx);
  }

 private:
  class Port final : public PeerLink {
   public:
    Port(std::shared_ptr<LocalPeerLink> link, std::string from)
        : link_(std::move(link)), from_(std::move(from)) {}
    Result<EndpointResponse> Send(const std::string& endpoint, const EndpointRequest& request,
                                  const Context& ctx) override {
      return link_->SendFrom(from_, endpoint, request, ctx);
    }

   private:
    const std::shared_ptr<LocalPeerLink> link_;
    const std::string from_;
  };

  Result<EndpointResponse> SendFrom(const std::string& from, const std::string& endpoint,
                                    const EndpointRequest& request, const Context& ctx) {
    DEPOT_RETURN_IF_ERROR(ctx.Check("a request to " + endpoint));
    Node* node = nullptr;
    std::function<void(const EndpointRequest&, EndpointResponse&)> tamper;
    {
      MutexLock lock(mu_);
      auto it = nodes_.find(endpoint);
      if (it != nodes_.end() && GroupOf(from) == GroupOf(endpoint)) node = it->second;
      if (auto t = tamper_.find(endpoint); t != tamper_.end()) tamper = t->second;
    }
    if (node == nullptr) return UnavailableError(fmt::format("no node reachable at {}", endpoint));
    EndpointResponse response = node->Handle(request);
    if (tamper) tamper(request, response);
    return response;
  }
  size_t GroupOf(const std::string& endpoint) DEPOT_REQUIRES(mu_) {
    auto it = group_of_.find(endpoint);
    return it == group_of_.end() ? 0 : it->second;
  }

  Mutex mu_;
  std::map<std::string, Node*> nodes_ DEPOT_GUARDED_BY(mu_);
  std::map<std::string, size_t> group_of_ DEPOT_GUARDED_BY(mu_);
  std::map<std::string, std::function<void(const EndpointRequest&, EndpointResponse&)>> tamper_
      DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot::node::testing
