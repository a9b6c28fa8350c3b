#include "herald/triggers/jobs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "herald/common/json.hpp"
#include "herald/delivery/dispatcher.hpp"
#include "herald/profiles/store.hpp"
#include "herald/proto/scripts.hpp"
#include "herald/providers/message_json.hpp"
#include "herald/queue/keys.hpp"
#include "herald/redis/client.hpp"
#include "herald/redis/error.hpp"
#include "herald/redis/script.hpp"
#include "herald/triggers/runner.hpp"
#include "herald/triggers/store.hpp"

namespace herald::triggers {

namespace asio = boost::asio;
using queue::item_outcome;

namespace {

const redis::script& schedule_script() {
  static const redis::script s{std::string(proto::sends_schedule_lua)};
  return s;
}
const redis::script& take_script() {
  static const redis::script s{std::string(proto::sends_take_lua)};
  return s;
}
const redis::script& done_script() {
  static const redis::script s{std::string(proto::sends_done_lua)};
  return s;
}

// Waits `d` on the current executor.
asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// Runs `step` until Redis answers: what it records follows messages that went out, so it must
// not be given up while Redis is away (a chunk left for a claimer would send them again).
template <class Step>
asio::awaitable<redis::reply> until_redis_answers(Step step, const std::string& what) {
  std::chrono::milliseconds wait{50};
  for (unsigned attempt = 1;; ++attempt) {
    std::string failure;
    try {
      co_return co_await step();
    } catch (const redis::error& e) {
      if (!redis::temporarily_unavailable(e)) throw;
      failure = e.what();
    }
    if (attempt == 1 || attempt % 50 == 0)
      spdlog::debug("{}: Redis does not answer ({}); trying again", what, failure);
    co_await sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(1000));
  }
}

std::string rate_key_of(const std::string& prefix, const std::string& account, std::uint64_t id) {
  return prefix + ":{trg:" + account + "}:rate:" + std::to_string(id);
}

// The trigger version a task runs, read once per job in each process.
struct resolved_trigger {
  std::optional<stored_trigger> stored;
  std::shared_ptr<const compiled_trigger> compiled;
  delivery::provider_kind kind = delivery::provider_kind::sandbox;
  delivery::delivery_options options;
  // Set when the trigger cannot run: every item fails with it.
  std::string error_code, error_message;
};

asio::awaitable<resolved_trigger> resolve(const queue::job_context& ctx,
                                          const trigger_job_settings& s, std::uint64_t id) {
  resolved_trigger r;
  trigger_store store(*ctx.redis, {.prefix = s.prefix, .deleted_ttl = s.deleted_ttl});
  const auto task = queue::queue_keys(s.prefix).task(ctx.task_id);
  auto pinned = (co_await ctx.redis->exec("HGET", task, "trigger_version")).as_optional_string();
  if (!pinned) {
    // The first chunk pins the current version; a later one (or another process) reads it.
    auto current = co_await store.get(ctx.account, id);
    if (current) {
      auto set = co_await ctx.redis->exec("HSETNX", task, "trigger_version",
                                          std::to_string(current->version));
      if (set.as_integer() == 1) r.stored = std::move(current);
      pinned = (co_await ctx.redis->exec("HGET", task, "trigger_version")).as_optional_string();
    }
  }
  if (!r.stored && pinned) {
    std::uint64_t v = 0;
    try {
      v = std::stoull(*pinned);
    } catch (const std::exception&) {
    }
    r.stored = co_await store.get_version(ctx.account, id, v);
  }
  if (!r.stored) {
    r.error_code = "trigger_not_found";
    r.error_message = "trigger_id: the account has no trigger " + std::to_string(id)
                      + (pinned ? " (version " + *pinned + " is no longer kept)" : "");
    co_return r;
  }
  auto compiled = s.cache->get(ctx.account, id, r.stored->version, r.stored->definition);
  if (compiled.error) {
    r.error_code = "invalid_trigger";
    r.error_message = "trigger " + std::to_string(id) + ": " + compiled.error->text();
    co_return r;
  }
  r.compiled = compiled.value;
  const auto& def = r.stored->definition;
  const auto* provider = ctx.delivery ? ctx.delivery->find(def.provider) : nullptr;
  if (!provider) {
    r.error_code = "provider_not_configured";
    r.error_message = "trigger " + std::to_string(id) + ": provider \"" + def.provider
                      + "\" is not configured on this heraldd";
    co_return r;
  }
  r.kind = provider->kind;
  if (def.rate_per_s) {
    r.options.rate_per_s = *def.rate_per_s;
    r.options.rate_key = rate_key_of(s.prefix, ctx.account, id);
  }
  co_return r;
}

void mark(item_outcome& o, item_outcome::kind k, std::string code, std::string message,
          queue::chunk_result& result) {
  o.outcome = k;
  if (k != item_outcome::kind::sent && k != item_outcome::kind::scheduled) {
    o.code = std::move(code);
    if (!message.empty()) o.message = std::move(message);
  }
  switch (k) {
    case item_outcome::kind::sent:
      ++result.sent;
      break;
    case item_outcome::kind::scheduled:
      ++result.scheduled;
      break;
    case item_outcome::kind::skipped:
      ++result.skipped;
      break;
    case item_outcome::kind::failed:
      ++result.failed;
      break;
    case item_outcome::kind::processed:
      break;
  }
}

// The batch a scheduled chunk leaves in Redis: where it goes and its messages.
std::string batch_json(const queue::job_context& ctx, const std::string& provider,
                       const delivery::delivery_options& o,
                       const std::vector<providers::message>& messages) {
  std::string out = "{\"task_id\":" + json_quote(ctx.task_id);
  out += ",\"account\":" + json_quote(ctx.account);
  out += ",\"provider\":" + json_quote(provider);
  if (o.rate_per_s > 0) {
    out += ",\"rate_per_s\":" + std::to_string(o.rate_per_s);
    out += ",\"rate_key\":" + json_quote(o.rate_key);
  }
  out += ",\"messages\":[";
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (i) out += ',';
    providers::append_json(out, messages[i]);
  }
  return out + "]}";
}

