#include "herald/api/trigger_routes.hpp"

#include <charconv>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include <simdjson.h>
#include <boost/asio/awaitable.hpp>

#include "herald/api/replies.hpp"
#include "herald/api/request.hpp"

namespace herald::api {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

struct route_context {
  triggers::trigger_store& store;
  const auth::token_table& tokens;
  trigger_routes_config cfg;
};

// An unknown trigger and another account's get this same reply, byte for byte.
http::response trigger_not_found() {
  return http::error_reply(bhttp::status::not_found, 404, "Trigger not found",
                           "id: no such trigger");
}

// The body and the token's account, with only `fields` (and token, format) allowed.
struct trigger_request {
  json_body body;
  std::string account;
};

std::optional<http::response> read_request(const http::request& req,
                                           const auth::token_table& tokens,
                                           std::initializer_list<std::string_view> fields,
                                           std::string_view route, trigger_request& out) {
  if (auto refusal = out.body.parse(req.body())) return refusal;
  http::response refusal;
  const auto need = route == "get" || route == "list" ? access::read : access::change;
  auto account = authenticate(tokens, req, &out.body, refusal, need);
  if (!account) return refusal;
  out.account = std::move(*account);
  for (auto [key, value] : out.body.object()) {
    (void)value;
    if (key == "token" || key == "format") continue;
    bool known = false;
    for (auto f : fields) known = known || f == key;
    if (known) continue;
    std::string takes = "token";
    for (auto f : fields) takes += ", " + std::string(f);
    return invalid_request(std::string(key) + ": unknown field; triggers/" + std::string(route)
                           + " takes " + takes);
  }
  std::string_view format;
  if (out.body.object()["format"].get(format) == simdjson::SUCCESS && format != "json")
    return invalid_request("format: only \"json\" is supported (XML replies are not served)");
  return std::nullopt;
}

// `id` (a positive integer, or its digits as a string) into `out`.
std::optional<http::response> read_id(simdjson::dom::object body, std::string_view name,
                                      bool required, std::uint64_t& out) {
  simdjson::dom::element e;
  if (body[name].get(e) != simdjson::SUCCESS || e.is_null()) {
    if (required) return invalid_request(std::string(name) + ": required");
    out = 0;
    return std::nullopt;
  }
  std::string_view s;
  std::uint64_t v = 0;
  bool ok = false;
  if (e.get(s) == simdjson::SUCCESS) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    ok = ec == std::errc() && p == s.data() + s.size() && !s.empty();
  } else {
    ok = e.get(v) == simdjson::SUCCESS;
  }
  if (!ok || v == 0 || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return invalid_request(std::string(name) + ": must be a positive integer");
  out = v;
  return std::nullopt;
}

// The body's `trigger`, parsed and validated against the providers configured now.
std::optional<http::response> read_trigger(const route_context& c, simdjson::dom::object body,
                                           triggers::trigger& out) {
  simdjson::dom::element e;
  if (body["trigger"].get(e) != simdjson::SUCCESS || e.is_null())
    return invalid_request("trigger: required (the trigger's definition, an object)");
  auto parsed = triggers::parse_trigger(e);
  if (!parsed.value) {
    auto& err = *parsed.error;
    return invalid_request(err.field.empty() ? "trigger: " + err.reason : err.text());
  }
  const auto providers = c.cfg.providers ? c.cfg.providers() : triggers::provider_kinds{};
  if (auto err = triggers::validate(*parsed.value, providers)) return invalid_request(err->text());
  out = std::move(*parsed.value);
  return std::nullopt;
}

asio::awaitable<http::response> post_save(const route_context& c, const http::request& req,
                                          bool add) {
  trigger_request r;
  if (auto refusal = read_request(req, c.tokens, {"trigger"}, add ? "add" : "update", r))
    co_return std::move(*refusal);
  triggers::trigger t;
  if (auto bad = read_trigger(c, r.body.object(), t)) co_return std::move(*bad);
  triggers::save_result saved;
  if (add)
    saved = co_await c.store.add(r.account, t);
  else
    saved = co_await c.store.update(r.account, t);
  if (saved.outcome == triggers::save_outcome::exists) {
    co_return http::error_reply(
        bhttp::status::conflict, 409, "Trigger exists",
        "id: trigger " + std::to_string(t.id) + " exists; triggers/update changes it");
  }
  if (saved.outcome == triggers::save_outcome::not_found) co_return trigger_not_found();
  if (saved.outcome == triggers::save_outcome::full) {
    co_return http::error_reply(bhttp::status::conflict, 409, "Too many triggers",
                                "id: the account has as many triggers as it may have; delete "
                                "one first");
  }
  auto stored = co_await c.store.get_version(r.account, t.id, saved.version);
  if (!stored) co_return trigger_not_found();  // deleted in between
  co_return ok_reply("trigger", stored->to_api_json());
}

asio::awaitable<http::response> post_get(const route_context& c, const http::request& req) {
  trigger_request r;
  if (auto refusal = read_request(req, c.tokens, {"id", "version"}, "get", r))
    co_return std::move(*refusal);
  std::uint64_t id = 0, version = 0;
  if (auto bad = read_id(r.body.object(), "id", true, id)) co_return std::move(*bad);
  if (auto bad = read_id(r.body.object(), "version", false, version)) co_return std::move(*bad);
  std::optional<triggers::stored_trigger> stored;
  if (version == 0)
    stored = co_await c.store.get(r.account, id);
  else
    stored = co_await c.store.get_version(r.account, id, version);
  // A deleted trigger's versions stay for the tasks running them, not for the API.
  if (!stored || stored->deleted) co_return trigger_not_found();
  co_return ok_reply("trigger", stored->to_api_json());
}

asio::awaitable<http::response> post_list(const route_context& c, const http::request& req) {
  trigger_request r;
  if (auto refusal = read_request(req, c.tokens, {}, "list", r)) co_return std::move(*refusal);
  auto all = co_await c.store.list(r.account);
  std::string json = "[";
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i > 0) json += ", ";
    json += all[i].to_api_json();
  }
  json += ']';
  co_return ok_reply("triggers", json);
}

