// GET /api/v1.1/overview: what the dashboard shows of the whole installation (the queue's
// depths, the dead-letter count, the consumers, every heraldd's providers with their breakers),
// read from Redis at most once per cache_ttl however many dashboards ask.
#pragma once

#include <chrono>
#include <string>

#include "herald/auth/tokens.hpp"
#include "herald/http/router.hpp"
#include "herald/queue/task_store.hpp"

namespace herald::redis {
class client;
}

namespace herald::api {

struct overview_routes_config {
  // The key prefix, for the providers' health hash (delivery::health_key).
  std::string prefix = "herald";
  // How long one reading of Redis answers every request: many dashboards polling each second
  // cost Redis one reading a second.
  std::chrono::milliseconds cache_ttl{1000};
};

// Adds GET /api/v1.1/overview:
//   {"data": {"queue": {"length", "waiting", "pending", "delayed", "dead", "consumers"},
//             "consumers": [{"name", "pending", "idle_ms"}],
//             "providers": [<the published status of each provider of each heraldd>],
//             "recent_errors_shown", "generated_at"}, "error": 0, ...}
// No token is needed: none of it belongs to an account. The providers' recent errors (a
// provider's words, which may quote a customer's data) are shown only to a request with a valid
// Bearer token; an invalid one is 401. Redis failures answer 503. `store` and `redis` must
// outlive `routes`.
void add_overview_routes(http::router& routes, queue::task_store& store, redis::client& redis,
                         const auth::token_table& tokens, overview_routes_config cfg = {});

}  // namespace herald::api
