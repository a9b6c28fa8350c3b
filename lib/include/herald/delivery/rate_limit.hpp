// A provider's rate limit in messages per second with a burst, by GCRA (the generic cell rate
// algorithm): the state is one number, the theoretical arrival time (TAT) of the next message.
// This class is the arithmetic; proto/lua/gcra.lua is the same arithmetic in Redis, on Redis's
// clock, so that the limit holds across every heraldd sharing that Redis.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::delivery {

class gcra {
 public:
  // Throws std::invalid_argument unless rate_per_s > 0 and burst >= 1.
  gcra(double rate_per_s, std::uint64_t burst);

  struct verdict {
    bool reserved = false;  // the n messages may go `wait` from now; the TAT moved
    // reserved: how long to wait before sending (0: at once); refused: how long until the
    // request would be reserved without waiting.
    std::chrono::microseconds wait{0};
    std::int64_t tat_us = 0;  // the TAT to keep (unchanged when refused)
  };

  // Asks for `n` messages at `now_us`, given the kept TAT (0 when none), both in microseconds
  // on one clock. Reserved when the slot for the n-th is at most `max_wait` away: with 0, only
  // what may go at once (redis-cell); with more, a caller reserves its future slot and sleeps
  // until it, instead of asking again. At most `burst` messages go at once after idleness; a
  // request for more than `burst` is reserved only when the limiter is idle, and the messages
  // after it wait until it is paid off, so that a batch larger than the burst is never stuck.
  verdict reserve(std::int64_t tat_us, std::int64_t now_us, std::uint64_t n,
                  std::chrono::microseconds max_wait = std::chrono::microseconds(0)) const;

  // The time one message costs: 1/rate, rounded up to a microsecond.
  std::int64_t interval_us(std::uint64_t n = 1) const;

  double rate_per_s() const { return rate_; }
  std::uint64_t burst() const { return burst_; }

 private:
  double rate_;
  std::uint64_t burst_;
};

// Slots of a shared limit reserved a few at a time: asking Redis once per message would cost a
// round trip and a script call each, so a lane reserves what it has waiting (up to a window's
// worth of the rate, and never past the burst) and hands the spare slots out locally. A spare
// slot is good only for `window` after its reservation, so that what one heraldd holds back can
// never add up to more than a window's burst; unused ones lapse (the limit is then under-used,
// never exceeded).
class slot_lease {
 public:
  static constexpr std::chrono::milliseconds default_window{20};
  static constexpr std::uint64_t max_lease = 256;

  explicit slot_lease(const gcra& limit, std::chrono::microseconds window = default_window);

  // Takes `n` spare slots at `now_us` when that many are held and still good.
  bool take(std::uint64_t n, std::int64_t now_us);
  // How many slots to reserve for `n` messages with `waiting` more queued behind them: at
  // least n; at most the burst, a window's worth of the rate, and max_lease, but never below n.
  std::uint64_t lease_size(std::uint64_t n, std::uint64_t waiting) const;
  // `reserved` slots were reserved for messages that take `n` of them now, at `now_us` (after
  // any wait the reservation asked for): the rest are held until now + window.
  void add(std::uint64_t reserved, std::uint64_t n, std::int64_t now_us);

  std::uint64_t spare() const { return spare_; }

 private:
  std::uint64_t cap_;
  std::int64_t window_us_;
  std::uint64_t spare_ = 0;
  std::int64_t good_until_us_ = 0;
};

// The Redis key of a provider's rate limit: P:{provider.NAME}:rate, one Cluster slot each.
std::string rate_key(std::string_view prefix, std::string_view provider);

}  // namespace herald::delivery
