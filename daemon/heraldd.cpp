// heraldd: Herald's daemon. Reads its configuration, brings up Redis (its own embedded
// redis-server unless a URL is configured), serves the HTTP API, tells systemd how it is doing,
// and drains on SIGTERM.
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

#include "herald/api/enqueue_routes.hpp"
#include "herald/api/leadconverter_routes.hpp"
#include "herald/api/metrics_routes.hpp"
#include "herald/api/overview_routes.hpp"
#include "herald/api/profile_routes.hpp"
#include "herald/api/request.hpp"
#include "herald/api/task_routes.hpp"
#include "herald/api/trigger_routes.hpp"
#include "herald/auth/request_limit.hpp"
#include "herald/auth/tokens.hpp"
#include "herald/config/daemon_config.hpp"
#include "herald/dashboard/assets.hpp"
#include "herald/delivery/dispatcher.hpp"
#include "herald/delivery/provider_health.hpp"
#include "herald/embedded/redis_supervisor.hpp"
#include "herald/geo/geo.hpp"
#include "herald/http/message.hpp"
#include "herald/http/router.hpp"
#include "herald/http/server.hpp"
#include "herald/log/log.hpp"
#include "herald/metrics/registry.hpp"
#include "herald/profiles/import_handler.hpp"
#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/queue/worker_pool.hpp"
#include "herald/redis/checks_io.hpp"
#include "herald/redis/client.hpp"
#include "herald/service/notify.hpp"
#include "herald/triggers/configured.hpp"
#include "herald/triggers/demo.hpp"
#include "herald/triggers/files.hpp"
#include "herald/triggers/jobs.hpp"
#include "herald/triggers/store.hpp"

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

// What the health routes need to know about the daemon.
// `redis` and `checks` are the main event loop's: /readyz reads them there, whichever loop
// serves the request.
struct health {
  herald::redis::client* redis = nullptr;
  asio::any_io_executor executor;  // the main event loop's
  std::atomic<bool> draining{false};
  herald::redis::check_report checks;  // the last checks of Redis (at start, on reconnect)
};

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// PING with a short deadline of its own: readiness must answer quickly even when Redis does not.
asio::awaitable<std::optional<std::string>> redis_problem(herald::redis::client& redis) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1s);
  auto result = co_await (
      redis.async_exec(herald::redis::command("PING"), asio::as_tuple(asio::use_awaitable))
      || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (result.index() == 1) co_return "Redis did not answer PING within 1 s";
  auto [ec, reply] = std::get<0>(result);
  if (ec) co_return "Redis: " + ec.message();
  co_return std::nullopt;
}

// /readyz's answer, on the main event loop.
asio::awaitable<herald::http::response> readiness(health& state) {
  std::optional<std::string> problem;
  if (state.draining)
    problem = "heraldd is draining";
  else if (state.checks.refused())
    problem = "Redis refused: " + state.checks.summary();
  else
    problem = co_await redis_problem(*state.redis);
  if (problem)
    co_return herald::http::error_reply(beast_http::status::service_unavailable, 503,
                                        "Service unavailable", *problem);
  std::string checks;
  for (const auto& v : state.checks.verdicts)
    checks += (checks.empty() ? "" : ", ") + json_string(v.text);
  co_return herald::http::json_reply(
      beast_http::status::ok,
      R"({"error": 0, "error_text": "Successful operation", "status": "ready", )"
      R"("redis_checks": [)"
          + checks + "]}");
}

herald::http::router health_routes(health& state) {
  herald::http::router routes;
  routes.add(beast_http::verb::get, "/healthz",
             [](const herald::http::request&) -> asio::awaitable<herald::http::response> {
               co_return herald::http::json_reply(
                   beast_http::status::ok,
                   R"({"error": 0, "error_text": "Successful operation", "status": "alive"})");
             });
  routes.add(beast_http::verb::get, "/readyz",
             [&state](const herald::http::request&) -> asio::awaitable<herald::http::response> {
               co_return co_await asio::co_spawn(state.executor, readiness(state),
                                                 asio::use_awaitable);
             });
  return routes;
}

