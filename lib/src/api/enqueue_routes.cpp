#include "herald/api/enqueue_routes.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/api/replies.hpp"
#include "herald/api/request.hpp"
#include "herald/api/xml_format.hpp"

namespace herald::api {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view import_type = "import_and_start";
constexpr std::string_view start_type = "start";

// What every route needs; shared by the handlers, which the router keeps.
struct route_context {
  queue::task_store& store;
  triggers::trigger_store& triggers;
  const queue::job_handler& import_handler;
  const queue::job_handler& start_handler;
  const auth::token_table& tokens;
  enqueue_routes_config cfg;
};

// An envelope {"error", "error_text", "error_debug"?, <members>} with HTTP status `status`;
// `members` is the rest of the object's JSON (", \"task_id\": ...") or empty.
http::response envelope(bhttp::status status, int error, std::string_view error_text,
                        std::string_view debug, std::string_view members) {
  std::string body = "{\"error\": " + std::to_string(error);
  if (!debug.empty()) body += ", \"error_debug\": " + json_quote(debug);
  body += ", \"error_text\": " + json_quote(error_text);
  body += members;
  body += '}';
  return http::json_reply(status, std::move(body));
}

std::string task_id_member(std::string_view task_id) {
  return ", \"task_id\": " + json_quote(task_id);
}

std::optional<http::response> check_format(simdjson::dom::object body) {
  simdjson::dom::element format;
  if (body["format"].get(format) != simdjson::SUCCESS || format.is_null()) return std::nullopt;
  std::string_view text;
  if (format.get(text) != simdjson::SUCCESS || (text != "json" && text != "xml"))
    return invalid_request("format: must be \"json\" or \"xml\"");
  return std::nullopt;
}

// The request body without `token` and `format`: the job's body.
std::string job_body(simdjson::dom::object body) {
  std::string out = "{";
  for (auto [key, value] : body) {
    if (key == "token" || key == "format") continue;
    if (out.size() > 1) out += ',';
    out += json_quote(key);
    out += ':';
    out += simdjson::minify(value);
  }
  return out + "}";
}

// A handler's refusal (`body.data[3].email: ...`) as the API names the field (`data[3].email`).
std::string api_field_text(std::string_view what) {
  constexpr std::string_view prefix = "body.";
  if (what.starts_with(prefix)) what.remove_prefix(prefix.size());
  return std::string(what);
}

// The trigger a body starts: its trigger_id, unless skip_triggers (the handler has checked both).
std::optional<std::uint64_t> started_trigger(simdjson::dom::object body) {
  bool skip = false;
  if (simdjson::dom::element e; body["skip_triggers"].get(e) == simdjson::SUCCESS)
    skip = e.is_bool() && e.get_bool().value_unsafe();
  simdjson::dom::element id;
  if (skip || body["trigger_id"].get(id) != simdjson::SUCCESS || id.is_null()) return std::nullopt;
  std::uint64_t v = 0;
  if (id.get(v) == simdjson::SUCCESS) return v;
  std::string_view text;
  if (id.get(text) != simdjson::SUCCESS) return std::nullopt;
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// An unknown trigger and another account's get this same reply, byte for byte.
http::response trigger_not_found(std::uint64_t id) {
  return http::error_reply(bhttp::status::not_found, 404, "Trigger not found",
                           "trigger_id: the account has no trigger " + std::to_string(id));
}

// What a request enqueued, or the reply refusing it.
struct enqueue_outcome {
  std::optional<http::response> refusal;
  std::string account;  // the token's
  queue::enqueued task;
};

// Reads, checks and enqueues a request as a job of `type`, which `handler` prepares.
asio::awaitable<enqueue_outcome> enqueue_request(const route_context& c, const http::request& req,
                                                 std::string_view type,
                                                 const queue::job_handler& handler) {
  enqueue_outcome out;
  json_body body;
  if (auto refusal = body.parse(req.body())) {
    out.refusal = std::move(refusal);
    co_return out;
  }
  http::response refusal;
  auto account = authenticate(c.tokens, req, &body, refusal);
  if (!account) {
    out.refusal = std::move(refusal);
    co_return out;
  }
  const auto root = body.object();
  std::string idempotency_key;
  if (auto bad = check_format(root)) {
    out.refusal = std::move(bad);
    co_return out;
  }
  if (auto bad = read_idempotency_key(req, idempotency_key)) {
    out.refusal = invalid_request(*bad);
    co_return out;
  }
  // Counted before the handler reads them: a request far over the limit is not read item by item.
  if (simdjson::dom::array data;
      root["data"].get(data) == simdjson::SUCCESS && data.size() > c.cfg.limits.api_max_items) {
    out.refusal =
        invalid_request("data: at most " + std::to_string(c.cfg.limits.api_max_items)
                        + " items a request (api_max_items), got " + std::to_string(data.size()));
    co_return out;
  }

  queue::new_job job;
  job.type = std::string(type);
  job.account = out.account = std::move(*account);
  job.body = job_body(root);
  job.idempotency_key = std::move(idempotency_key);
  try {
    const auto prepared = handler.prepare(job.body);
    prepared->check_items();
    job.total = prepared->total();
  } catch (const queue::bad_job& e) {
    out.refusal = invalid_request(api_field_text(e.what()));
    co_return out;
  }
  if (const auto trigger_id = started_trigger(root)) {
    const auto stored = co_await c.triggers.get(job.account, *trigger_id);
    if (!stored) {
      out.refusal = trigger_not_found(*trigger_id);
      co_return out;
    }
  }
  try {
    out.task = co_await c.store.enqueue(std::move(job));
  } catch (const std::invalid_argument& e) {
    // Only a body over max_job_bytes gets here (the rest is checked above).
    out.refusal = invalid_request(e.what());
  }
  co_return out;
}

http::response enqueued_reply(const queue::enqueued& task) {
  auto res = ok_reply("task_id", json_quote(task.task_id));
  if (!task.created) res.set("Idempotent-Replayed", "true");
  return res;
}

asio::awaitable<http::response> post_import_task(const route_context& c, const http::request& req) {
  auto r = co_await enqueue_request(c, req, import_type, c.import_handler);
  if (r.refusal) co_return std::move(*r.refusal);
  co_return enqueued_reply(r.task);
}

asio::awaitable<http::response> post_start_task(const route_context& c, const http::request& req) {
  auto r = co_await enqueue_request(c, req, start_type, c.start_handler);
  if (r.refusal) co_return std::move(*r.refusal);
  co_return enqueued_reply(r.task);
}

// The reply to start_batch once its task is as `task` says.
asio::awaitable<http::response> start_batch_reply(const route_context& c,
                                                  const queue::task_record& task, bool replayed) {
  const auto id = task_id_member(task.task_id);
  http::response res;
  switch (task.status) {
    case queue::task_status::completed: {
      const auto outcomes = co_await c.store.items(task.task_id, 0, task.total);
      res = envelope(bhttp::status::ok, 0, "Successful operation", {},
                     ", \"result\": " + queue::profile_results_json(outcomes) + id);
      break;
    }
    case queue::task_status::failed:
      res = envelope(bhttp::status::internal_server_error, 500, "Task failed",
                     task.error_text.empty() ? "the task failed" : task.error_text, id);
      break;
    case queue::task_status::cancelled:
      res = envelope(bhttp::status::conflict, 409, "Task cancelled",
                     "the task was cancelled before it ended; tasks/items has the outcomes of "
                     "the items it ran",
                     id);
      break;
    case queue::task_status::queued:
    case queue::task_status::processing:
      res = envelope(bhttp::status::accepted, 0, "Task is still running", {},
                     id + ", \"status\": " + json_quote(queue::to_string(task.status))
                         + ", \"progress\": " + std::to_string(task.progress()));
      break;
  }
  if (replayed) res.set("Idempotent-Replayed", "true");
  co_return res;
}

asio::awaitable<http::response> post_start_batch(const route_context& c, const http::request& req) {
  auto r = co_await enqueue_request(c, req, start_type, c.start_handler);
  if (r.refusal) co_return std::move(*r.refusal);
  const auto& id = r.task.task_id;
  auto task = co_await c.store.get(id, r.account);
  // A short job ends within milliseconds: look soon, then less and less often.
  const auto deadline = clock_type::now() + c.cfg.limits.sync_timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::chrono::milliseconds pause{5};
  while (task && !queue::is_final(task->status)) {
    if (c.cfg.draining && c.cfg.draining()) break;
    const auto now = clock_type::now();
    if (now >= deadline) break;
    timer.expires_after(std::min<clock_type::duration>(pause, deadline - now));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    pause = std::min(pause * 2, c.cfg.poll_interval);
    task = co_await c.store.get(id, r.account);
  }
  // Only a replayed idempotency key's task can be gone: it expired (task_ttl).
  if (!task)
    co_return http::error_reply(bhttp::status::not_found, 404, "Task not found",
                                "task_id: no such task (expired)");
  co_return co_await start_batch_reply(c, *task, !r.task.created);
}

using route_body = asio::awaitable<http::response> (*)(const route_context&, const http::request&);

// The route's handler: `body`, with a Redis failure answered 503 instead of 500, speaking XML
// where the request asks for it.
http::route_handler handler(std::shared_ptr<const route_context> c, std::string_view route,
                            route_body body) {
  return speaking_xml(answering_redis_failures(
      std::string(route),
      [c = std::move(c), body](const http::request& req) { return body(*c, req); }));
}

const queue::job_handler& require(const queue::handler_registry& handlers, std::string_view type) {
  const auto* h = handlers.find(type);
  if (h == nullptr)
    throw std::invalid_argument("add_enqueue_routes: no handler for job type \"" + std::string(type)
                                + "\"");
  return *h;
}

}  // namespace

void add_enqueue_routes(http::router& routes, queue::task_store& store,
                        triggers::trigger_store& triggers, const queue::handler_registry& handlers,
                        const auth::token_table& tokens, enqueue_routes_config cfg) {
  const auto c = std::make_shared<const route_context>(
      route_context{store, triggers, require(handlers, import_type), require(handlers, start_type),
                    tokens, std::move(cfg)});
  routes.add(bhttp::verb::post, "/api/v1.1/campaigns/triggers/import_and_start_batch_task",
             handler(c, "POST /api/v1.1/campaigns/triggers/import_and_start_batch_task",
                     post_import_task));
  routes.add(bhttp::verb::post, "/api/v1.1/campaigns/triggers/start_batch_task",
             handler(c, "POST /api/v1.1/campaigns/triggers/start_batch_task", post_start_task));
  routes.add(bhttp::verb::post, "/api/v1.1/campaigns/triggers/start_batch",
             handler(c, "POST /api/v1.1/campaigns/triggers/start_batch", post_start_batch));
}

}  // namespace herald::api
