#include <string>

#include "herald/dashboard/assets.hpp"

namespace herald::dashboard {

namespace {

namespace bhttp = boost::beast::http;

// Whether an If-None-Match value names `etag` (or is "*"); weak tags compare by their value.
bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const auto comma = header.find(',');
    auto tag = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

http::response serve(const asset& a, const http::request& req) {
  http::response res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  const auto if_none_match = req[bhttp::field::if_none_match];
  const bool unchanged =
      etag_matches(std::string_view(if_none_match.data(), if_none_match.size()), a.etag);
  res.result(unchanged ? bhttp::status::not_modified : bhttp::status::ok);
  res.set(bhttp::field::content_type, a.content_type);
  res.set(bhttp::field::etag, a.etag);
  res.set(bhttp::field::cache_control, "no-cache");
  res.set("Content-Security-Policy", content_security_policy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
  if (!unchanged) res.body() = std::string(a.body);
  res.prepare_payload();
  return res;
}

}  // namespace

void add_dashboard_routes(http::router& routes) {
  for (const auto& a : assets()) {
    routes.add(bhttp::verb::get, std::string(a.path),
               [&a](const http::request& req) -> boost::asio::awaitable<http::response> {
                 co_return serve(a, req);
               });
  }
}

}  // namespace herald::dashboard
