// A Redis command encoded once, in RESP, ready to hand to the connection.
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace herald::redis {

class command {
 public:
  command() = default;
  template <class... Args>
  requires(sizeof...(Args) > 0
           && !(std::same_as<std::remove_cvref_t<Args>,
                             command> || ...)) explicit command(Args&&... args) {
    reserve_args(sizeof...(Args));
    (arg(std::forward<Args>(args)), ...);
  }

  command& arg(std::string_view s);
  command& arg(const char* s) { return arg(std::string_view(s)); }
  command& arg(const std::string& s) { return arg(std::string_view(s)); }
  template <std::integral I>
  command& arg(I v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    return arg(std::string_view(buf, static_cast<std::size_t>(end - buf)));
  }
  command& arg(double v);
  template <class Range>
  requires requires(const Range& r) {
    std::begin(r);
    std::end(r);
  } &&(!std::convertible_to<Range, std::string_view>)command& args(const Range& r) {
    for (const auto& v : r) arg(v);
    return *this;
  }

  std::size_t size() const { return argc_; }
  // The RESP encoding, "*N\r\n$len\r\narg\r\n...", valid until the command changes.
  std::string_view wire();
  // The first argument as written (for logs and errors; never the arguments, which may be secret).
  std::string_view name() const { return name_; }

 private:
  static constexpr std::size_t header_room = 16;  // room for "*N\r\n" in front of the arguments
  void reserve_args(std::size_t n) { body_.reserve(header_room + n * 16); }

  std::string body_ = std::string(header_room, ' ');  // header room, then "$len\r\narg\r\n"...
  std::size_t header_at_ = header_room;
  std::size_t argc_ = 0;
  std::string name_;
};

}  // namespace herald::redis
