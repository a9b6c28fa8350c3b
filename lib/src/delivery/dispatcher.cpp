#include "herald/delivery/dispatcher.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <random>
#include <set>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/delivery/provider_health.hpp"
#include "herald/delivery/shared_rate_limit.hpp"
#include "herald/outbound/http_client.hpp"
#include "herald/providers/provider.hpp"
#include "herald/providers/sandbox.hpp"

namespace herald::delivery {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr auto awaitable_tuple = asio::as_tuple(asio::use_awaitable);

// One deliver() call: its messages, their results, and the timer its caller waits on.
struct call_state {
  call_state(asio::any_io_executor ex, std::vector<providers::message> m)
      : messages(std::move(m)),
        results(messages.size()),
        finished(messages.size(), false),
        remaining(messages.size()),
        done(ex) {}
  std::vector<providers::message> messages;
  std::vector<delivery_result> results;
  std::vector<bool> finished;
  std::size_t remaining;
  asio::steady_timer done;
  bool stopped = false;
};

// A message waiting for (or in) a call.
struct queued {
  std::shared_ptr<call_state> call;
  std::size_t index = 0;
  clock::time_point since;
  unsigned counted = 0;  // attempts that count against max_attempts
  const providers::message& msg() const { return call->messages[index]; }
  delivery_result& result() const { return call->results[index]; }
};

std::chrono::milliseconds clamp_wait(std::chrono::milliseconds w, std::chrono::milliseconds max) {
  return std::clamp(w, milliseconds(1), std::max(max, milliseconds(1)));
}

}  // namespace

// One provider on this thread.
struct lane {
  provider_config cfg;
  std::unique_ptr<providers::provider> wire;      // networked kinds
  std::unique_ptr<providers::sandbox_file> file;  // sandbox
  std::unique_ptr<outbound::http_client> http;    // networked kinds
  std::optional<gcra> limit;
  std::optional<slot_lease> lease;                 // spare slots of `limit`, reserved ahead
  bool leasing = false;                            // a sender is reserving a lease from Redis
  std::size_t lease_waiters = 0;                   // senders waiting for that lease
  std::unique_ptr<asio::steady_timer> lease_done;  // cancelled when a lease arrives
  std::string rate_key;
  retry_policy policy;
  std::size_t max_batch = 1;
  std::chrono::milliseconds linger{0};
  std::deque<queued> queue;
  std::set<asio::steady_timer*> idle;  // workers waiting for messages
  bool started = false;
  dispatcher::statistics stats;
  std::string logged_url() const { return wire ? wire->logged_url() : cfg.path.string(); }
};

class dispatcher::impl : public std::enable_shared_from_this<dispatcher::impl> {
 public:
  impl(asio::any_io_executor e, redis::client& r, std::string p, std::shared_ptr<provider_health> h,
       dispatcher_settings s)
      : ex(std::move(e)),
        redis(r),
        prefix(std::move(p)),
        health(std::move(h)),
        settings(std::move(s)),
        rng(std::random_device{}()) {}

  void add(provider_config cfg) {
    auto l = std::make_unique<lane>();
    l->cfg = std::move(cfg);
    const auto& c = l->cfg;
    health->add(c);
    l->policy.max_attempts = static_cast<unsigned>(std::max<std::uint64_t>(1, c.max_attempts));
    l->policy.backoff = backoff_policy{settings.backoff_initial, settings.backoff_max,
                                       backoff_policy::jitter::full};
    if (c.rate_per_s > 0) {
      l->limit.emplace(c.rate_per_s, std::max<std::uint64_t>(1, c.burst));
      l->lease.emplace(*l->limit);
      l->lease_done =
          std::make_unique<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
      l->rate_key = rate_key(prefix, c.name);
    }
    if (c.kind == provider_kind::sandbox) {
      auto path = c.path.empty() ? settings.state_dir / ("sandbox." + c.name + ".jsonl") : c.path;
      l->file = std::make_unique<providers::sandbox_file>(path);
    } else {
      l->wire = providers::make_provider(c);
      l->max_batch = l->wire->max_batch();
      if (l->max_batch > 1) l->linger = c.linger;
      outbound::http_client_config hc;
      hc.connect_timeout = std::min(c.connect_timeout, c.timeout);
      hc.request_timeout = c.timeout;
      hc.max_concurrent_requests = std::max<std::uint64_t>(1, c.concurrency);
      hc.max_idle_connections = hc.max_concurrent_requests;
      l->http = std::make_unique<outbound::http_client>(ex, hc);
    }
    lanes.emplace(l->cfg.name, std::move(l));
  }

  lane* find(std::string_view name) const {
    auto it = lanes.find(name);
    return it == lanes.end() ? nullptr : it->second.get();
  }

