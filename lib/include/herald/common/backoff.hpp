// Capped exponential backoff with jitter: the delay before the next attempt after a failure.
// Pure arithmetic: the caller supplies the randomness, so tests can pin it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace herald {

struct backoff_policy {
  std::chrono::milliseconds initial{50};  // the ceiling of the first delay
  std::chrono::milliseconds max{2000};    // no delay exceeds this
  // full: uniform in [0, ceiling] (spreads a herd best; for retries of work).
  // equal: uniform in [ceiling/2, ceiling] (never retries at once; for reconnects).
  enum class jitter { full, equal } spread = jitter::equal;
};

class backoff {
 public:
  explicit backoff(backoff_policy policy) : policy_(policy) {}

  // The ceiling for attempt `n` (0-based): initial·2ⁿ, capped at max.
  std::chrono::milliseconds ceiling(unsigned n) const {
    auto c = policy_.initial.count();
    for (unsigned i = 0; i < n && c < policy_.max.count(); ++i) c *= 2;
    return std::chrono::milliseconds(std::min<std::int64_t>(c, policy_.max.count()));
  }

  // The delay before the next attempt; `random` is any uniformly distributed 64-bit value.
  std::chrono::milliseconds next(std::uint64_t random) {
    auto c = static_cast<std::uint64_t>(ceiling(attempts_).count());
    if (attempts_ < 64) ++attempts_;
    std::uint64_t low = policy_.spread == backoff_policy::jitter::equal ? c / 2 : 0;
    std::uint64_t span = c - low + 1;
    return std::chrono::milliseconds(static_cast<std::int64_t>(low + random % span));
  }

  void reset() { attempts_ = 0; }
  unsigned attempts() const { return attempts_; }

 private:
  backoff_policy policy_;
  unsigned attempts_ = 0;
};

}  // namespace herald
