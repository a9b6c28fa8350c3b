#include "herald/api/replies.hpp"

#include <string>

namespace herald::api {

namespace bhttp = boost::beast::http;

http::response ok_reply(std::string_view data_json) {
  std::string body = R"({"error": 0, "error_text": "Successful operation", "data": )";
  body += data_json;
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

http::response service_unavailable(std::string_view debug) {
  auto res =
      http::error_reply(bhttp::status::service_unavailable, 503, "Service unavailable", debug);
  res.set(bhttp::field::retry_after, "1");
  return res;
}

}  // namespace herald::api
