#include "depot/core/backoff.h"

#include <algorithm>

namespace depot {

Backoff::Backoff(BackoffOptions options, uint64_t seed) : options_(options), rng_(seed) {}

std::optional<std::chrono::milliseconds> Backoff::Next() {
  if (attempts_ >= options_.max_attempts) return std::nullopt;
  std::chrono::milliseconds delay = options_.initial;
  if (attempts_ > 0) {
    const double low = static_cast<double>(options_.initial.count());
    const double high = std::max(low, static_cast<double>(previous_.count()) * options_.multiplier);
    std::uniform_real_distribution<double> pick(low, high);
    delay = std::chrono::milliseconds(static_cast<int64_t>(pick(rng_)));
  }
  delay = std::min(delay, options_.max);
  if (total_ + delay > options_.max_total) return std::nullopt;
  ++attempts_;
  previous_ = delay;
  total_ += delay;
  return delay;
}

}  // namespace depot