  asio::awaitable<void> sleep_for(clock::duration d) {
    asio::steady_timer t(ex);
    t.expires_after(d);
    sleeping.insert(&t);
    co_await t.async_wait(awaitable_tuple);
    sleeping.erase(&t);
  }

  void wake(lane& l) {
    for (auto* t : l.idle) t->cancel();
  }

  void start_workers(lane& l) {
    if (l.started) return;
    l.started = true;
    const std::size_t n = l.file ? 1 : std::max<std::uint64_t>(1, l.cfg.concurrency);
    for (std::size_t i = 0; i < n; ++i) {
      asio::co_spawn(ex, worker(shared_from_this(), l), asio::detached);
    }
  }

  void finish(const queued& q, delivery_result r) {
    auto& c = *q.call;
    if (c.stopped || c.finished[q.index]) return;
    c.finished[q.index] = true;
    r.attempts = c.results[q.index].attempts;
    c.results[q.index] = std::move(r);
    if (--c.remaining == 0) c.done.cancel();
  }
  void sent(lane& l, const queued& q) {
    finish(q, delivery_result{});
    health->count(l.cfg.name, 1, 0);
  }
  void failed(lane& l, const queued& q, std::string code, std::string message) {
    finish(q, delivery_result{delivery_result::kind::failed, std::move(code), std::move(message)});
    health->count(l.cfg.name, 0, 1);
  }

  static asio::awaitable<void> worker(std::shared_ptr<impl> self, lane& l) {
    std::vector<queued> batch;
    while (!self->stopped) {
      batch.clear();
      co_await self->take(l, batch);
      if (batch.empty()) break;
      std::string crash;
      try {
        co_await self->send(l, batch);
      } catch (const std::exception& e) {
        crash = e.what();
      }
      if (!crash.empty()) {
        spdlog::error("provider {}: delivery failed unexpectedly: {}", l.cfg.name, crash);
        for (const auto& q : batch) {
          if (!q.call->stopped && !q.call->finished[q.index])
            self->failed(l, q, "internal", "delivery failed unexpectedly");
        }
      }
    }
  }

  // Waits for the next call's messages: one, or for a batching kind a full batch, or what came
  // within linger of the oldest. Leaves `batch` empty when stopped.
  asio::awaitable<void> take(lane& l, std::vector<queued>& batch) {
    for (;;) {
      if (stopped) co_return;
      // Messages of a stopped call are dropped here.
      while (!l.queue.empty() && l.queue.front().call->stopped) l.queue.pop_front();
      const auto now = clock::now();
      auto deadline = clock::time_point::max();
      if (!l.queue.empty()) {
        if (l.max_batch == 1 || l.queue.size() >= l.max_batch
            || now >= l.queue.front().since + l.linger) {
          const std::size_t n = std::min(l.max_batch, l.queue.size());
          for (std::size_t i = 0; i < n; ++i) {
            batch.push_back(std::move(l.queue.front()));
            l.queue.pop_front();
          }
          co_return;
        }
        deadline = l.queue.front().since + l.linger;
      }
      asio::steady_timer t(ex);
      t.expires_at(deadline);
      l.idle.insert(&t);
      sleeping.insert(&t);
      co_await t.async_wait(awaitable_tuple);
      l.idle.erase(&t);
      sleeping.erase(&t);
    }
  }

  // Waits until the breaker admits a call; nothing when stopped.
  asio::awaitable<std::optional<circuit_breaker::admission>> admit(lane& l) {
    for (;;) {
      if (stopped) co_return std::nullopt;
      auto a = health->admit(l.cfg.name, clock::now());
      if (a.admitted) co_return a;
      co_await sleep_for(clamp_wait(a.wait, milliseconds(1000)));
    }
  }

