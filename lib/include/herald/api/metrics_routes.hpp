// GET /metrics: heraldd's metrics in the Prometheus text format (0.0.4) for a scraper, with the
// queue's gauges (depth, pending, delayed, dead letters, consumers, scheduled sends) read from
// Redis when scraped and kept briefly.
#pragma once

#include <chrono>
#include <string>

#include "herald/http/router.hpp"
#include "herald/metrics/registry.hpp"
#include "herald/queue/task_store.hpp"

namespace herald::api {

struct metrics_routes_config {
  // metrics_token: when set, a scrape must present it as `Authorization: Bearer`, else 401;
  // empty: /metrics is open to whoever reaches the listener.
  std::string token;
  // The queue's gauges are read from Redis at most this often; scrapes in between show the last
  // reading.
  std::chrono::milliseconds queue_stats_max_age{1000};
};

// Adds, on `routes`:
//   GET /metrics   200 text/plain; version=0.0.4: every series of `registry` (README "Metrics")
// The queue's gauges are read with `store` before rendering; when Redis does not answer they keep
// their last values and herald_redis_up is 0. `registry` and `store` must outlive `routes`.
void add_metrics_routes(http::router& routes, metrics::registry& registry, queue::task_store& store,
                        metrics_routes_config cfg = {});

// Whether `presented` is `expected`, in time that does not depend on where they differ.
bool same_token(std::string_view presented, std::string_view expected);

}  // namespace herald::api
