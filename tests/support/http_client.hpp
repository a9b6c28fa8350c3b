// A blocking HTTP/1.1 client over plain POSIX sockets, for tests: well-formed requests with
// http_request, and raw bytes (malformed, trickled, pipelined) with raw_connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::test {

// Orders header names without regard to case.
struct header_name_less {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

struct http_response {
  int status = 0;
  std::string version;  // "HTTP/1.1"
  std::string reason;
  // A repeated header's values are joined with ", ".
  std::map<std::string, std::string, header_name_less> headers;
  std::string body;  // de-chunked

  // The header's value, or "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const { return headers.contains(name); }
};

// Parses the response at the start of `data`: it and the number of bytes it took, or nothing
// while `data` does not hold all of it yet. `eof`: no more bytes will come (a body without a
// length runs to the end). `head_request`: the response has no body. Throws std::runtime_error
// on bytes that are not an HTTP response.
std::optional<std::pair<http_response, std::size_t>> parse_http_response(std::string_view data,
                                                                         bool eof = false,
                                                                         bool head_request = false);

// A TCP connection to host:port sending whatever bytes a test wants.
class raw_connection {
 public:
  // Connects, or throws std::runtime_error naming host:port and the reason. `source`: the local
  // IPv4 address to connect from (any of 127.0.0.0/8 on loopback), so that a test can be
  // several clients; empty: the system's choice.
  raw_connection(const std::string& host, unsigned short port, const std::string& source = {});
  ~raw_connection();
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  // Sends all of `bytes` (each send leaves at once: TCP_NODELAY); false when the peer has closed
  // or reset the connection.
  bool send(std::string_view bytes);

  // Reads one response; nothing when none arrived whole within `timeout` or the connection closed
  // first. Interim (1xx) responses are returned like others. `head_request`: it has no body.
  std::optional<http_response> read_response(
      std::chrono::milliseconds timeout = std::chrono::seconds(10), bool head_request = false);

  // Reads until the peer closes or `timeout` passes; returns every byte received and not yet
  // taken by read_response.
  std::string read_until_close(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Whether the peer closes (FIN or reset) within `timeout`. What it sends meanwhile is kept for
  // read_response and received().
  bool closed_within(std::chrono::milliseconds timeout);

  bool peer_closed() const { return peer_closed_; }
  const std::string& received() const { return buffer_; }  // not yet taken by read_response
  void shutdown_write();                                   // sends FIN; reading goes on
  void close();
  int fd() const { return fd_; }

 private:
  // Waits until `deadline` for bytes and appends them; false when none came in time.
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buffer_;
  bool peer_closed_ = false;
};

// Sends one request on a new connection (Host, Content-Length and Connection: close added unless
// `headers` has them) and reads the answer, skipping interim 1xx responses. Throws
// std::runtime_error when it cannot connect or no whole response came within `timeout`.
http_response http_request(std::string host, unsigned short port, std::string method,
                           std::string target, std::string body = {},
                           std::vector<std::pair<std::string, std::string>> headers = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace herald::test