  // Waits for `n` slots of the lane's limit: spare ones reserved earlier, else a lease of what
  // the lane has waiting from the shared limit; false when stopped. One sender of a lane asks
  // Redis at a time, for itself and those waiting behind it: each asking for its own lease
  // would reserve slots that then lapse unused.
  asio::awaitable<bool> take_slots(lane& l, std::uint64_t n) {
    for (;;) {
      if (l.lease->take(n, now_us())) co_return true;
      if (!l.leasing) break;
      ++l.lease_waiters;
      co_await l.lease_done->async_wait(awaitable_tuple);
      --l.lease_waiters;
      if (stopped) co_return false;
    }
    l.leasing = true;
    const std::uint64_t k = l.lease->lease_size(n, l.queue.size() + l.lease_waiters);
    const bool reserved = co_await reserve(l.rate_key, *l.limit, k, l.cfg.name);
    if (reserved) l.lease->add(k, n, now_us());
    l.leasing = false;
    l.lease_done->cancel();
    co_return reserved;
  }
  static std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(clock::now().time_since_epoch())
        .count();
  }

  // Waits for `n` messages' slot in the limit at `key`; false when stopped.
  asio::awaitable<bool> reserve(const std::string& key, const gcra& limit, std::uint64_t n,
                                std::string_view name) {
    for (;;) {
      if (stopped) co_return false;
      std::optional<shared_rate_answer> answer;
      std::string error;
      try {
        answer = co_await reserve_shared(redis, key, limit, n, settings.rate_max_wait);
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (stopped) co_return false;
      if (!answer) {
        // Once an outage, not once a worker.
        if (!redis_warned)
          spdlog::warn("provider {}: cannot ask Redis for the rate limit, waiting: {}", name,
                       error);
        redis_warned = true;
        co_await sleep_for(settings.redis_retry);
        continue;
      }
      if (redis_warned) spdlog::info("provider {}: Redis answers the rate limit again", name);
      redis_warned = false;
      if (answer->reserved) {
        if (answer->wait > milliseconds(0)) co_await sleep_for(answer->wait);
        co_return !stopped;
      }
      co_await sleep_for(clamp_wait(answer->wait, settings.rate_max_wait));
    }
  }

  asio::awaitable<void> send(lane& l, std::vector<queued>& batch) {
    const std::string& name = l.cfg.name;
    std::vector<queued> active;
    for (auto& q : batch) {
      if (q.call->stopped) continue;
      if (l.wire) {
        if (auto e = l.wire->check(q.msg())) {
          failed(l, q, e->code, e->message);
          continue;
        }
      }
      active.push_back(q);
    }
    std::vector<const providers::message*> ptrs;
    while (!active.empty()) {
      std::erase_if(active, [](const queued& q) { return q.call->stopped; });
      if (stopped || active.empty()) co_return;
      auto adm = co_await admit(l);
      if (!adm) co_return;
      if (l.limit && !co_await take_slots(l, active.size())) {
        health->on_abandoned(name, *adm);
        co_return;
      }
      unsigned attempt = 0;
      for (auto& q : active) attempt = std::max(attempt, q.counted + 1);
      for (auto& q : active) {
        q.counted = attempt;
        ++q.result().attempts;
      }
      const std::size_t n = active.size();
      ++l.stats.calls;
      l.stats.messages += n;
      if (l.max_batch > 1 && n == l.max_batch) ++l.stats.full_calls;

      if (l.file) {
        for (auto& q : active) {
          if (auto err = l.file->append(name, q.msg())) {
            health->on_failure(name, *adm, clock::now(), *err);
            spdlog::error("provider {}: {}", name, *err);
            failed(l, q, "io_error", *err);
          } else {
            sent(l, q);
          }
        }
        health->on_success(name, *adm, clock::now());
        co_return;
      }

      ptrs.clear();
      for (auto& q : active) ptrs.push_back(&q.msg());
      auto response = co_await l.http->request(l.wire->request(ptrs));
      l.stats.longest_call = std::max(l.stats.longest_call, response.elapsed);
      if (stopped || response.error == outbound::errc::stopped) {
        health->on_abandoned(name, *adm);
        co_return;
      }
      const auto reply = l.wire->classify(response, n);
      const auto d = decide(reply.call, attempt, l.policy, rng(), std::chrono::system_clock::now());
      const auto now = clock::now();
      if (d.provider_fault) {
        const bool was_closed = health->state(name, now) == circuit_breaker::state::closed;
        health->on_failure(name, *adm, now, d.code + ": " + d.message);
        if (was_closed && health->state(name, now) != circuit_breaker::state::closed)
          spdlog::warn("provider {}: circuit open after {}: {} ({}); deliveries wait", name, d.code,
                       d.message, l.logged_url());
      } else {
        if (adm->probe) spdlog::info("provider {}: answering again; circuit closed", name);
        health->on_success(name, *adm, now);
      }

      if (d.delivered()) {
        std::vector<bool> done(n, false);
        std::vector<queued> again;
        for (const auto& [index, err] : reply.item_errors) {
          if (index >= n || done[index]) continue;
          done[index] = true;
          if (err.retryable && active[index].counted < l.policy.max_attempts) {
            again.push_back(active[index]);
          } else {
            failed(l, active[index], err.code, err.message);
          }
        }
        for (std::size_t i = 0; i < n; ++i) {
          if (!done[i]) sent(l, active[i]);
        }
        if (!again.empty()) {
          for (auto it = again.rbegin(); it != again.rend(); ++it) l.queue.push_front(*it);
          wake(l);
        }
        co_return;
      }

      // A provider that is unwell while its circuit is open: the attempt does not count, and
      // the messages wait for it to come back instead of failing.
      const bool paused =
          d.provider_fault && health->state(name, now) != circuit_breaker::state::closed;
      if (d.failed() && !paused) {
        // A refusal of one message (a 4xx) is that item's outcome, recorded on its task; what
        // says the provider or its configuration is wrong is worth an operator's attention.
        const int status = reply.call.http_status;
        const bool notable = d.provider_fault || status == 0 || status == 401 || status == 403
                             || status == 404 || status == 429;
        spdlog::log(notable ? spdlog::level::warn : spdlog::level::debug,
                    "provider {}: {} message{} failed after {} attempt{}: {}: {} ({})", name, n,
                    n == 1 ? "" : "s", attempt, attempt == 1 ? "" : "s", d.code, d.message,
                    l.logged_url());
        for (auto& q : active) failed(l, q, d.code, d.message);
        co_return;
      }
      auto delay = d.after;
      if (paused) {
        for (auto& q : active) --q.counted;
        if (d.failed())
          delay = decide(reply.call, 1, l.policy, rng(), std::chrono::system_clock::now()).after;
      }
      ++l.stats.retries;
      health->count(name, 0, 0, 1);
      spdlog::debug("provider {}: attempt {} of {} message{}: {}: {}; again in {} ms", name,
                    attempt, n, n == 1 ? "" : "s", d.code, d.message, delay.count());
      co_await sleep_for(delay);
    }
  }

  asio::awaitable<std::vector<delivery_result>> deliver(lane& l,
                                                        std::vector<providers::message> messages,
                                                        delivery_options options) {
    auto self = shared_from_this();
    if (stopped) throw delivery_stopped();
    auto call = std::make_shared<call_state>(ex, std::move(messages));
    if (call->messages.empty()) co_return std::move(call->results);
    start_workers(l);
    calls.insert(call);
    struct forget {
      impl* i;
      std::shared_ptr<call_state> c;
      ~forget() { i->calls.erase(c); }
    } forget_call{this, call};
    std::optional<gcra> own;
    if (options.rate_per_s > 0 && !options.rate_key.empty())
      own.emplace(
          options.rate_per_s,
          std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(options.rate_per_s))));
    for (std::size_t i = 0; i < call->messages.size(); ++i) {
      if (own && !co_await reserve(options.rate_key, *own, 1, l.cfg.name)) break;
      if (call->stopped) break;
      l.queue.push_back(queued{call, i, clock::now(), 0});
      if (own || i + 1 == call->messages.size()) wake(l);
    }
    while (call->remaining > 0 && !call->stopped) {
      call->done.expires_at(clock::time_point::max());
      co_await call->done.async_wait(awaitable_tuple);
    }
    if (call->stopped || stopped) throw delivery_stopped();
    co_return std::move(call->results);
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    for (auto* t : sleeping) t->cancel();
    for (const auto& c : calls) {
      c->stopped = true;
      c->done.cancel();
    }
    for (auto& [name, l] : lanes) {
      l->queue.clear();
      if (l->lease_done) l->lease_done->cancel();
      if (l->http) l->http->stop();
    }
  }

  asio::any_io_executor ex;
  redis::client& redis;
  std::string prefix;
  std::shared_ptr<provider_health> health;
  dispatcher_settings settings;
  std::map<std::string, std::unique_ptr<lane>, std::less<>> lanes;
  std::set<asio::steady_timer*> sleeping;
  std::set<std::shared_ptr<call_state>> calls;
  bool stopped = false;
  bool redis_warned = false;
  std::mt19937_64 rng;
};

