// Settings of Herald's HTTP listener: where it listens and the limits that keep slow, oversized
// or too many clients from exhausting it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald::http {

struct server_config {
  // host:port to listen on: ":8080" or "*:8080" for every IPv4 interface, "[::1]:8080" for an
  // IPv6 address, "[::]:8080" for every IPv6 one (and IPv4 too where the system maps it); a host
  // name is resolved once, at bind(). Port 0 picks a free port (bind() returns the one bound).
  std::string listen = "127.0.0.1:8080";
  // Largest request body. A bigger one is answered 413 with the "request body too large"
  // envelope: before its body is read when Content-Length announces it, or as soon as a chunked
  // body grows past it.
  std::size_t body_limit = 10 * 1024 * 1024;
  // Largest request line plus header fields; over it: 431.
  std::size_t header_limit = 16 * 1024;
  // Armed once per request, when its first byte arrives (at accept for the first request of a
  // connection): the whole header and body must arrive within it, however the client spaces its
  // bytes. A client that misses it is disconnected without an answer.
  std::chrono::milliseconds read_timeout{10000};
  // How long a keep-alive connection may wait for the first byte of its next request. Short, so
  // that idle clients do not hold connections the next ones need.
  std::chrono::milliseconds idle_timeout{5000};
  // Writing one response must finish within this.
  std::chrono::milliseconds write_timeout{10000};
  // When the server closes a connection after answering, it keeps reading and discarding what
  // the client still sends (an unread body, pipelined requests) for up to this long, so the
  // client reads the answer instead of a connection reset.
  std::chrono::milliseconds linger_timeout{1000};
  // Connections served at once. At the cap a new connection closes the one that has waited
  // longest for a request (idle keep-alive, or never sent a byte); when every connection is busy
  // it is refused: answered 503 and closed (while as many refusals are already under way, closed
  // without an answer). 0: no limit.
  std::size_t max_connections = 1024;
  // Connections served at once from one client address, with the same handling at the cap.
  // Behind a proxy every client has the proxy's address: raise it to max_connections. 0: no limit.
  std::size_t max_connections_per_address = 256;
  // Request bodies held in memory at once, across all connections (a body counts from its
  // header until it is answered; one announced by Content-Length counts whole at once). A body
  // that would pass it is answered 503 with Retry-After before it is read. At least body_limit.
  // 0: no limit.
  std::size_t body_memory_limit = 64 * 1024 * 1024;
  // Paths answered (GET or HEAD) even to a client refused over a connection cap, so that
  // systemd and load balancers can still probe a server under attack.
  std::vector<std::string> health_paths{"/healthz", "/readyz"};
  // Requests served on one connection; the last is answered with Connection: close. 0: no limit.
  unsigned max_requests_per_connection = 1000;
};

// The parts of server_config::listen.
struct listen_address {
  std::string host;  // empty: every interface
  std::uint16_t port = 0;
};

// Splits "host:port", "[v6]:port" or ":port"; throws std::invalid_argument naming the text when
// it is not one of those.
listen_address parse_listen_address(std::string_view text);

}  // namespace herald::http
