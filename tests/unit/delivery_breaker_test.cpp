// The circuit breaker's state machine on a fake clock: when it opens, how long it pauses, how
// many probes half-open lets through, and what closes or reopens it.
#include <gtest/gtest.h>

#include "herald/delivery/circuit_breaker.hpp"

namespace herald::delivery {
namespace {

using namespace std::chrono_literals;
using state = circuit_breaker::state;

// A clock the test moves by hand.
struct fake_clock {
  circuit_breaker::time_point now{std::chrono::hours(1000)};
  void advance(std::chrono::milliseconds d) { now += d; }
};

breaker_policy policy() {
  breaker_policy p;
  p.consecutive_failures = 3;
  p.failure_ratio = 2.0;  // off unless a test turns it on
  p.cool_down = 1s;
  p.max_cool_down = 5s;
  p.probes = 1;
  p.probe_wait = 100ms;
  return p;
}

// One call admitted and failed at once.
void fail_one(circuit_breaker& b, fake_clock& clock, std::string error = "HTTP 503") {
  auto a = b.admit(clock.now);
  ASSERT_TRUE(a.admitted);
  b.on_failure(a, clock.now, error);
}

void succeed_one(circuit_breaker& b, fake_clock& clock) {
  auto a = b.admit(clock.now);
  ASSERT_TRUE(a.admitted);
  b.on_success(a, clock.now);
}

TEST(delivery_breaker, closed_admits_everything) {
  fake_clock clock;
  circuit_breaker b(policy());
  EXPECT_EQ(b.current(clock.now), state::closed);
  for (int i = 0; i < 100; ++i) {
    auto a = b.admit(clock.now);
    EXPECT_TRUE(a.admitted);
    EXPECT_FALSE(a.probe);
  }
  EXPECT_EQ(b.probes_sent(), 0u);
}

TEST(delivery_breaker, opens_after_n_consecutive_failures_and_pauses_for_the_cool_down) {
  fake_clock clock;
  circuit_breaker b(policy());
  fail_one(b, clock);
  fail_one(b, clock);
  EXPECT_EQ(b.current(clock.now), state::closed);
  EXPECT_EQ(b.consecutive_failures(), 2u);
  fail_one(b, clock);
  EXPECT_EQ(b.current(clock.now), state::open);
  EXPECT_EQ(b.times_opened(), 1u);

  auto refused = b.admit(clock.now);
  EXPECT_FALSE(refused.admitted) << "open pauses deliveries";
  EXPECT_EQ(refused.wait, 1s) << "the wait is the rest of the cool-down";
  clock.advance(400ms);
  EXPECT_EQ(b.admit(clock.now).wait, 600ms);
  clock.advance(599ms);
  EXPECT_EQ(b.current(clock.now), state::open);
  EXPECT_EQ(b.admit(clock.now).wait, 1ms);
  clock.advance(1ms);
  EXPECT_EQ(b.current(clock.now), state::half_open);
}

TEST(delivery_breaker, a_success_resets_the_run) {
  fake_clock clock;
  circuit_breaker b(policy());
  for (int round = 0; round < 10; ++round) {
    fail_one(b, clock);
    fail_one(b, clock);
    succeed_one(b, clock);
  }
  EXPECT_EQ(b.current(clock.now), state::closed);
  EXPECT_EQ(b.times_opened(), 0u);
}

TEST(delivery_breaker, half_open_admits_a_limited_number_of_probes) {
  fake_clock clock;
  auto p = policy();
  p.probes = 2;
  circuit_breaker b(p);
  for (int i = 0; i < 3; ++i) fail_one(b, clock);
  clock.advance(1s);
  auto p1 = b.admit(clock.now);
  auto p2 = b.admit(clock.now);
  auto p3 = b.admit(clock.now);
  EXPECT_TRUE(p1.admitted && p1.probe);
  EXPECT_TRUE(p2.admitted && p2.probe);
  EXPECT_FALSE(p3.admitted) << "every probe slot is taken";
  EXPECT_EQ(p3.wait, 100ms);
  EXPECT_EQ(b.probes_sent(), 2u);
  // An abandoned probe frees its slot without a verdict.
  b.on_abandoned(p2);
  EXPECT_EQ(b.current(clock.now), state::half_open);
  auto p4 = b.admit(clock.now);
  EXPECT_TRUE(p4.probe);
  EXPECT_EQ(b.probes_sent(), 3u);
}

TEST(delivery_breaker, a_probes_success_closes_it) {
  fake_clock clock;
  circuit_breaker b(policy());
  for (int i = 0; i < 3; ++i) fail_one(b, clock);
  clock.advance(1s);
  auto probe = b.admit(clock.now);
  ASSERT_TRUE(probe.probe);
  EXPECT_FALSE(b.admit(clock.now).admitted) << "others wait for the probe";
  b.on_success(probe, clock.now);
  EXPECT_EQ(b.current(clock.now), state::closed);
  EXPECT_EQ(b.consecutive_failures(), 0u);
  auto a = b.admit(clock.now);
  EXPECT_TRUE(a.admitted);
  EXPECT_FALSE(a.probe);
}

TEST(delivery_breaker, a_probes_failure_reopens_with_a_growing_cool_down) {
  fake_clock clock;
  circuit_breaker b(policy());
  for (int i = 0; i < 3; ++i) fail_one(b, clock);
  std::vector<std::chrono::milliseconds> cool_downs;
  for (int round = 0; round < 5; ++round) {
    cool_downs.push_back(b.cool_down());
    clock.advance(b.cool_down());
    auto probe = b.admit(clock.now);
    ASSERT_TRUE(probe.probe) << round;
    b.on_failure(probe, clock.now, "connect_error");
    EXPECT_EQ(b.current(clock.now), state::open);
  }
  EXPECT_EQ(cool_downs, (std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 5s, 5s}))
      << "doubling, capped at max_cool_down";
  EXPECT_EQ(b.probes_sent(), 5u);
  EXPECT_EQ(b.times_opened(), 6u);

