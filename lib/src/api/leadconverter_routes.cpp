#include "herald/api/leadconverter_routes.hpp"

#include <simdjson.h>

#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/string.hpp>

#include "herald/api/replies.hpp"
#include "herald/api/request.hpp"
#include "herald/common/json.hpp"
#include "herald/common/json_keys.hpp"
#include "herald/delivery/provider_config.hpp"
#include "herald/providers/message.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/redis/error.hpp"

namespace herald::api {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace dom = simdjson::dom;

constexpr std::string_view send_path = "/api/v1/{token}/broadcasting.sendMessageBatch";
constexpr std::string_view bot_path = "/api/v1/{token}/bot.startWithVariables";

// The fields each route and item takes (arrays here: GCC 12 cannot keep an initializer_list in a
// coroutine frame).
constexpr std::array<std::string_view, 1> send_fields{"batch"};
constexpr std::array<std::string_view, 3> item_fields{"subscriber_id", "text", "file_uuid"};
constexpr std::array<std::string_view, 6> bot_fields{"bot_id",     "subscriber_id", "user_id",
                                                     "channel_id", "variable",      "forced"};

// A refusal in both dialects: LeadConverter's {"result": "error", "code", "message"} and Herald's
// envelope, with the same text in message and error_debug.
http::response lc_error(bhttp::status status, int error, std::string_view error_text,
                        std::string_view code, std::string_view debug) {
  std::string body = R"({"result": "error", "code": )";
  body += json_quote(code);
  body += R"(, "message": )";
  body += json_quote(debug);
  body += R"(, "error": )";
  body += std::to_string(error);
  body += R"(, "error_debug": )";
  body += json_quote(debug);
  body += R"(, "error_text": )";
  body += json_quote(error_text);
  body += '}';
  return http::json_reply(status, std::move(body));
}

http::response bad_request(std::string_view debug, std::string_view code = "invalid_request") {
  return lc_error(bhttp::status::bad_request, 400, "Invalid request", code, debug);
}

http::response bad_token(std::string_view debug) {
  auto res = lc_error(bhttp::status::unauthorized, 401, "Unauthorized", "invalid_token", debug);
  res.set(bhttp::field::www_authenticate, "Bearer");
  return res;
}

http::response unavailable(std::string_view code, std::string_view debug, bool retry) {
  auto res = lc_error(bhttp::status::service_unavailable, 503, "Service unavailable", code, debug);
  if (retry) res.set(bhttp::field::retry_after, "1");
  return res;
}

http::response accepted(const std::string& task_id) {
  std::string body = R"({"result": "ok", "error": 0, "error_text": "Successful operation", )"
                     R"("task_id": )";
  body += json_quote(task_id);
  body += '}';
  return http::json_reply(bhttp::status::ok, std::move(body));
}

// The account of the token in the path of `target` (a route `pattern`), or the refusal (401, or
// 403 for a read-only token).
std::optional<std::string> path_account(const auth::token_table& tokens, std::string_view pattern,
                                        std::string_view target, http::response& refusal) {
  auto params = http::path_params(pattern, target);
  std::optional<std::string> token;
  if (params) {
    if (auto it = params->find("token"); it != params->end())
      token = percent_decode(it->second, false);
  }
  if (!params) {
    refusal = bad_token("token: required, as the path's segment after /api/v1/");
    return std::nullopt;
  }
  // A segment that does not decode is no one's token.
  auto grant = token ? tokens.grant_for(*token) : std::nullopt;
  if (!grant) {
    refusal = bad_token("token: not a valid API token");
    return std::nullopt;
  }
  if (grant->read_only) {  // both routes send
    refusal = lc_error(bhttp::status::forbidden, 403, "Forbidden", "read_only_token",
                       "token: a read-only token; this route sends messages");
    return std::nullopt;
  }
  return std::move(grant->account);
}

// What a request carries: its query string and its body as one JSON object.
struct request_params {
  dom::parser parser;
  dom::object root;
};

std::string_view query_of(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  auto query = target.substr(q + 1);
  return query.substr(0, query.find('#'));
}

std::string media_type(const http::request& req) {
  std::string_view ct(req[bhttp::field::content_type].data(),
                      req[bhttp::field::content_type].size());
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) ct.remove_suffix(1);
  while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) ct.remove_prefix(1);
  std::string out(ct);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The parameters of `req` from its query string and its body: a JSON object (application/json,
// or a body starting with '{' sent without a type) or a form (application/x-www-form-urlencoded,
// or untyped). A key in both the query string and the body is refused.
std::optional<http::response> read_params(const http::request& req, const form_limits& limits,
                                          request_params& out) {
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view body = req.body();
  const bool has_body = body.find_first_not_of(" \t\r\n") != std::string_view::npos;
  const auto type = media_type(req);
  const bool json = type == "application/json"
                    || (type.empty() && has_body && body[body.find_first_not_of(" \t\r\n")] == '{');
  if (has_body && !json && !type.empty() && type != "application/x-www-form-urlencoded") {
    return lc_error(bhttp::status::unsupported_media_type, 415, "Unsupported media type",
                    "unsupported_media_type",
                    "Content-Type: \"" + type.substr(0, 80)
                        + "\" is not taken; send application/json or "
                          "application/x-www-form-urlencoded (or the parameters in the query "
                          "string)");
  }
  std::string text;
  if (json && has_body) {
    auto query = parse_form_params(query_of(target), limits);
    if (query.error) return bad_request(query.error->text());
    dom::element root;
    if (auto err = out.parser.parse(body.data(), body.size()).get(root))
      return bad_request(std::string("body: not valid JSON (") + simdjson::error_message(err)
                         + ")");
    if (!root.is_object()) return bad_request("body: expected a JSON object");
    if (auto dup = duplicate_key(root)) return bad_request(duplicate_key_message("", *dup));
    if (query.json == "{}") {
      out.root = dom::object(root);
      return std::nullopt;
    }
    // The query string's keys beside the body's, each given once.
    dom::parser query_parser;
    dom::object query_root;
    if (query_parser.parse(query.json).get(query_root))
      return bad_request("query: cannot be read");  // not reachable: the parser wrote it
    text = "{";
    for (auto [k, v] : dom::object(root)) {
      if (text.size() > 1) text += ',';
      text += json_quote(k) + ":" + simdjson::minify(v);
    }
    for (auto [k, v] : query_root) {
      if (dom::object(root)[k].error() == simdjson::SUCCESS)
        return bad_request(std::string(k) + ": given both in the query string and the body");
      if (text.size() > 1) text += ',';
      text += json_quote(k) + ":" + simdjson::minify(v);
    }
    text += '}';
  } else {
    std::string form(query_of(target));
    if (has_body) {
      if (!form.empty()) form += '&';
      form += body;
    }
    auto parsed = parse_form_params(form, limits);
    if (parsed.error) return bad_request(parsed.error->text());
    text = std::move(parsed.json);
  }
  dom::element root;
  if (out.parser.parse(text).get(root) || root.get(out.root))
    return bad_request("body: cannot be read");  // not reachable: written above
  return std::nullopt;
}

// An identifier given as a JSON integer or a string of digits (`integer`), or any non-empty
// string: its text; nothing when absent; a refusal naming `field` when malformed.
std::optional<http::response> read_id(dom::object o, std::string_view name,
                                      const std::string& field, bool integer,
                                      std::optional<std::string>& out) {
  dom::element e;
  out.reset();
  if (o[name].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  const std::string rule = integer ? "must be an integer" : "must be a string or an integer";
  if (e.is_int64() || e.is_uint64()) {
    if (e.is_int64() && std::int64_t(e) < 0)
      return bad_request(field + ": " + rule + ", at least 0");
    out = e.is_int64() ? std::to_string(std::int64_t(e)) : std::to_string(std::uint64_t(e));
  } else if (e.is_string()) {
    std::string s{std::string_view(e)};
    if (s.empty()) return bad_request(field + ": must not be empty");
    if (integer && s.find_first_not_of("0123456789") != std::string::npos)
      return bad_request(field + ": " + rule + ", not \"" + s.substr(0, 40) + "\"");
    out = std::move(s);
  } else {
    return bad_request(field + ": " + rule);
  }
  if (integer) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(out->data(), out->data() + out->size(), v);
    if (ec != std::errc() || p != out->data() + out->size())
      return bad_request(field + ": " + rule + " of at most 19 digits");
    *out = std::to_string(v);  // no leading zeros
  }
  return std::nullopt;
}

std::optional<http::response> read_text(dom::object o, std::string_view name,
                                        const std::string& field, std::optional<std::string>& out) {
  dom::element e;
  out.reset();
  if (o[name].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  if (!e.is_string()) return bad_request(field + ": must be a string");
  out = std::string(std::string_view(e));
  return std::nullopt;
}

// Only `known` keys in `o`; else the refusal naming the first other one.
std::optional<http::response> only_fields(dom::object o, const std::string& prefix,
                                          std::span<const std::string_view> known,
                                          std::string_view what) {
  for (auto [k, v] : o) {
    (void)v;
    bool ok = false;
    for (auto f : known) ok = ok || f == k;
    if (!ok) return bad_request(prefix + std::string(k) + ": unknown field; " + std::string(what));
  }
  return std::nullopt;
}

// parse_send_item's verdict on a message the route built: what the job will accept. Its field
// names (`messages[3].text`) are given as the request names them (`batch[3].text`).
std::optional<http::response> check_item(delivery::provider_kind kind, const std::string& json,
                                         std::size_t index, std::string_view request_prefix) {
  try {
    (void)providers::parse_send_item(kind, json, index);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    const std::string job_prefix = "messages[" + std::to_string(index) + "]";
    if (what.starts_with(job_prefix)) {
      what = std::string(request_prefix) + what.substr(job_prefix.size());
      if (what.starts_with('.')) what.erase(0, 1);
    }
    return bad_request(what);
  }
  return std::nullopt;
}

struct route_context {
  queue::task_store& store;
  const auth::token_table& tokens;
  leadconverter_routes_config cfg;
};

// Enqueues the `send` job {provider, messages} for `account` and answers with its task.
asio::awaitable<http::response> enqueue_send(const route_context& c, const http::request& req,
                                             const std::string& account,
                                             const std::string& provider,
                                             const std::vector<std::string>& messages) {
  // As the other enqueue routes take it (proto/http-api.md); a repeat answers the first call's
  // task with Idempotent-Replayed: true.
  std::string key;
  if (auto bad = read_idempotency_key(req, key)) co_return bad_request(*bad);
  queue::new_job job;
  job.type = "send";
  job.account = account;
  job.body = R"({"provider": )" + json_quote(provider) + R"(, "messages": [)";
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (i > 0) job.body += ", ";
    job.body += messages[i];
  }
  job.body += "]}";
  job.total = messages.size();
  job.idempotency_key = std::move(key);
  queue::enqueued done;
  try {
    done = co_await c.store.enqueue(std::move(job));
  } catch (const std::invalid_argument& e) {
    co_return bad_request(e.what());
  }
  auto res = accepted(done.task_id);
  if (!done.created) res.set("Idempotent-Replayed", "true");
  co_return res;
}

asio::awaitable<http::response> post_send(const route_context& c, const http::request& req) {
  http::response refusal;
  auto account =
      path_account(c.tokens, send_path, {req.target().data(), req.target().size()}, refusal);
  if (!account) co_return refusal;
  if (c.cfg.send_provider.empty())
    co_return unavailable("not_configured",
                          "broadcasting.sendMessageBatch: no provider is configured for this "
                          "route; set api_send_provider to a leadconverter_messages provider",
                          false);
  request_params params;
  if (auto bad = read_params(req, c.cfg.form, params)) co_return std::move(*bad);
  if (auto bad = only_fields(params.root, "", send_fields,
                             "sendMessageBatch takes batch: [{subscriber_id, text?, file_uuid?}]"))
    co_return std::move(*bad);
  dom::element batch_element;
  if (params.root["batch"].get(batch_element) != simdjson::SUCCESS || batch_element.is_null())
    co_return bad_request("batch: required: a list of {subscriber_id, text?, file_uuid?}");
  dom::array batch;
  if (batch_element.get(batch) != simdjson::SUCCESS)
    co_return bad_request(
        "batch: must be a list of items (batch[0][subscriber_id]=... in a query string)");
  if (batch.size() == 0)
    co_return bad_request("batch: empty; give 1 to " + std::to_string(c.cfg.max_batch_items)
                          + " items");
  if (batch.size() > c.cfg.max_batch_items)
    co_return bad_request("batch: at most " + std::to_string(c.cfg.max_batch_items)
                              + " items a sendMessageBatch, got " + std::to_string(batch.size()),
                          "batch_too_large");
  std::vector<std::string> messages;
  messages.reserve(batch.size());
  std::size_t index = 0;
  for (dom::element e : batch) {
    const std::string prefix = "batch[" + std::to_string(index) + "]";
    dom::object item;
    if (e.get(item) != simdjson::SUCCESS)
      co_return bad_request(prefix + ": must be an object {subscriber_id, text?, file_uuid?}");
    if (auto bad = only_fields(item, prefix + ".", item_fields,
                               "an item takes subscriber_id, text and file_uuid"))
      co_return std::move(*bad);
    std::optional<std::string> subscriber, text, file;
    if (auto bad = read_id(item, "subscriber_id", prefix + ".subscriber_id", true, subscriber))
      co_return std::move(*bad);
    if (!subscriber) co_return bad_request(prefix + ".subscriber_id: required");
    if (auto bad = read_text(item, "text", prefix + ".text", text)) co_return std::move(*bad);
    if (auto bad = read_text(item, "file_uuid", prefix + ".file_uuid", file))
      co_return std::move(*bad);
    if ((!text || text->empty()) && (!file || file->empty()))
      co_return bad_request(prefix + ".text: required unless file_uuid is given");
    std::string m = R"({"subscriber_id": )" + *subscriber;
    if (text) m += R"(, "text": )" + json_quote(*text);
    if (file) m += R"(, "file_uuid": )" + json_quote(*file);
    m += '}';
    if (auto bad = check_item(delivery::provider_kind::leadconverter_messages, m, index, prefix))
      co_return std::move(*bad);
    messages.push_back(std::move(m));
    ++index;
  }
  co_return co_await enqueue_send(c, req, *account, c.cfg.send_provider, messages);
}

// `forced`: a JSON boolean, or true/false/1/0 as a string (a form's).
std::optional<http::response> read_forced(dom::object o, bool& out) {
  dom::element e;
  out = false;
  if (o["forced"].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  if (e.is_bool()) {
    out = bool(e);
    return std::nullopt;
  }
  std::string_view s;
  if (e.get(s) == simdjson::SUCCESS) {
    if (s == "true" || s == "1") {
      out = true;
      return std::nullopt;
    }
    if (s == "false" || s == "0" || s.empty()) return std::nullopt;
  }
  return bad_request("forced: must be true or false");
}

asio::awaitable<http::response> post_bot(const route_context& c, const http::request& req) {
  http::response refusal;
  auto account =
      path_account(c.tokens, bot_path, {req.target().data(), req.target().size()}, refusal);
  if (!account) co_return refusal;
  if (c.cfg.bot_provider.empty())
    co_return unavailable("not_configured",
                          "bot.startWithVariables: no provider is configured for this route; set "
                          "api_bot_provider to a leadconverter_bot provider",
                          false);
  request_params params;
  if (auto bad = read_params(req, c.cfg.form, params)) co_return std::move(*bad);
  const auto& o = params.root;
  if (auto bad = only_fields(o, "", bot_fields,
                             "bot.startWithVariables takes bot_id, subscriber_id or user_id and "
                             "channel_id, variable[NAME] and forced"))
    co_return std::move(*bad);
  std::optional<std::string> bot, subscriber, user, channel;
  if (auto bad = read_id(o, "bot_id", "bot_id", false, bot)) co_return std::move(*bad);
  if (!bot) co_return bad_request("bot_id: required: the bot to start");
  if (auto bad = read_id(o, "subscriber_id", "subscriber_id", true, subscriber))
    co_return std::move(*bad);
  if (auto bad = read_id(o, "user_id", "user_id", false, user)) co_return std::move(*bad);
  if (auto bad = read_id(o, "channel_id", "channel_id", false, channel)) co_return std::move(*bad);
  if (subscriber && (user || channel))
    co_return bad_request(std::string(user ? "user_id" : "channel_id")
                          + ": give subscriber_id, or user_id and channel_id, not both");
  if (!subscriber && !user && !channel)
    co_return bad_request("subscriber_id: required (or user_id and channel_id)");
  if (!subscriber && !channel) co_return bad_request("channel_id: required with user_id");
  if (!subscriber && !user) co_return bad_request("user_id: required with channel_id");
  bool forced = false;
  if (auto bad = read_forced(o, forced)) co_return std::move(*bad);
  std::string m = "{";
  if (subscriber) {
    m += R"("subscriber_id": )" + *subscriber;
  } else {
    m += R"("user_id": )" + json_quote(*user) + R"(, "channel_id": )" + json_quote(*channel);
  }
  m += R"(, "bot_id": )" + json_quote(*bot);
  dom::element vars;
  if (o["variable"].get(vars) == simdjson::SUCCESS && !vars.is_null()) {
    dom::object named;
    if (vars.get(named) != simdjson::SUCCESS)
      co_return bad_request("variable: must be named values: variable[NAME]=VALUE");
    m += R"(, "variables": {)";
    bool first = true;
    for (auto [k, v] : named) {
      const std::string field = "variable[" + std::string(k) + "]";
      if (k.empty()) co_return bad_request("variable[]: a variable needs a name");
      std::string value;
      if (v.is_string())
        value = json_quote(std::string_view(v));
      else if (v.is_int64() || v.is_uint64() || v.is_double() || v.is_bool())
        value = simdjson::minify(v);
      else
        co_return bad_request(field + ": must be a string, a number or a boolean");
      if (!first) m += ", ";
      first = false;
      m += json_quote(k) + ": " + value;
    }
    m += '}';
  }
  m += std::string(R"(, "forced": )") + (forced ? "true" : "false") + "}";
  try {
    (void)providers::parse_send_item(delivery::provider_kind::leadconverter_bot, m, 0);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    if (what.starts_with("messages[0].variables.")) {
      const auto rest = what.substr(22);
      const auto colon = rest.find(':');
      what = "variable[" + rest.substr(0, colon) + "]" + rest.substr(colon);
    } else if (what.starts_with("messages[0].")) {
      what = what.substr(12);
    }
    co_return bad_request(what);
  }
  std::vector<std::string> messages;
  messages.push_back(std::move(m));
  co_return co_await enqueue_send(c, req, *account, c.cfg.bot_provider, messages);
}

// `handler`, with a Redis failure logged under the route's pattern (never its path: the token)
// and answered 503 in the routes' dialect.
http::route_handler answering_redis_failures_lc(std::string route, http::route_handler handler) {
  return answering_redis_failures(std::move(route), std::move(handler), [](std::string_view debug) {
    return unavailable("unavailable", debug, true);
  });
}

}  // namespace

void add_leadconverter_routes(http::router& routes, queue::task_store& store,
                              const auth::token_table& tokens, leadconverter_routes_config cfg) {
  const auto c =
      std::make_shared<const route_context>(route_context{store, tokens, std::move(cfg)});
  routes.add(
      bhttp::verb::post, std::string(send_path),
      answering_redis_failures_lc("POST " + std::string(send_path),
                                  [c](const http::request& req) { return post_send(*c, req); }));
  routes.add(
      bhttp::verb::post, std::string(bot_path),
      answering_redis_failures_lc("POST " + std::string(bot_path),
                                  [c](const http::request& req) { return post_bot(*c, req); }));
}

namespace {

std::string choose(std::string_view key, std::string_view name, delivery::provider_kind kind,
                   const std::map<std::string, delivery::provider_config, std::less<>>& providers) {
  const auto kind_name = std::string(delivery::to_string(kind));
  if (!name.empty()) {
    auto it = providers.find(name);
    if (it == providers.end())
      throw std::invalid_argument(std::string(key) + ": no provider \"" + std::string(name)
                                  + "\" is configured (a [provider." + std::string(name)
                                  + "] section with kind = " + kind_name + ")");
    if (it->second.kind != kind)
      throw std::invalid_argument(std::string(key) + ": provider \"" + std::string(name)
                                  + "\" is of kind " + std::string(to_string(it->second.kind))
                                  + "; this route needs a " + kind_name + " provider");
    return std::string(name);
  }
  std::string only;
  std::size_t count = 0;
  for (const auto& [n, p] : providers) {
    if (p.kind != kind) continue;
    only = n;
    ++count;
  }
  return count == 1 ? only : std::string();
}

}  // namespace

leadconverter_providers choose_leadconverter_providers(
    std::string_view send, std::string_view bot,
    const std::map<std::string, delivery::provider_config, std::less<>>& providers) {
  return {
      choose("api_send_provider", send, delivery::provider_kind::leadconverter_messages, providers),
      choose("api_bot_provider", bot, delivery::provider_kind::leadconverter_bot, providers)};
}

std::optional<http::response> refuse_unknown_path_token(const auth::token_table& tokens,
                                                        const http::request_header& header) {
  const std::string_view target(header.target().data(), header.target().size());
  for (auto pattern : {send_path, bot_path}) {
    if (!http::path_params(pattern, target)) continue;
    http::response refusal;
    if (!path_account(tokens, pattern, target, refusal)) return refusal;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace herald::api
