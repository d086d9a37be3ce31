// Test support: waits for a condition that other threads (or processes) make true.
//
//   ASSERT_TRUE(Eventually([&] { return node.ledger().Get(id)->passed >= 2; }, 30s));
#pragma once

#include <chrono>
#include <thread>

namespace depot::testing {

// Whether `done()` became true within `limit`, asking every `poll`.
template <typename F>
bool Eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(30),
                std::chrono::milliseconds poll = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace depot::testing
