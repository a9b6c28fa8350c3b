#include "herald/redis/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

#include "herald/redis/error.hpp"

namespace herald::redis {

namespace {

boost::system::error_code invalid() {
  return make_error_code(errc::invalid_url);
}

bool parse_db(std::string_view s, int& db) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), db);
  return ec == std::errc() && p == s.data() + s.size() && db >= 0;
}

}  // namespace

boost::system::result<endpoint> parse_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return invalid();
  const boost::urls::url_view& u = *parsed;
  endpoint ep;
  if (u.has_userinfo()) {
    ep.user = u.user();
    ep.password = u.password();
  }
  if (u.scheme() == "unix") {
    ep.kind = endpoint::transport::unix_socket;
    ep.path = u.path();
    if (ep.path.empty() || ep.path.front() != '/' || !u.host().empty()) return invalid();
    for (auto param : u.params()) {
      if (param.key != "db" || !param.has_value || !parse_db(param.value, ep.db)) return invalid();
    }
    return ep;
  }
  if (u.scheme() != "redis") return invalid();
  ep.host = u.host_address();
  if (ep.host.empty()) return invalid();
  if (u.has_port()) {
    unsigned port = 0;
    std::string_view text = u.port();
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc() || p != text.data() + text.size() || port == 0 || port > 65535)
      return invalid();
    ep.port = static_cast<unsigned short>(port);
  }
  std::string_view path = u.encoded_path();
  if (!path.empty() && path != "/" && !parse_db(path.substr(1), ep.db)) return invalid();
  if (u.has_query()) return invalid();
  return ep;
}

std::string endpoint::redacted() const {
  std::string auth;
  if (!user.empty() || !password.empty()) auth = user + (password.empty() ? "" : ":***") + "@";
  if (kind == transport::unix_socket)
    return "unix://" + auth + path + (db ? "?db=" + std::to_string(db) : "");
  bool v6 = host.find(':') != std::string::npos;
  return "redis://" + auth + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port)
         + (db ? "/" + std::to_string(db) : "");
}

}  // namespace herald::redis