// detect_geo's database. A configured one must open; Debian's default may be missing, and then
// items asking for detect_geo get a warning.
std::shared_ptr<const herald::geo::locator> open_geo(const std::filesystem::path& geo_db) {
  if (!geo_db.empty()) {
    auto geo = herald::geo::locator::open(geo_db);
    spdlog::info("detect_geo: {}", geo->describe());
    return geo;
  }
  try {
    auto geo = herald::geo::locator::open();
    spdlog::info("detect_geo: {}", geo->describe());
    return geo;
  } catch (const std::exception& e) {
    spdlog::warn("detect_geo unavailable: {}", e.what());
    return nullptr;
  }
}

herald::http::server_config http_config(const herald::config::daemon_config& c) {
  herald::http::server_config h;
  h.listen = c.http_listen.to_string();
  h.body_limit = c.http_body_limit;
  h.header_limit = c.http_header_limit;
  h.read_timeout = c.http_read_timeout;
  h.idle_timeout = c.http_idle_timeout;
  h.max_connections = c.http_max_connections;
  h.max_connections_per_address = c.http_max_connections_per_address;
  h.body_memory_limit = c.http_body_memory_limit;
  h.max_requests_per_connection = static_cast<unsigned>(c.http_max_requests_per_connection);
  return h;
}

// Waits until Redis answers, or a stop signal comes first (then returns false).
asio::awaitable<bool> wait_for_redis(herald::redis::client& redis, const bool& stopping) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  auto since = std::chrono::steady_clock::now();
  bool warned = false;
  while (!stopping) {
    auto problem = co_await redis_problem(redis);
    if (!problem) co_return true;
    if (!warned && std::chrono::steady_clock::now() - since > 5s) {
      spdlog::warn("still waiting for Redis: {}", *problem);
      warned = true;
    }
    pause.expires_after(50ms);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return false;
}

// The HTTP API's event loops besides the main one: a thread each, with its own Redis connection
// and the stores on it, so that requests are answered on every core (http::server::add_lane).
class api_lanes {
 public:
  struct lane {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::optional<herald::redis::client> redis;
    std::optional<herald::queue::task_store> store;
    std::optional<herald::triggers::trigger_store> triggers;
    std::thread thread;
  };

  api_lanes(std::size_t n, const herald::redis::client_config& redis) {
    for (std::size_t i = 0; i < n; ++i) {
      auto l = std::make_unique<lane>();
      auto cfg = redis;
      cfg.client_name += "-api" + std::to_string(i + 1);
      l->redis.emplace(l->io.get_executor(), cfg);
      lanes_.push_back(std::move(l));
    }
  }
  ~api_lanes() { stop(); }
  api_lanes(const api_lanes&) = delete;
  api_lanes& operator=(const api_lanes&) = delete;

  const std::vector<std::unique_ptr<lane>>& lanes() const { return lanes_; }

  void start() {
    for (auto& l : lanes_) {
      lane* raw = l.get();
      raw->redis->start();
      raw->thread = std::thread([raw] { raw->io.run(); });
    }
  }

  // Closes the Redis connections and ends the threads; what a lane still runs is abandoned.
  void stop() {
    for (auto& l : lanes_) {
      if (!l->thread.joinable()) continue;
      lane* raw = l.get();
      asio::post(raw->io, [raw] {
        raw->redis->stop();
        raw->work.reset();
        raw->io.stop();
      });
      raw->thread.join();
    }
  }

 private:
  std::vector<std::unique_ptr<lane>> lanes_;
};

// The worker pools of one heraldd: one per thread, each with its own event loop and its own two
// Redis connections (one for the blocking XREADGROUP); together they are one consumer, named once
// per start.
class worker_threads {
 public:
  // `delivery`: what each thread's dispatcher delivers to (its providers, and where a sandbox
  // writes).
  struct delivery_setup {
    std::string prefix;
    std::vector<herald::delivery::provider_config> providers;
    std::shared_ptr<herald::delivery::provider_health> health;
    herald::delivery::dispatcher_settings settings;
  };