// The trigger half of one job (import_and_start or start).
class trigger_chunks final : public profiles::chunk_followup {
 public:
  trigger_chunks(const trigger_job_settings& s, std::uint64_t trigger_id, std::string content,
                 std::chrono::milliseconds timeout)
      : settings_(s),
        trigger_id_(trigger_id),
        content_text_(std::move(content)),
        timeout_(timeout) {}

  asio::awaitable<void> run(const queue::job_context& ctx,
                            std::vector<profiles::imported_profile> profiles,
                            queue::chunk_result& result) override {
    if (profiles.empty()) co_return;
    if (!resolved_) resolved_ = co_await resolve(ctx, settings_, trigger_id_);
    const auto& r = *resolved_;
    if (!r.error_code.empty()) {
      for (auto& ip : profiles)
        mark(result.outcomes[ip.outcome], item_outcome::kind::failed, r.error_code, r.error_message,
             result);
      co_return;
    }
    render_inputs inputs;
    if (!content_text_.empty()) {
      if (!content_doc_) {
        content_doc_.emplace(content_text_);
        simdjson::dom::element e;
        if (content_parser_.parse(*content_doc_).get(e))
          throw std::logic_error("trigger: the body's content no longer parses");
        content_ = e;
      }
      inputs.content = content_;
    }
    const auto& def = r.stored->definition;
    std::vector<providers::message> sends;
    std::vector<std::size_t> sent_outcomes;
    simdjson::dom::parser custom_parser;
    for (auto& ip : profiles) {
      auto& o = result.outcomes[ip.outcome];
      inputs.custom_data.reset();
      if (!ip.custom_data.empty()) {
        simdjson::dom::element e;
        if (!custom_parser.parse(ip.custom_data).get(e)) inputs.custom_data = e;
      }
      auto plan = plan_item(def, *r.compiled, r.kind, ip.p, inputs, ctx.task_id, o.index);
      switch (plan.what) {
        case item_plan::kind::skip:
          mark(o, item_outcome::kind::skipped, plan.code, "", result);
          break;
        case item_plan::kind::fail:
          mark(o, item_outcome::kind::failed, plan.code, plan.message, result);
          break;
        case item_plan::kind::send:
          sends.push_back(std::move(plan.send));
          sent_outcomes.push_back(ip.outcome);
          break;
      }
    }
    if (sends.empty()) co_return;
    if (timeout_.count() > 0) {
      co_await schedule(ctx, def.provider, r.options, sends);
      for (auto i : sent_outcomes)
        mark(result.outcomes[i], item_outcome::kind::scheduled, "", "", result);
      co_return;
    }
    auto delivered = co_await ctx.delivery->deliver(def.provider, std::move(sends), r.options);
    for (std::size_t n = 0; n < sent_outcomes.size(); ++n) {
      auto& o = result.outcomes[sent_outcomes[n]];
      const auto& d = delivered.at(n);
      if (d.sent())
        mark(o, item_outcome::kind::sent, "", "", result);
      else
        mark(o, item_outcome::kind::failed, d.code, d.message, result);
    }
  }

