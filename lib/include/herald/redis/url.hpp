// Where Herald's Redis is: redis://[[user]:password@]host:port[/db], unix:///path[?db=N], or
// redis-sentinel://[user:password@]h1:26379,h2:26379/MASTER_NAME[?db=N&sentinel_password=...]
// (the primary that Sentinel names; user and password are the primary's).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/result.hpp>

namespace herald::redis {

struct endpoint {
  enum class transport { tcp, unix_socket, sentinel };
  transport kind = transport::tcp;
  std::string host = "127.0.0.1";  // tcp
  unsigned short port = 6379;      // tcp
  std::string path;                // unix socket
  std::string user;                // ACL user; empty: the default user
  std::string password;            // empty: no AUTH
  int db = 0;
  // sentinel: where the sentinels are, the name of the primary they watch, and their password.
  struct address {
    std::string host;
    unsigned short port = 26379;
  };
  std::vector<address> sentinels;
  std::string master_name;
  std::string sentinel_password;

  // The URL again with the password replaced by "***": the only form that may be logged.
  std::string redacted() const;
};

// The new primary in a Sentinel `+switch-master` message ("<name> <old-ip> <old-port> <new-ip>
// <new-port>") when it is about `master_name`; nothing otherwise.
std::optional<std::pair<std::string, unsigned short>> parse_switch_master(
    std::string_view message, std::string_view master_name);

// Parses a Redis URL; the error's message says what is wrong with it (never echoing a password).
boost::system::result<endpoint> parse_url(std::string_view url);

}  // namespace herald::redis