asio::awaitable<http::response> post_delete(const route_context& c, const http::request& req) {
  trigger_request r;
  if (auto refusal = read_request(req, c.tokens, {"id"}, "delete", r))
    co_return std::move(*refusal);
  std::uint64_t id = 0;
  if (auto bad = read_id(r.body.object(), "id", true, id)) co_return std::move(*bad);
  if (!co_await c.store.remove(r.account, id)) co_return trigger_not_found();
  co_return ok_reply("trigger", "{\"id\": " + std::to_string(id) + ", \"deleted\": true}");
}

}  // namespace

void add_trigger_routes(http::router& routes, triggers::trigger_store& store,
                        const auth::token_table& tokens, trigger_routes_config cfg) {
  const auto c =
      std::make_shared<const route_context>(route_context{store, tokens, std::move(cfg)});
  auto add = [&](const char* path, http::route_handler h) {
    routes.add(bhttp::verb::post, path,
               answering_redis_failures(std::string("POST ") + path, std::move(h)));
  };
  add("/api/v1.1/campaigns/triggers/add",
      [c](const http::request& req) { return post_save(*c, req, true); });
  add("/api/v1.1/campaigns/triggers/update",
      [c](const http::request& req) { return post_save(*c, req, false); });
  add("/api/v1.1/campaigns/triggers/get",
      [c](const http::request& req) { return post_get(*c, req); });
  add("/api/v1.1/campaigns/triggers/list",
      [c](const http::request& req) { return post_list(*c, req); });
  add("/api/v1.1/campaigns/triggers/delete",
      [c](const http::request& req) { return post_delete(*c, req); });
}

}  // namespace herald::api
