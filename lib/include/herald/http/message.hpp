// The request and response types of Herald's HTTP API, and the JSON envelope every reply uses:
// {"error": 0, "error_text": "Successful operation", ...} with a matching HTTP status.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace herald::http {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

// Appends `text` to `out` as the inside of a JSON string: quotes, backslashes and control
// characters escaped, bytes that are not valid UTF-8 replaced by U+FFFD.
void append_json_escaped(std::string& out, std::string_view text);

// `text` as a JSON string literal, quotes included.
std::string json_quote(std::string_view text);

// A response carrying `json_body` as application/json, its Content-Length set.
response json_reply(boost::beast::http::status status, std::string json_body, unsigned version = 11,
                    bool keep_alive = true);

// The error envelope {"error": N, "error_debug": "...", "error_text": "..."} (error_debug left
// out when empty) with HTTP status `status`.
response error_reply(boost::beast::http::status status, int error, std::string_view error_text,
                     std::string_view error_debug = {});

}  // namespace herald::http
