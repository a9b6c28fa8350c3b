#include "herald/api/overview_routes.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "herald/api/replies.hpp"
#include "herald/api/request.hpp"
#include "herald/delivery/provider_health.hpp"
#include "herald/queue/task.hpp"

namespace herald::api {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using clock_type = std::chrono::steady_clock;

// One reading of Redis, as the two replies it makes: with the providers' recent errors (for a
// request with a token) and without.
struct snapshot {
  std::string with_errors, without_errors;
  clock_type::time_point taken;
};

struct overview_state {
  queue::task_store& store;
  redis::client& redis;
  const auth::token_table& tokens;
  overview_routes_config cfg;

  // Handlers may run on several threads (each connection has its own strand).
  std::mutex mutex;
  std::optional<snapshot> last;
  bool reading = false;
};

std::string optional_number(const std::optional<std::uint64_t>& v) {
  return v ? std::to_string(*v) : std::string("null");
}

asio::awaitable<snapshot> read_snapshot(overview_state& s) {
  const auto stats = co_await s.store.stats();
  const auto consumers = co_await s.store.consumers();
  const auto providers = co_await delivery::read_published(s.redis, s.cfg.prefix);

  std::string head =
      "{\"queue\": {\"stream\": " + http::json_quote(s.store.keys().jobs()) + ", \"length\": "
      + std::to_string(stats.length) + ", \"waiting\": " + optional_number(stats.waiting)
      + ", \"pending\": " + std::to_string(stats.pending) + ", \"delayed\": "
      + std::to_string(stats.delayed) + ", \"dead\": " + std::to_string(stats.dead)
      + ", \"consumers\": " + std::to_string(stats.consumers) + "}, \"consumers\": [";
  for (std::size_t i = 0; i < consumers.size(); ++i) {
    if (i != 0) head += ", ";
    head += "{\"name\": " + http::json_quote(consumers[i].name)
            + ", \"pending\": " + std::to_string(consumers[i].pending)
            + ", \"idle_ms\": " + std::to_string(consumers[i].idle_ms) + "}";
  }
  head += "], \"providers\": [";
  std::string with = head, without = head;
  for (std::size_t i = 0; i < providers.size(); ++i) {
    const auto& p = providers[i];
    if (i != 0) {
      with += ", ";
      without += ", ";
    }
    with += delivery::status_json(p.status, p.instance, p.updated_at_ms);
    auto quiet = p.status;
    quiet.recent_errors.clear();
    without += delivery::status_json(quiet, p.instance, p.updated_at_ms);
  }
  const auto generated = http::json_quote(queue::iso8601(queue::now_ms()));
  with += "], \"recent_errors_shown\": true, \"generated_at\": " + generated + "}";
  without += "], \"recent_errors_shown\": false, \"generated_at\": " + generated + "}";
  co_return snapshot{std::move(with), std::move(without), clock_type::now()};
}

// The snapshot to answer with: the last one while it is fresh, or while another request is
// reading a new one; else a new reading.
asio::awaitable<snapshot> current(overview_state& s) {
  {
    std::lock_guard lock(s.mutex);
    const auto now = clock_type::now();
    if (s.last && (now - s.last->taken < s.cfg.cache_ttl || s.reading)) co_return *s.last;
    s.reading = true;
  }
  std::optional<snapshot> fresh;
  std::exception_ptr failure;
  try {
    fresh = co_await read_snapshot(s);
  } catch (...) {
    failure = std::current_exception();
  }
  std::lock_guard lock(s.mutex);
  s.reading = false;
  if (failure) std::rethrow_exception(failure);
  s.last = *fresh;
  co_return std::move(*fresh);
}

asio::awaitable<http::response> get_overview(overview_state& s, const http::request& req) {
  bool with_errors = false;
  if (req.find(bhttp::field::authorization) != req.end()) {
    http::response refusal;
    if (!authenticate(s.tokens, req, nullptr, refusal, access::read)) co_return refusal;
    with_errors = true;
  }
  const auto snap = co_await current(s);
  auto res = ok_reply(with_errors ? snap.with_errors : snap.without_errors);
  // Every dashboard asks each second: no cache between them and heraldd, which caches itself.
  res.set(bhttp::field::cache_control, "no-store");
  co_return res;
}

}  // namespace

void add_overview_routes(http::router& routes, queue::task_store& store, redis::client& redis,
                         const auth::token_table& tokens, overview_routes_config cfg) {
  auto s = std::make_shared<overview_state>(store, redis, tokens, std::move(cfg));
  routes.add(bhttp::verb::get, "/api/v1.1/overview",
             answering_redis_failures("GET /api/v1.1/overview", [s](const http::request& req) {
               return get_overview(*s, req);
             }));
}

}  // namespace herald::api