dispatcher::dispatcher(asio::any_io_executor ex, redis::client& redis, std::string prefix,
                       std::vector<provider_config> providers,
                       std::shared_ptr<provider_health> health, dispatcher_settings settings) {
  if (!health) health = std::make_shared<provider_health>();
  impl_ = std::make_shared<impl>(std::move(ex), redis, std::move(prefix), std::move(health),
                                 std::move(settings));
  for (auto& p : providers) impl_->add(std::move(p));
}

dispatcher::~dispatcher() {
  impl_->stop();
}

const provider_config* dispatcher::find(std::string_view provider) const {
  auto* l = impl_->find(provider);
  return l ? &l->cfg : nullptr;
}

asio::awaitable<std::vector<delivery_result>> dispatcher::deliver(
    std::string_view provider, std::vector<providers::message> messages, delivery_options options) {
  auto* l = impl_->find(provider);
  if (!l) throw std::invalid_argument("no provider named \"" + std::string(provider) + "\"");
  auto keep = impl_;
  co_return co_await keep->deliver(*l, std::move(messages), std::move(options));
}

void dispatcher::stop() {
  impl_->stop();
}

dispatcher::statistics dispatcher::stats(std::string_view provider) const {
  auto* l = impl_->find(provider);
  return l ? l->stats : statistics{};
}

const std::shared_ptr<provider_health>& dispatcher::health() const {
  return impl_->health;
}

}  // namespace herald::delivery
