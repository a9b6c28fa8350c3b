#include "support/api_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <fstream>

#include "support/json_doc.hpp"

namespace herald::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

void expect_unauthorized(const http_response& res, std::string_view wrong_token) {
  EXPECT_EQ(res.status, 401) << res.body;
  EXPECT_EQ(res.header("WWW-Authenticate"), "Bearer");
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 401);
  EXPECT_EQ(doc.str("/error_text"), "Unauthorized");
  EXPECT_TRUE(doc.str("/error_debug").starts_with("token: ")) << res.body;
  EXPECT_EQ(res.body.find(wrong_token), std::string::npos) << res.body;
}

void expect_redis_unavailable(const http_response& res) {
  EXPECT_EQ(res.status, 503) << res.body;
  EXPECT_EQ(res.header("Retry-After"), "1");
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 503);
  EXPECT_TRUE(doc.str("/error_debug").starts_with("redis: ")) << res.body;
}

std::string invalid_request_debug(const http_response& res) {
  EXPECT_EQ(res.status, 400) << res.body;
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 400);
  EXPECT_EQ(doc.str("/error_text"), "Invalid request");
  return doc.str("/error_debug");
}

void api_server_fixture::start_client(std::string_view tokens_preamble) {
  {
    std::ofstream out(dir_ / "tokens");
    out << tokens_preamble << "acme " << auth::hash_token_hex(acme_token) << "\n"
        << "globex " << auth::hash_token_hex(globex_token) << "\n";
  }
  tokens_ = std::make_unique<auth::token_table>(dir_ / "tokens");

  redis::client_config redis_cfg;
  redis_cfg.url = redis_.url();
  redis_cfg.command_timeout = 2s;
  client_ = std::make_unique<redis::client>(io_.get_executor(), redis_cfg);
  client_->start();
}

void api_server_fixture::serve(http::router routes, http::header_check check) {
  http::server_config http_cfg;
  http_cfg.listen = "127.0.0.1:0";
  server_ = std::make_unique<http::server>(io_.get_executor(), http_cfg, std::move(routes),
                                           std::move(check));
  port_ = server_->bind().port();
  asio::co_spawn(io_, server_->run(), [this](std::exception_ptr) { run_done_ = true; });
  thread_ = std::thread([this] {
    io_.run();
    io_done_ = true;
  });
  ASSERT_TRUE(wait_until([&] { return redis_ready(); }, 10s)) << "the Redis client never connected";
}

void api_server_fixture::TearDown() {
  server_->stop();
  EXPECT_TRUE(wait_until([&] { return run_done_.load(); }, 10s)) << "run() did not return";
  asio::post(io_, [this] { client_->stop(); });
  if (!wait_until([&] { return io_done_.load(); }, 10s)) io_.stop();
  thread_.join();
}

bool api_server_fixture::redis_ready() {
  auto ping = [this]() -> asio::awaitable<bool> {
    auto [ec, reply] =
        co_await client_->async_exec(redis::command("PING"), asio::as_tuple(asio::use_awaitable));
    co_return !ec;
  };
  return on_io(ping());
}

http_response api_server_fixture::post(const std::string& target, const std::string& body,
                                       std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/json");
  return http_request("127.0.0.1", port_, "POST", target, body, headers);
}

}  // namespace herald::test
