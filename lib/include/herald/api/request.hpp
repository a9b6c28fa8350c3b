// Reading an API request: its JSON body, parsed once, and the account of the token it presents,
// or the refusal (400, 401) that says what is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "herald/auth/tokens.hpp"
#include "herald/http/message.hpp"

namespace herald::api {

// A request's JSON body. Views taken from object() live as long as this.
class json_body {
 public:
  json_body() = default;
  json_body(const json_body&) = delete;
  json_body& operator=(const json_body&) = delete;

  // Parses `text`: nothing when it is a JSON object, else the 400 reply saying why.
  std::optional<http::response> parse(std::string_view text);

  simdjson::dom::object object() const { return object_; }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::object object_;
};

// What a route does with the account's data: a read-only token (tokens file, `read`) may only
// read.
enum class access { read, change };

// The account whose token the request presents: the body's "token" field when `body` is given
// and has one, else `Authorization: Bearer`. Nothing and `refusal` set (401 for a missing or
// unknown token; 403 for a read-only token on a route that changes things; 400 for a "token"
// that is not a string, two Authorization headers, or a body token and a Bearer token that
// differ) otherwise. The token is never quoted.
std::optional<std::string> authenticate(const auth::token_table& tokens, const http::request& req,
                                        const json_body* body, http::response& refusal,
                                        access need = access::change);

// The refusal of a read-only token on a route that changes things.
http::response read_only_refusal();

// Asked by the HTTP server of a request with a body before the body is read: 401 when it
// presents an `Authorization: Bearer` token that is not valid, so that a client without a token
// cannot make heraldd hold its body; nothing otherwise (a token in the body is checked once the
// body is read).
std::optional<http::response> refuse_unknown_bearer(const auth::token_table& tokens,
                                                    const http::request_header& header);

// The request's Idempotency-Key header into `out` (left empty when there is none): given once, 1
// to queue::max_idempotency_key_chars characters, no control characters. Else what is wrong,
// for the route's 400 in its own dialect ("Idempotency-Key: given more than once; send one key").
std::optional<std::string> read_idempotency_key(const http::request& req, std::string& out);

// An optional integer field of `body` in [min, max] into `out`; `fallback` when it is absent or
// null. Else the 400 reply naming it: "limit: must be an integer from 1 to 1000" ("db_id: must be
// a positive integer" when max is the largest value).
std::optional<http::response> read_integer(simdjson::dom::object body, std::string_view name,
                                           std::uint64_t fallback, std::uint64_t min,
                                           std::uint64_t max, std::uint64_t& out);

}  // namespace herald::api
