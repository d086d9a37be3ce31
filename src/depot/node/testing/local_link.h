// Test support: nodes of one process reaching each other's endpoints directly (Node::Handle), for
// simulations with many nodes where a hundred HTTP servers would measure the sockets, not the
// network. Real deployments and the multi-process tests use HttpPeerLink. Thread-safe.
#pragma once

#include <fmt/format.h>

#include <map>
#include <string>

#include "depot/core/mutex.h"
#include "depot/node/node.h"

namespace depot::node::testing {

class LocalPeerLink final : public PeerLink {
 public:
  void Add(const std::string& endpoint, Node* node) {
    MutexLock lock(mu_);
    nodes_[endpoint] = node;
  }
  void Remove(const std::string& endpoint) {
    MutexLock lock(mu_);
    nodes_.erase(endpoint);
  }
  Result<EndpointResponse> Send(const std::string& endpoint, const EndpointRequest& request,
                                const Context& ctx) override {
    DEPOT_RETURN_IF_ERROR(ctx.Check("a request to " + endpoint));
    Node* node = nullptr;
    {
      MutexLock lock(mu_);
      auto it = nodes_.find(endpoint);
      if (it != nodes_.end()) node = it->second;
    }
    if (node == nullptr) return UnavailableError(fmt::format("no node at {}", endpoint));
    return node->Handle(request);
  }

 private:
  Mutex mu_;
  std::map<std::string, Node*> nodes_ DEPOT_GUARDED_BY(mu_);
};

}  // namespace depot::node::testing
