// Herald's HTTP/1.1 listener: accepts connections, reads each request within the configured
// deadlines and limits, answers it through a router, and shuts down without dropping a request
// it has started to answer.
#pragma once

#include <cstddef>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "herald/http/config.hpp"
#include "herald/http/router.hpp"

namespace herald::http {

class server {
 public:
  // Each connection runs on its own strand of `ex`, so `ex` may be run by several threads.
  server(boost::asio::any_io_executor ex, server_config cfg, router routes);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

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

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace herald::http