  worker_threads(const herald::redis::client_config& redis, const herald::queue::queue_keys& keys,
                 const herald::queue::handler_registry& handlers,
                 herald::queue::worker_config config, std::size_t threads,
                 asio::any_io_executor owner, const delivery_setup& delivery)
      : owner_(std::move(owner)),
        finished_(
            std::make_shared<asio::steady_timer>(owner_, asio::steady_timer::time_point::max())) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    if (config.consumer.empty()) config.consumer = herald::queue::default_consumer_name();
    // One consumer, and one set of running entries: a pool never claims what another runs.
    config.running = std::make_shared<herald::queue::running_entries>();
    consumer_ = config.consumer;
    config.workers = std::max<std::size_t>(1, config.workers / threads);
    // A provider's `concurrency` is heraldd's: each thread's dispatcher gets its share.
    auto providers = delivery.providers;
    for (auto& p : providers)
      if (p.concurrency > 0)
        p.concurrency = std::max<std::uint64_t>(1, (p.concurrency + threads - 1) / threads);
    for (std::size_t i = 0; i < threads; ++i) {
      auto s = std::make_unique<shard>();
      auto cfg = redis;
      cfg.client_name += "-w" + std::to_string(i);
      s->shared.emplace(s->io.get_executor(), cfg);
      cfg.client_name += "-reader";
      cfg.command_timeout += config.block;
      cfg.command_latency = nullptr;  // XREADGROUP BLOCK waits on purpose
      s->blocking.emplace(s->io.get_executor(), cfg);
      s->delivery.emplace(s->io.get_executor(), *s->shared, delivery.prefix, providers,
                          delivery.health, delivery.settings);
      s->sender.emplace(*s->shared, *s->delivery,
                        herald::triggers::scheduled_sender_config{.prefix = delivery.prefix});
      auto shard_config = config;
      shard_config.delivery = &*s->delivery;
      s->pool.emplace(s->io.get_executor(), *s->shared, *s->blocking, keys, handlers, shard_config);
      shards_.push_back(std::move(s));
    }
  }

  ~worker_threads() { stop(); }

  std::size_t size() const { return shards_.size(); }
  const std::string& consumer() const { return consumer_; }

  void start() {
    for (auto& s : shards_) {
      shard* raw = s.get();
      raw->shared->start();
      raw->blocking->start();
      asio::co_spawn(raw->io, raw->sender->run(), asio::detached);
      asio::co_spawn(raw->io, raw->pool->run(), [this, raw](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            spdlog::error("queue: a worker pool stopped: {}", ex.what());
          }
        }
        raw->done = true;
        // The timer, not `this`: the owner may be gone by the time this runs.
        asio::post(owner_, [finished = finished_] { finished->cancel(); });
      });
      raw->thread = std::thread([raw] { raw->io.run(); });
    }
  }

  // Stops taking jobs; running ones stop after their current chunk.
  void drain() {
    for (auto& s : shards_) {
      s->pool->drain();
      shard* raw = s.get();
      asio::post(raw->io, [raw] { raw->sender->stop(); });
    }
  }

  // Waits (on the owner's executor) until every pool has drained, or `grace` passes.
  asio::awaitable<bool> drained(std::chrono::milliseconds grace) {
    asio::steady_timer limit(owner_, grace);
    while (!all_done()) {
      finished_->expires_at(asio::steady_timer::time_point::max());
      auto r = co_await (finished_->async_wait(asio::as_tuple(asio::use_awaitable))
                         || limit.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (r.index() == 1) co_return all_done();
    }
    co_return true;
  }

  // Closes the connections and ends the threads; what still runs is left pending for a claimer.
  void stop() {
    for (auto& s : shards_) {
      if (!s->thread.joinable()) continue;
      shard* raw = s.get();
      asio::post(raw->io, [raw] {
        raw->sender->stop();
        raw->delivery->stop();
        raw->shared->stop();
        raw->blocking->stop();
        raw->io.stop();
      });
      raw->thread.join();
    }
  }

 private:
  struct shard {
    asio::io_context io{1};
    std::optional<herald::redis::client> shared, blocking;
    std::optional<herald::delivery::dispatcher> delivery;
    std::optional<herald::triggers::scheduled_sender> sender;
    std::optional<herald::queue::worker_pool> pool;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  bool all_done() const {
    return std::all_of(shards_.begin(), shards_.end(),
                       [](const auto& s) { return s->done.load(); });
  }

  asio::any_io_executor owner_;
  std::shared_ptr<asio::steady_timer> finished_;  // cancelled when a pool has finished
  std::string consumer_;
  std::vector<std::unique_ptr<shard>> shards_;
};

// The embedded default delivers to a `sandbox` provider (a JSON-lines file under state_dir), so
// that its demo triggers can show a message being "sent" with nothing configured.
void add_embedded_sandbox(herald::config::daemon_config& c) {
  const std::string name(herald::triggers::embedded_sandbox_name);
  if (c.redis_url != "embedded" || c.providers.contains(name)) return;
  herald::delivery::provider_config sandbox;
  sandbox.name = name;
  sandbox.kind = herald::delivery::provider_kind::sandbox;
  c.providers.emplace(name, std::move(sandbox));
}

herald::triggers::provider_kinds provider_kinds_of(const herald::config::daemon_config& c) {
  return herald::triggers::configured_providers(c);
}

class heraldd {
 public:
  heraldd(int argc, const char* const* argv, herald::config::loaded_config loaded)
      : argc_(argc),
        argv_(argv),
        config_(std::move(loaded.config)),
        tokens_(config_.tokens_file.empty() ? herald::auth::token_table()
                                            : herald::auth::token_table(config_.tokens_file)) {
    if (config_.api_rate_per_s > 0) {
      const auto burst = config_.api_burst > 0 ? config_.api_burst : config_.api_rate_per_s;
      tokens_.set_request_limit(std::make_shared<herald::auth::request_limit>(
          static_cast<double>(config_.api_rate_per_s), burst));
    }
    if (config_.tokens_file.empty())
      spdlog::warn("no tokens_file configured: the API refuses every token");
    else
      spdlog::info("{} API tokens from {}", tokens_.size(), config_.tokens_file.string());
    geo_ = open_geo(config_.geo_db);
    add_embedded_sandbox(config_);
    lc_providers_ = herald::api::choose_leadconverter_providers(
        config_.api_send_provider, config_.api_bot_provider, config_.providers);
    spdlog::info(
        "LeadConverter routes: broadcasting.sendMessageBatch through {}, "
        "bot.startWithVariables through {}",
        lc_providers_.send.empty() ? "no provider (api_send_provider)" : lc_providers_.send,
        lc_providers_.bot.empty() ? "no provider (api_bot_provider)" : lc_providers_.bot);
    metrics_.gauge_family("herald_build_info", "1, labelled with heraldd's version.", {"version"})
        .with({HERALD_VERSION})
        .set(1);
  }

  asio::awaitable<int> run() {
    auto ex = co_await asio::this_coro::executor;
    asio::signal_set signals(ex, SIGTERM, SIGINT, SIGHUP);
    bool stopping = false;
    asio::co_spawn(ex, watch_signals(signals, stopping), asio::detached);

    std::optional<herald::embedded::redis_supervisor> embedded;
    std::string url = config_.redis_url;
    if (url == "embedded") {
      herald::embedded::supervisor_config supervisor;
      supervisor.redis_server = config_.redis_server;
      supervisor.state_dir = config_.state_dir;
      embedded.emplace(ex, std::move(supervisor));
      try {
        co_await embedded->start();
      } catch (const std::exception& e) {
        spdlog::critical("cannot start the embedded redis-server: {}", e.what());
        co_return 1;
      }
      url = embedded->url();
      spdlog::info("embedded redis-server running (pid {}) at {}", embedded->pid(), url);
    }

    herald::redis::client_config redis_cfg;
    redis_cfg.url = url;
    redis_cfg.command_timeout = config_.redis_command_timeout;
    redis_cfg.client_name = "heraldd-" + std::to_string(::getpid());
    // Every connection's but the blocking readers' (the worker threads' copy this config).
    redis_cfg.command_latency =
        &metrics_
             .histogram_family("herald_redis_command_duration_seconds",
                               "Redis command latency, from sent to answered (or timed out), "
                               "in seconds; the job readers' blocking reads left out.",
                               {}, herald::metrics::fast_latency_buckets())
             .with({});
    herald::redis::client redis(ex, redis_cfg);
    redis.start();
    health_.redis = &redis;
    health_.executor = ex;

    int code = 0;
    check_options_ = {.allow_eviction = config_.allow_eviction, .configured = !embedded};
    if (co_await wait_for_redis(redis, stopping)) {
      if (!co_await check_redis(redis, true)) {
        code = 1;
      } else {
        asio::co_spawn(ex, recheck_on_reconnect(redis, stopping),
                       asio::bind_cancellation_slot(stop_rechecks_.slot(), asio::detached));
        code = co_await serve(ex, redis, signals, stopping);
        stop_rechecks_.emit(asio::cancellation_type::terminal);
      }
    }
    health_.draining = true;

    redis.stop();
    if (embedded) co_await embedded->stop();
    spdlog::info("heraldd stopped");
    co_return code;
  }

 private:
  // Serves until SIGTERM or SIGINT, then drains: no new requests or jobs, and up to
  // shutdown_grace for the running ones (a job stops after its current chunk).
  asio::awaitable<int> serve(asio::any_io_executor ex, herald::redis::client& redis,
                             asio::signal_set& signals, bool& stopping) {
    herald::queue::queue_keys keys(config_.prefix);
    herald::queue::task_store store(redis, keys, config_.task_ttl, herald::queue::task_index_max,
                                    config_.max_job_bytes);
    const herald::queue::replica_wait replicas{.replicas = config_.redis_wait_replicas,
                                               .timeout = config_.redis_wait_ms};
    store.set_replica_wait(replicas);
    herald::queue::handler_registry handlers;
    herald::queue::add_builtin_handlers(handlers);
    herald::profiles::import_settings import;
    import.prefix = config_.prefix;
    import.limits.max_items = config_.max_job_items;
    import.limits.max_profile_fields = config_.max_profile_fields;
    import.limits.max_field_tags = config_.max_field_tags;
    import.limits.max_field_bytes = config_.max_field_bytes;
    import.limits.max_profile_subscriptions = config_.max_profile_subscriptions;
    import.geo = geo_;
    herald::triggers::trigger_job_settings trigger_jobs;
    trigger_jobs.prefix = config_.prefix;
    trigger_jobs.limits = import.limits;
    trigger_jobs.providers = provider_kinds_of(config_);
    trigger_jobs.deleted_ttl = config_.task_ttl;
    trigger_jobs.task_ttl = config_.task_ttl;
    import.followup = herald::triggers::trigger_followup(trigger_jobs);
    herald::profiles::add_import_handler(handlers, import);
    herald::triggers::add_trigger_handlers(handlers, trigger_jobs);
    herald::queue::worker_config workers;
    workers.workers = config_.workers;
    workers.claim_idle = config_.claim_idle;
    workers.max_deliveries = config_.max_deliveries;
    workers.task_ttl = config_.task_ttl;
    workers.chunk_size = config_.chunk_size;
    workers.max_job_bytes = config_.max_job_bytes;
    workers.dead_max = config_.dead_max;
    workers.consumer_idle_max = config_.consumer_idle_max;
    workers.replicas = replicas;
    workers.metrics = &metrics_;
    worker_threads::delivery_setup delivery{config_.prefix,
                                            {},
                                            provider_health_,
                                            {.state_dir = config_.state_dir, .metrics = &metrics_}};
    for (const auto& [name, p] : config_.providers) delivery.providers.push_back(p);
    worker_threads pools(redis.config(), keys, handlers, workers, config_.threads, ex, delivery);
    // What `herald providers` lists: each provider's breaker and counters, every second.
    herald::delivery::health_publisher health_publisher(ex, redis, config_.prefix, pools.consumer(),
                                                        provider_health_);
    health_publisher.start();
    struct stop_publisher {
      herald::delivery::health_publisher& p;
      ~stop_publisher() { p.stop(); }
    } stop_health_publisher{health_publisher};

    herald::triggers::trigger_store triggers(
        redis, {.prefix = config_.prefix, .deleted_ttl = config_.task_ttl});
    if (config_.metrics_token.empty())
      spdlog::info("GET /metrics is open to whoever reaches the listener (no metrics_token)");
    auto routes = api_routes(redis, store, triggers, handlers);
    // One event loop a core answers requests: the main one and threads - 1 lanes.
    std::size_t threads = config_.threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    api_lanes lanes(threads - 1, redis.config());
    for (const auto& l : lanes.lanes()) {
      l->store.emplace(*l->redis, keys, config_.task_ttl, herald::queue::task_index_max,
                       config_.max_job_bytes);
      l->store->set_replica_wait(replicas);
      l->triggers.emplace(*l->redis,
                          herald::triggers::store_config{.prefix = config_.prefix,
                                                         .deleted_ttl = config_.task_ttl});
    }
    triggers_ = &triggers;
    struct forget {  // SIGHUP must not reach the store once serve() has returned
      herald::triggers::trigger_store*& p;
      ~forget() { p = nullptr; }
    } forget_triggers{triggers_};
    co_await load_triggers();
    // A Bearer token, or a LeadConverter-style path's token, is checked before a body is read:
    // without a valid one, no body is held.
    auto check_bearer = [this](const herald::http::request_header& header) {
      if (auto refusal = herald::api::refuse_unknown_bearer(tokens_, header)) return refusal;
      return herald::api::refuse_unknown_path_token(tokens_, header);
    };
    // The routes served, for a reader of the log and for the contract test (proto/openapi.yaml).
    for (const auto& r : routes.routes())
      spdlog::debug("http: route {} {}", std::string(beast_http::to_string(r.method)), r.path);
    auto http = std::make_shared<herald::http::server>(ex, http_config(config_), std::move(routes),
                                                       std::move(check_bearer), &metrics_);
    for (const auto& l : lanes.lanes())
      http->add_lane(l->io.get_executor(),
                     api_routes(*l->redis, *l->store, *l->triggers, handlers));
    asio::ip::tcp::endpoint bound;
    try {
      bound = http->bind();
    } catch (const std::exception& e) {
      spdlog::critical("cannot listen: {}", e.what());
      co_return 1;
    }
    lanes.start();
    auto http_done = spawn_tracked(ex, http->run(), http);
    pools.start();
    spdlog::info("heraldd {} listening on http://{}:{}; queue {} as consumer {} ({} threads)",
                 HERALD_VERSION, bound.address().to_string(), bound.port(), keys.jobs(),
                 pools.consumer(), pools.size());

    herald::service::notify_ready("serving on port " + std::to_string(bound.port()));
    if (auto interval = herald::service::watchdog_interval()) {
      asio::co_spawn(ex, herald::service::run_watchdog(*interval),
                     asio::bind_cancellation_slot(stop_watchdog_.slot(), asio::detached));
    }

    stop_requested_.emplace(ex, asio::steady_timer::time_point::max());
    while (!stopping) co_await stop_requested_->async_wait(asio::as_tuple(asio::use_awaitable));

    spdlog::info("draining: no new requests or jobs, up to {} ms for those in progress",
                 config_.shutdown_grace.count());
    herald::service::notify_stopping();
    health_.draining = true;
    signals.cancel();
    http->stop();
    pools.drain();
    auto started = std::chrono::steady_clock::now();
    if (!co_await pools.drained(config_.shutdown_grace))
      spdlog::warn("grace over with jobs still running; they stay pending for a claimer");
    auto left = config_.shutdown_grace
                - std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started);
    if (!http_done->done && left.count() > 0) {
      asio::steady_timer grace(ex, left);
      co_await (http_done->finished.async_wait(asio::as_tuple(asio::use_awaitable))
                || grace.async_wait(asio::as_tuple(asio::use_awaitable)));
    }
    pools.stop();
    lanes.stop();
    stop_watchdog_.emit(asio::cancellation_type::terminal);
    stop_requested_.reset();  // a timer must not outlive the io_context, which heraldd does
    co_return 0;
  }

  // Every route heraldd answers, on the event loop of `redis` (whose stores these are).
  herald::http::router api_routes(herald::redis::client& redis, herald::queue::task_store& store,
                                  herald::triggers::trigger_store& triggers,
                                  const herald::queue::handler_registry& handlers) {
    auto routes = health_routes(health_);
    herald::api::task_routes_config task_api;
    task_api.draining = [this] { return health_.draining.load(); };
    herald::api::add_task_routes(routes, store, tokens_, task_api);
    herald::api::add_overview_routes(routes, store, redis, tokens_, {.prefix = config_.prefix});
    herald::dashboard::add_dashboard_routes(routes);
    herald::api::add_profile_routes(routes, redis, tokens_, {.prefix = config_.prefix});
    herald::api::add_leadconverter_routes(
        routes, store, tokens_,
        {.send_provider = lc_providers_.send, .bot_provider = lc_providers_.bot});
    herald::api::add_trigger_routes(routes, triggers, tokens_,
                                    {.providers = [this] { return provider_kinds_of(config_); }});
    herald::api::add_metrics_routes(routes, metrics_, store, {.token = config_.metrics_token});
    herald::api::enqueue_routes_config enqueue_api;
    enqueue_api.limits = config_.enqueue;
    enqueue_api.draining = [this] { return health_.draining.load(); };
    herald::api::add_enqueue_routes(routes, store, triggers, handlers, tokens_, enqueue_api);
    return routes;
  }

  // Checks the Redis in use (eviction, persistence, version), logs what it finds and keeps it for
  // /readyz. `at_start`: a refusal ends heraldd (false); later it makes /readyz answer 503.
  // Findings are logged at start, and later when they change.
  asio::awaitable<bool> check_redis(herald::redis::client& redis, bool at_start) {
    herald::redis::check_report report;
    try {
      report = co_await herald::redis::check_live(redis, check_options_);
    } catch (const std::exception& e) {
      if (at_start) spdlog::warn("redis: cannot check its configuration: {}", e.what());
      co_return true;
    }
    bool changed = report.summary() != health_.checks.summary();
    health_.checks = report;
    if (at_start || changed) {
      if (report.verdicts.empty())
        spdlog::info("redis: checked: no eviction, persistence on, version 7.0 or newer");
      for (const auto& v : report.verdicts) {
        if (v.severity == herald::redis::verdict::level::refusal)
          spdlog::critical("redis: refusing to run: {}", v.text);
        else
          spdlog::warn("redis: {}", v.text);
      }
    }
    co_return !report.refused();
  }

  // Checks Redis again after every reconnect (a restart, a failover: another server maybe).
  asio::awaitable<void> recheck_on_reconnect(herald::redis::client& redis, const bool& stopping) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    auto seen = redis.stats().reconnects;
    while (!stopping) {
      pause.expires_after(500ms);
      auto [ec] = co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      auto now = redis.stats().reconnects;
      if (now == seen || redis.state() != herald::redis::connection_state::connected) continue;
      seen = now;
      co_await check_redis(redis, false);
    }
  }

  // A coroutine running on its own, and whether it has finished.
  struct tracked {
    explicit tracked(asio::any_io_executor ex)
        : finished(ex, asio::steady_timer::time_point::max()) {}
    bool done = false;
    asio::steady_timer finished;
  };

  // Spawns `work`, keeping `owner` alive until it ends.
  template <class Owner>
  static std::shared_ptr<tracked> spawn_tracked(asio::any_io_executor ex,
                                                asio::awaitable<void> work,
                                                std::shared_ptr<Owner> owner) {
    auto t = std::make_shared<tracked>(ex);
    asio::co_spawn(ex, std::move(work), [t, owner](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("{}", ex.what());
        }
      }
      t->done = true;
      t->finished.cancel();
    });
    return t;
  }

  // triggers_dir's files (or, in the embedded default without one, the demo triggers), each
  // validated and upserted; a bad one is logged with its file and field and skipped. A Redis
  // failure is logged: the triggers already stored stay as they are.
  asio::awaitable<void> load_triggers() {
    if (triggers_ == nullptr) co_return;
    herald::triggers::trigger_files files;
    std::string from;
    if (!config_.triggers_dir.empty()) {
      files = herald::triggers::read_trigger_dir(config_.triggers_dir, provider_kinds_of(config_));
      from = config_.triggers_dir.string();
    } else if (config_.redis_url == "embedded") {
      files = herald::triggers::demo_triggers(provider_kinds_of(config_));
      from = "the embedded demo (deploy/triggers/demo.json)";
    } else {
      co_return;
    }
    for (const auto& fault : files.faults)
      spdlog::error("triggers from {}: refused: {}", from, fault);
    try {
      auto report = co_await herald::triggers::upsert_all(*triggers_, files);
      spdlog::info("triggers from {}: {} created, {} updated, {} unchanged, {} refused", from,
                   report.created, report.updated, report.unchanged, files.faults.size());
      if (report.full > 0)
        spdlog::error(
            "triggers from {}: {} not saved: their accounts have as many triggers as "
            "they may have",
            from, report.full);
    } catch (const std::exception& e) {
      spdlog::error("triggers from {}: not saved: {}", from, e.what());
    }
  }

  asio::awaitable<void> watch_signals(asio::signal_set& signals, bool& stopping) {
    for (;;) {
      auto [ec, signo] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      if (signo == SIGHUP) {
        reload();
        co_await load_triggers();
        continue;
      }
      spdlog::info("{}: shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
      stopping = true;
      if (stop_requested_) stop_requested_->cancel();
      co_return;
    }
  }

  // SIGHUP: the file and environment are read again; what can change live, changes.
  void reload() {
    herald::service::notify_reloading();
    auto loaded =
        herald::config::load_config(argc_, argv_, herald::config::environment_of(environ));
    if (!loaded) {
      spdlog::error("reload refused, keeping the running configuration: {}",
                    loaded.error().message);
    } else {
      herald::log::set_level(loaded->config.log_level);
      if (loaded->config.redis_url != config_.redis_url
          || loaded->config.http_listen != config_.http_listen
          || loaded->config.state_dir != config_.state_dir
          || loaded->config.metrics_token != config_.metrics_token)
        spdlog::warn(
            "reload: redis_url, http_listen, state_dir and metrics_token take effect at restart");
      config_.log_level = loaded->config.log_level;
      config_.triggers_dir = loaded->config.triggers_dir;
      if (!config_.tokens_file.empty()) {
        if (auto error = tokens_.reload())
          spdlog::error("reload: keeping the previous tokens: {}", error->what());
        else
          spdlog::info("reload: {} API tokens", tokens_.size());
      }
      spdlog::info("configuration reloaded (log level {})",
                   herald::log::level_name(config_.log_level));
    }
    herald::service::notify_ready();
  }

  int argc_;
  const char* const* argv_;
  // Every component's series, for GET /metrics; outlives them all.
  herald::metrics::registry metrics_;
  herald::config::daemon_config config_;
  health health_;
  herald::auth::token_table tokens_;
  std::shared_ptr<const herald::geo::locator> geo_;
  // The providers of the LeadConverter-compatible routes (api_send_provider, api_bot_provider).
  herald::api::leadconverter_providers lc_providers_;
  // The providers' breakers and counters, shared by every thread's dispatcher.
  std::shared_ptr<herald::delivery::provider_health> provider_health_ =
      std::make_shared<herald::delivery::provider_health>();
  std::optional<asio::steady_timer> stop_requested_;
  // The trigger store while serving (triggers_dir reloads on SIGHUP go there); null otherwise.
  herald::triggers::trigger_store* triggers_ = nullptr;
  // Outlives the io_context (declared before it in main), since the watchdog holds its slot.
  asio::cancellation_signal stop_watchdog_;
  asio::cancellation_signal stop_rechecks_;
  herald::redis::check_options check_options_;
};

}  // namespace

