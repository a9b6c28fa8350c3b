#include "herald/delivery/provider_health.hpp"

#include <simdjson.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/common/json.hpp"
#include "herald/redis/client.hpp"

namespace herald::delivery {

namespace asio = boost::asio;

provider_health::provider_health(breaker_policy policy) : policy_(policy) {}

void provider_health::add(const provider_config& p) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(p.name);
  if (it == entries_.end()) it = entries_.try_emplace(p.name, policy_).first;
  it->second.config = p;
  // Secrets are not needed here.
  it->second.config.token.clear();
  it->second.config.password.clear();
  it->second.config.secret.clear();
}

provider_health::entry& provider_health::at(std::string_view name) {
  auto it = entries_.find(name);
  if (it == entries_.end())
    throw std::invalid_argument("provider_health: unknown provider " + std::string(name));
  return it->second;
}

const provider_health::entry& provider_health::at(std::string_view name) const {
  return const_cast<provider_health*>(this)->at(name);
}

circuit_breaker::admission provider_health::admit(std::string_view name, time_point now) {
  std::lock_guard lock(mutex_);
  return at(name).breaker.admit(now);
}

void provider_health::on_success(std::string_view name, const circuit_breaker::admission& a,
                                 time_point now) {
  std::lock_guard lock(mutex_);
  at(name).breaker.on_success(a, now);
}

void provider_health::on_failure(std::string_view name, const circuit_breaker::admission& a,
                                 time_point now, std::string_view error) {
  std::lock_guard lock(mutex_);
  at(name).breaker.on_failure(a, now, error);
}

void provider_health::on_abandoned(std::string_view name, const circuit_breaker::admission& a) {
  std::lock_guard lock(mutex_);
  at(name).breaker.on_abandoned(a);
}

circuit_breaker::state provider_health::state(std::string_view name, time_point now) const {
  std::lock_guard lock(mutex_);
  return at(name).breaker.current(now);
}

void provider_health::count(std::string_view name, std::uint64_t sent, std::uint64_t failed,
                            std::uint64_t retries) {
  std::lock_guard lock(mutex_);
  auto& e = at(name);
  e.sent += sent;
  e.failed += failed;
  e.retries += retries;
}

provider_status provider_health::status_of(const entry& e, time_point now) const {
  provider_status s;
  s.name = e.config.name;
  s.kind = e.config.kind;
  s.state = e.breaker.current(now);
  s.rate_per_s = e.config.rate_per_s;
  s.sent = e.sent;
  s.failed = e.failed;
  s.retries = e.retries;
  s.probes = e.breaker.probes_sent();
  s.times_opened = e.breaker.times_opened();
  for (const auto& r : e.breaker.recent_errors()) s.recent_errors.push_back(r.message);
  return s;
}

std::optional<provider_status> provider_health::status(std::string_view name,
                                                       time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return status_of(it->second, now);
}

std::vector<provider_status> provider_health::statuses(time_point now) const {
  std::lock_guard lock(mutex_);
  std::vector<provider_status> out;
  for (const auto& [name, e] : entries_) out.push_back(status_of(e, now));
  return out;
}

std::string health_key(std::string_view prefix) {
  return std::string(prefix) + ":{providers}:health";
}

std::string status_json(const provider_status& s, std::string_view instance,
                        std::int64_t updated_at_ms) {
  std::string b = "{\"name\":" + json_quote(s.name) + ",\"kind\":" + json_quote(to_string(s.kind))
                  + ",\"instance\":" + json_quote(instance)
                  + ",\"state\":" + json_quote(to_string(s.state));
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.17g", s.rate_per_s);
  b += ",\"rate_per_s\":";
  b += rate;
  b += ",\"sent\":" + std::to_string(s.sent) + ",\"failed\":" + std::to_string(s.failed)
       + ",\"retries\":" + std::to_string(s.retries) + ",\"probes\":" + std::to_string(s.probes)
       + ",\"times_opened\":" + std::to_string(s.times_opened) + ",\"recent_errors\":[";
  for (std::size_t i = 0; i < s.recent_errors.size(); ++i) {
    if (i) b += ',';
    b += json_quote(s.recent_errors[i]);
  }
  b += "],\"updated_at\":" + std::to_string(updated_at_ms) + "}";
  return b;
}

