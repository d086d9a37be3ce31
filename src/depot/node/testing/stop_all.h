// Test support: stops many nodes at once. Stopping one can take up to 2 s (OpenDHT's shutdown
// does not always call back, dht.cc), so a hundred stopped in turn would take minutes.
//
//   StopAll(nodes, [](auto& node) { node->Stop(); });
#pragma once

#include <thread>
#include <vector>

namespace depot::node::testing {

template <typename Items, typename Stop>
void StopAll(Items& items, Stop stop) {
  std::vector<std::thread> threads;
  threads.reserve(items.size());
  for (auto& item : items) threads.emplace_back([&item, &stop] { stop(item); });
  for (std::thread& thread : threads) thread.join();
}

}  // namespace depot::node::testing
