#include "herald/api/task_routes.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "herald/api/replies.hpp"
#include "herald/api/request.hpp"
#include "herald/api/xml_format.hpp"
#include "herald/common/time.hpp"

namespace herald::api {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view task_id_rule = "task_id: must be 1 to 64 characters of A-Za-z0-9_-";

// What every route needs; shared by the handlers, which the router keeps.
struct route_context {
  queue::task_store& store;
  const auth::token_table& tokens;
  task_routes_config cfg;
};

// An unknown task and another account's task get this same reply, byte for byte.
http::response task_not_found() {
  return http::error_reply(bhttp::status::not_found, 404, "Task not found",
                           "task_id: no such task");
}

std::optional<http::response> read_task_id(simdjson::dom::object body, std::string& out) {
  simdjson::dom::element field;
  if (body["task_id"].get(field) != simdjson::SUCCESS || field.is_null()) {
    return invalid_request("task_id: required");
  }
  std::string_view id;
  if (field.get(id) != simdjson::SUCCESS) return invalid_request("task_id: must be a string");
  if (!queue::valid_task_id(id)) return invalid_request(task_id_rule);
  out = id;
  return std::nullopt;
}

// The parts every POST task route reads: the body, the token's account and the task_id.
struct task_request {
  json_body body;
  std::string account;
  std::string task_id;
};

std::optional<http::response> read_task_request(const http::request& req,
                                                const auth::token_table& tokens, access need,
                                                task_request& out) {
  if (auto refusal = out.body.parse(req.body())) return refusal;
  http::response refusal;
  auto account = authenticate(tokens, req, &out.body, refusal, need);
  if (!account) return refusal;
  out.account = std::move(*account);
  return read_task_id(out.body.object(), out.task_id);
}

asio::awaitable<http::response> status_reply(const route_context& c,
                                             const queue::task_record& task) {
  auto outcomes = co_await c.store.items(task.task_id, 0, c.cfg.max_result_items);
  co_return http::json_reply(bhttp::status::ok, queue::status_reply_json(task, outcomes));
}

asio::awaitable<http::response> post_status(const route_context& c, const http::request& req) {
  task_request r;
  if (auto refusal = read_task_request(req, c.tokens, access::read, r))
    co_return std::move(*refusal);
  auto task = co_await c.store.get(r.task_id, r.account);
  if (!task) co_return task_not_found();
  co_return co_await status_reply(c, *task);
}

// "60", "0.5", "1.25": a duration as seconds, the way a poller writes `wait`.
std::string seconds_text(std::chrono::milliseconds d) {
  std::string out = std::to_string(d.count() / 1000);
  if (auto ms = d.count() % 1000; ms != 0) {
    std::string fraction = std::to_string(1000 + ms).substr(1);
    fraction.erase(fraction.find_last_not_of('0') + 1);
    out += "." + fraction;
  }
  return out;
}

// The query parameters of GET /tasks/status.
struct status_query {
  std::string task_id;
  std::optional<std::chrono::milliseconds> wait;
};

std::optional<http::response> read_status_query(const http::request& req,
                                                std::chrono::milliseconds max_wait,
                                                status_query& out) {
  const auto target =
      boost::urls::parse_uri_reference(std::string_view(req.target().data(), req.target().size()));
  if (!target) return invalid_request("target: not a valid request target");
  std::optional<std::string> task_id, wait;
  for (const auto& param : target->params()) {
    std::optional<std::string>* slot = param.key == "task_id" ? &task_id
                                       : param.key == "wait"  ? &wait
                                                              : nullptr;
    if (slot == nullptr) continue;
    if (slot->has_value()) return invalid_request(param.key + ": given more than once");
    *slot = param.value;
  }
  if (!task_id) return invalid_request("task_id: required (GET /tasks/status?task_id=ID)");
  if (!queue::valid_task_id(*task_id)) return invalid_request(task_id_rule);
  out.task_id = std::move(*task_id);
  if (wait) {
    out.wait = parse_wait(*wait, max_wait);
    if (!out.wait) {
      return invalid_request("wait: must be a number of seconds greater than 0 and at most "
                             + seconds_text(max_wait) + ", such as 2 or 0.5");
    }
  }
  return std::nullopt;
}

// What a held reply watches: it is answered once either differs from when the request came.
struct task_state {
  queue::task_status status;
  std::uint64_t processed;