 private:
  asio::awaitable<void> schedule(const queue::job_context& ctx, const std::string& provider,
                                 const delivery::delivery_options& options,
                                 const std::vector<providers::message>& sends) {
    queue::queue_keys keys(settings_.prefix);
    std::uint64_t first = sends.front().item;
    for (const auto& m : sends) first = std::min(first, m.item);
    const std::vector<std::string> k{keys.sends(), keys.send_bodies(), keys.task_sends(ctx.task_id),
                                     keys.task(ctx.task_id)};
    const std::vector<std::string> a{ctx.task_id + ":" + std::to_string(first),
                                     std::to_string(timeout_.count()),
                                     batch_json(ctx, provider, options, sends), ctx.account,
                                     std::to_string(settings_.task_ttl.count())};
    co_await ctx.redis->eval(schedule_script(), k, a);
  }

  trigger_job_settings settings_;  // a copy: the job may outlive its handler
  std::uint64_t trigger_id_;
  std::string content_text_;
  std::chrono::milliseconds timeout_;
  std::optional<resolved_trigger> resolved_;
  std::optional<simdjson::padded_string> content_doc_;
  simdjson::dom::parser content_parser_;
  simdjson::dom::element content_;
};

class followup final : public profiles::import_followup {
 public:
  explicit followup(trigger_job_settings s) : settings_(std::move(s)) {}
  std::unique_ptr<profiles::chunk_followup> prepare(
      const profiles::import_body& body) const override {
    if (body.options.skip_triggers || !body.options.trigger_id) return nullptr;
    return std::make_unique<trigger_chunks>(settings_,
                                            static_cast<std::uint64_t>(*body.options.trigger_id),
                                            body.content, body.options.timeout);
  }

 private:
  trigger_job_settings settings_;
};

// --- start -----------------------------------------------------------------------------------

class start_run final : public queue::prepared_job {
 public:
  start_run(profiles::import_body body, const trigger_job_settings& s)
      : body_(std::move(body)),
        settings_(s),
        chunks_(settings_, static_cast<std::uint64_t>(*body_.options.trigger_id), body_.content,
                body_.options.timeout) {}

  std::uint64_t total() const override { return body_.items.size(); }

  void check_items() const override {
    for (std::size_t i = 0; i < body_.items.size(); ++i)
      if (auto item = profiles::read_import_item(body_, i); item.error)
        throw queue::bad_job("body." + std::string(item.error->what()));
  }

