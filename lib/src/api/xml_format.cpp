#include "herald/api/xml_format.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>

#include <simdjson.h>

#include "herald/api/replies.hpp"

namespace herald::api {

namespace {

namespace bhttp = boost::beast::http;

// The "format" a JSON body asks for ("" when none, or the body is not an object). Most bodies
// name no format, or "json" and no "xml" anywhere: those are not parsed a second time.
std::string requested_format(std::string_view body, std::string_view wanted) {
  if (body.find("\"format\"") == std::string_view::npos
      || body.find("\"" + std::string(wanted) + "\"") == std::string_view::npos)
    return {};
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return {};
  std::string_view format;
  if (root["format"].get(format) != simdjson::SUCCESS) return {};
  return std::string(format);
}

}  // namespace

bool is_xml_request(const http::request& req) {
  std::string_view type = req[bhttp::field::content_type];
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  auto iequals = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == y;
           });
  };
  return iequals(type, "application/xml") || iequals(type, "text/xml");
}

http::response as_xml_reply(http::response res) {
  if (res[bhttp::field::content_type] == "application/json" && !res.body().empty()) {
    try {
      res.body() = json_reply_to_xml(res.body());
    } catch (const std::invalid_argument&) {
      return res;  // not an envelope: left as it is
    }
  }
  res.set(bhttp::field::content_type, "application/xml; charset=utf-8");
  res.prepare_payload();
  return res;
}

http::route_handler speaking_xml(http::route_handler handler, xml_limits limits) {
  return [handler = std::move(handler),
          limits](const http::request& req) -> boost::asio::awaitable<http::response> {
    if (!is_xml_request(req)) {
      if (requested_format(req.body(), "xml") != "xml") co_return co_await handler(req);
      co_return as_xml_reply(co_await handler(req));
    }
    std::string json;
    if (auto why = xml_request_to_json(req.body(), json, limits))
      co_return as_xml_reply(invalid_request(*why));
    const bool answer_json = requested_format(json, "json") == "json";
    http::request as_json(http::request_header(req.base()), std::move(json));
    as_json.set(bhttp::field::content_type, "application/json");
    as_json.prepare_payload();
    auto res = co_await handler(as_json);
    co_return answer_json ? std::move(res) : as_xml_reply(std::move(res));
  };
}

}  // namespace herald::api
