// A provider's circuit breaker: after repeated failures it stops deliveries to that provider for
// a cool-down (they wait; they do not fail), then lets a few probes through; a probe's success
// closes it, a probe's failure opens it again for longer. A plain state machine: the caller
// passes the time and reports each admitted call's result; it has no clock or timer of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace herald::delivery {

struct breaker_policy {
  // Open after this many failures in a row (0: never on a run alone).
  unsigned consecutive_failures = 5;
  // Or open when, over the last `window`, at least `min_calls` results arrived and this share of
  // them failed (a ratio above 1 disables it).
  double failure_ratio = 0.5;
  unsigned min_calls = 20;
  std::chrono::milliseconds window = std::chrono::seconds(10);
  // The first cool-down; each reopening from half-open doubles it, up to max_cool_down. A close
  // resets it.
  std::chrono::milliseconds cool_down = std::chrono::seconds(1);
  std::chrono::milliseconds max_cool_down = std::chrono::seconds(60);
  // Probes in flight at once while half-open; other callers wait.
  unsigned probes = 1;
  // How long a caller refused while half-open (every probe slot taken) waits before asking
  // again.
  std::chrono::milliseconds probe_wait = std::chrono::milliseconds(100);
  // Errors kept for listing (herald providers).
  std::size_t recent_errors = 10;
};

class circuit_breaker {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  enum class state { closed, open, half_open };

  // The answer to "may I call the provider now?".
  struct admission {
    bool admitted = false;
    bool probe = false;                 // admitted as a half-open probe: report its result
    std::chrono::milliseconds wait{0};  // refused: ask again after this long
    std::uint64_t generation = 0;       // which closed/open period admitted it (internal)
  };

  struct recorded_error {
    time_point at;
    std::string message;
  };

  explicit circuit_breaker(breaker_policy policy = {});

  // Asks to make one call at `now`. Every admitted call must be answered by exactly one of
  // on_success, on_failure or on_abandoned with the admission it got.
  admission admit(time_point now);

  // The provider answered (delivered, or refused the request itself: a 4xx or 429).
  void on_success(const admission& a, time_point now);
  // The provider is unwell for this call (unreachable, timed out, 5xx). `error` is kept for
  // listing; it must not hold secrets.
  void on_failure(const admission& a, time_point now, std::string_view error);
  // The call was not made or its result tells nothing (cancelled at shutdown): frees a probe
  // slot without a verdict.
  void on_abandoned(const admission& a);

  // The state at `now`: an open breaker whose cool-down has passed reads as half-open.
  state current(time_point now) const;
  // Until when an open breaker stays open (meaningful while open).
  time_point open_until() const { return open_until_; }
  std::chrono::milliseconds cool_down() const { return cool_down_; }

  std::uint64_t probes_sent() const { return probes_sent_; }  // ever
  std::uint64_t times_opened() const { return times_opened_; }
  unsigned consecutive_failures() const { return consecutive_; }
  // Newest last, at most policy.recent_errors.
  const std::deque<recorded_error>& recent_errors() const { return recent_; }

 private:
  struct bucket {
    std::int64_t slot = -1;  // which window slice it counts (time / slice length)
    unsigned successes = 0;
    unsigned failures = 0;
  };

  void record(time_point now, bool success);
  bool ratio_exceeded(time_point now) const;
  std::int64_t slot_of(time_point now) const;
  void open(time_point now, std::chrono::milliseconds cool_down);
  void close();
  void remember(time_point now, std::string_view error);

  breaker_policy policy_;
  state state_ = state::closed;  // open also covers half-open (open_until_ passed)
  std::uint64_t generation_ = 0;
  time_point open_until_{};
  std::chrono::milliseconds cool_down_;
  unsigned consecutive_ = 0;
  unsigned probes_in_flight_ = 0;
  std::uint64_t probes_sent_ = 0;
  std::uint64_t times_opened_ = 0;
  std::vector<bucket> buckets_;  // the failure-ratio window, in slices
  std::deque<recorded_error> recent_;
};

std::string_view to_string(circuit_breaker::state s);

}  // namespace herald::delivery
