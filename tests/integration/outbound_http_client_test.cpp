// The outbound HTTP client (libcurl on the event loop) against real HTTP servers on loopback:
// requests and responses, keep-alive reuse, the concurrency cap, timeouts, refused and dropped
// connections, the response size cap, stopping, and clients on two threads.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "herald/common/gather.hpp"
#include "herald/outbound/http_client.hpp"
#include "support/fake_http_server.hpp"
#include "support/run_awaitable.hpp"

namespace {

namespace asio = boost::asio;
namespace out = herald::outbound;
using namespace std::chrono_literals;
using herald::test::canned_response;
using herald::test::fake_http_server;
using herald::test::received_request;
using herald::test::run_awaitable;
using behaviour = canned_response::behaviour;
using clock_type = std::chrono::steady_clock;

out::http_request get(std::string url) {
  out::http_request r;
  r.url = std::move(url);
  return r;
}

canned_response ok(std::string body = "ok") {
  canned_response c;
  c.body = std::move(body);
  c.headers = {{"Content-Type", "text/plain"}};
  return c;
}

// Sends every request at once (the client's cap decides how many are in flight) and returns the
// responses in the order given.
asio::awaitable<std::vector<out::http_response>> send_all(out::http_client& client,
                                                          std::vector<out::http_request> reqs) {
  std::vector<asio::awaitable<out::http_response>> tasks;
  for (auto& r : reqs) tasks.push_back(client.request(std::move(r)));
  auto results = co_await herald::gather(std::move(tasks));
  std::vector<out::http_response> responses;
  for (auto& g : results) responses.push_back(g.value ? std::move(*g.value) : out::http_response{});
  co_return responses;
}

// A port on 127.0.0.1 that nothing listens on: bound, then closed.
unsigned short closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

class OutboundHttpClient : public ::testing::Test {
 protected:
  out::http_client& client(out::http_client_config cfg = {}) {
    client_ = std::make_unique<out::http_client>(io_.get_executor(), std::move(cfg));
    return *client_;
  }
  out::http_response run(out::http_request r, std::chrono::milliseconds deadline = 30s) {
    return run_awaitable(io_, client_->request(std::move(r)), deadline);
  }
  void TearDown() override {
    client_.reset();
    // Let the handlers the teardown cancelled run, so ASan sees them finish.
    io_.restart();
    io_.poll();
  }

  asio::io_context io_{1};
  std::unique_ptr<out::http_client> client_;
};

TEST_F(OutboundHttpClient, GetAndPostCarryMethodHeadersAndBodyBothWays) {
  fake_http_server server([](const received_request& r) {
    canned_response c;
    c.status = r.method == "POST" ? 201 : 200;
    c.headers = {{"Content-Type", "application/json"},
                 {"X-Echo-Method", r.method},
                 {"X-Seen-Token", r.header("X-Token")}};
    c.body = "{\"target\":\"" + r.target + "\",\"body\":\"" + r.body + "\"}";
    return c;
  });
  client();

  auto res = run(get(server.url("/v1/ping?x=1")));
  ASSERT_TRUE(res.ok()) << res.error_message;
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.content_type(), "application/json");
  EXPECT_EQ(res.header("x-echo-method").value_or(""), "GET");
  EXPECT_EQ(res.body, R"({"target":"/v1/ping?x=1","body":""})");
  EXPECT_TRUE(res.request_sent);
  EXPECT_GT(res.elapsed.count(), 0);

  out::http_request post;
  post.method = "POST";
  post.url = server.url("/v1/send");
  post.headers = {{"X-Token", "abc"}, {"Content-Type", "application/json"}};
  post.body = "hello";
  res = run(post);
  ASSERT_TRUE(res.ok()) << res.error_message;
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.header("X-Echo-Method").value_or(""), "POST");
  EXPECT_EQ(res.header("X-Seen-Token").value_or(""), "abc");
  EXPECT_EQ(res.body, R"({"target":"/v1/send","body":"hello"})");
  EXPECT_FALSE(res.header("X-Absent").has_value());

  auto seen = server.received();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].header("Content-Type"), "application/json");
  EXPECT_EQ(seen[1].header("Content-Length"), "5");
  EXPECT_EQ(seen[1].header("Expect"), "");  // never 100-continue unless asked
  EXPECT_EQ(seen[0].header("User-Agent"), "herald");

  // A body without a Content-Type goes without one (not curl's form encoding); PUT and DELETE
  // keep their method.
  out::http_request put;
  put.method = "PUT";
  put.url = server.url("/v1/thing");
  put.body = "x";
  ASSERT_TRUE(run(put).ok());
  out::http_request del;
  del.method = "DELETE";
  del.url = server.url("/v1/thing");
  ASSERT_TRUE(run(del).ok());
  seen = server.received();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[2].method, "PUT");
  EXPECT_EQ(seen[2].header("Content-Type"), "");
  EXPECT_EQ(seen[2].body, "x");
  EXPECT_EQ(seen[3].method, "DELETE");

  auto st = client_->stats();
  EXPECT_EQ(st.requests, 4u);
  EXPECT_EQ(st.responses, 4u);
  EXPECT_EQ(st.total_errors(), 0u);
}

