#include "herald/redis/command.hpp"

#include <cstdio>

namespace herald::redis {

command& command::arg(std::string_view s) {
  if (argc_ == 0) name_ = s;
  char len[24];
  auto [end, ec] = std::to_chars(len, len + sizeof len, s.size());
  (void)ec;
  body_ += '$';
  body_.append(len, end);
  body_ += "\r\n";
  body_ += s;
  body_ += "\r\n";
  ++argc_;
  return *this;
}

command& command::arg(double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  return arg(std::string_view(buf, static_cast<std::size_t>(n)));
}

std::string_view command::wire() {
  char header[header_room];
  header[0] = '*';
  auto [end, ec] = std::to_chars(header + 1, header + sizeof header - 2, argc_);
  (void)ec;
  *end++ = '\r';
  *end++ = '\n';
  auto n = static_cast<std::size_t>(end - header);
  header_at_ = header_room - n;
  body_.replace(header_at_, n, header, n);
  return std::string_view(body_).substr(header_at_);
}

}  // namespace herald::redis
