#include "herald/delivery/circuit_breaker.hpp"

#include <algorithm>

namespace herald::delivery {

namespace {

constexpr std::size_t window_slices = 10;

std::chrono::milliseconds at_least_1ms(std::chrono::steady_clock::duration d) {
  return std::max(std::chrono::ceil<std::chrono::milliseconds>(d), std::chrono::milliseconds(1));
}

}  // namespace

std::string_view to_string(circuit_breaker::state s) {
  switch (s) {
    case circuit_breaker::state::closed:
      return "closed";
    case circuit_breaker::state::open:
      return "open";
    case circuit_breaker::state::half_open:
      return "half_open";
  }
  return "unknown";
}

circuit_breaker::circuit_breaker(breaker_policy policy)
    : policy_(policy), cool_down_(policy.cool_down), buckets_(window_slices) {
  policy_.window = std::max(policy_.window, std::chrono::milliseconds(window_slices));
  policy_.probes = std::max(policy_.probes, 1u);
  policy_.probe_wait = std::max(policy_.probe_wait, std::chrono::milliseconds(1));
  policy_.max_cool_down = std::max(policy_.max_cool_down, policy_.cool_down);
}

circuit_breaker::state circuit_breaker::current(time_point now) const {
  if (state_ == state::closed) return state::closed;
  return now < open_until_ ? state::open : state::half_open;
}

circuit_breaker::admission circuit_breaker::admit(time_point now) {
  admission a;
  a.generation = generation_;
  switch (current(now)) {
    case state::closed:
      a.admitted = true;
      break;
    case state::open:
      a.wait = at_least_1ms(open_until_ - now);
      break;
    case state::half_open:
      if (probes_in_flight_ < policy_.probes) {
        ++probes_in_flight_;
        ++probes_sent_;
        a.admitted = true;
        a.probe = true;
      } else {
        a.wait = policy_.probe_wait;
      }
      break;
  }
  return a;
}

void circuit_breaker::on_success(const admission& a, time_point now) {
  if (a.generation != generation_) return;  // a result from before the last transition
  if (a.probe) {
    close();
    return;
  }
  if (state_ != state::closed) return;
  consecutive_ = 0;
  record(now, true);
}

void circuit_breaker::on_failure(const admission& a, time_point now, std::string_view error) {
  remember(now, error);
  if (a.generation != generation_) return;
  if (a.probe) {
    open(now, std::min(cool_down_ * 2, policy_.max_cool_down));
    return;
  }
  if (state_ != state::closed) return;
  ++consecutive_;
  record(now, false);
  const bool run =
      policy_.consecutive_failures != 0 && consecutive_ >= policy_.consecutive_failures;
  if (run || ratio_exceeded(now)) open(now, policy_.cool_down);
}

void circuit_breaker::on_abandoned(const admission& a) {
  if (a.probe && a.generation == generation_ && probes_in_flight_ > 0) --probes_in_flight_;
}

void circuit_breaker::open(time_point now, std::chrono::milliseconds cool_down) {
  state_ = state::open;
  ++generation_;
  ++times_opened_;
  cool_down_ = cool_down;
  open_until_ = now + cool_down;
  probes_in_flight_ = 0;
}

void circuit_breaker::close() {
  state_ = state::closed;
  ++generation_;
  cool_down_ = policy_.cool_down;
  consecutive_ = 0;
  probes_in_flight_ = 0;
  std::fill(buckets_.begin(), buckets_.end(), bucket{});
}

std::int64_t circuit_breaker::slot_of(time_point now) const {
  const auto slice = policy_.window / static_cast<int>(window_slices);
  return static_cast<std::int64_t>(now.time_since_epoch() / slice);
}

void circuit_breaker::record(time_point now, bool success) {
  const auto slot = slot_of(now);
  auto& b = buckets_[static_cast<std::size_t>(slot) % window_slices];
  if (b.slot != slot) b = bucket{slot, 0, 0};
  ++(success ? b.successes : b.failures);
}

bool circuit_breaker::ratio_exceeded(time_point now) const {
  if (policy_.failure_ratio > 1.0) return false;
  const auto slot = slot_of(now);
  unsigned ok = 0;
  unsigned bad = 0;
  for (const auto& b : buckets_) {
    if (b.slot > slot - static_cast<std::int64_t>(window_slices) && b.slot <= slot) {
      ok += b.successes;
      bad += b.failures;
    }
  }
  const unsigned calls = ok + bad;
  return calls >= std::max(policy_.min_calls, 1u)
         && static_cast<double>(bad) >= policy_.failure_ratio * static_cast<double>(calls);
}

void circuit_breaker::remember(time_point now, std::string_view error) {
  if (policy_.recent_errors == 0) return;
  recent_.push_back({now, std::string(error.substr(0, 300))});
  while (recent_.size() > policy_.recent_errors) recent_.pop_front();
}

}  // namespace herald::delivery
