// The HTTP server against raw sockets on loopback: deadlines, limits, the connection cap,
// keep-alive and shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/http/server.hpp"
#include "herald/metrics/registry.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;
using herald::http::server;
using herald::http::server_config;
using herald::test::http_request;
using herald::test::raw_connection;
using herald::test::wait_until;
using clock_type = std::chrono::steady_clock;

constexpr auto ok_body = R"({"error": 0, "error_text": "Successful operation"})";
constexpr auto too_large_body =
    R"({"error": 400, "error_debug": "http: request body too large", "error_text": "Invalid request"})";

constexpr std::size_t big_reply_pad = 64 * 1024 * 1024;

std::string get(std::string_view target, std::string_view version = "HTTP/1.1",
                std::string_view extra = {}) {
  return "GET " + std::string(target) + " " + std::string(version) + "\r\nHost: test\r\n"
         + std::string(extra) + "\r\n";
}

class http_server_test : public ::testing::Test {
 protected:
  // Binds 127.0.0.1:0 and runs the server on `threads` threads.
  void start(server_config cfg = {}, int threads = 1, herald::http::header_check check = {}) {
    cfg.listen = "127.0.0.1:0";
    herald::http::router routes;
    routes.add(bhttp::verb::get, "/healthz",
               [](const herald::http::request&) -> asio::awaitable<herald::http::response> {
                 co_return herald::http::json_reply(bhttp::status::ok, ok_body);
               });
    routes.add(bhttp::verb::get, "/hello",
               [](const herald::http::request&) -> asio::awaitable<herald::http::response> {
                 co_return herald::http::json_reply(bhttp::status::ok, ok_body);
               });
    routes.add(bhttp::verb::post, "/echo",
               [this](const herald::http::request& req) -> asio::awaitable<herald::http::response> {
                 ++echo_calls_;
                 co_return herald::http::json_reply(
                     bhttp::status::ok, R"({"error": 0, "error_text": "Successful operation", )"
                                        R"("size": )"
                                            + std::to_string(req.body().size()) + "}");
               });
    routes.add(bhttp::verb::get, "/throw",
               [](const herald::http::request&) -> asio::awaitable<herald::http::response> {
                 throw std::runtime_error("the handler failed on purpose");
                 co_return herald::http::json_reply(bhttp::status::ok, ok_body);
               });
    // A reply far larger than loopback's socket buffers can hold.
    routes.add(bhttp::verb::get, "/big",
               [](const herald::http::request&) -> asio::awaitable<herald::http::response> {
                 co_return herald::http::json_reply(
                     bhttp::status::ok, R"({"pad": ")" + std::string(big_reply_pad, 'x') + "\"}");
               });
    // A LeadConverter-style path: its second segment is a token.
    routes.add(bhttp::verb::post, "/api/v1/{token}/echo",
               [](const herald::http::request&) -> asio::awaitable<herald::http::response> {
                 co_return herald::http::json_reply(bhttp::status::ok, ok_body);
               });
    // Answers once the test cancels release_.
    routes.add(bhttp::verb::get, "/hold",
               [this](const herald::http::request&) -> asio::awaitable<herald::http::response> {
                 held_ = true;
                 co_await release_.async_wait(asio::as_tuple(asio::use_awaitable));
                 co_return herald::http::json_reply(bhttp::status::ok, ok_body);
               });
    server_ = std::make_unique<server>(ioc_.get_executor(), cfg, std::move(routes),
                                       std::move(check), &metrics_);
    port_ = server_->bind().port();
    ASSERT_NE(port_, 0);
    asio::co_spawn(ioc_, server_->run(), [this](std::exception_ptr e) {
      run_error_ = e;
      run_done_ = true;
    });
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        ioc_.run();
        ++threads_done_;
      });
    }
  }

  void TearDown() override {
    if (!server_) return;
    server_->stop();
    EXPECT_TRUE(wait_until([&] { return run_done_.load(); }, 10s)) << "run() did not return";
    asio::post(ioc_, [this] { release_.cancel(); });
    // Nothing of the server may be left on the io_context: run() must return by itself.
    const bool drained =
        wait_until([&] { return threads_done_ == static_cast<int>(threads_.size()); }, 10s);
    EXPECT_TRUE(drained) << "work left on the io_context after run() returned";
    if (!drained) ioc_.stop();
    for (auto& t : threads_) t.join();
    EXPECT_FALSE(run_error_) << "run() threw";
    EXPECT_EQ(server_->active_connections(), 0u);
  }

  void release_held() {
    asio::post(ioc_, [this] { release_.cancel(); });
  }

  raw_connection connect(const std::string& source = {}) {
    return raw_connection("127.0.0.1", port_, source);
  }

  herald::metrics::registry metrics_;  // outlives the server
  asio::io_context ioc_;
  asio::steady_timer release_{ioc_, asio::steady_timer::time_point::max()};
  std::unique_ptr<server> server_;
  unsigned short port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<int> threads_done_{0};
  std::atomic<bool> run_done_{false};
  std::exception_ptr run_error_;
  std::atomic<int> echo_calls_{0};
  std::atomic<bool> held_{false};
};

