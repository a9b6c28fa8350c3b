#include "herald/api/replies.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "herald/redis/error.hpp"

namespace herald::api {

namespace bhttp = boost::beast::http;

http::response ok_reply(std::string_view data_json) {
  return ok_reply("data", data_json);
}

http::response ok_reply(std::string_view name, std::string_view json) {
  std::string body = R"({"error": 0, "error_text": "Successful operation", )";
  body += json_quote(name);
  body += ": ";
  body += json;
  body += '}';
  return http::json_reply(bhttp::status::ok, std::move(body));
}

http::response invalid_request(std::string_view debug) {
  return http::error_reply(bhttp::status::bad_request, 400, "Invalid request", debug);
}

http::response unauthorized(std::string_view debug) {
  auto res = http::error_reply(bhttp::status::unauthorized, 401, "Unauthorized", debug);
  res.set(bhttp::field::www_authenticate, "Bearer");
  return res;
}

http::response forbidden(std::string_view debug) {
  return http::error_reply(bhttp::status::forbidden, 403, "Forbidden", debug);
}

http::response too_many_requests(std::chrono::microseconds wait, double rate_per_s) {
  const auto seconds = std::max<std::int64_t>(1, (wait.count() + 999'999) / 1'000'000);
  auto res = http::error_reply(
      bhttp::status::too_many_requests, 429, "Too many requests",
      fmt::format("token: this account is over its API limit of {:g} requests a second; retry "
                  "after {} s",
                  rate_per_s, seconds));
  res.set(bhttp::field::retry_after, std::to_string(seconds));
  return res;
}

http::response service_unavailable(std::string_view debug) {
  auto res =
      http::error_reply(bhttp::status::service_unavailable, 503, "Service unavailable", debug);
  res.set(bhttp::field::retry_after, "1");
  return res;
}

http::route_handler answering_redis_failures(
    std::string route, http::route_handler handler,
    std::function<http::response(std::string_view debug)> refusal) {
  if (!refusal) refusal = [](std::string_view debug) { return service_unavailable(debug); };
  return [route = std::move(route), handler = std::move(handler), refusal = std::move(refusal)](
             const http::request& req) -> boost::asio::awaitable<http::response> {
    std::string failure;
    bool internal = false;
    try {
      co_return co_await handler(req);
    } catch (const redis::error& e) {
      // Redis refusing the command itself (WRONGTYPE: a key not of the kind heraldd keeps
      // there) will refuse it again: that is heraldd's fault or its data's, not a passing one.
      const std::string_view text = e.what();
      internal = e.code() == redis::errc::server_error && !redis::temporarily_unavailable(e)
                 && text.find("OOM") == std::string_view::npos;
      if (internal)
        spdlog::error("http: {}: Redis refused the command: {}", route, e.what());
      else
        spdlog::warn("http: {}: Redis failed: {}", route, e.what());
      failure = e.code().message();
    }
    if (internal)
      co_return http::error_reply(bhttp::status::internal_server_error, 500, "Internal error",
                                  "redis: a command was refused; the server log has the reason");
    co_return refusal("redis: " + failure);
  };
}

}  // namespace herald::api