  explicit task_state(const queue::task_record& t) : status(t.status), processed(t.processed) {}
  bool operator==(const task_state&) const = default;
};

asio::awaitable<http::response> get_status(const route_context& c, const http::request& req) {
  http::response refusal;
  const auto account = authenticate(c.tokens, req, nullptr, refusal, access::read);
  if (!account) co_return refusal;
  status_query q;
  if (auto bad = read_status_query(req, c.cfg.max_wait, q)) co_return std::move(*bad);

  auto task = co_await c.store.get(q.task_id, *account);
  if (!task) co_return task_not_found();
  // A finished task will not change: answer it at once, whatever the wait.
  if (q.wait && !queue::is_final(task->status)) {
    const task_state initial(*task);
    const auto deadline = clock_type::now() + *q.wait;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      if (c.cfg.draining && c.cfg.draining()) break;
      const auto now = clock_type::now();
      if (now >= deadline) break;
      timer.expires_after(std::min<clock_type::duration>(c.cfg.poll_interval, deadline - now));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      task = co_await c.store.get(q.task_id, *account);
      if (!task) co_return task_not_found();  // expired or removed meanwhile
      if (task_state(*task) != initial) break;
    }
  }
  co_return co_await status_reply(c, *task);
}

asio::awaitable<http::response> post_cancel(const route_context& c, const http::request& req) {
  task_request r;
  if (auto refusal = read_task_request(req, c.tokens, access::change, r))
    co_return std::move(*refusal);
  const auto status = co_await c.store.cancel(r.task_id, r.account);
  if (!status) co_return task_not_found();
  co_return ok_reply("{\"status\": " + http::json_quote(queue::to_string(*status)) + "}");
}

// The fields of a tasks/items body; another is refused, named, rather than ignored.
constexpr std::string_view items_fields[] = {"token", "format", "task_id", "offset", "limit"};

std::optional<http::response> check_items_fields(simdjson::dom::object body) {
  for (auto [key, value] : body) {
    if (std::find(std::begin(items_fields), std::end(items_fields), key)
        == std::end(items_fields)) {
      return invalid_request(std::string(key)
                             + ": unknown field; tasks/items takes token, format, task_id, "
                               "offset and limit");
    }
  }
  simdjson::dom::element format;
  if (body["format"].get(format) == simdjson::SUCCESS && !format.is_null()) {
    std::string_view text;
    if (format.get(text) != simdjson::SUCCESS || (text != "json" && text != "xml")) {
      return invalid_request("format: must be \"json\" or \"xml\"");
    }
  }
  return std::nullopt;
}

asio::awaitable<http::response> post_items(const route_context& c, const http::request& req) {
  task_request r;
  if (auto refusal = read_task_request(req, c.tokens, access::read, r))
    co_return std::move(*refusal);
  if (auto bad = check_items_fields(r.body.object())) co_return std::move(*bad);
  std::uint64_t offset = 0, limit = 0;
  constexpr auto max_offset = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (auto bad = read_integer(r.body.object(), "offset", 0, 0, max_offset, offset)) {
    co_return std::move(*bad);
  }
  if (auto bad = read_integer(r.body.object(), "limit", c.cfg.default_items_limit, 1,
                              c.cfg.max_items_limit, limit)) {
    co_return std::move(*bad);
  }
  const auto task = co_await c.store.get(r.task_id, r.account);
  if (!task) co_return task_not_found();
  const auto items = co_await c.store.items(r.task_id, offset, limit);
  std::string data = "{\"items\": [";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) data += ", ";
    data += items[i].to_json();
  }
  data += "], \"offset\": " + std::to_string(offset) + ", \"limit\": " + std::to_string(limit)
          + ", \"total\": " + std::to_string(task->total) + "}";
  co_return ok_reply(data);
}

// The fields of a tasks/list body (and the parameters of its GET form, token aside).
constexpr std::string_view list_fields[] = {"token",        "format",     "status", "type",
                                            "created_from", "created_to", "offset", "limit"};

constexpr std::string_view status_rule =
    "must be one of queued, processing, completed, failed, cancelled";
constexpr std::string_view time_rule =
    "must be an ISO-8601 time such as \"2026-11-23T05:00:00Z\", or milliseconds since the epoch";