TEST_F(http_server_test, keep_alive_serves_several_requests_on_one_connection) {
  start();
  auto c = connect();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send(get("/hello")));
    auto res = c.read_response(5s);
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->version, "HTTP/1.1");
    EXPECT_EQ(res->body, ok_body);
    EXPECT_EQ(res->header("Content-Type"), "application/json");
    EXPECT_FALSE(res->has_header("Connection"));
  }
  // Pipelined: three requests in one write, three answers in order.
  ASSERT_TRUE(c.send(get("/hello") + get("/nope") + get("/hello?x=1")));
  for (int expected : {200, 404, 200}) {
    auto res = c.read_response(5s);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, expected);
  }
  EXPECT_FALSE(c.closed_within(200ms));
  EXPECT_EQ(server_->active_connections(), 1u);
}

TEST_F(http_server_test, http10_closes_unless_keep_alive_is_asked_for) {
  start();
  {
    auto c = connect();
    ASSERT_TRUE(c.send(get("/hello", "HTTP/1.0")));
    auto res = c.read_response(5s);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->version, "HTTP/1.0");
    EXPECT_NE(res->header("Connection"), "keep-alive");
    EXPECT_TRUE(c.closed_within(5s));
  }
  auto c = connect();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send(get("/hello", "HTTP/1.0", "Connection: keep-alive\r\n")));
    auto res = c.read_response(5s);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->header("Connection"), "keep-alive");
  }
  EXPECT_FALSE(c.closed_within(200ms));
}

TEST_F(http_server_test, unknown_path_is_a_404_envelope) {
  start();
  auto res = http_request("127.0.0.1", port_, "GET", "/nope?token=secret");
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.header("Content-Type"), "application/json");
  EXPECT_EQ(res.body, R"({"error": 404, "error_debug": "http: no route for /nope", )"
                      R"("error_text": "Not found"})");
}

