#include "herald/api/request.hpp"

#include <algorithm>
#include <limits>

#include "herald/api/replies.hpp"
#include "herald/auth/request_limit.hpp"
#include "herald/auth/request_token.hpp"
#include "herald/common/json_keys.hpp"
#include "herald/queue/task_store.hpp"

namespace herald::api {

std::optional<http::response> json_body::parse(std::string_view text) {
  simdjson::dom::element root;
  if (auto error = parser_.parse(text.data(), text.size()).get(root); error) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return invalid_request("body: expected a JSON object, the body is empty");
    }
    return invalid_request(std::string("body: not valid JSON (") + simdjson::error_message(error)
                           + ")");
  }
  if (root.get(object_) != simdjson::SUCCESS) {
    return invalid_request("body: expected a JSON object");
  }
  if (auto dup = duplicate_key(root)) return invalid_request(duplicate_key_message("", *dup));
  return std::nullopt;
}

http::response read_only_refusal() {
  return forbidden("token: a read-only token; this route changes the account's data");
}

std::optional<std::string> authenticate(const auth::token_table& tokens, const http::request& req,
                                        const json_body* body, http::response& refusal,
                                        access need) {
  std::optional<std::string_view> token;
  if (body != nullptr) {
    std::string_view value;
    switch (auth::body_token(body->object()).get(value)) {
      case simdjson::SUCCESS:
        token = value;
        break;
      case simdjson::NO_SUCH_FIELD:
        break;
      default:
        refusal = invalid_request("token: must be a string");
        return std::nullopt;
    }
  }
  if (req.count(boost::beast::http::field::authorization) > 1) {
    refusal = invalid_request("Authorization: given more than once; send one token");
    return std::nullopt;
  }
  const auto bearer = auth::bearer_token(req);
  if (token && bearer && *token != *bearer) {
    // Neither is quoted: both are secrets, one of them someone's valid token perhaps.
    refusal = invalid_request(
        "token: the body's \"token\" and the Authorization: Bearer token differ; send one");
    return std::nullopt;
  }
  if (!token) token = bearer;
  if (!token) {
    refusal = unauthorized(
        "token: required, in the body's \"token\" field or an Authorization: Bearer header");
    return std::nullopt;
  }
  auto grant = tokens.grant_for(*token);
  if (!grant) {
    refusal = unauthorized("token: not a valid API token");
    return std::nullopt;
  }
  if (auto* limit = tokens.requests()) {
    if (auto wait = limit->admit(grant->account)) {
      refusal = too_many_requests(*wait, limit->rate_per_s());
      return std::nullopt;
    }
  }
  if (grant->read_only && need != access::read) {
    refusal = read_only_refusal();
    return std::nullopt;
  }
  return std::move(grant->account);
}

std::optional<http::response> refuse_unknown_bearer(const auth::token_table& tokens,
                                                    const http::request_header& header) {
  const auto bearer = auth::bearer_token(header);
  if (bearer && !tokens.account_for(*bearer)) return unauthorized("token: not a valid API token");
  return std::nullopt;
}

std::optional<std::string> read_idempotency_key(const http::request& req, std::string& out) {
  constexpr std::string_view header = "Idempotency-Key";
  const auto n = req.count(header);
  if (n == 0) return std::nullopt;
  if (n > 1) return "Idempotency-Key: given more than once; send one key";
  const std::string_view key = req[header];
  // UTF-8 characters: the bytes that do not continue a sequence.
  const auto chars = static_cast<std::size_t>(std::count_if(key.begin(), key.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
  if (chars == 0 || chars > queue::max_idempotency_key_chars)
    return "Idempotency-Key: must be 1 to " + std::to_string(queue::max_idempotency_key_chars)
           + " characters, got " + std::to_string(chars);
  if (std::any_of(key.begin(), key.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return "Idempotency-Key: must not hold control characters";
  out = key;
  return std::nullopt;
}

std::optional<http::response> read_integer(simdjson::dom::object body, std::string_view name,
                                           std::uint64_t fallback, std::uint64_t min,
                                           std::uint64_t max, std::uint64_t& out) {
  simdjson::dom::element field;
  if (body[name].get(field) != simdjson::SUCCESS || field.is_null()) {
    out = fallback;
    return std::nullopt;
  }
  std::uint64_t value = 0;
  if (field.get(value) != simdjson::SUCCESS || value < min || value > max) {
    std::string rule;
    if (max != std::numeric_limits<std::uint64_t>::max()
        && max != static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      rule = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    } else if (min == 0) {
      rule = "a non-negative integer";
    } else if (min == 1) {
      rule = "a positive integer";
    } else {
      rule = "an integer, at least " + std::to_string(min);
    }
    return invalid_request(std::string(name) + ": must be " + rule);
  }
  out = value;
  return std::nullopt;
}

}  // namespace herald::api