  asio::awaitable<queue::chunk_result> run(const queue::job_context& ctx, std::uint64_t begin,
                                           std::uint64_t end) override {
    if (!ctx.redis) throw std::logic_error("start needs the worker's Redis connection");
    profiles::profile_store store(
        *ctx.redis, profiles::profile_keys(settings_.prefix, ctx.account, body_.options.db_id));
    queue::chunk_result result;
    result.processed = end - begin;
    std::vector<profiles::import_item> items;
    std::vector<profiles::match_query> queries;
    for (auto i = begin; i < end; ++i) {
      auto item = profiles::read_import_item(body_, i);
      if (item.error) {
        item_outcome o;
        o.index = i;
        o.outcome = item_outcome::kind::failed;
        o.code = item.error->code();
        o.message = item.error->what();
        ++result.failed;
        result.outcomes.push_back(std::move(o));
        continue;
      }
      queries.push_back(item.query);
      items.push_back(std::move(item));
    }
    // (Not a conditional expression around co_await: GCC 12 destroys its temporary twice.)
    std::vector<std::optional<profiles::stored_profile>> found;
    if (!queries.empty()) found = co_await store.find_all(std::move(queries));
    std::vector<profiles::imported_profile> profiles;
    for (std::size_t n = 0; n < items.size(); ++n) {
      item_outcome o;
      o.index = items[n].index;
      if (!found[n]) {
        o.outcome = item_outcome::kind::skipped;
        o.code = "not_found";
        o.message = "data[" + std::to_string(o.index) + "]: no profile matches (matching \""
                    + std::string(profiles::to_string(body_.options.matching)) + "\")";
        ++result.skipped;
        result.outcomes.push_back(std::move(o));
        continue;
      }
      o.profile_id = found[n]->p.id;
      result.outcomes.push_back(std::move(o));
      profiles.push_back(
          {result.outcomes.size() - 1, std::move(found[n]->p), std::move(items[n].custom_data)});
    }
    co_await chunks_.run(ctx, std::move(profiles), result);
    std::sort(result.outcomes.begin(), result.outcomes.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    co_return result;
  }

 private:
  profiles::import_body body_;
  trigger_job_settings settings_;
  trigger_chunks chunks_;
};

class start_handler final : public queue::job_handler {
 public:
  explicit start_handler(trigger_job_settings s) : settings_(std::move(s)) {}
  std::unique_ptr<queue::prepared_job> prepare(std::string_view body) const override {
    return std::make_unique<start_run>(profiles::parse_import_body(body, settings_.limits, true),
                                       settings_);
  }

 private:
  trigger_job_settings settings_;
};

// --- send --------------------------------------------------------------------------------------

struct send_body {
  std::string provider;
  delivery::provider_kind kind = delivery::provider_kind::sandbox;
  std::vector<std::string> messages;  // each minified
};

[[noreturn]] void bad(const std::string& field, const std::string& what) {
  throw queue::bad_job("body." + field + ": " + what);
}

send_body parse_send_body(std::string_view text, const trigger_job_settings& s) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(text.data(), text.size()).get(doc))
    throw queue::bad_job(std::string("body: not valid JSON (") + simdjson::error_message(err)
                         + ")");
  simdjson::dom::object root;
  if (doc.get(root)) throw queue::bad_job("body: must be a JSON object");
  send_body b;
  bool has_messages = false;
  for (auto [k, v] : root) {
    if (k == "provider") {
      std::string_view p;
      if (v.get(p) || p.empty()) bad("provider", "must be a provider's name");
      b.provider = std::string(p);
    } else if (k == "messages") {
      simdjson::dom::array a;
      if (v.get(a)) bad("messages", "must be a list of messages");
      if (a.size() > s.limits.max_items)
        bad("messages", "at most " + std::to_string(s.limits.max_items) + " messages a job, got "
                            + std::to_string(a.size()));
      for (auto m : a) b.messages.push_back(simdjson::minify(m));
      has_messages = true;
    } else if (k != "token" && k != "format") {
      bad(std::string(k), "unknown field; a send job holds provider and messages");
    }
  }
  if (b.provider.empty()) bad("provider", "required: the provider to send through");
  if (!has_messages) bad("messages", "required: the messages to send");
  // Read where no provider is configured (a herald CLI without heraldd's configuration): the
  // worker checks the provider and the messages.
  if (s.providers.empty()) return b;
  auto it = s.providers.find(b.provider);
  if (it == s.providers.end()) bad("provider", "no provider \"" + b.provider + "\" is configured");
  auto kind = delivery::parse_provider_kind(it->second);
  if (!kind) bad("provider", "provider \"" + b.provider + "\" (" + it->second + ") cannot send");
  b.kind = *kind;
  return b;
}

