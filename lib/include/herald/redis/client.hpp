// Herald's Redis client: hiredis's async API driven by an Asio executor, used from coroutines.
//
// Many coroutines share one connection; their commands are pipelined and every reply returns,
// in order, to the coroutine that sent the command. Every command has a deadline. A lost
// connection fails the commands in flight at once and is re-established with capped exponential
// backoff; a ping watchdog notices a server that stopped answering.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>

#include "herald/redis/command.hpp"
#include "herald/redis/error.hpp"
#include "herald/redis/reply.hpp"
#include "herald/redis/script.hpp"

namespace herald::metrics {
class histogram;
}

namespace herald::redis {

struct client_config {
  // redis://[[user]:password@]host:port[/db] or unix:///path/to/socket[?db=N]
  std::string url = "redis://127.0.0.1:6379";
  // A command without a reply after this fails with errc::timeout; its late reply is dropped.
  std::chrono::milliseconds command_timeout{5000};
  // Connecting (including AUTH and SELECT) gives up after this and retries after a backoff.
  std::chrono::milliseconds connect_timeout{2000};
  // The watchdog sends a PING this often while connected...
  std::chrono::milliseconds ping_interval{1000};
  // ...and drops the connection when no reply came within this.
  std::chrono::milliseconds ping_timeout{3000};
  // Reconnect backoff: doubles from the minimum up to the maximum, with jitter.
  std::chrono::milliseconds reconnect_min{50};
  std::chrono::milliseconds reconnect_max{1000};
  // Commands appended since the last write are flushed once this many wait, without waiting for
  // the event loop to come round: this keeps client and server busy at the same time.
  std::size_t flush_every = 32;
  // Shown by CLIENT LIST (CLIENT SETNAME); empty: none.
  std::string client_name;
  // When set (it must outlive the client), every command's latency, from being sent to its reply
  // (or its deadline), is observed in it. Leave it unset on a connection for blocking commands.
  metrics::histogram* command_latency = nullptr;
};

enum class connection_state { disconnected, connecting, connected, stopped };

class client {
 public:
  using exec_signature = void(boost::system::error_code, reply);

  // `ex` must not run handlers concurrently (an io_context run by one thread, or a strand);
  // callers may be on any executor.
  client(boost::asio::any_io_executor ex, client_config config);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Starts connecting; from then on the client keeps itself connected until stop().
  void start();
  // Closes the connection; commands in flight fail with errc::stopped. Idempotent.
  void stop();

  // Runs one command. Completes with (error, reply): a Redis error reply completes with
  // errc::server_error and the reply (of kind error) carrying Redis's text.
  template <class CompletionToken>
  auto async_exec(command cmd, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, exec_signature>(
        [this](auto handler, command cmd) { initiate_exec(std::move(cmd), std::move(handler)); },
        token, std::move(cmd));
  }

  // Awaitable forms: throw redis::error on failure, with Redis's text for a server error.
  boost::asio::awaitable<reply> exec(command cmd);
  template <class... Args>
  boost::asio::awaitable<reply> exec(Args&&... args) {
    return exec(command(std::forward<Args>(args)...));
  }
  // EVALSHA, falling back to EVAL (which also caches the script) when Redis says NOSCRIPT.
  boost::asio::awaitable<reply> eval(const script& s, std::span<const std::string> keys,
                                     std::span<const std::string> args);

  // These read the connection's state: call them on the client's executor.
  connection_state state() const;
  const client_config& config() const;
  boost::asio::any_io_executor get_executor() const;

  struct statistics {
    std::uint64_t commands = 0;    // sent
    std::uint64_t timeouts = 0;    // failed by their deadline
    std::uint64_t reconnects = 0;  // connections established after the first
  };
  statistics stats() const;

 private:
  void initiate_exec(command cmd, boost::asio::any_completion_handler<exec_signature> handler);

  class connection;
  std::shared_ptr<connection> impl_;
};

}  // namespace herald::redis