int main(int argc, char** argv) {
  auto loaded = herald::config::load_config(argc, argv, herald::config::environment_of(environ));
  if (!loaded) {
    std::fprintf(stderr, "heraldd: %s\n", loaded.error().message.c_str());
    return 2;
  }
  switch (loaded->mode) {
    case herald::config::run_mode::help:
    case herald::config::run_mode::version:
      std::fputs(loaded->text.c_str(), stdout);
      return 0;
    case herald::config::run_mode::check_config:
      if (!loaded->config.tokens_file.empty()) {
        try {
          herald::auth::load_tokens_file(loaded->config.tokens_file);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "heraldd: tokens_file: %s\n", e.what());
          return 2;
        }
      }
      try {
        (void)herald::api::choose_leadconverter_providers(loaded->config.api_send_provider,
                                                          loaded->config.api_bot_provider,
                                                          loaded->config.providers);
      } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "heraldd: %s\n", e.what());
        return 2;
      }
      std::fputs(herald::config::to_ini(loaded->config).c_str(), stdout);
      return 0;
    case herald::config::run_mode::run:
      break;
  }
  herald::log::setup_logging(loaded->config.log_format, loaded->config.log_level);
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<heraldd> d;
  try {
    d.emplace(argc, argv, std::move(*loaded));
  } catch (const std::exception& e) {
    spdlog::critical("heraldd cannot start: {}", e.what());
    return 2;
  }
  asio::io_context io(1);
  int code = 1;
  asio::co_spawn(io, d->run(), [&](std::exception_ptr e, int c) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::critical("heraldd failed: {}", ex.what());
      }
      code = 1;
    } else {
      code = c;
    }
    io.stop();
  });
  io.run();
  return code;
}