TEST_F(OutboundHttpClient, HundredSequentialRequestsReuseOneConnection) {
  fake_http_server server([](const received_request&) { return ok(); });
  client();
  for (int i = 0; i < 100; ++i) {
    auto res = run(get(server.url("/n/" + std::to_string(i))));
    ASSERT_TRUE(res.ok()) << i << ": " << res.error_message;
    ASSERT_EQ(res.body, "ok");
  }
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(server.requests(), 100u);
  EXPECT_EQ(client_->stats().connections_opened, 1u);
  for (const auto& r : server.received()) EXPECT_EQ(r.connection, 1u);
}

TEST_F(OutboundHttpClient, PooledConnectionsTheServerClosedAreReplaced) {
  // Each response is followed by the server closing, announced or not: the pooled socket curl
  // kept (after its REMOVE) turns out dead, is closed through close_socket, and the next
  // request goes out on a fresh connection.
  fake_http_server server([](const received_request& r) {
    auto c = ok();
    c.close = r.target.starts_with("/announced");
    c.close_unannounced = !c.close;
    return c;
  });
  client();
  for (int i = 0; i < 20; ++i) {
    auto target = (i % 2 ? "/announced/" : "/silent/") + std::to_string(i);
    auto res = run(get(server.url(target)));
    ASSERT_TRUE(res.ok()) << target << ": " << res.error_message;
  }
  EXPECT_EQ(server.requests(), 20u);
  EXPECT_EQ(server.connections(), 20u);
  EXPECT_EQ(client_->stats().connections_opened, 20u);
}

TEST_F(OutboundHttpClient, ConcurrencyCapHoldsAndQueuedRequestsAllSucceed) {
  fake_http_server server([](const received_request&) {
    auto c = ok();
    c.delay = 2ms;  // long enough for requests to pile up at the server if the cap leaked
    return c;
  });
  out::http_client_config cfg;
  cfg.max_concurrent_requests = 8;
  client(cfg);
  std::vector<out::http_request> reqs;
  for (int i = 0; i < 500; ++i) reqs.push_back(get(server.url("/c/" + std::to_string(i))));
  auto responses = run_awaitable(io_, send_all(*client_, std::move(reqs)), 120s);
  ASSERT_EQ(responses.size(), 500u);
  for (std::size_t i = 0; i < responses.size(); ++i) {
    ASSERT_TRUE(responses[i].ok()) << i << ": " << responses[i].error_message;
    ASSERT_EQ(responses[i].status, 200);
  }
  EXPECT_EQ(server.requests(), 500u);
  EXPECT_LE(server.peak_in_flight(), 8);
  EXPECT_GE(server.peak_in_flight(), 2);  // the requests did overlap
  auto st = client_->stats();
  EXPECT_LE(st.peak_in_flight, 8u);
  EXPECT_EQ(st.peak_in_flight, 8u);
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(st.queued, 0u);
  EXPECT_LE(st.connections_opened, 8u);  // kept alive and reused
  EXPECT_LE(server.connections(), 8u);
}

