#include "herald/http/router.hpp"

#include <stdexcept>

namespace herald::http {

namespace beast_http = boost::beast::http;

namespace {

bool is_param(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Walks `pattern` and `path` segment by segment; `on_param` sees each {name} segment's value.
template <class OnParam>
bool match_segments(std::string_view pattern, std::string_view path, OnParam&& on_param) {
  for (;;) {
    const auto p_end = pattern.find('/');
    const auto s_end = path.find('/');
    const std::string_view p = pattern.substr(0, p_end);
    const std::string_view s = path.substr(0, s_end);
    if (is_param(p)) {
      if (s.empty()) return false;
      on_param(p.substr(1, p.size() - 2), s);
    } else if (p != s) {
      return false;
    }
    if (p_end == std::string_view::npos || s_end == std::string_view::npos) {
      return p_end == s_end;
    }
    pattern.remove_prefix(p_end + 1);
    path.remove_prefix(s_end + 1);
  }
}

bool path_matches(std::string_view pattern, std::string_view path) {
  return match_segments(pattern, path, [](std::string_view, std::string_view) {});
}

void check_pattern(std::string_view path) {
  const auto invalid = [&](std::string_view why) {
    return std::invalid_argument("invalid route path \"" + std::string(path)
                                 + "\": " + std::string(why));
  };
  if (!path.starts_with('/')) throw invalid("it must start with '/'");
  if (path.find_first_of("?#") != std::string_view::npos) {
    throw invalid("a route path has no query string or fragment");
  }
  std::string_view rest = path.substr(1);
  for (;;) {
    const auto end = rest.find('/');
    const std::string_view segment = rest.substr(0, end);
    const bool has_brace = segment.find_first_of("{}") != std::string_view::npos;
    if (has_brace && !is_param(segment)) {
      throw invalid("a parameter takes a whole segment, as /{name}/");
    }
    if (is_param(segment)
        && segment.substr(1, segment.size() - 2).find_first_of("{}") != std::string_view::npos) {
      throw invalid("nested braces");
    }
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
}

}  // namespace

std::string_view target_path(std::string_view target) {
  // absolute-form (RFC 9112 3.2.2): skip scheme and authority.
  if (const auto scheme = target.find("://");
      scheme != std::string_view::npos && !target.starts_with('/')) {
    const auto slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target.substr(0, target.find_first_of("?#"));
}

std::string loggable_path(std::string_view target) {
  std::string_view path = target_path(target);
  std::string out;
  constexpr std::string_view token_prefix = "/api/v1/";
  if (path.starts_with(token_prefix)) {
    const auto end = path.find('/', token_prefix.size());
    out = std::string(token_prefix) + "***";
    path = end == std::string_view::npos ? std::string_view{} : path.substr(end);
  }
  constexpr std::size_t max_shown = 200;
  for (char c : path.substr(0, max_shown))
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  if (path.size() > max_shown) out += "...";
  return out;
}

std::optional<std::map<std::string, std::string, std::less<>>> path_params(
    std::string_view pattern, std::string_view target) {
  std::map<std::string, std::string, std::less<>> params;
  const bool matched =
      match_segments(pattern, target_path(target), [&](std::string_view name, std::string_view v) {
        params.insert_or_assign(std::string(name), std::string(v));
      });
  if (!matched) return std::nullopt;
  return params;
}

void router::add(beast_http::verb method, std::string path, route_handler handler) {
  check_pattern(path);
  if (!handler) throw std::invalid_argument("route " + path + " has no handler");
  for (const auto& r : routes_) {
    if (r.method == method && r.path == path) {
      throw std::invalid_argument("duplicate route " + std::string(beast_http::to_string(method))
                                  + " " + path);
    }
  }
  routes_.push_back({method, std::move(path), std::move(handler)});
}

std::vector<router::route_key> router::routes() const {
  std::vector<route_key> keys;
  keys.reserve(routes_.size());
  for (const auto& r : routes_) keys.push_back({r.method, r.path});
  return keys;
}

router::match_result router::match(beast_http::verb method, std::string_view target) const {
  match_result result;
  const std::string_view path = target_path(target);
  for (const auto& r : routes_) {
    if (!path_matches(r.path, path)) continue;
    if (r.method == method && !result.handler) result.handler = &r.handler;
    const std::string_view name = beast_http::to_string(r.method);
    bool listed = false;
    for (std::string_view rest = result.allow; !rest.empty();) {
      const auto comma = rest.find(", ");
      if (rest.substr(0, comma) == name) listed = true;
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 2);
    }
    if (!listed) {
      if (!result.allow.empty()) result.allow += ", ";
      result.allow += name;
    }
  }
  result.path_known = !result.allow.empty();
  return result;
}

boost::asio::awaitable<response> router::dispatch(const request& req) const {
  const match_result m = match(req.method(), req.target());
  if (m.handler) co_return co_await (*m.handler)(req);
  const std::string path(target_path(req.target()));
  if (m.path_known) {
    response res = error_reply(beast_http::status::method_not_allowed, 405, "Method not allowed",
                               "http: " + std::string(req.method_string()) + " is not allowed on "
                                   + path + " (allowed: " + m.allow + ")");
    res.set(beast_http::field::allow, m.allow);
    co_return res;
  }
  co_return error_reply(beast_http::status::not_found, 404, "Not found",
                        "http: no route for " + path);
}

}  // namespace herald::http
