// A fixture for the HTTP API routes: a real redis-server, Herald's Redis client on it, a tokens
// file of two accounts ("secret" is acme's token, "s3cr3t-token" globex's), and Herald's HTTP
// server on a free loopback port, its io_context run on a thread of its own. A test's SetUp
// calls start_client(), adds its routes, then serve(); TearDown stops it all.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "herald/auth/tokens.hpp"
#include "herald/http/server.hpp"
#include "herald/redis/client.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace herald::test {

// Checks that `res` is the API's refusal of a token: 401 with WWW-Authenticate: Bearer, error
// 401 "Unauthorized", an error_debug about the token, and `wrong_token` nowhere in the body.
void expect_unauthorized(const http_response& res, std::string_view wrong_token);

// Checks that `res` is the API's answer while Redis is down: 503 with Retry-After: 1, error 503,
// and an error_debug about Redis.
void expect_redis_unavailable(const http_response& res);

// Checks that `res` is the API's 400 "Invalid request"; its error_debug.
std::string invalid_request_debug(const http_response& res);

class api_server_fixture : public ::testing::Test {
 protected:
  static constexpr const char* acme_token = "secret";
  static constexpr const char* globex_token = "s3cr3t-token";

  explicit api_server_fixture(std::string_view dir_prefix) : dir_(dir_prefix) {}

  // Writes the tokens file (`preamble`, then acme's and globex's lines), loads it into tokens_,
  // and starts the Redis client on redis_.
  void start_client(std::string_view tokens_preamble = {});

  // Serves `routes` on 127.0.0.1 (`check` asked of each request's header before its body, as
  // heraldd asks its token checks), runs the io_context on a thread, and waits (a fatal failure
  // otherwise) until the Redis client answers a PING.
  void serve(http::router routes, http::header_check check = {});

  void TearDown() override;

  // Whether the Redis client answers a PING.
  bool redis_ready();

  // Runs `work` on the server's io_context and waits for its result.
  template <class T>
  T on_io(boost::asio::awaitable<T> work) {
    return boost::asio::co_spawn(io_, std::move(work), boost::asio::use_future).get();
  }

  // A POST of `body` to `target` with Content-Type: application/json, and `headers`.
  http_response post(const std::string& target, const std::string& body,
                     std::vector<std::pair<std::string, std::string>> headers = {});

  temp_dir dir_;
  redis_server redis_;
  std::unique_ptr<auth::token_table> tokens_;
  boost::asio::io_context io_{1};
  std::unique_ptr<redis::client> client_;
  std::unique_ptr<http::server> server_;
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<bool> run_done_{false};
  std::atomic<bool> io_done_{false};
};

}  // namespace herald::test