TEST_F(http_server_test, known_path_with_another_method_is_a_405_envelope_with_allow) {
  start();
  auto res = http_request("127.0.0.1", port_, "POST", "/hello", "{}");
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(res.header("Allow"), "GET");
  EXPECT_EQ(res.body, R"({"error": 405, "error_debug": "http: POST is not allowed on /hello )"
                      R"j((allowed: GET)", "error_text": "Method not allowed"})j");
  // HEAD gets the same answer without a body, and the connection stays usable.
  auto c = connect();
  ASSERT_TRUE(c.send("HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n" + get("/hello")));
  auto head = c.read_response(5s, /*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 405);
  EXPECT_TRUE(head->body.empty());
  EXPECT_NE(head->header("Content-Length"), "0");
  auto next = c.read_response(5s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, ok_body);
}

TEST_F(http_server_test, a_throwing_handler_gets_a_500_envelope_and_the_server_lives_on) {
  start();
  auto c = connect();
  ASSERT_TRUE(c.send(get("/throw")));
  auto res = c.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body, R"({"error": 500, "error_debug": "http: the request failed; the server )"
                       R"(log has the reason", "error_text": "Internal error"})");
  ASSERT_TRUE(c.send(get("/hello")));  // the same connection goes on
  auto next = c.read_response(5s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/hello").status, 200);
}

TEST_F(http_server_test, a_slow_client_is_cut_off_at_the_read_deadline) {
  server_config cfg;
  cfg.read_timeout = 1s;
  start(cfg);
  // A byte every 100 ms: each read is quick, but the request would take about 7 s in all.
  const std::string request =
      get("/hello", "HTTP/1.1", "X-Padding: " + std::string(40, 'p') + "\r\n");
  ASSERT_GE(request.size(), 70u);
  auto c = connect();
  const auto started = clock_type::now();
  std::size_t sent = 0;
  bool closed = false;
  while (sent < request.size() && !closed) {
    if (!c.send(request.substr(sent, 1))) break;
    ++sent;
    closed = c.closed_within(100ms);
  }
  const auto elapsed = clock_type::now() - started;
  EXPECT_TRUE(closed || c.peer_closed());
  EXPECT_LT(sent, request.size() / 2);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(c.received(), "");  // cut off, not answered
}

TEST_F(http_server_test, silent_and_idle_connections_are_closed_at_their_deadlines) {
  server_config cfg;
  cfg.read_timeout = 500ms;
  cfg.idle_timeout = 1500ms;
  start(cfg);
  auto silent = connect();
  auto idle = connect();
  ASSERT_TRUE(idle.send(get("/hello")));
  ASSERT_TRUE(idle.read_response(5s));
  const auto started = clock_type::now();
  // Sends nothing at all: read_timeout applies from accept.
  EXPECT_TRUE(silent.closed_within(5s));
  EXPECT_LT(clock_type::now() - started, 1200ms);
  // Between requests a keep-alive connection has idle_timeout, longer than read_timeout here.
  EXPECT_FALSE(idle.peer_closed());
  EXPECT_TRUE(idle.closed_within(5s));
  const auto idle_elapsed = clock_type::now() - started;
  EXPECT_GE(idle_elapsed, 1300ms);
  EXPECT_LT(idle_elapsed, 3500ms);
}

TEST_F(http_server_test, a_content_length_over_the_limit_is_413_before_the_body_is_read) {
  server_config cfg;
  cfg.body_limit = 1024;
  start(cfg);
  auto c = connect();
  // The body is never sent: the answer must come from the header alone.
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1025\r\n\r\n"));
  auto res = c.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(res->body, too_large_body);
  EXPECT_EQ(res->header("Connection"), "close");
  EXPECT_TRUE(c.closed_within(5s));

  // With Expect: 100-continue the client is refused at once, not invited to send.
  auto expecting = connect();
  ASSERT_TRUE(expecting.send(
      "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
  auto refused = expecting.read_response(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 413);
  EXPECT_EQ(refused->body, too_large_body);

  // A client that sends its big body anyway still reads the 413, not a reset.
  auto whole = http_request("127.0.0.1", port_, "POST", "/echo", std::string(200000, 'x'));
  EXPECT_EQ(whole.status, 413);
  EXPECT_EQ(whole.body, too_large_body);
  EXPECT_EQ(echo_calls_, 0);

  // At the limit exactly: served.
  auto fits = http_request("127.0.0.1", port_, "POST", "/echo", std::string(1024, 'x'));
  EXPECT_EQ(fits.status, 200);
  EXPECT_EQ(echo_calls_, 1);
}

TEST_F(http_server_test, a_chunked_body_growing_past_the_limit_is_413) {
  server_config cfg;
  cfg.body_limit = 1024;
  start(cfg);
  const std::string chunk = "200\r\n" + std::string(0x200, 'x') + "\r\n";
  auto c = connect();
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk));
  ASSERT_TRUE(c.send(chunk));
  EXPECT_FALSE(c.closed_within(100ms));  // 1024 bytes so far: still within the limit
  ASSERT_TRUE(c.send(chunk));            // 1536: past it; no final chunk is ever sent
  auto res = c.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(res->body, too_large_body);
  EXPECT_TRUE(c.closed_within(5s));
  EXPECT_EQ(echo_calls_, 0);

  // A chunked body within the limit is served.
  auto small = connect();
  ASSERT_TRUE(small.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + chunk + "5\r\nhello\r\n0\r\n\r\n"));
  auto ok = small.read_response(5s);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->body.find(R"("size": 517)"), std::string::npos) << ok->body;
}

TEST_F(http_server_test, content_length_with_transfer_encoding_is_400) {
  start();
  const auto bad_request = [](std::string_view problem) {
    return R"({"error": 400, "error_debug": "http: )" + std::string(problem)
           + R"(", "error_text": "Invalid request"})";
  };
  struct malformed {
    std::string request;
    std::string_view problem;
  };
  const std::vector<malformed> cases = {
      {"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       "bad Transfer-Encoding"},
      {"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
       "Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       "bad Content-Length"},
      {"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5x\r\n\r\nhello",
       "bad Content-Length"},
      {"GET\x01 / HTTP/1.1\r\nHost: test\r\n\r\n", "bad method"},
  };
  for (const auto& [request, problem] : cases) {
    auto c = connect();
    ASSERT_TRUE(c.send(request));
    auto res = c.read_response(5s);
    ASSERT_TRUE(res) << problem;
    EXPECT_EQ(res->status, 400) << problem;
    EXPECT_EQ(res->body, bad_request(problem));
    EXPECT_EQ(res->header("Connection"), "close") << problem;
    EXPECT_TRUE(c.closed_within(5s)) << problem;
  }
  EXPECT_EQ(echo_calls_, 0);
}

TEST_F(http_server_test, headers_over_the_limit_are_431) {
  server_config cfg;
  cfg.header_limit = 1024;
  start(cfg);
  auto c = connect();
  ASSERT_TRUE(c.send(get("/hello", "HTTP/1.1", "X-Big: " + std::string(2000, 'a') + "\r\n")));
  auto res = c.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 431);
  EXPECT_EQ(res->body, R"({"error": 400, "error_debug": "http: request header too large", )"
                       R"("error_text": "Invalid request"})");
  EXPECT_TRUE(c.closed_within(5s));
  // Under the limit: served.
  EXPECT_EQ(
      http_request("127.0.0.1", port_, "GET", "/hello", {}, {{"X-Big", std::string(500, 'a')}})
          .status,
      200);
}

// The metrics the server keeps: each answer counted by route pattern (never the path), method
// and status, refusals before routing included, with its latency; the connections served.
TEST_F(http_server_test, answers_are_counted_by_route_pattern_method_and_status) {
  server_config cfg;
  cfg.body_limit = 1024;
  cfg.header_limit = 1024;
  start(cfg);
  auto count = [&](std::string_view route, std::string_view method, std::string_view status) {
    return metrics_.counter_family("herald_http_requests_total", "", {"route", "method", "status"})
        .with({route, method, status})
        .value();
  };
  auto& duration = metrics_.histogram_family("herald_http_request_duration_seconds", "", {"route"},
                                             herald::metrics::latency_buckets());
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/hello?x=1").status, 200);
  EXPECT_EQ(http_request("127.0.0.1", port_, "POST", "/api/v1/s3cret-a/echo", "{}").status, 200);
  EXPECT_EQ(
      http_request("127.0.0.1", port_, "POST", "/api/v1/s3cret-b/echo", std::string(2000, 'x'))
          .status,
      413);
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/api/v1/s3cret-c/echo").status, 405);
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/s3cret-d").status, 404);
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/throw").status, 500);
  {
    auto c = connect();
    ASSERT_TRUE(c.send(get("/hello", "HTTP/1.1", "X-Big: " + std::string(2000, 'a') + "\r\n")));
    auto res = c.read_response(5s);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 431);
  }
  {
    // Refused before the parser reads it (obs-fold): no route, no method.
    auto c = connect();
    ASSERT_TRUE(c.send("GET /s3cret-e HTTP/1.1\r\nHost: test\r\nX-A: a\r\n b\r\n\r\n"));
    auto res = c.read_response(5s);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
  }
  // Each is counted once its answer is written, which the client may see first.
  EXPECT_TRUE(wait_until([&] { return count("other", "other", "400") == 1; }, 5s));
  // The 431's request line was read: the refusal is the route's.
  EXPECT_EQ(count("/hello", "GET", "431"), 1u);
  EXPECT_EQ(count("/hello", "GET", "200"), 2u);
  EXPECT_EQ(count("/api/v1/{token}/echo", "POST", "200"), 1u);
  EXPECT_EQ(count("/api/v1/{token}/echo", "POST", "413"), 1u);
  EXPECT_EQ(count("/api/v1/{token}/echo", "GET", "405"), 1u);
  EXPECT_EQ(count("other", "GET", "404"), 1u);
  EXPECT_EQ(count("/throw", "GET", "500"), 1u);
  EXPECT_EQ(duration.with({"/hello"}).read().count(), 3u);
  EXPECT_EQ(duration.with({"/api/v1/{token}/echo"}).read().count(), 3u);
  const auto text = metrics_.render();
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_NE(text.find("herald_http_requests_total{route=\"/api/v1/{token}/echo\",method=\"POST\","
                      "status=\"413\"} 1\n"),
            std::string::npos)
      << text;
  auto& connections = metrics_.add_gauge("herald_http_connections", "");
  EXPECT_TRUE(wait_until([&] { return connections.value() == 0; }, 5s)) << connections.value();
}

TEST_F(http_server_test, over_the_connection_cap_a_client_gets_503_until_one_closes) {
  server_config cfg;
  cfg.max_connections = 2;
  start(cfg);
  // Both in the middle of a request: none idle to make room.
  auto a = std::make_unique<raw_connection>("127.0.0.1", port_);
  auto b = connect();
  for (raw_connection* c : {a.get(), &b}) {
    ASSERT_TRUE(c->send("GET /hello HTTP/1.1\r\nHost: test\r\n"));
  }
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 2; }, 5s));

  auto third = connect();
  auto refused = third.read_response(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->header("Connection"), "close");
  EXPECT_EQ(refused->body, R"({"error": 503, "error_debug": "http: too many connections", )"
                           R"("error_text": "Service unavailable"})");
  EXPECT_TRUE(third.closed_within(5s));
  EXPECT_EQ(server_->active_connections(), 2u);

  a.reset();  // one closes: a new client is served
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 1; }, 5s));
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/hello").status, 200);
  ASSERT_TRUE(b.send("\r\n"));  // and the one that stayed still is
  auto res = b.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(http_server_test, a_client_that_never_reads_its_reply_is_dropped_at_the_write_deadline) {
  server_config cfg;
  cfg.write_timeout = 1s;
  start(cfg);
  auto reader_that_never_reads = connect();
  ASSERT_TRUE(reader_that_never_reads.send(get("/big")));
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 1; }, 5s));
  const auto started = clock_type::now();
  // Meanwhile other clients are served.
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/hello").status, 200);
  // The socket buffers fill, the write stalls, and the deadline closes the connection.
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 0; }, 10s))
      << "the connection of a client that never reads is still open";
  const auto dropped_after = clock_type::now() - started;
  EXPECT_LT(dropped_after, 5s);
  // What reached the client is a cut-off reply, then the close.
  const auto got = reader_that_never_reads.read_until_close(10s);
  EXPECT_TRUE(reader_that_never_reads.peer_closed());
  EXPECT_LT(got.size(), big_reply_pad);
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/hello").status, 200);
}

TEST_F(http_server_test, refusals_are_bounded_too) {
  server_config cfg;
  cfg.max_connections = 1;
  cfg.linger_timeout = 30s;  // a refused client that never closes keeps its refusal under way
  start(cfg);
  auto served = connect();
  ASSERT_TRUE(served.send("GET /hello HTTP/1.1\r\nHost: test\r\n"));  // busy, not idle
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 1; }, 5s));

  auto refused = std::make_unique<raw_connection>("127.0.0.1", port_);
  auto res = refused->read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  // One refusal under way already: the next one is closed without an answer.
  auto dropped = connect();
  EXPECT_TRUE(dropped.closed_within(5s));
  EXPECT_EQ(dropped.received(), "");

  refused.reset();
  const bool answered_again = wait_until(
      [&] {
        raw_connection next("127.0.0.1", port_);
        auto again = next.read_response(5s);
        return again && again->status == 503;
      },
      5s);
  EXPECT_TRUE(answered_again);
}

TEST_F(http_server_test, the_last_request_of_a_connection_is_answered_with_connection_close) {
  server_config cfg;
  cfg.max_requests_per_connection = 3;
  start(cfg);
  auto c = connect();
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(c.send(get("/hello")));
    auto res = c.read_response(5s);
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->header("Connection"), i < 3 ? "" : "close") << "request " << i;
    if (i < 3) {
      EXPECT_FALSE(c.peer_closed());
    }
  }
  EXPECT_TRUE(c.closed_within(5s));
}

TEST_F(http_server_test, expect_100_continue_is_answered_before_the_body) {
  start();
  auto c = connect();
  ASSERT_TRUE(c.send(
      "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto go_on = c.read_response(5s);
  ASSERT_TRUE(go_on);
  EXPECT_EQ(go_on->status, 100);
  ASSERT_TRUE(c.send("hello"));
  auto res = c.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find(R"("size": 5)"), std::string::npos) << res->body;
}

TEST_F(http_server_test, stop_closes_idle_connections_and_answers_the_request_in_flight) {
  start();
  auto idle = connect();
  ASSERT_TRUE(idle.send(get("/hello")));
  ASSERT_TRUE(idle.read_response(5s));
  auto busy = connect();
  ASSERT_TRUE(busy.send(get("/hold")));
  ASSERT_TRUE(wait_until([&] { return held_.load(); }, 5s));

  server_->stop();
  EXPECT_TRUE(idle.closed_within(5s));
  EXPECT_EQ(idle.received(), "");
  EXPECT_THROW(connect(), std::runtime_error);  // no longer accepting
  EXPECT_TRUE(wait_until([&] { return server_->active_connections() == 1; }, 5s));
  EXPECT_FALSE(run_done_);  // the held request keeps run() going

  release_held();
  auto res = busy.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->header("Connection"), "close");
  EXPECT_TRUE(busy.closed_within(5s));
  EXPECT_TRUE(wait_until([&] { return run_done_.load(); }, 5s));
  EXPECT_EQ(server_->active_connections(), 0u);
}

TEST_F(http_server_test, stop_makes_run_return_with_no_connection_left) {
  start();
  std::vector<std::unique_ptr<raw_connection>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<raw_connection>("127.0.0.1", port_));
  }
  // One served and waiting for its next request, two that never sent anything.
  ASSERT_TRUE(clients[0]->send(get("/hello")));
  ASSERT_TRUE(clients[0]->read_response(5s));
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 3; }, 5s));

  server_->stop();
  for (auto& c : clients) EXPECT_TRUE(c->closed_within(5s));
  EXPECT_TRUE(wait_until([&] { return run_done_.load(); }, 5s));
  EXPECT_EQ(server_->active_connections(), 0u);
}

TEST_F(http_server_test, serves_concurrent_clients_from_several_threads) {
  server_config cfg;
  cfg.max_connections = 64;
  start(cfg, 2);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      auto c = raw_connection("127.0.0.1", port_);
      for (int i = 0; i < 25; ++i) {
        if (i % 5 == 0) {
          if (http_request("127.0.0.1", port_, "POST", "/echo", "abc").status == 200) ++ok;
        } else if (c.send(get("/hello"))) {
          if (auto res = c.read_response(10s); res && res->status == 200) ++ok;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(echo_calls_, 20);
}

// Reads the one answer `c` gets: `status`, Connection: close, an error_debug holding `debug`;
// then the connection closes with nothing more sent (no second response read from the body).
void expect_one_answer_then_close(raw_connection& c, int status, std::string_view debug,
                                  std::string_view what) {
  auto res = c.read_response(5s);
  ASSERT_TRUE(res) << what;
  EXPECT_EQ(res->status, status) << what << ": " << res->body;
  EXPECT_NE(res->body.find(debug), std::string::npos) << what << ": " << res->body;
  EXPECT_EQ(res->header("Connection"), "close") << what;
  EXPECT_TRUE(c.closed_within(5s)) << what;
  EXPECT_EQ(c.received(), "") << what;
}

// Issue 10, defect 1: the body of a request whose Transfer-Encoding does not end in chunked was
// read as a second request.
TEST_F(http_server_test, the_smuggling_reproduction_gets_one_answer_and_a_closed_connection) {
  start();
  auto c = connect();
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
             "GET /nope-smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  expect_one_answer_then_close(c, 400, "http: bad Transfer-Encoding", "gzip");
  EXPECT_EQ(echo_calls_, 0);
}

TEST_F(http_server_test, ambiguous_framing_is_refused_and_the_connection_closed) {
  start();
  struct attempt {
    std::string_view what;
    std::string request;
    int status;
    std::string_view debug;
  };
  const std::string post = "POST /echo HTTP/1.1\r\nHost: test\r\n";
  const std::string chunked_body = "5\r\nhello\r\n0\r\n\r\n";
  const std::vector<attempt> attempts = {
      {"identity", post + "Transfer-Encoding: identity\r\n\r\nhello", 400,
       "the last coding must be chunked"},
      {"xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n" + chunked_body, 400,
       "the last coding must be chunked"},
      {"empty", post + "Transfer-Encoding: \r\n\r\n" + chunked_body, 400,
       "bad Transfer-Encoding: empty"},
      {"chunked, gzip", post + "Transfer-Encoding: chunked, gzip\r\n\r\n" + chunked_body, 400,
       "the last coding must be chunked, not \\\"gzip\\\""},
      {"gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked_body, 501,
       "unsupported transfer coding \\\"gzip\\\""},
      {"gzip then chunked in two fields",
       post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body, 501,
       "unsupported transfer coding"},
      {"chunked twice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n" + chunked_body, 400,
       "chunked given more than once"},
      {"CL then TE gzip", post + "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\nhello", 400,
       "Transfer-Encoding"},
      {"TE gzip then CL", post + "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello", 400,
       "both Content-Length and Transfer-Encoding"},
      {"duplicate Content-Length", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
       400, "Content-Length header given more than once"},
      {"obs-fold", post + "X-Folded: a\r\n  b\r\nContent-Length: 5\r\n\r\nhello", 400, "obs-fold"},
      {"obs-fold of Content-Length", post + "Content-Length: 5\r\n\t0\r\n\r\nhello", 400,
       "obs-fold"},
      {"NUL in a value",
       post + "X-Nul: a" + std::string(1, '\0') + "b\r\nContent-Length: 5\r\n\r\nhello", 400,
       "NUL"},
      {"HTTP/1.0 chunked",
       "POST /echo HTTP/1.0\r\nHost: test\r\nConnection: keep-alive\r\n"
       "Transfer-Encoding: chunked\r\n\r\n"
           + chunked_body,
       400, "Transfer-Encoding in an HTTP/1.0 request"},
      {"HTTP/1.1 without Host", "GET /hello HTTP/1.1\r\n\r\n", 400, "needs a Host header"},
      {"two Hosts", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400,
       "Host header given more than once"},
      {"two Authorization headers",
       "GET /hello HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer one\r\n"
       "Authorization: Bearer two\r\n\r\n",
       400, "Authorization header given more than once"},
  };
  for (const auto& a : attempts) {
    auto c = connect();
    // Each followed by a request that must never be answered.
    ASSERT_TRUE(c.send(a.request + get("/nope-smuggled")));
    expect_one_answer_then_close(c, a.status, a.debug, a.what);
  }
  EXPECT_EQ(echo_calls_, 0);
  // HTTP/1.0 without Host and a well-framed chunked request are still served.
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/hello", {}, {}).status, 200);
  auto c = connect();
  ASSERT_TRUE(c.send("GET /hello HTTP/1.0\r\n\r\n"));
  auto res = c.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto chunked = connect();
  ASSERT_TRUE(chunked.send(post + "Transfer-Encoding: Chunked\r\n\r\n" + chunked_body));
  auto ok = chunked.read_response(5s);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->body.find(R"("size": 5)"), std::string::npos) << ok->body;
}

// Issue 10, defect 2: idle keep-alive connections held for 60 s locked new clients out.
TEST_F(http_server_test, the_default_idle_timeout_is_a_few_seconds) {
  EXPECT_LE(server_config{}.idle_timeout, 5s);
  EXPECT_LT(server_config{}.idle_timeout, server_config{}.read_timeout);
}

TEST_F(http_server_test, at_the_cap_a_new_client_closes_the_longest_idle_connection) {
  server_config cfg;
  cfg.max_connections = 3;
  start(cfg);
  auto silent = connect();  // never sends: idle since accept, the longest
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 1; }, 5s));
  auto served = connect();  // idle since its answer
  ASSERT_TRUE(served.send(get("/hello")));
  ASSERT_TRUE(served.read_response(5s));
  auto busy = connect();  // in the middle of its header: not idle
  ASSERT_TRUE(busy.send("GET /hello HTTP/1.1\r\nHost: test\r\n"));
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 3; }, 5s));

  auto fresh = connect();
  ASSERT_TRUE(fresh.send(get("/hello")));
  auto res = fresh.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(silent.closed_within(2s));
  EXPECT_EQ(silent.received(), "");
  EXPECT_FALSE(served.peer_closed());

  // The next newcomer closes the next longest idle; the busy one keeps its request going.
  auto second = connect();
  ASSERT_TRUE(second.send(get("/hello")));
  auto res2 = second.read_response(5s);
  ASSERT_TRUE(res2);
  EXPECT_EQ(res2->status, 200);
  EXPECT_TRUE(served.closed_within(2s));
  EXPECT_FALSE(fresh.peer_closed());
  ASSERT_TRUE(busy.send("\r\n"));
  auto finished = busy.read_response(5s);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->status, 200);
}

TEST_F(http_server_test, when_every_connection_is_busy_health_probes_are_still_answered) {
  server_config cfg;
  cfg.max_connections = 2;
  start(cfg);
  auto a = connect();
  auto b = connect();
  for (raw_connection* c : {&a, &b}) ASSERT_TRUE(c->send("GET /hello HTTP/1.1\r\nHost: t\r\n"));
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 2; }, 5s));

  auto probe = connect();
  ASSERT_TRUE(probe.send(get("/healthz")));
  auto health = probe.read_response(5s);
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, ok_body);
  EXPECT_EQ(health->header("Connection"), "close");
  EXPECT_TRUE(probe.closed_within(5s));

  auto other = connect();
  ASSERT_TRUE(other.send(get("/hello")));
  auto refused = other.read_response(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->header("Retry-After"), "1");
  EXPECT_EQ(server_->active_connections(), 2u);
}

TEST_F(http_server_test, one_address_is_held_to_its_own_cap) {
  server_config cfg;
  cfg.max_connections = 100;
  cfg.max_connections_per_address = 2;
  start(cfg);
  // Two busy connections from 127.0.0.2: a third from there is refused...
  auto a = connect("127.0.0.2");
  auto b = connect("127.0.0.2");
  for (raw_connection* c : {&a, &b}) ASSERT_TRUE(c->send("GET /hello HTTP/1.1\r\nHost: t\r\n"));
  auto idle_elsewhere = connect("127.0.0.3");
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 3; }, 5s));
  auto third = connect("127.0.0.2");
  ASSERT_TRUE(third.send(get("/hello")));
  auto refused = third.read_response(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->body, R"({"error": 503, "error_debug": "http: too many connections", )"
                           R"("error_text": "Service unavailable"})");
  // ... while another address is served, and the idle connection of 127.0.0.3 is not cut.
  auto other = connect("127.0.0.4");
  ASSERT_TRUE(other.send(get("/hello")));
  auto served = other.read_response(5s);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  EXPECT_FALSE(idle_elsewhere.closed_within(200ms));

  // At its cap with idle connections of its own, an address makes room among those.
  auto c = connect("127.0.0.5");
  auto d = connect("127.0.0.5");
  ASSERT_TRUE(wait_until([&] { return server_->active_connections() == 6; }, 5s));
  auto e = connect("127.0.0.5");
  ASSERT_TRUE(e.send(get("/hello")));
  auto res = e.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(c.closed_within(5s));
  EXPECT_FALSE(d.peer_closed());
  EXPECT_FALSE(idle_elsewhere.peer_closed());
}

TEST_F(http_server_test, the_bodies_held_at_once_are_bounded_across_connections) {
  server_config cfg;
  cfg.body_limit = 1024 * 1024;
  cfg.body_memory_limit = 1536 * 1024;
  start(cfg);
  const auto header = [](std::size_t length) {
    return "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(length)
           + "\r\n\r\n";
  };
  // A holds 1 MiB (announced; half sent) ...
  auto a = connect();
  ASSERT_TRUE(a.send(header(1024 * 1024) + std::string(512 * 1024, 'a')));
  ASSERT_TRUE(wait_until([&] { return server_->body_bytes_held() == 1024 * 1024; }, 5s));
  // ... so B's 600 KiB would pass 1.5 MiB: 503 before its body is read.
  auto b = connect();
  ASSERT_TRUE(b.send(header(600 * 1024)));
  auto busy = b.read_response(5s);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->header("Retry-After"), "1");
  EXPECT_EQ(busy->header("Connection"), "close");
  EXPECT_NE(busy->body.find("too many request bodies"), std::string::npos) << busy->body;
  // A chunked body is counted as it grows: refused once it would pass the total.
  auto chunked = connect();
  const std::string chunk = "40000\r\n" + std::string(0x40000, 'c') + "\r\n";  // 256 KiB
  ASSERT_TRUE(chunked.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + chunk));
  ASSERT_TRUE(wait_until([&] { return server_->body_bytes_held() > 1024 * 1024; }, 5s));
  chunked.send(chunk);
  chunked.send(chunk);
  auto chunked_busy = chunked.read_response(5s);
  ASSERT_TRUE(chunked_busy);
  EXPECT_EQ(chunked_busy->status, 503);
  // A's body, once whole, is served; then the room is free again.
  ASSERT_TRUE(a.send(std::string(512 * 1024, 'a')));
  auto res = a.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find(R"("size": 1048576)"), std::string::npos) << res->body;
  ASSERT_TRUE(wait_until([&] { return server_->body_bytes_held() == 0; }, 5s));
  EXPECT_EQ(http_request("127.0.0.1", port_, "POST", "/echo", std::string(600 * 1024, 'b')).status,
            200);
  EXPECT_EQ(echo_calls_, 2);
}

TEST_F(http_server_test, the_header_check_answers_before_the_body_is_read) {
  start({}, 1, [](const herald::http::request_header& h) -> std::optional<herald::http::response> {
    if (h[bhttp::field::authorization] == "Bearer good") return std::nullopt;
    return herald::http::error_reply(bhttp::status::unauthorized, 401, "Unauthorized",
                                     "token: not a valid API token");
  });
  auto c = connect();
  // The 9 MiB body is never sent: the answer comes from the header.
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer bad\r\n"
             "Content-Length: 9000000\r\n\r\n"));
  expect_one_answer_then_close(c, 401, "not a valid API token", "bad token");
  EXPECT_EQ(server_->body_bytes_held(), 0u);
  EXPECT_EQ(
      http_request("127.0.0.1", port_, "POST", "/echo", "abc", {{"Authorization", "Bearer good"}})
          .status,
      200);
  EXPECT_EQ(http_request("127.0.0.1", port_, "GET", "/hello").status, 200);  // no body: not asked
  EXPECT_EQ(echo_calls_, 1);
}

// heraldd answers on every core: connections are dealt in turn to the server's event loop and
// each lane's, each answered there by its own router, while the connection count and the caps
// stay the server's for all of them together.
TEST(http_server_lanes, connections_are_dealt_in_turn_and_answered_by_their_lanes_routes) {
  asio::io_context main_io, lane_io;
  auto lane_work = asio::make_work_guard(lane_io);
  // A route answering with its loop's name, and whether it ran on that loop's thread.
  auto who = [](std::string name, asio::io_context& io) {
    herald::http::router routes;
    routes.add(
        bhttp::verb::get, "/who",
        [name, &io](const herald::http::request&) -> asio::awaitable<herald::http::response> {
          const bool here = io.get_executor().running_in_this_thread();
          co_return herald::http::json_reply(
              bhttp::status::ok,
              "{\"lane\": \"" + name + "\", \"on_its_thread\": " + (here ? "true" : "false") + "}");
        });
    return routes;
  };
  server_config cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.max_connections = 5;
  server srv(main_io.get_executor(), cfg, who("main", main_io));
  srv.add_lane(lane_io.get_executor(), who("lane", lane_io));
  const auto port = srv.bind().port();
  EXPECT_THROW(srv.add_lane(lane_io.get_executor(), who("late", lane_io)), std::logic_error);
  std::atomic<bool> run_done{false};
  asio::co_spawn(main_io, srv.run(), [&](std::exception_ptr) { run_done = true; });
  std::thread main_thread([&] { main_io.run(); });
  std::thread lane_thread([&] { lane_io.run(); });

  std::vector<std::unique_ptr<raw_connection>> open;
  std::vector<std::string> answered;
  for (int i = 0; i < 4; ++i) {
    open.push_back(std::make_unique<raw_connection>("127.0.0.1", port));
    ASSERT_TRUE(open.back()->send(get("/who")));
    auto res = open.back()->read_response(5s);
    ASSERT_TRUE(res) << "connection " << i;
    EXPECT_EQ(res->status, 200);
    EXPECT_NE(res->body.find("\"on_its_thread\": true"), std::string::npos) << res->body;
    answered.push_back(res->body.substr(0, res->body.find(',')));
  }
  EXPECT_EQ(answered, (std::vector<std::string>{"{\"lane\": \"main\"", "{\"lane\": \"lane\"",
                                                "{\"lane\": \"main\"", "{\"lane\": \"lane\""}));
  // A second request on a lane's connection stays on that lane.
  ASSERT_TRUE(open[1]->send(get("/who")));
  auto again = open[1]->read_response(5s);
  ASSERT_TRUE(again);
  EXPECT_NE(again->body.find("\"lane\": \"lane\""), std::string::npos) << again->body;
  EXPECT_TRUE(wait_until([&] { return srv.active_connections() == 4; }, 5s))
      << srv.active_connections();
  // The cap (5) counts both loops' connections: a fifth fits, and a sixth takes the place of
  // the longest idle one, the first (a main loop's), wherever the newcomer is served.
  open.push_back(std::make_unique<raw_connection>("127.0.0.1", port));
  ASSERT_TRUE(open.back()->send(get("/who")));
  ASSERT_TRUE(open.back()->read_response(5s));
  open.push_back(std::make_unique<raw_connection>("127.0.0.1", port));
  ASSERT_TRUE(open.back()->send(get("/who")));
  ASSERT_TRUE(open.back()->read_response(5s));
  EXPECT_TRUE(open[0]->closed_within(5s)) << "the longest idle connection was not closed";
  EXPECT_TRUE(wait_until([&] { return srv.active_connections() == 5; }, 5s))
      << srv.active_connections();

  srv.stop();
  EXPECT_TRUE(wait_until([&] { return run_done.load(); }, 10s)) << "run() did not return";
  EXPECT_EQ(srv.active_connections(), 0u);
  lane_work.reset();
  main_thread.join();
  lane_thread.join();
}

TEST(http_server_bind, failures_name_the_address) {
  asio::io_context ioc;
  server_config cfg;
  cfg.listen = "127.0.0.1:0";
  server first(ioc.get_executor(), cfg, {});
  const auto port = first.bind().port();

  cfg.listen = "127.0.0.1:" + std::to_string(port);
  server second(ioc.get_executor(), cfg, {});
  try {
    second.bind();
    ADD_FAILURE() << "bound a port already in use";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(cfg.listen), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
  }

  cfg.listen = "localhost-without-port";
  server third(ioc.get_executor(), cfg, {});
  try {
    third.bind();
    ADD_FAILURE() << "bound an address without a port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(cfg.listen), std::string::npos) << e.what();
  }
}

}  // namespace
