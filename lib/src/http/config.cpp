#include "herald/http/config.hpp"

#include <charconv>
#include <stdexcept>

namespace herald::http {

listen_address parse_listen_address(std::string_view text) {
  const auto invalid = [&](std::string_view why) {
    return std::invalid_argument("invalid listen address \"" + std::string(text)
                                 + "\": " + std::string(why));
  };
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) throw invalid("'[' without ']'");
    host = text.substr(1, close - 1);
    if (host.empty()) throw invalid("empty IPv6 address between brackets");
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      throw invalid("expected [address]:port");
    }
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) throw invalid("expected host:port");
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      throw invalid("an IPv6 address must be written in brackets, as [::1]:8080");
    }
    port = text.substr(colon + 1);
    if (host == "*") host = {};
  }
  if (port.empty()) throw invalid("no port");
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
    throw invalid("the port must be a number from 0 to 65535");
  }
  return {std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace herald::http
