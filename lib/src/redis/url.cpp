#include "herald/redis/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <optional>

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

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
    if (ec != std::errc() || p != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

bool parse_port(std::string_view text, unsigned short& port) {
  unsigned p = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
  if (ec != std::errc() || end != text.data() + text.size() || p == 0 || p > 65535) return false;
  port = static_cast<unsigned short>(p);
  return true;
}

// redis-sentinel://[user:password@]h1[:port],h2[:port]/MASTER_NAME[?db=N&sentinel_password=P]
boost::system::result<endpoint> parse_sentinel_url(std::string_view rest) {
  endpoint ep;
  ep.kind = endpoint::transport::sentinel;
  ep.host.clear();
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return invalid();
  std::string_view authority = rest.substr(0, slash), tail = rest.substr(slash + 1);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = info.find(':');
    auto user = percent_decode(info.substr(0, colon));
    auto password = percent_decode(colon == std::string_view::npos ? "" : info.substr(colon + 1));
    if (!user || !password) return invalid();
    ep.user = *user;
    ep.password = *password;
  }
  while (!authority.empty()) {
    auto comma = authority.find(',');
    std::string_view one = authority.substr(0, comma);
    authority = comma == std::string_view::npos ? "" : authority.substr(comma + 1);
    endpoint::address a;
    std::string_view port;
    if (one.starts_with('[')) {
      auto close = one.find(']');
      if (close == std::string_view::npos) return invalid();
      a.host = one.substr(1, close - 1);
      one = one.substr(close + 1);
      if (!one.empty() && (one.front() != ':' || one.size() < 2)) return invalid();
      if (!one.empty()) port = one.substr(1);
    } else {
      auto colon = one.find(':');
      a.host = one.substr(0, colon);
      if (colon != std::string_view::npos) port = one.substr(colon + 1);
    }
    if (a.host.empty() || (!port.empty() && !parse_port(port, a.port))) return invalid();
    if (comma != std::string_view::npos && authority.empty()) return invalid();
    ep.sentinels.push_back(std::move(a));
  }
  if (ep.sentinels.empty()) return invalid();
  auto question = tail.find('?');
  auto name = percent_decode(tail.substr(0, question));
  if (!name || name->empty() || name->find('/') != std::string::npos) return invalid();
  ep.master_name = *name;
  std::string_view query = question == std::string_view::npos ? "" : tail.substr(question + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    auto eq = param.find('=');
    if (eq == std::string_view::npos) return invalid();
    auto key = param.substr(0, eq);
    auto value = percent_decode(param.substr(eq + 1));
    if (!value) return invalid();
    if (key == "db") {
      if (!parse_db(*value, ep.db)) return invalid();
    } else if (key == "sentinel_password") {
      ep.sentinel_password = *value;
    } else {
      return invalid();
    }
  }
  return ep;
}

}  // namespace

boost::system::result<endpoint> parse_url(std::string_view text) {
  constexpr std::string_view sentinel_scheme = "redis-sentinel://";
  if (text.starts_with(sentinel_scheme))
    return parse_sentinel_url(text.substr(sentinel_scheme.size()));
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
  if (kind == transport::sentinel) {
    std::string hosts;
    for (const auto& s : sentinels) {
      if (!hosts.empty()) hosts += ',';
      bool v6 = s.host.find(':') != std::string::npos;
      hosts += (v6 ? "[" + s.host + "]" : s.host) + ":" + std::to_string(s.port);
    }
    std::string query;
    if (db) query += "db=" + std::to_string(db);
    if (!sentinel_password.empty())
      query += std::string(query.empty() ? "" : "&") + "sentinel_password=***";
    return "redis-sentinel://" + auth + hosts + "/" + master_name
           + (query.empty() ? "" : "?" + query);
  }
  if (kind == transport::unix_socket)
    return "unix://" + auth + path + (db ? "?db=" + std::to_string(db) : "");
  bool v6 = host.find(':') != std::string::npos;
  return "redis://" + auth + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port)
         + (db ? "/" + std::to_string(db) : "");
}

}  // namespace herald::redis