TEST_F(OutboundHttpClient, QueuedRequestsLeaveInTheOrderTheyCame) {
  fake_http_server server([](const received_request&) { return ok(); });
  out::http_client_config cfg;
  cfg.max_concurrent_requests = 1;
  client(cfg);
  std::vector<out::http_request> reqs;
  for (int i = 0; i < 30; ++i) reqs.push_back(get(server.url("/q/" + std::to_string(i))));
  auto responses = run_awaitable(io_, send_all(*client_, std::move(reqs)));
  for (const auto& r : responses) ASSERT_TRUE(r.ok()) << r.error_message;
  auto seen = server.received();
  ASSERT_EQ(seen.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(seen[i].target, "/q/" + std::to_string(i));
  EXPECT_EQ(server.peak_in_flight(), 1);
}

TEST_F(OutboundHttpClient, ServerThatNeverAnswersTimesOutOnTime) {
  fake_http_server server([](const received_request&) {
    canned_response c;
    c.what = behaviour::never_respond;
    return c;
  });
  out::http_client_config cfg;
  cfg.request_timeout = 300ms;
  client(cfg);
  auto start = clock_type::now();
  auto res = run(get(server.url("/hang")));
  auto took = clock_type::now() - start;
  EXPECT_EQ(res.error, out::errc::timeout) << res.error.message() << ": " << res.error_message;
  EXPECT_TRUE(res.request_sent);
  EXPECT_FALSE(res.error_message.empty());
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + 250ms);
  EXPECT_EQ(client_->stats().errors_of(out::errc::timeout), 1u);
  EXPECT_EQ(server.requests(), 1u);
}

TEST_F(OutboundHttpClient, RefusedConnectionIsConnectFailedAndNotSent) {
  client();
  auto res = run(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"));
  EXPECT_EQ(res.error, out::errc::connect_failed) << res.error_message;
  EXPECT_FALSE(res.request_sent);
  EXPECT_EQ(res.status, 0);
  EXPECT_NE(res.error_message.find("onnect"), std::string::npos) << res.error_message;
  EXPECT_EQ(client_->stats().errors_of(out::errc::connect_failed), 1u);
}

TEST_F(OutboundHttpClient, UnresolvableHostIsDnsAndAHostNameResolves) {
  fake_http_server server([](const received_request&) { return ok(); });
  client();
  // Through curl's resolver (its wake-up descriptor is not one of ours): a name that resolves...
  auto res = run(get("http://localhost:" + std::to_string(server.port()) + "/by-name"));
  ASSERT_TRUE(res.ok()) << res.error_message;
  EXPECT_EQ(res.body, "ok");
  // ...and one that cannot (.invalid is reserved, RFC 6761).
  res = run(get("http://no-such-host.invalid/"));
  EXPECT_EQ(res.error, out::errc::dns) << res.error.message() << ": " << res.error_message;
  EXPECT_FALSE(res.request_sent);
}

TEST_F(OutboundHttpClient, TlsHandshakeFailureIsTlsAndNotSent) {
  // https:// to a server that speaks plain HTTP: the handshake fails before any request.
  fake_http_server server([](const received_request&) { return ok(); });
  client();
  auto res = run(get("https://127.0.0.1:" + std::to_string(server.port()) + "/"));
  EXPECT_EQ(res.error, out::errc::tls) << res.error.message() << ": " << res.error_message;
  EXPECT_FALSE(res.request_sent);
  EXPECT_EQ(server.requests(), 0u);
}

TEST_F(OutboundHttpClient, ProxyFromTheEnvironmentIsHonoured) {
  // The fake server plays the proxy: an HTTP proxy gets the absolute URL as the target.
  fake_http_server proxy([](const received_request&) { return ok("via proxy"); });
  ::setenv("http_proxy", proxy.url("").c_str(), 1);
  client();
  auto res = run(get("http://provider.invalid/v1/send"));
  ::unsetenv("http_proxy");
  ASSERT_TRUE(res.ok()) << res.error_message;
  EXPECT_EQ(res.body, "via proxy");
  auto seen = proxy.received();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "http://provider.invalid/v1/send");
  // NO_PROXY exempts a host: this one then goes direct (and fails to resolve).
  ::setenv("http_proxy", proxy.url("").c_str(), 1);
  ::setenv("NO_PROXY", "provider.invalid", 1);
  res = run(get("http://provider.invalid/v1/send"));
  ::unsetenv("http_proxy");
  ::unsetenv("NO_PROXY");
  EXPECT_EQ(res.error, out::errc::dns) << res.error_message;
  EXPECT_EQ(proxy.requests(), 1u);
  // The configured proxy wins over the environment.
  out::http_client_config cfg;
  cfg.proxy = proxy.url("");
  client(cfg);
  res = run(get("http://other.invalid/x"));
  ASSERT_TRUE(res.ok()) << res.error_message;
  EXPECT_EQ(proxy.received().back().target, "http://other.invalid/x");
}

