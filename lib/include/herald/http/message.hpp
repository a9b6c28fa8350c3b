// The request and response types of Herald's HTTP API, and the JSON envelope every reply uses:
// {"error": 0, "error_text": "Successful operation", ...} with a matching HTTP status.
#pragma once

#include "herald/common/json.hpp"

#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace herald::http {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using request_header = boost::beast::http::request_header<>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

using herald::append_json_escaped;
using herald::json_quote;

// A response carrying `json_body` as application/json, its Content-Length set.
response json_reply(boost::beast::http::status status, std::string json_body, unsigned version = 11,
                    bool keep_alive = true);

// The error envelope {"error": N, "error_debug": "...", "error_text": "..."} (error_debug left
// out when empty) with HTTP status `status`.
response error_reply(boost::beast::http::status status, int error, std::string_view error_text,
                     std::string_view error_debug = {});

}  // namespace herald::http
