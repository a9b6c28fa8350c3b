// The replies Herald's API routes share: the success envelope, and the refusals for bad input,
// missing or unknown tokens and an unreachable Redis, each with error_debug saying what to fix.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "herald/http/message.hpp"
#include "herald/http/router.hpp"

namespace herald::api {

// 200 {"error": 0, "error_text": "Successful operation", "data": <data_json>}
http::response ok_reply(std::string_view data_json);
// 200 {"error": 0, "error_text": "Successful operation", <name>: <json>}
http::response ok_reply(std::string_view name, std::string_view json);

// 400 {"error": 400, "error_debug": <debug>, "error_text": "Invalid request"}; `debug` names the
// field first: "task_id: required".
http::response invalid_request(std::string_view debug);

// 401 {"error": 401, "error_debug": <debug>, "error_text": "Unauthorized"}, with
// WWW-Authenticate: Bearer. `debug` must never quote the token.
http::response unauthorized(std::string_view debug);
// 403 {error: 403, error_text: "Forbidden"}: a valid token that may not do this.
http::response forbidden(std::string_view debug);

// 429 {"error": 429, "error_debug": "token: this account is over its API limit of N requests a
// second; retry after S s", "error_text": "Too many requests"}, with Retry-After: S (`wait`
// rounded up to whole seconds, at least 1).
http::response too_many_requests(std::chrono::microseconds wait, double rate_per_s);

// 503 {"error": 503, "error_debug": <debug>, "error_text": "Service unavailable"}, with
// Retry-After: 1.
http::response service_unavailable(std::string_view debug);

// `handler`, with a Redis failure (redis::error) logged under `route` and answered 503: the
// connection in trouble, a timeout, or Redis loading, busy, failing over or out of memory. Redis
// refusing the command itself (WRONGTYPE, say), which asking again will not mend, is answered
// 500 and logged as an error. The request target is not logged: a query string may carry what
// it should not.
// `refusal` makes that reply from its error_debug ("redis: connection lost"); the default is
// service_unavailable.
http::route_handler answering_redis_failures(
    std::string route, http::route_handler handler,
    std::function<http::response(std::string_view debug)> refusal = nullptr);

}  // namespace herald::api