TEST_F(OutboundHttpClient, BadUrlsAndSchemesAreInvalidRequests) {
  client();
  for (const char* url : {"ftp://127.0.0.1/x", "file:///etc/passwd", "not a url", ""}) {
    auto res = run(get(url));
    EXPECT_EQ(res.error, out::errc::invalid_request) << url << ": " << res.error_message;
    EXPECT_FALSE(res.request_sent) << url;
  }
  auto r = get("http://127.0.0.1:1/");
  r.headers = {{"X-Evil", "a\r\nInjected: yes"}};
  EXPECT_EQ(run(r).error, out::errc::invalid_request);
}

TEST_F(OutboundHttpClient, ConnectionDroppedBeforeOrDuringTheResponse) {
  fake_http_server server([](const received_request& r) {
    canned_response c;
    c.what = r.target == "/mid" ? behaviour::close_mid_body : behaviour::close_without_response;
    c.body = std::string(1000, 'x');
    return c;
  });
  client();
  auto res = run(get(server.url("/mid")));
  EXPECT_EQ(res.error, out::errc::connection_dropped) << res.error_message;
  EXPECT_TRUE(res.request_sent);
  EXPECT_EQ(res.status, 200);  // the head had arrived
  res = run(get(server.url("/nothing")));
  EXPECT_EQ(res.error, out::errc::connection_dropped) << res.error_message;
  EXPECT_TRUE(res.request_sent);
  EXPECT_EQ(client_->stats().errors_of(out::errc::connection_dropped), 2u);
}

TEST_F(OutboundHttpClient, ResponseOverTheSizeCapFails) {
  fake_http_server server([](const received_request& r) {
    auto c = ok(std::string(r.target == "/small" ? 1000 : 300 * 1024, 'y'));
    c.chunked = r.target == "/chunked";  // no Content-Length: caught while reading
    return c;
  });
  out::http_client_config cfg;
  cfg.max_response_body = 256 * 1024;
  client(cfg);
  auto res = run(get(server.url("/declared")));
  EXPECT_EQ(res.error, out::errc::too_large) << res.error_message;
  EXPECT_TRUE(res.body.empty());
  res = run(get(server.url("/chunked")));
  EXPECT_EQ(res.error, out::errc::too_large) << res.error_message;
  EXPECT_TRUE(res.body.empty());
  res = run(get(server.url("/small")));
  ASSERT_TRUE(res.ok()) << res.error_message;
  EXPECT_EQ(res.body.size(), 1000u);
  EXPECT_EQ(client_->stats().errors_of(out::errc::too_large), 2u);
}

TEST_F(OutboundHttpClient, ServerErrorsAndRetryAfterArePassedThrough) {
  fake_http_server server([](const received_request& r) {
    canned_response c;
    if (r.target == "/busy") {
      c.status = 429;
      c.headers = {{"Retry-After", "7"}, {"Content-Type", "application/json"}};
      c.body = R"({"retry_after": 7})";
    } else {
      c.status = 503;
      c.body = "down";
    }
    return c;
  });
  client();
  auto res = run(get(server.url("/busy")));
  ASSERT_TRUE(res.ok()) << res.error_message;
  EXPECT_EQ(res.status, 429);
  EXPECT_EQ(res.retry_after().value_or(""), "7");
  EXPECT_EQ(res.content_type(), "application/json");
  EXPECT_EQ(res.body, R"({"retry_after": 7})");
  res = run(get(server.url("/down")));
  ASSERT_TRUE(res.ok()) << res.error_message;
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(res.body, "down");
  EXPECT_FALSE(res.retry_after().has_value());
  EXPECT_EQ(client_->stats().total_errors(), 0u);
}

