#include "herald/api/metrics_routes.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/beast/http/field.hpp>

#include "herald/api/replies.hpp"
#include "herald/auth/request_token.hpp"
#include "herald/auth/tokens.hpp"

namespace herald::api {

namespace {

namespace bhttp = boost::beast::http;
using clock_type = std::chrono::steady_clock;

// The queue's gauges, and when they were last read.
struct queue_gauges {
  explicit queue_gauges(metrics::registry& r)
      : depth(r.add_gauge("herald_queue_depth",
                          "Jobs waiting in the queue for a worker (the stream's entries not yet "
                          "handed to any heraldd).")),
        length(r.add_gauge("herald_queue_length",
                           "Entries in the queue's stream: waiting, pending, and acknowledged "
                           "ones not yet trimmed.")),
        pending(r.add_gauge("herald_queue_pending",
                            "Jobs handed to a heraldd and not acknowledged (running, or left by a "
                            "stopped one for a claimer).")),
        delayed(r.add_gauge("herald_queue_delayed",
                            "Jobs in the delayed set: retries and run_at jobs not due yet.")),
        dead(r.add_gauge("herald_queue_dead_letters", "Letters in the dead-letter stream.")),
        consumers(
            r.add_gauge("herald_queue_consumers", "Consumers of the queue's group (heraldds).")),
        scheduled(r.add_gauge("herald_queue_scheduled_sends",
                              "Batches of scheduled sends waiting for their time.")),
        redis_up(r.add_gauge("herald_redis_up",
                             "1 when Redis answered the queue statistics read of the last "
                             "scrape, else 0.")) {}

  void set(const queue::queue_stats& s) {
    depth.set(static_cast<double>(s.waiting));
    length.set(static_cast<double>(s.length));
    pending.set(static_cast<double>(s.pending));
    delayed.set(static_cast<double>(s.delayed));
    dead.set(static_cast<double>(s.dead));
    consumers.set(static_cast<double>(s.consumers));
    scheduled.set(static_cast<double>(s.scheduled_sends));
  }

  metrics::gauge &depth, &length, &pending, &delayed, &dead, &consumers, &scheduled, &redis_up;
  std::mutex mutex;  // guards read_at and reading (scrapes may run on several threads)
  clock_type::time_point read_at{};
  bool reading = false;
};

struct route_context {
  route_context(metrics::registry& r, queue::task_store& s, metrics_routes_config c)
      : registry(r), store(s), cfg(std::move(c)), gauges(r) {}
  metrics::registry& registry;
  queue::task_store& store;
  metrics_routes_config cfg;
  queue_gauges gauges;
};

boost::asio::awaitable<void> refresh(route_context& c) {
  {
    std::lock_guard lock(c.gauges.mutex);
    const auto now = clock_type::now();
    if (c.gauges.reading
        || (c.gauges.read_at != clock_type::time_point{}
            && now - c.gauges.read_at < c.cfg.queue_stats_max_age))
      co_return;
    c.gauges.reading = true;
  }
  bool ok = true;
  std::string failure;
  try {
    c.gauges.set(co_await c.store.stats());
  } catch (const std::exception& e) {
    ok = false;
    failure = e.what();
  }
  c.gauges.redis_up.set(ok ? 1 : 0);
  if (!ok) spdlog::debug("metrics: the queue's statistics: {}", failure);
  std::lock_guard lock(c.gauges.mutex);
  c.gauges.reading = false;
  c.gauges.read_at = clock_type::now();
}

}  // namespace

bool same_token(std::string_view presented, std::string_view expected) {
  // Hashes first: equal lengths, whatever was presented.
  const auto a = auth::hash_token(presented);
  const auto b = auth::hash_token(expected);
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

void add_metrics_routes(http::router& routes, metrics::registry& registry, queue::task_store& store,
                        metrics_routes_config cfg) {
  auto c = std::make_shared<route_context>(registry, store, std::move(cfg));
  routes.add(bhttp::verb::get, "/metrics",
             [c](const http::request& req) -> boost::asio::awaitable<http::response> {
               if (!c->cfg.token.empty()) {
                 const auto presented = auth::bearer_token(req);
                 if (!presented)
                   co_return unauthorized(
                       "Authorization: /metrics needs `Authorization: Bearer` with the "
                       "metrics_token");
                 if (!same_token(*presented, c->cfg.token))
                   co_return unauthorized("Authorization: not the metrics_token");
               }
               co_await refresh(*c);
               http::response res{bhttp::status::ok, 11};
               res.set(bhttp::field::content_type, metrics::content_type);
               res.set(bhttp::field::cache_control, "no-store");
               res.body() = c->registry.render();
               res.prepare_payload();
               co_return res;
             });
}

}  // namespace herald::api