  // After it closes, the next opening starts from the first cool-down again.
  clock.advance(b.cool_down());
  auto probe = b.admit(clock.now);
  b.on_success(probe, clock.now);
  EXPECT_EQ(b.cool_down(), 1s);
  for (int i = 0; i < 3; ++i) fail_one(b, clock);
  EXPECT_EQ(b.admit(clock.now).wait, 1s);
}

TEST(delivery_breaker, a_30s_outage_costs_few_probes) {
  // Callers ask as soon as they are told to; the provider is down for 30 s.
  fake_clock clock;
  auto p = policy();
  p.max_cool_down = 10s;
  circuit_breaker b(p);
  const auto back_at = clock.now + 30s;
  std::uint64_t calls = 0;
  while (b.current(clock.now) != state::closed || clock.now < back_at) {
    auto a = b.admit(clock.now);
    if (!a.admitted) {
      clock.advance(a.wait);
      continue;
    }
    ++calls;
    if (clock.now < back_at)
      b.on_failure(a, clock.now, "connect_error");
    else
      b.on_success(a, clock.now);
    clock.advance(1ms);
  }
  // 3 failures open it; probes at +1, +3, +7, +15, +25 (capped 10 s) and +35 s, the last closes.
  EXPECT_EQ(b.probes_sent(), 6u);
  EXPECT_EQ(calls, 3u + 6u);
  EXPECT_LT(clock.now - back_at, 6s) << "back within one cool-down of the provider";
}

TEST(delivery_breaker, opens_on_a_failure_ratio_over_the_window) {
  fake_clock clock;
  auto p = policy();
  p.consecutive_failures = 0;  // ratio only
  p.failure_ratio = 0.5;
  p.min_calls = 10;
  p.window = 10s;
  circuit_breaker b(p);
  // Alternating: never two failures in a row, but half of all calls fail.
  for (int i = 0; i < 4; ++i) {
    succeed_one(b, clock);
    fail_one(b, clock);
    clock.advance(100ms);
  }
  EXPECT_EQ(b.current(clock.now), state::closed) << "8 calls: under min_calls";
  succeed_one(b, clock);
  fail_one(b, clock);
  EXPECT_EQ(b.current(clock.now), state::open) << "10 calls, 5 failed";
}

TEST(delivery_breaker, the_ratio_forgets_calls_older_than_the_window) {
  fake_clock clock;
  auto p = policy();
  p.consecutive_failures = 0;
  p.failure_ratio = 0.5;
  p.min_calls = 10;
  p.window = 10s;
  circuit_breaker b(p);
  for (int i = 0; i < 9; ++i) fail_one(b, clock);
  clock.advance(11s);
  // The 9 old failures have left the window: 9 successes and 1 failure are 10% failed.
  for (int i = 0; i < 9; ++i) succeed_one(b, clock);
  fail_one(b, clock);
  EXPECT_EQ(b.current(clock.now), state::closed);
  // Within the window the ratio counts: 6 more failures make 7 of 16.
  for (int i = 0; i < 6; ++i) fail_one(b, clock);
  EXPECT_EQ(b.current(clock.now), state::closed) << "7 of 16 is under half";
  fail_one(b, clock);
  fail_one(b, clock);
  EXPECT_EQ(b.current(clock.now), state::open) << "9 of 18";
}

TEST(delivery_breaker, a_result_from_before_the_opening_changes_nothing) {
  fake_clock clock;
  circuit_breaker b(policy());
  auto early = b.admit(clock.now);  // in flight while the breaker opens
  for (int i = 0; i < 3; ++i) fail_one(b, clock);
  b.on_success(early, clock.now);
  EXPECT_EQ(b.current(clock.now), state::open) << "a late success does not close it";
  clock.advance(1s);
  auto probe = b.admit(clock.now);
  auto late = early;
  b.on_failure(late, clock.now, "late");
  EXPECT_EQ(b.current(clock.now), state::half_open) << "a late failure does not reopen it";
  b.on_success(probe, clock.now);
  EXPECT_EQ(b.current(clock.now), state::closed);
}

TEST(delivery_breaker, recent_errors_are_kept_newest_last_and_bounded) {
  fake_clock clock;
  auto p = policy();
  p.recent_errors = 3;
  p.consecutive_failures = 100;
  circuit_breaker b(p);
  for (int i = 0; i < 5; ++i) {
    fail_one(b, clock, "error " + std::to_string(i));
    clock.advance(1s);
  }
  ASSERT_EQ(b.recent_errors().size(), 3u);
  EXPECT_EQ(b.recent_errors().front().message, "error 2");
  EXPECT_EQ(b.recent_errors().back().message, "error 4");
  EXPECT_EQ(b.recent_errors().back().at, clock.now - 1s);
  EXPECT_EQ(to_string(b.current(clock.now)), "closed");
}

}  // namespace
}  // namespace herald::delivery