TEST_F(OutboundHttpClient, StopFailsQueuedAndInFlightRequestsAndRefusesNewOnes) {
  fake_http_server server([](const received_request&) {
    canned_response c;
    c.what = behaviour::never_respond;
    return c;
  });
  out::http_client_config cfg;
  cfg.max_concurrent_requests = 3;
  client(cfg);
  auto work = [&]() -> asio::awaitable<std::vector<out::http_response>> {
    std::vector<out::http_request> reqs;
    for (int i = 0; i < 10; ++i) reqs.push_back(get(server.url("/s/" + std::to_string(i))));
    // Stop once the first three reached the server (the rest wait in the queue).
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer t(io_);
          while (server.requests() < 3) {
            t.expires_after(5ms);
            co_await t.async_wait(asio::use_awaitable);
          }
          EXPECT_EQ(client_->stats().in_flight, 3u);
          EXPECT_EQ(client_->stats().queued, 7u);
          co_await client_->shutdown();
        },
        asio::detached);
    co_return co_await send_all(*client_, std::move(reqs));
  };
  auto responses = run_awaitable(io_, work(), 30s);
  ASSERT_EQ(responses.size(), 10u);
  int sent = 0;
  for (const auto& r : responses) {
    EXPECT_EQ(r.error, out::errc::stopped) << r.error_message;
    sent += r.request_sent;
  }
  EXPECT_EQ(sent, 3);
  EXPECT_EQ(client_->stats().errors_of(out::errc::stopped), 10u);
  auto late = run(get(server.url("/late")));
  EXPECT_EQ(late.error, out::errc::stopped);
  EXPECT_EQ(server.requests(), 3u);
}

TEST_F(OutboundHttpClient, DestroyedWithRequestsOutstandingFreesEverything) {
  fake_http_server server([](const received_request& r) {
    canned_response c;
    if (r.target != "/fast") c.what = behaviour::never_respond;
    return c;
  });
  out::http_client_config cfg;
  cfg.max_concurrent_requests = 4;
  client(cfg);
  std::atomic<int> completed{0};
  std::atomic<int> stopped{0};
  // Warm a pooled connection so an idle one is freed too.
  ASSERT_TRUE(run(get(server.url("/fast"))).ok());
  for (int i = 0; i < 12; ++i) {
    client_->async_request(get(server.url("/h")), [&](out::http_response r) {
      ++completed;
      stopped += r.error == out::errc::stopped;
    });
  }
  auto deadline = clock_type::now() + 10s;
  io_.restart();  // run_awaitable left it out of work
  while (server.requests() < 5 && clock_type::now() < deadline) io_.run_one_for(10ms);
  ASSERT_EQ(server.requests(), 5u);
  client_.reset();
  io_.restart();
  io_.poll();
  EXPECT_EQ(completed.load(), 12);
  EXPECT_EQ(stopped.load(), 12);
}

TEST_F(OutboundHttpClient, ConfigThatCannotWorkIsRefusedNamingTheField) {
  out::http_client_config cfg;
  cfg.max_concurrent_requests = 0;
  try {
    out::http_client c(io_.get_executor(), cfg);
    FAIL() << "accepted max_concurrent_requests = 0";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_concurrent_requests"), std::string::npos);
  }
  cfg = {};
  cfg.request_timeout = 0ms;
  EXPECT_THROW(out::http_client(io_.get_executor(), cfg), std::invalid_argument);
}

TEST(OutboundHttpClientThreads, TwoClientsOnTwoThreadsShareOneServer) {
  fake_http_server server([](const received_request&) { return ok("fine"); }, 2);
  constexpr int per_client = 400;
  std::atomic<int> good{0};
  std::atomic<std::uint64_t> connections{0};
  auto run_one = [&](int which) {
    asio::io_context io{1};
    out::http_client_config cfg;
    cfg.max_concurrent_requests = 32;
    out::http_client c(io.get_executor(), cfg);
    std::vector<out::http_request> reqs;
    for (int i = 0; i < per_client; ++i)
      reqs.push_back(get(server.url("/t" + std::to_string(which) + "/" + std::to_string(i))));
    auto responses = run_awaitable(io, send_all(c, std::move(reqs)), 120s);
    for (const auto& r : responses) good += r.ok() && r.status == 200 && r.body == "fine";
    connections += c.stats().connections_opened;
    EXPECT_LE(c.stats().peak_in_flight, 32u);
  };
  std::thread a(run_one, 1), b(run_one, 2);
  a.join();
  b.join();
  EXPECT_EQ(good.load(), 2 * per_client);
  EXPECT_EQ(server.requests(), 2u * per_client);
  EXPECT_LE(connections.load(), 64u);
  EXPECT_EQ(server.connections(), connections.load());
}

}  // namespace
