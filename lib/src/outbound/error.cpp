#include <strings.h>

#include "herald/outbound/http_client.hpp"

namespace herald::outbound {

namespace {

class outbound_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "herald.outbound"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::stopped:
        return "the HTTP client was stopped before the request completed";
      case errc::invalid_request:
        return "the request cannot be sent (a bad URL or an unsupported scheme)";
      case errc::dns:
        return "the host name did not resolve";
      case errc::connect_failed:
        return "could not connect to the server";
      case errc::connect_timeout:
        return "no connection to the server within the connect timeout";
      case errc::tls:
        return "the TLS handshake with the server failed";
      case errc::timeout:
        return "no whole response within the request timeout";
      case errc::connection_dropped:
        return "the connection closed before a whole response arrived";
      case errc::too_large:
        return "the response is larger than the configured limit";
      case errc::protocol:
        return "the server's answer is not valid HTTP";
      case errc::other:
        return "the HTTP request failed";
    }
    return "unknown HTTP client error";
  }
};

}  // namespace

const boost::system::error_category& category() noexcept {
  static const outbound_category instance;
  return instance;
}

std::string_view name(errc e) noexcept {
  switch (e) {
    case errc::stopped:
      return "stopped";
    case errc::invalid_request:
      return "invalid_request";
    case errc::dns:
      return "dns";
    case errc::connect_failed:
      return "connect_failed";
    case errc::connect_timeout:
      return "connect_timeout";
    case errc::tls:
      return "tls";
    case errc::timeout:
      return "timeout";
    case errc::connection_dropped:
      return "connection_dropped";
    case errc::too_large:
      return "too_large";
    case errc::protocol:
      return "protocol";
    case errc::other:
      return "other";
  }
  return "unknown";
}

std::optional<std::string_view> http_response::header(std::string_view wanted) const {
  for (const auto& h : headers) {
    if (h.name.size() == wanted.size()
        && ::strncasecmp(h.name.data(), wanted.data(), wanted.size()) == 0)
      return std::string_view(h.value);
  }
  return std::nullopt;
}

std::uint64_t http_client::statistics::total_errors() const {
  std::uint64_t sum = 0;
  for (auto n : errors) sum += n;
  return sum;
}

}  // namespace herald::outbound
