// Herald's HTTP/1.1 listener: accepts connections, reads each request within the configured
// deadlines and limits, answers it through a router, and shuts down without dropping a request
// it has started to answer.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "herald/http/config.hpp"
#include "herald/http/router.hpp"

namespace herald::metrics {
class registry;
}

namespace herald::http {

// Asked about a request with a body once its header has passed the framing checks, before the
// body is read: a response to answer at once (the body is then never read and the connection
// closes), or nothing to go on. This is where a token in the header is checked, so that a
// client without a valid one cannot make the server hold its body.
using header_check = std::function<std::optional<response>(const request_header&)>;

class server {
 public:
  // Each connection runs on its own strand of `ex`, so `ex` may be run by several threads.
  // `metrics` (when given; it must outlive the server) counts the requests answered by route
  // pattern, method and status, their latency from the header read to the response written,
  // and the connections served (herald_http_*, README "Metrics").
  server(boost::asio::any_io_executor ex, server_config cfg, router routes, header_check check = {},
         metrics::registry* metrics = nullptr);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Adds an event loop that connections are dealt to, in turn with `ex`'s, answered by `routes`:
  // the routes a lane gets use that loop's own objects (its Redis connection, say), so that each
  // core answers requests without handing them to another thread. The connection caps and the
  // accounting stay the server's, for every lane together. Call before bind().
  void add_lane(boost::asio::any_io_executor ex, router routes);

  // Resolves cfg.listen, binds and listens; returns the bound endpoint (its real port when the
  // configured one is 0). Throws std::runtime_error (std::system_error for a socket error) whose
  // message names the address.
  boost::asio::ip::tcp::endpoint bind();

  // Accepts connections, one coroutine each, until stop(); returns once every connection has
  // ended. Call bind() first.
  boost::asio::awaitable<void> run();

  // From any thread: stops accepting and closes connections. Idle ones close at once; a request
  // already being read or handled is finished and answered with Connection: close.
  void stop();

  // Connections being served now (not counting those refused with 503).
  std::size_t active_connections() const;

  // Bytes of request bodies held now (see server_config::body_memory_limit).
  std::size_t body_bytes_held() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace herald::http
