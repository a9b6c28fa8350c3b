#include "herald/auth/request_token.hpp"

#include <boost/beast/core/string.hpp>

namespace herald::auth {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

std::optional<std::string_view> bearer_token(const http::request_header& req) {
  const auto it = req.find(boost::beast::http::field::authorization);
  if (it == req.end()) return std::nullopt;
  std::string_view value(it->value().data(), it->value().size());
  constexpr std::string_view scheme = "bearer";
  if (value.size() <= scheme.size() || !is_space(value[scheme.size()])
      || !boost::beast::iequals(value.substr(0, scheme.size()), scheme)) {
    return std::nullopt;
  }
  value.remove_prefix(scheme.size());
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  return value;
}

simdjson::simdjson_result<std::string_view> body_token(simdjson::dom::object body) {
  simdjson::dom::element field;
  if (body["token"].get(field) != simdjson::SUCCESS || field.is_null()) {
    return simdjson::NO_SUCH_FIELD;
  }
  std::string_view token;
  if (field.get(token) != simdjson::SUCCESS) return simdjson::INCORRECT_TYPE;
  if (token.empty()) return simdjson::NO_SUCH_FIELD;
  return token;
}

}  // namespace herald::auth
