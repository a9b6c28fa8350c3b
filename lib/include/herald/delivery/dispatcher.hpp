// Delivery to the configured providers, for the jobs of one event-loop thread: each provider's
// HTTP client (or file), its concurrency cap, its retries with backoff, its rate limit shared in
// Redis, its circuit breaker, and the coalescing of leadconverter_messages into batches of 100.
// A job hands over the rendered messages of a chunk and gets back each one's final result.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "herald/delivery/provider_config.hpp"
#include "herald/providers/message.hpp"

namespace herald::redis {
class client;
}
namespace herald::metrics {
class registry;
}

namespace herald::delivery {

// What became of one message.
struct delivery_result {
  enum class kind { sent, failed };
  kind what = kind::sent;
  std::string code;     // failed: the provider's code, or ours (`http_400`, `timeout`, ...)
  std::string message;  // failed: in words, secret-free
  unsigned attempts = 0;
  bool sent() const { return what == kind::sent; }
};

// Per-delivery options a trigger adds.
struct delivery_options {
  // The trigger's own limit, below its provider's (0: none), kept in Redis under `rate_key`.
  double rate_per_s = 0;
  std::string rate_key;
};

// The providers' shared state in one heraldd (their breakers and counters), for every
// dispatcher of the process and for `herald providers`.
// (delivery/provider_health.hpp). The breaker policy is provider_health's.
class provider_health;

// The dispatcher's own knobs; the defaults are production's, tests shorten the times.
struct dispatcher_settings {
  // Where a sandbox provider without a `path` writes: sandbox.NAME.jsonl in it.
  std::filesystem::path state_dir = ".";
  // The first retry's backoff ceiling (full jitter; it doubles each attempt) and the cap.
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30'000};
  // A rate limit reserves a slot at most this far ahead, then sleeps until it.
  std::chrono::milliseconds rate_max_wait{1000};
  // Redis could not be asked for the rate limit: ask again after this.
  std::chrono::milliseconds redis_retry{250};
  // Where each provider's calls are timed and its messages, retries and errors counted
  // (herald_provider_*; README "Metrics"); null: nowhere. It must outlive the dispatcher; the
  // dispatchers of one process share it.
  metrics::registry* metrics = nullptr;
};

class dispatcher {
 public:
  // `redis` (the thread's pipelined connection, for the shared rate limits) and `ex` must be the
  // same single-threaded event loop. `health` may be shared by several dispatchers (null: one of
  // its own). Throws std::system_error when a sandbox file cannot be opened.
  dispatcher(boost::asio::any_io_executor ex, redis::client& redis, std::string prefix,
             std::vector<provider_config> providers, std::shared_ptr<provider_health> health,
             dispatcher_settings settings = {});
  ~dispatcher();
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  // The configured provider of that name, or null.
  const provider_config* find(std::string_view provider) const;

  // Delivers every message through `provider` (which find() knows) and completes once each has
  // its final result, in the order given: sent, or failed after max_attempts or at once on an
  // error that retrying cannot fix. While the breaker is open, the rate limit is reached or
  // Redis cannot be asked, messages wait; they do not fail.
  boost::asio::awaitable<std::vector<delivery_result>> deliver(
      std::string_view provider, std::vector<providers::message> messages,
      delivery_options options);
  // Without options. (An overload, not a defaulted argument: GCC 12 destroys a coroutine's
  // defaulted by-value argument twice.)
  boost::asio::awaitable<std::vector<delivery_result>> deliver(
      std::string_view provider, std::vector<providers::message> messages) {
    return deliver(provider, std::move(messages), delivery_options{});
  }

  // Ends every deliver() still waiting or in flight with delivery_stopped (its chunk is left
  // pending, not failed) and closes connections. Idempotent.
  void stop();

  // Counters of this dispatcher (call on its executor's thread).
  struct statistics {
    std::uint64_t calls = 0;                    // requests made (or sandbox writes)
    std::uint64_t messages = 0;                 // messages those calls carried
    std::uint64_t full_calls = 0;               // batching kinds: calls that carried a full batch
    std::uint64_t retries = 0;                  // attempts that were followed by another
    std::chrono::microseconds longest_call{0};  // the slowest request, failed ones included
  };
  statistics stats(std::string_view provider) const;

  const std::shared_ptr<provider_health>& health() const;

  class impl;

 private:
  std::shared_ptr<impl> impl_;
};

// Thrown by deliver() after stop().
class delivery_stopped : public std::runtime_error {
 public:
  delivery_stopped() : std::runtime_error("delivery stopped") {}
};

}  // namespace herald::delivery
