// GCRA arithmetic on a fake clock: the burst goes at once, then one message per interval; a
// refused request leaves the state alone; a reservation up to max_wait; batches.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "herald/delivery/rate_limit.hpp"

namespace herald::delivery {
namespace {

using namespace std::chrono_literals;
using std::chrono::microseconds;

constexpr std::int64_t t0 = 1'700'000'000'000'000;  // µs since the epoch

TEST(delivery_gcra, the_burst_goes_at_once_then_one_per_interval) {
  gcra limit(200, 10);  // 5 ms a message
  EXPECT_EQ(limit.interval_us(), 5000);
  std::int64_t tat = 0;
  for (int i = 0; i < 10; ++i) {
    auto v = limit.reserve(tat, t0, 1);
    ASSERT_TRUE(v.reserved) << i;
    EXPECT_EQ(v.wait, 0us);
    tat = v.tat_us;
  }
  EXPECT_EQ(tat, t0 + 50'000);
  auto refused = limit.reserve(tat, t0, 1);
  EXPECT_FALSE(refused.reserved);
  EXPECT_EQ(refused.wait, 5000us);
  EXPECT_EQ(refused.tat_us, tat) << "a refusal changes nothing";
  EXPECT_FALSE(limit.reserve(tat, t0 + 4999, 1).reserved);
  auto next = limit.reserve(tat, t0 + 5000, 1);
  EXPECT_TRUE(next.reserved);
  EXPECT_EQ(next.tat_us, t0 + 55'000);
}

TEST(delivery_gcra, admitted_over_time_is_rate_times_time_plus_burst) {
  // Callers asking every 100 µs for 3 s: 200/s·3 s + 10.
  gcra limit(200, 10);
  std::int64_t tat = 0;
  int admitted = 0;
  for (std::int64_t now = t0; now <= t0 + 3'000'000; now += 100) {
    auto v = limit.reserve(tat, now, 1);
    if (v.reserved) {
      ++admitted;
      tat = v.tat_us;
    }
  }
  EXPECT_EQ(admitted, 610);
}

TEST(delivery_gcra, idleness_refills_the_burst_but_never_beyond_it) {
  gcra limit(100, 5);  // 10 ms a message
  std::int64_t tat = 0;
  for (int i = 0; i < 5; ++i) tat = limit.reserve(tat, t0, 1).tat_us;
  EXPECT_FALSE(limit.reserve(tat, t0, 1).reserved);
  // 20 ms later two more may go; an hour later still only the burst.
  const auto later = t0 + 20'000;
  tat = limit.reserve(tat, later, 1).tat_us;
  tat = limit.reserve(tat, later, 1).tat_us;
  EXPECT_FALSE(limit.reserve(tat, later, 1).reserved);
  const auto hour = t0 + 3'600'000'000;
  int at_once = 0;
  for (; at_once < 100; ++at_once) {
    auto v = limit.reserve(tat, hour, 1);
    if (!v.reserved) break;
    tat = v.tat_us;
  }
  EXPECT_EQ(at_once, 5);
}

TEST(delivery_gcra, a_batch_takes_n_tokens_at_once) {
  gcra limit(1000, 100);  // 1 ms a message
  auto first = limit.reserve(0, t0, 100);
  ASSERT_TRUE(first.reserved);
  EXPECT_EQ(first.tat_us, t0 + 100'000);
  auto second = limit.reserve(first.tat_us, t0, 100);
  EXPECT_FALSE(second.reserved);
  EXPECT_EQ(second.wait, 100'000us) << "the second batch waits for 100 tokens";
  auto half = limit.reserve(first.tat_us, t0 + 60'000, 50);
  EXPECT_TRUE(half.reserved) << "60 ms later, 60 tokens are back";
  EXPECT_EQ(half.tat_us, t0 + 150'000);
}

TEST(delivery_gcra, a_batch_larger_than_the_burst_goes_when_idle_and_is_paid_off) {
  gcra limit(100, 10);  // 10 ms a message
  auto big = limit.reserve(0, t0, 50);
  ASSERT_TRUE(big.reserved) << "an idle limiter takes a batch above the burst";
  EXPECT_EQ(big.wait, 0us);
  auto after = limit.reserve(big.tat_us, t0, 1);
  EXPECT_FALSE(after.reserved);
  EXPECT_EQ(after.wait, 410'000us) << "50 messages paid, less the burst of 10, plus 1";
  // Not idle: the big batch waits until it is.
  auto again = limit.reserve(big.tat_us, t0 + 100'000, 50);
  EXPECT_FALSE(again.reserved);
  EXPECT_EQ(again.wait, 400'000us);
}

TEST(delivery_gcra, max_wait_reserves_a_future_slot) {
  gcra limit(200, 1);
  auto a = limit.reserve(0, t0, 1);
  ASSERT_TRUE(a.reserved);
  auto b = limit.reserve(a.tat_us, t0, 1, 20ms);
  ASSERT_TRUE(b.reserved) << "5 ms away, within 20 ms";
  EXPECT_EQ(b.wait, 5000us);
  auto c = limit.reserve(b.tat_us, t0, 1, 20ms);
  EXPECT_EQ(c.wait, 10'000us);
  EXPECT_TRUE(c.reserved);
  std::int64_t tat = c.tat_us;
  // Slots queue up to max_wait, then refusals say how long until one is within reach.
  tat = limit.reserve(tat, t0, 1, 20ms).tat_us;  // 15 ms
  tat = limit.reserve(tat, t0, 1, 20ms).tat_us;  // 20 ms
  auto full = limit.reserve(tat, t0, 1, 20ms);
  EXPECT_FALSE(full.reserved);
  EXPECT_EQ(full.wait, 25'000us);
  EXPECT_EQ(full.tat_us, tat);
}

TEST(delivery_gcra, fractional_rates) {
  gcra limit(0.5, 1);  // one message every 2 s
  EXPECT_EQ(limit.interval_us(), 2'000'000);
  gcra third(3, 1);
  EXPECT_EQ(third.interval_us(), 333'334) << "rounded up: never faster than the rate";
  EXPECT_EQ(third.interval_us(3), 1'000'000);
}

TEST(delivery_gcra, bad_parameters_are_refused) {
  EXPECT_THROW(gcra(0, 1), std::invalid_argument);
  EXPECT_THROW(gcra(-1, 1), std::invalid_argument);
  EXPECT_THROW(gcra(std::nan(""), 1), std::invalid_argument);
  EXPECT_THROW(gcra(10, 0), std::invalid_argument);
}

TEST(delivery_gcra, the_key_carries_the_providers_hash_tag) {
  EXPECT_EQ(rate_key("herald", "lc"), "herald:{provider.lc}:rate");
}

TEST(delivery_slot_lease, leases_what_waits_up_to_a_window_of_the_rate_and_the_burst) {
  // 10,000/s: a 20 ms window is worth 200 slots, under the burst of 10,000.
  slot_lease lease(gcra(10'000, 10'000));
  EXPECT_EQ(lease.lease_size(1, 0), 1u);       // nothing waits: only what is asked
  EXPECT_EQ(lease.lease_size(1, 50), 51u);     // what waits behind it too
  EXPECT_EQ(lease.lease_size(1, 5000), 200u);  // a window's worth at most
  EXPECT_EQ(lease.lease_size(300, 0), 300u);   // never less than asked
  // The burst bounds it: 1,000,000/s with a burst of 64.
  EXPECT_EQ(slot_lease(gcra(1'000'000, 64)).lease_size(1, 5000), 64u);
  // And max_lease: 1,000,000/s with a burst of a second's worth.
  EXPECT_EQ(slot_lease(gcra(1'000'000, 1'000'000)).lease_size(1, 5000), slot_lease::max_lease);
  // A slow limit leases one at a time: 10/s is worth less than one slot a window.
  EXPECT_EQ(slot_lease(gcra(10, 10)).lease_size(1, 5000), 1u);
}

TEST(delivery_slot_lease, spare_slots_are_handed_out_then_lapse_after_the_window) {
  slot_lease lease(gcra(10'000, 10'000), std::chrono::milliseconds(20));
  EXPECT_FALSE(lease.take(1, 0));  // none held
  lease.add(200, 1, 1'000);        // 200 reserved at 1 ms, one used at once
  EXPECT_EQ(lease.spare(), 199u);
  for (int i = 0; i < 199; ++i) ASSERT_TRUE(lease.take(1, 1'000 + i * 10)) << i;
  EXPECT_FALSE(lease.take(1, 5'000));  // all used
  lease.add(50, 10, 30'000);
  EXPECT_TRUE(lease.take(30, 49'999));  // still within 20 ms of the reservation
  EXPECT_FALSE(lease.take(1, 50'000));  // lapsed: 10 spare slots are never used
  EXPECT_EQ(lease.spare(), 0u);
}

}  // namespace
}  // namespace herald::delivery
