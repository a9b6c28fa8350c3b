// The providers' shared state in one heraldd: each provider's circuit breaker (one per provider
// for the whole process, whichever thread calls), its counters and recent errors. Thread-safe.
// Published to Redis every second or so (health_publisher) for `herald providers`.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "herald/delivery/circuit_breaker.hpp"
#include "herald/delivery/provider_config.hpp"

namespace herald::redis {
class client;
}

namespace herald::delivery {

// One provider's state as listed.
struct provider_status {
  std::string name;
  provider_kind kind = provider_kind::sandbox;
  circuit_breaker::state state = circuit_breaker::state::closed;
  double rate_per_s = 0;
  std::uint64_t sent = 0, failed = 0, retries = 0;
  std::uint64_t probes = 0, times_opened = 0;
  std::vector<std::string> recent_errors;  // newest last, secret-free
};

class provider_health {
 public:
  using time_point = circuit_breaker::time_point;

  // Every provider's breaker follows `policy`.
  explicit provider_health(breaker_policy policy = {});

  // Registers a provider (again: its config is refreshed, its breaker and counters kept).
  void add(const provider_config& p);

  // The breaker of `name` (which add() registered); see circuit_breaker.
  circuit_breaker::admission admit(std::string_view name, time_point now);
  void on_success(std::string_view name, const circuit_breaker::admission& a, time_point now);
  void on_failure(std::string_view name, const circuit_breaker::admission& a, time_point now,
                  std::string_view error);
  void on_abandoned(std::string_view name, const circuit_breaker::admission& a);
  circuit_breaker::state state(std::string_view name, time_point now) const;

  // Counts messages that reached their final result, and retried attempts.
  void count(std::string_view name, std::uint64_t sent, std::uint64_t failed,
             std::uint64_t retries = 0);

  std::optional<provider_status> status(std::string_view name, time_point now) const;
  std::vector<provider_status> statuses(time_point now) const;  // by name

  const breaker_policy& policy() const { return policy_; }

 private:
  struct entry {
    explicit entry(const breaker_policy& p) : breaker(p) {}
    provider_config config;
    circuit_breaker breaker;
    std::uint64_t sent = 0, failed = 0, retries = 0;
  };
  entry& at(std::string_view name);
  const entry& at(std::string_view name) const;
  provider_status status_of(const entry& e, time_point now) const;

  breaker_policy policy_;
  mutable std::mutex mutex_;
  std::map<std::string, entry, std::less<>> entries_;
};

// The hash `herald providers` reads: P:{providers}:health, field NAME@INSTANCE, value
// status_json(). Documented in proto/redis-protocol.md.
std::string health_key(std::string_view prefix);
// {"name", "kind", "instance", "state", "rate_per_s", "sent", "failed", "retries", "probes",
//  "times_opened", "recent_errors": [...], "updated_at": <ms since the epoch>}
std::string status_json(const provider_status& s, std::string_view instance,
                        std::int64_t updated_at_ms);

// One entry read back from the hash (for the CLI); nothing when `json` is not one.
struct published_status {
  provider_status status;
  std::string instance;
  std::int64_t updated_at_ms = 0;
};
std::optional<published_status> parse_status_json(std::string_view json);

// How long a published status counts: a heraldd publishes every second; one silent for longer
// than this is stopped or cut off from Redis.
inline constexpr std::int64_t published_max_age_ms = 10'000;

// The published entries (JSON, as in the hash) updated within `max_age_ms` of `now_ms`, by name
// then instance; entries that do not parse are left out.
std::vector<published_status> fresh_providers(const std::vector<std::string>& published_json,
                                              std::int64_t now_ms,
                                              std::int64_t max_age_ms = published_max_age_ms);

// What every heraldd on this Redis (and `prefix`) published of its providers, fresh ones only
// (fresh_providers at the current time): what `herald providers` and GET /api/v1.1/overview show.
boost::asio::awaitable<std::vector<published_status>> read_published(
    redis::client& redis, std::string_view prefix, std::int64_t max_age_ms = published_max_age_ms);

// Writes every provider's status to health_key(prefix) every `interval`, under `instance` (the
// heraldd's consumer name), until stop(). Runs on `ex`, the executor of `redis`. A failed write
// is retried at the next tick.
class health_publisher {
 public:
  health_publisher(boost::asio::any_io_executor ex, redis::client& redis, std::string prefix,
                   std::string instance, std::shared_ptr<provider_health> health,
                   std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~health_publisher();
  health_publisher(const health_publisher&) = delete;
  health_publisher& operator=(const health_publisher&) = delete;

  void start();
  void stop();  // idempotent; call on the executor's thread

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace herald::delivery
