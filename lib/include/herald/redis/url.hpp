// Where Herald's Redis is: redis://[[user]:password@]host:port[/db] or unix:///path[?db=N].
#pragma once

#include <string>
#include <string_view>

#include <boost/system/result.hpp>

namespace herald::redis {

struct endpoint {
  enum class transport { tcp, unix_socket };
  transport kind = transport::tcp;
  std::string host = "127.0.0.1";  // tcp
  unsigned short port = 6379;      // tcp
  std::string path;                // unix socket
  std::string user;                // ACL user; empty: the default user
  std::string password;            // empty: no AUTH
  int db = 0;

  // The URL again with the password replaced by "***": the only form that may be logged.
  std::string redacted() const;
};

// Parses a Redis URL; the error's message says what is wrong with it (never echoing a password).
boost::system::result<endpoint> parse_url(std::string_view url);

}  // namespace herald::redis