class send_run final : public queue::prepared_job {
 public:
  explicit send_run(send_body body) : body_(std::move(body)) {}
  std::uint64_t total() const override { return body_.messages.size(); }

  asio::awaitable<queue::chunk_result> run(const queue::job_context& ctx, std::uint64_t begin,
                                           std::uint64_t end) override {
    if (!ctx.delivery || !ctx.delivery->find(body_.provider))
      throw std::runtime_error("send: provider \"" + body_.provider
                               + "\" is not configured on this heraldd");
    queue::chunk_result result;
    result.processed = end - begin;
    std::vector<providers::message> sends;
    std::vector<std::uint64_t> indexes;
    for (auto i = begin; i < end; ++i) {
      try {
        auto m = providers::parse_send_item(body_.kind, body_.messages[i], i);
        m.item = i;
        m.key = ctx.task_id + ":" + std::to_string(i);
        sends.push_back(std::move(m));
        indexes.push_back(i);
      } catch (const std::invalid_argument& e) {
        item_outcome o;
        o.index = i;
        mark(o, item_outcome::kind::failed, "invalid_item", e.what(), result);
        result.outcomes.push_back(std::move(o));
      }
    }
    if (!sends.empty()) {
      auto delivered = co_await ctx.delivery->deliver(body_.provider, std::move(sends));
      for (std::size_t n = 0; n < indexes.size(); ++n) {
        const auto& d = delivered.at(n);
        item_outcome o;
        o.index = indexes[n];
        if (d.sent()) {
          mark(o, item_outcome::kind::sent, "", "", result);
        } else {
          mark(o, item_outcome::kind::failed, d.code, d.message, result);
          result.outcomes.push_back(std::move(o));
        }
      }
      std::sort(result.outcomes.begin(), result.outcomes.end(),
                [](const auto& a, const auto& b) { return a.index < b.index; });
    }
    co_return result;
  }

 private:
  send_body body_;
};

class send_handler final : public queue::job_handler {
 public:
  explicit send_handler(trigger_job_settings s) : settings_(std::move(s)) {}
  std::unique_ptr<queue::prepared_job> prepare(std::string_view body) const override {
    return std::make_unique<send_run>(parse_send_body(body, settings_));
  }

 private:
  trigger_job_settings settings_;
};

}  // namespace

std::shared_ptr<const profiles::import_followup> trigger_followup(trigger_job_settings settings) {
  return std::make_shared<followup>(std::move(settings));
}

void add_trigger_handlers(queue::handler_registry& registry, trigger_job_settings settings) {
  registry.add("start", std::make_shared<start_handler>(settings));
  registry.add("send", std::make_shared<send_handler>(std::move(settings)));
}

// --- scheduled sends ---------------------------------------------------------------------------

struct scheduled_sender::impl {
  redis::client& redis;
  delivery::dispatcher& delivery;
  scheduled_sender_config config;
  queue::queue_keys keys;
  bool stopped = false;
  std::optional<asio::steady_timer> timer;
  std::uint64_t delivered = 0;

  impl(redis::client& r, delivery::dispatcher& d, scheduled_sender_config c)
      : redis(r), delivery(d), config(std::move(c)), keys(config.prefix) {}