// A job type as a filter: what a handler may be registered as.
bool valid_type_name(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

// A filter of names: a string (several comma-separated) or an array of strings; each one
// checked by `add`, which returns false for a bad one. The 400 names the field, and the
// array's index.
template <class Add>
std::optional<http::response> read_names(simdjson::dom::object body, std::string_view name,
                                         std::string_view rule, Add add) {
  simdjson::dom::element field;
  if (body[name].get(field) != simdjson::SUCCESS || field.is_null()) return std::nullopt;
  // Whether `text` held at least one name and `add` took each.
  auto add_list = [&](std::string_view text) {
    bool any = false;
    for (std::size_t from = 0; from <= text.size();) {
      auto comma = std::min(text.find(',', from), text.size());
      auto part = text.substr(from, comma - from);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (!part.empty()) {
        if (!add(part)) return false;
        any = true;
      }
      from = comma + 1;
    }
    return any;
  };
  std::string_view text;
  if (field.get(text) == simdjson::SUCCESS) {
    if (!add_list(text)) return invalid_request(std::string(name) + ": " + std::string(rule));
    return std::nullopt;
  }
  simdjson::dom::array list;
  if (field.get(list) != simdjson::SUCCESS)
    return invalid_request(std::string(name) + ": must be a string or an array of strings");
  std::size_t i = 0;
  for (auto item : list) {
    const auto where = std::string(name) + "[" + std::to_string(i++) + "]";
    if (item.get(text) != simdjson::SUCCESS) return invalid_request(where + ": must be a string");
    if (!add_list(text)) return invalid_request(where + ": " + std::string(rule));
  }
  return std::nullopt;
}

// created_from / created_to: milliseconds since the epoch (a number, or digits in a string) or
// an ISO-8601 string.
std::optional<http::response> read_time(simdjson::dom::object body, std::string_view name,
                                        std::optional<std::int64_t>& out) {
  simdjson::dom::element field;
  if (body[name].get(field) != simdjson::SUCCESS || field.is_null()) return std::nullopt;
  std::int64_t ms = 0;
  std::string_view text;
  if (field.get(ms) == simdjson::SUCCESS && ms >= 0) {
    out = ms;
  } else if (field.get(text) == simdjson::SUCCESS) {
    out = parse_timestamp(text);
  }
  if (!out) return invalid_request(std::string(name) + ": " + std::string(time_rule));
  return std::nullopt;
}

// A tasks/list body (POST) or its query's equivalent (GET) as the store's listing request.
std::optional<http::response> read_list_request(simdjson::dom::object body,
                                                const task_routes_config& cfg,
                                                queue::task_list_request& out) {
  for (auto [key, value] : body) {
    if (std::find(std::begin(list_fields), std::end(list_fields), key) == std::end(list_fields)) {
      return invalid_request(std::string(key)
                             + ": unknown field; tasks/list takes token, format, status, type, "
                               "created_from, created_to, offset and limit");
    }
  }
  simdjson::dom::element format;
  if (body["format"].get(format) == simdjson::SUCCESS && !format.is_null()) {
    std::string_view text;
    if (format.get(text) != simdjson::SUCCESS || text != "json") {
      return invalid_request("format: only \"json\" is supported");
    }
  }
  auto& f = out.filter;
  if (auto bad = read_names(body, "status", status_rule, [&](std::string_view s) {
        auto status = queue::parse_task_status(s);
        if (status && std::find(f.statuses.begin(), f.statuses.end(), *status) == f.statuses.end())
          f.statuses.push_back(*status);
        return status.has_value();
      }))
    return bad;
  if (auto bad = read_names(body, "type",
                            "must be a job type such as import_and_start, start, send or noop",
                            [&](std::string_view t) {
                              if (!valid_type_name(t)) return false;
                              f.types.emplace_back(t);
                              return true;
                            }))
    return bad;
  if (auto bad = read_time(body, "created_from", f.created_from)) return bad;
  if (auto bad = read_time(body, "created_to", f.created_to)) return bad;
  if (f.created_from && f.created_to && *f.created_to < *f.created_from)
    return invalid_request("created_to: earlier than created_from");
  constexpr auto max_offset = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (auto bad = read_integer(body, "offset", 0, 0, max_offset, out.offset)) return bad;
  if (auto bad =
          read_integer(body, "limit", cfg.default_list_limit, 1, cfg.max_list_limit, out.limit))
    return bad;
  out.max_scan = cfg.max_list_scan;
  out.count_total = true;
  return std::nullopt;
}

asio::awaitable<http::response> list_reply(const route_context& c, const std::string& account,
                                           queue::task_list_request request) {
  const auto offset = request.offset, limit = request.limit;
  const auto page = co_await c.store.list(account, std::move(request));
  std::string data = "{\"tasks\": [";
  for (std::size_t i = 0; i < page.tasks.size(); ++i) {
    if (i != 0) data += ", ";
    data += queue::task_status_json(page.tasks[i], nullptr);
  }
  data += "], \"offset\": " + std::to_string(offset) + ", \"limit\": " + std::to_string(limit)
          + ", \"total\": " + std::to_string(page.total)
          + ", \"total_exact\": " + (page.total_exact ? "true" : "false") + "}";
  co_return ok_reply(data);
}

asio::awaitable<http::response> post_list(const route_context& c, const http::request& req) {
  json_body body;
  if (auto refusal = body.parse(req.body())) co_return std::move(*refusal);
  http::response refusal;
  auto account = authenticate(c.tokens, req, &body, refusal, access::read);
  if (!account) co_return refusal;
  queue::task_list_request request;
  if (auto bad = read_list_request(body.object(), c.cfg, request)) co_return std::move(*bad);
  co_return co_await list_reply(c, *account, std::move(request));
}

// GET /api/v1.1/tasks/list?status=processing&limit=20: the query read as the POST body would
// be (a value of digits as a number), so both forms take and refuse the same.
std::optional<http::response> query_as_json(const http::request& req, std::string& out) {
  const auto target =
      boost::urls::parse_uri_reference(std::string_view(req.target().data(), req.target().size()));
  if (!target) return invalid_request("target: not a valid request target");
  std::vector<std::string> seen;
  out = "{";
  for (const auto& param : target->params()) {
    if (param.key == "token")
      return invalid_request(
          "token: not taken in a query string (where logs keep it); send Authorization: Bearer");
    if (std::find(seen.begin(), seen.end(), param.key) != seen.end())
      return invalid_request(param.key + ": given more than once");
    seen.push_back(param.key);
    if (out.size() > 1) out += ", ";
    out += http::json_quote(param.key) + ": ";
    const bool digits = !param.value.empty() && param.value.size() <= 18
                        && param.value.find_first_not_of("0123456789") == std::string::npos;
    out += digits ? param.value : http::json_quote(param.value);
  }
  out += "}";
  return std::nullopt;
}

asio::awaitable<http::response> get_list(const route_context& c, const http::request& req) {
  http::response refusal;
  const auto account = authenticate(c.tokens, req, nullptr, refusal, access::read);
  if (!account) co_return refusal;
  std::string query;
  if (auto bad = query_as_json(req, query)) co_return std::move(*bad);
  json_body body;
  if (auto refusal = body.parse(query)) co_return std::move(*refusal);
  queue::task_list_request request;
  if (auto bad = read_list_request(body.object(), c.cfg, request)) co_return std::move(*bad);
  co_return co_await list_reply(c, *account, std::move(request));
}

using route_body = asio::awaitable<http::response> (*)(const route_context&, const http::request&);

// The route's handler: `body`, with a Redis failure answered 503 instead of 500.
http::route_handler handler(std::shared_ptr<const route_context> c, std::string_view route,
                            route_body body) {
  return answering_redis_failures(
      std::string(route),
      [c = std::move(c), body](const http::request& req) { return body(*c, req); });
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_wait(std::string_view text,
                                                    std::chrono::milliseconds max_wait) {
  if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  double seconds = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), seconds, std::chars_format::fixed);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(seconds)) {
    return std::nullopt;
  }
  if (seconds <= 0 || seconds * 1000 > static_cast<double>(max_wait.count())) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000)));
}

void add_task_routes(http::router& routes, queue::task_store& store,
                     const auth::token_table& tokens, task_routes_config cfg) {
  const auto c =
      std::make_shared<const route_context>(route_context{store, tokens, std::move(cfg)});
  // The Altcraft-style POST routes speak XML too (format: xml, or an XML body).
  routes.add(bhttp::verb::post, "/api/v1.1/tasks/status",
             speaking_xml(handler(c, "POST /api/v1.1/tasks/status", post_status)));
  routes.add(bhttp::verb::get, "/tasks/status", handler(c, "GET /tasks/status", get_status));
  routes.add(bhttp::verb::post, "/api/v1.1/tasks/cancel",
             speaking_xml(handler(c, "POST /api/v1.1/tasks/cancel", post_cancel)));
  routes.add(bhttp::verb::post, "/api/v1.1/tasks/items",
             speaking_xml(handler(c, "POST /api/v1.1/tasks/items", post_items)));
  routes.add(bhttp::verb::post, "/api/v1.1/tasks/list",
             handler(c, "POST /api/v1.1/tasks/list", post_list));
  routes.add(bhttp::verb::get, "/api/v1.1/tasks/list",
             handler(c, "GET /api/v1.1/tasks/list", get_list));
}

}  // namespace herald::api
