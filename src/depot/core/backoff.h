// depot::Backoff: delays between retries, exponential with decorrelated jitter, bounded both in
// the number of attempts and in the total time slept.
//
// The first delay is `initial`; each later one is drawn uniformly from [initial, previous x
// multiplier] and capped at `max`. Next() returns std::nullopt once `max_attempts` delays have been
// handed out or the next delay would take the total past `max_total`: the caller then gives up and
// reports the last error. Not thread-safe: one Backoff per retry loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace depot {

struct BackoffOptions {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{15'000};
  double multiplier = 2.0;
  int max_attempts = 10;
  std::chrono::milliseconds max_total{180'000};
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {}, uint64_t seed = std::random_device{}());

  std::optional<std::chrono::milliseconds> Next();
  int attempts() const { return attempts_; }
  std::chrono::milliseconds total() const { return total_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempts_ = 0;
  std::chrono::milliseconds previous_{0};
  std::chrono::milliseconds total_{0};
};

}  // namespace depot