  // Delivers one batch and records it (one that cannot be read is dropped, with a log line).
  asio::awaitable<void> deliver_batch(const std::string& id, const std::string& json) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string task_id, provider;
    delivery::delivery_options options;
    std::vector<providers::message> messages;
    std::string unreadable;
    try {
      if (parser.parse(json).get(doc)) throw std::runtime_error("not JSON");
      std::string_view s;
      if (doc["task_id"].get(s)) throw std::runtime_error("no task_id");
      task_id = std::string(s);
      if (doc["provider"].get(s)) throw std::runtime_error("no provider");
      provider = std::string(s);
      double rate = 0;
      if (!doc["rate_per_s"].get(rate) && !doc["rate_key"].get(s)) {
        options.rate_per_s = rate;
        options.rate_key = std::string(s);
      }
      simdjson::dom::array a;
      if (doc["messages"].get(a)) throw std::runtime_error("no messages");
      for (auto m : a) messages.push_back(providers::message_from_json(m));
    } catch (const std::exception& e) {
      unreadable = e.what();
    }
    if (!unreadable.empty()) {
      spdlog::error("scheduled sends: batch {} cannot be read ({}); dropped", id, unreadable);
      std::vector<std::string> k{keys.sends(), keys.send_bodies(), keys.task_sends("-"),
                                 keys.task("-"), keys.items("-")};
      std::vector<std::string> a{id, "0", "0", "0"};
      co_await redis.eval(done_script(), k, a);
      co_return;
    }
    std::vector<delivery::delivery_result> results;
    if (!delivery.find(provider)) {
      results.assign(messages.size(),
                     {delivery::delivery_result::kind::failed, "provider_not_configured",
                      "provider \"" + provider + "\" is not configured", 0});
    } else {
      results = co_await delivery.deliver(provider, messages, options);
    }
    std::uint64_t sent = 0, failed = 0;
    std::vector<std::string> k{keys.sends(), keys.send_bodies(), keys.task_sends(task_id),
                               keys.task(task_id), keys.items(task_id)};
    std::vector<std::string> a{id, "", "", std::to_string(messages.size())};
    for (std::size_t n = 0; n < messages.size(); ++n) {
      item_outcome o;
      o.index = messages[n].item;
      o.profile_id = messages[n].profile_id;
      if (results.at(n).sent()) {
        o.outcome = item_outcome::kind::sent;
        ++sent;
      } else {
        o.outcome = item_outcome::kind::failed;
        o.code = results[n].code;
        o.message = results[n].message;
        ++failed;
      }
      a.push_back(std::to_string(o.index));
      a.push_back(o.to_json());
    }
    a[1] = std::to_string(sent);
    a[2] = std::to_string(failed);
    co_await until_redis_answers([&]() { return redis.eval(done_script(), k, a); },
                                 "scheduled sends: batch " + id);
    ++delivered;
  }

  asio::awaitable<void> run() {
    timer.emplace(co_await asio::this_coro::executor);
    while (!stopped) {
      std::chrono::milliseconds wait = config.poll;
      try {
        std::vector<std::string> k{keys.sends(), keys.send_bodies()};
        std::vector<std::string> a{std::to_string(config.batch),
                                   std::to_string(config.lease.count())};
        auto r = co_await redis.eval(take_script(), k, a);
        const auto& v = r.as_array();
        std::int64_t next = v.at(0).as_integer();
        for (std::size_t i = 1; i + 1 < v.size() && !stopped; i += 2)
          co_await deliver_batch(v[i].as_string(), v[i + 1].as_string());
        if (v.size() > 1)
          wait = std::chrono::milliseconds(0);
        else if (next >= 0)
          wait = std::min(wait, std::chrono::milliseconds(next));
      } catch (const delivery::delivery_stopped&) {
        break;
      } catch (const std::exception& e) {
        spdlog::debug("scheduled sends: {}", e.what());
      }
      if (stopped) break;
      if (wait.count() > 0) {
        timer->expires_after(wait);
        co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      }
    }
  }
};

scheduled_sender::scheduled_sender(redis::client& redis, delivery::dispatcher& delivery,
                                   scheduled_sender_config config)
    : impl_(std::make_shared<impl>(redis, delivery, std::move(config))) {}

scheduled_sender::~scheduled_sender() = default;

asio::awaitable<void> scheduled_sender::run() {
  auto keep = impl_;
  co_await keep->run();
}

void scheduled_sender::stop() {
  impl_->stopped = true;
  if (impl_->timer) impl_->timer->cancel();
}

std::uint64_t scheduled_sender::delivered_batches() const {
  return impl_->delivered;
}

}  // namespace herald::triggers
