#include "herald/http/message.hpp"

#include <cstdint>

namespace herald::http {

response json_reply(boost::beast::http::status status, std::string json_body, unsigned version,
                    bool keep_alive) {
  response res{status, version};
  res.set(boost::beast::http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(json_body);
  res.prepare_payload();
  return res;
}

response error_reply(boost::beast::http::status status, int error, std::string_view error_text,
                     std::string_view error_debug) {
  std::string body = "{\"error\": " + std::to_string(error);
  if (!error_debug.empty()) {
    body += ", \"error_debug\": ";
    body += json_quote(error_debug);
  }
  body += ", \"error_text\": ";
  body += json_quote(error_text);
  body += '}';
  return json_reply(status, std::move(body));
}

}  // namespace herald::http