std::optional<published_status> parse_status_json(std::string_view json) {
  namespace dom = simdjson::dom;
  dom::parser parser;
  dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object())
    return std::nullopt;
  published_status p;
  std::string_view s;
  if (root["name"].get(s) != simdjson::SUCCESS) return std::nullopt;
  p.status.name = std::string(s);
  if (root["kind"].get(s) == simdjson::SUCCESS) {
    if (auto k = parse_provider_kind(s)) p.status.kind = *k;
  }
  if (root["instance"].get(s) == simdjson::SUCCESS) p.instance = std::string(s);
  if (root["state"].get(s) == simdjson::SUCCESS) {
    p.status.state = s == "open"        ? circuit_breaker::state::open
                     : s == "half_open" ? circuit_breaker::state::half_open
                                        : circuit_breaker::state::closed;
  }
  double rate = 0;
  if (root["rate_per_s"].get(rate) == simdjson::SUCCESS) p.status.rate_per_s = rate;
  auto number = [&](const char* key, std::uint64_t& out) {
    std::uint64_t v = 0;
    if (root[key].get(v) == simdjson::SUCCESS) out = v;
  };
  number("sent", p.status.sent);
  number("failed", p.status.failed);
  number("retries", p.status.retries);
  number("probes", p.status.probes);
  number("times_opened", p.status.times_opened);
  dom::array errors;
  if (root["recent_errors"].get(errors) == simdjson::SUCCESS) {
    for (dom::element e : errors) {
      if (e.get(s) == simdjson::SUCCESS) p.status.recent_errors.emplace_back(s);
    }
  }
  std::int64_t at = 0;
  if (root["updated_at"].get(at) == simdjson::SUCCESS) p.updated_at_ms = at;
  return p;
}

std::vector<published_status> fresh_providers(const std::vector<std::string>& published_json,
                                              std::int64_t now_ms, std::int64_t max_age_ms) {
  std::vector<published_status> out;
  for (const auto& json : published_json) {
    auto p = parse_status_json(json);
    if (p && now_ms - p->updated_at_ms <= max_age_ms) out.push_back(std::move(*p));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.status.name, a.instance) < std::tie(b.status.name, b.instance);
  });
  return out;
}

asio::awaitable<std::vector<published_status>> read_published(redis::client& redis,
                                                              std::string_view prefix,
                                                              std::int64_t max_age_ms) {
  auto reply = co_await redis.exec("HVALS", health_key(prefix));
  std::vector<std::string> published;
  for (auto& v : reply.as_array()) published.push_back(v.take_str());
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  co_return fresh_providers(published, now_ms, max_age_ms);
}

struct health_publisher::state {
  state(asio::any_io_executor ex, redis::client& r) : timer(ex), redis(r) {}
  asio::steady_timer timer;
  redis::client& redis;
  std::string key, instance;
  std::shared_ptr<provider_health> health;
  std::chrono::milliseconds interval{1000};
  bool started = false, stopped = false;
};

health_publisher::health_publisher(asio::any_io_executor ex, redis::client& redis,
                                   std::string prefix, std::string instance,
                                   std::shared_ptr<provider_health> health,
                                   std::chrono::milliseconds interval)
    : state_(std::make_shared<state>(ex, redis)) {
  state_->key = health_key(prefix);
  state_->instance = std::move(instance);
  state_->health = std::move(health);
  state_->interval = interval;
}

health_publisher::~health_publisher() {
  stop();
}

void health_publisher::start() {
  if (state_->started || state_->stopped) return;
  state_->started = true;
  auto run = [](std::shared_ptr<state> s) -> asio::awaitable<void> {
    bool warned = false;
    while (!s->stopped) {
      const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      redis::command cmd("HSET", s->key);
      for (const auto& st : s->health->statuses(circuit_breaker::clock::now())) {
        cmd.arg(st.name + "@" + s->instance);
        cmd.arg(status_json(st, s->instance, now_ms));
      }
      try {
        if (cmd.size() > 2) {
          co_await s->redis.exec(std::move(cmd));
          co_await s->redis.exec("PEXPIRE", s->key, std::int64_t{60'000});
        }
        warned = false;
      } catch (const std::exception& e) {
        if (s->stopped) co_return;
        if (!warned) spdlog::debug("providers: cannot publish their health: {}", e.what());
        warned = true;
      }
      if (s->stopped) co_return;
      s->timer.expires_after(s->interval);
      co_await s->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  };
  asio::co_spawn(state_->timer.get_executor(), run(state_), asio::detached);
}

void health_publisher::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  state_->timer.cancel();
}

}  // namespace herald::delivery
