#include "herald/redis/reply.hpp"

#include "herald/redis/error.hpp"

namespace herald::redis {

std::string_view to_string(reply::kind k) {
  switch (k) {
    case reply::kind::nil:
      return "nil";
    case reply::kind::status:
      return "status";
    case reply::kind::string:
      return "string";
    case reply::kind::integer:
      return "integer";
    case reply::kind::array:
      return "array";
    case reply::kind::error:
      return "error";
  }
  return "unknown";
}

namespace {

[[noreturn]] void wrong_type(const reply& r, std::string_view wanted) {
  throw error(errc::unexpected_reply,
              "expected a Redis " + std::string(wanted) + " reply, got " + r.debug_string());
}

}  // namespace

std::int64_t reply::as_integer() const {
  if (kind_ != kind::integer) wrong_type(*this, "integer");
  return integer_;
}

const std::string& reply::as_string() const {
  if (kind_ != kind::string && kind_ != kind::status) wrong_type(*this, "string");
  return str_;
}

std::optional<std::string> reply::as_optional_string() const {
  if (kind_ == kind::nil) return std::nullopt;
  return as_string();
}

const std::vector<reply>& reply::as_array() const {
  if (kind_ != kind::array) wrong_type(*this, "array");
  return elements_;
}

std::vector<reply>& reply::as_array() {
  if (kind_ != kind::array) wrong_type(*this, "array");
  return elements_;
}

std::string reply::debug_string() const {
  switch (kind_) {
    case kind::nil:
      return "(nil)";
    case kind::integer:
      return std::to_string(integer_);
    case kind::status:
      return str_;
    case kind::string:
      return '"' + (str_.size() > 64 ? str_.substr(0, 64) + "..." : str_) + '"';
    case kind::error:
      return "(error) " + str_;
    case kind::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < elements_.size(); ++i) {
        if (i) out += ", ";
        if (i == 8) {
          out += "... " + std::to_string(elements_.size() - i) + " more";
          break;
        }
        out += elements_[i].debug_string();
      }
      return out + "]";
    }
  }
  return "?";
}

}  // namespace herald::redis
