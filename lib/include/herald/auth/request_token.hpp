// Where an API request carries its token: an `Authorization: Bearer` header, or the "token"
// field of its JSON body.
#pragma once

#include <optional>
#include <string_view>

#include <simdjson.h>

#include "herald/http/message.hpp"

namespace herald::auth {

// The token of an `Authorization: Bearer TOKEN` header (the scheme in any case); nothing when
// the request has no Authorization header, another scheme, or an empty token.
std::optional<std::string_view> bearer_token(const http::request_header& req);

// The "token" field of a JSON body: NO_SUCH_FIELD when it is absent, null or empty,
// INCORRECT_TYPE when it is not a string. The view points into `body`'s document.
simdjson::simdjson_result<std::string_view> body_token(simdjson::dom::object body);

}  // namespace herald::auth
