#include "herald/api/profile_routes.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <simdjson.h>
#include <boost/asio/awaitable.hpp>

#include "herald/api/profile_lookup.hpp"
#include "herald/api/replies.hpp"
#include "herald/api/request.hpp"
#include "herald/profiles/profile.hpp"
#include "herald/profiles/store.hpp"

namespace herald::api {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

struct route_context {
  redis::client& redis;
  const auth::token_table& tokens;
  profile_routes_config cfg;
};

// The fields of a profiles/get body; anything else is refused, so a misspelt key is not
// silently ignored.
constexpr std::string_view get_fields[] = {
    "token",      "format",     "db_id",       "matching",        "resource_id", "email", "phone",
    "profile_id", "field_name", "field_value", "subscription_id", "channel",     "id"};

// A missing profile and another account's get this same reply, byte for byte.
http::response profile_not_found() {
  return http::error_reply(bhttp::status::not_found, 404, "Profile not found",
                           "profile: no profile matches");
}

enum class key_kind {
  text,        // a string
  identifier,  // a string, or an integer written as one
  value,       // a string, number or bool (a custom field's value, as its index writes it)
};

// An optional key of the body into `out` (absent or null: left unset). Else the 400 naming it.
std::optional<http::response> read_key(simdjson::dom::object body, std::string_view name,
                                       key_kind kind, std::optional<std::string>& out) {
  simdjson::dom::element field;
  if (body[name].get(field) != simdjson::SUCCESS || field.is_null()) return std::nullopt;
  std::string_view text;
  if (field.get(text) == simdjson::SUCCESS) {
    out = std::string(text);
    return std::nullopt;
  }
  using type = simdjson::dom::element_type;
  const auto t = field.type();
  if (kind != key_kind::text && (t == type::INT64 || t == type::UINT64)) {
    out = simdjson::minify(field);
    return std::nullopt;
  }
  if (kind == key_kind::value && (t == type::DOUBLE || t == type::BOOL)) {
    profiles::field_value v;
    if (t == type::BOOL)
      v = bool(field.get_bool().value());
    else
      v = field.get_double().value();
    out = profiles::index_text(v);
    return std::nullopt;
  }
  const char* rule = kind == key_kind::text         ? "must be a string"
                     : kind == key_kind::identifier ? "must be a string or an integer"
                                                    : "must be a string, a number or a bool";
  return invalid_request(std::string(name) + ": " + rule);
}

std::optional<http::response> read_lookup(simdjson::dom::object body, profile_lookup& out) {
  for (auto [key, value] : body) {
    if (std::find(std::begin(get_fields), std::end(get_fields), key) == std::end(get_fields)) {
      return invalid_request(
          std::string(key)
          + ": unknown field; profiles/get takes token, format, db_id, matching, resource_id and "
            "the keys email, phone, profile_id, field_name, field_value, subscription_id, "
            "channel, id");
    }
  }
  // The seeds' clients send "format": "json"; XML replies are not served yet.
  std::optional<std::string> format;
  if (auto bad = read_key(body, "format", key_kind::text, format)) return bad;
  if (format && *format != "json")
    return invalid_request("format: only \"json\" is supported (XML replies are not served)");
  constexpr auto int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t db_id = 1;
  if (auto bad = read_integer(body, "db_id", 1, 1, int64_max, db_id)) return bad;
  out.db_id = static_cast<std::int64_t>(db_id);

  simdjson::dom::element field;
  if (body["resource_id"].get(field) == simdjson::SUCCESS && !field.is_null()) {
    std::uint64_t resource_id = 0;
    if (auto bad = read_integer(body, "resource_id", 0, 0, int64_max, resource_id)) return bad;
    out.resource_id = static_cast<std::int64_t>(resource_id);
  }

  std::optional<std::string> matching;
  if (auto bad = read_key(body, "matching", key_kind::text, matching)) return bad;
  if (matching) out.matching = std::move(*matching);

  const std::pair<std::string_view, key_kind> keys[] = {
      {"email", key_kind::text},        {"phone", key_kind::identifier},
      {"profile_id", key_kind::text},   {"field_name", key_kind::text},
      {"field_value", key_kind::value}, {"subscription_id", key_kind::identifier},
      {"channel", key_kind::text},      {"id", key_kind::identifier}};
  std::optional<std::string>* slots[] = {&out.email,      &out.phone,       &out.profile_id,
                                         &out.field_name, &out.field_value, &out.subscription_id,
                                         &out.channel,    &out.id};
  for (std::size_t i = 0; i < std::size(keys); ++i) {
    if (auto bad = read_key(body, keys[i].first, keys[i].second, *slots[i])) return bad;
  }
  return std::nullopt;
}

asio::awaitable<http::response> post_get(const route_context& c, const http::request& req) {
  json_body body;
  if (auto refusal = body.parse(req.body())) co_return std::move(*refusal);
  http::response refusal;
  const auto account = authenticate(c.tokens, req, &body, refusal, access::read);
  if (!account) co_return refusal;

  profile_lookup lookup;
  if (auto bad = read_lookup(body.object(), lookup)) co_return std::move(*bad);
  profiles::match_query query;
  if (auto error = make_match_query(lookup, query)) {
    std::string debug = error->text();
    simdjson::dom::element unused;
    if (error->missing && body.object()["matching"].get(unused) != simdjson::SUCCESS)
      debug += " (the default; \"matching\" looks up by another key)";
    co_return invalid_request(debug);
  }

  // The account's own databases only: its name is part of every key the store reads.
  profiles::profile_store store(c.redis,
                                profiles::profile_keys(c.cfg.prefix, *account, lookup.db_id));
  const auto found = co_await store.find(std::move(query));
  if (!found) co_return profile_not_found();
  co_return ok_reply("profile", found->p.to_json(lookup.db_id));
}

}  // namespace

void add_profile_routes(http::router& routes, redis::client& redis, const auth::token_table& tokens,
                        profile_routes_config cfg) {
  const auto c =
      std::make_shared<const route_context>(route_context{redis, tokens, std::move(cfg)});
  routes.add(bhttp::verb::post, "/api/v1.1/profiles/get",
             answering_redis_failures("POST /api/v1.1/profiles/get",
                                      [c](const http::request& req) { return post_get(*c, req); }));
}

}  // namespace herald::api
