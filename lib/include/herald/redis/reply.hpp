// A Redis reply, copied out of hiredis: a small tree of strings, integers and arrays.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::redis {

class reply {
 public:
  enum class kind : std::uint8_t { nil, status, string, integer, array, error };

  reply() = default;
  static reply make_nil() { return {}; }
  static reply make_status(std::string s) { return reply(kind::status, std::move(s)); }
  static reply make_string(std::string s) { return reply(kind::string, std::move(s)); }
  static reply make_error(std::string s) { return reply(kind::error, std::move(s)); }
  static reply make_integer(std::int64_t v) {
    reply r;
    r.kind_ = kind::integer;
    r.integer_ = v;
    return r;
  }
  static reply make_array(std::vector<reply> elements) {
    reply r;
    r.kind_ = kind::array;
    r.elements_ = std::move(elements);
    return r;
  }

  kind type() const { return kind_; }
  bool is_nil() const { return kind_ == kind::nil; }
  bool is_error() const { return kind_ == kind::error; }
  bool is_array() const { return kind_ == kind::array; }

  // Typed access; each throws redis::error(unexpected_reply) naming what it found instead.
  std::int64_t as_integer() const;
  const std::string& as_string() const;                   // bulk string or status
  std::optional<std::string> as_optional_string() const;  // nil → nullopt
  const std::vector<reply>& as_array() const;
  std::vector<reply>& as_array();  // to move strings out (take_str)

  // Unchecked views, for code that has already looked at type().
  std::int64_t integer() const { return integer_; }
  const std::string& str() const { return str_; }
  const std::vector<reply>& elements() const { return elements_; }
  std::vector<reply>& elements() { return elements_; }
  // Moves the string out (it is left empty): for a large bulk string kept after the reply.
  std::string take_str() { return std::move(str_); }

  std::string debug_string() const;  // for messages and tests: "(nil)", "42", "\"x\"", [..]

 private:
  reply(kind k, std::string s) : kind_(k), str_(std::move(s)) {}

  kind kind_ = kind::nil;
  std::int64_t integer_ = 0;
  std::string str_;
  std::vector<reply> elements_;
};

std::string_view to_string(reply::kind k);

}  // namespace herald::redis
