// Errors of Herald's Redis client, as std::error_code values with messages an operator can act on.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <string>

namespace herald::redis {

enum class errc {
  not_connected = 1,  // no connection right now (the client is waiting to reconnect)
  connection_lost,    // the connection broke while the command was in flight
  timeout,            // no reply within the command's deadline
  stopped,            // the client was stopped
  server_error,       // Redis answered with an error reply (its text is in the exception)
  unexpected_reply,   // the reply's type is not the one the caller asked for
  invalid_url,        // a Redis URL that does not parse
  not_replicated,     // WAIT: fewer replicas than required acknowledged the write in time
};

const boost::system::error_category& category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// Thrown by the awaitable API; what() carries Redis's own text for a server error.
class error : public boost::system::system_error {
 public:
  error(errc e, const std::string& what) : system_error(make_error_code(e), what) {}
  explicit error(boost::system::error_code ec) : system_error(ec) {}
};

// The connection failed the command (not connected, lost, or no reply in time): asked again once
// Redis is back, it may well succeed.
bool connection_trouble(const boost::system::error_code& ec) noexcept;

// Redis cannot answer for now, though the command itself is fine: the connection is in trouble,
// or Redis is loading its data after a restart, running a busy script, or a failover is under way
// (LOADING, BUSY, TRYAGAIN, MASTERDOWN, READONLY). Asked again, it answers.
bool temporarily_unavailable(const error& ex) noexcept;

}  // namespace herald::redis

template <>
struct boost::system::is_error_code_enum<herald::redis::errc> : std::true_type {};
