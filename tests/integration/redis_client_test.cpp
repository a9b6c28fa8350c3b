// Herald's Redis client against a real redis-server: pipelining, deadlines, reconnection,
// scripts, AUTH and SELECT.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <sstream>

#include "herald/redis/client.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

class RedisClient : public ::testing::Test {
 protected:
  client& connect(test::redis_server& server, client_config cfg = {}) {
    cfg.url = server.url();
    client_ = std::make_unique<client>(io_.get_executor(), cfg);
    client_->start();
    run_awaitable(io_, wait_connected(*client_, 10s));
    return *client_;
  }

  void TearDown() override {
    if (client_) client_->stop();
    io_.restart();
    io_.run_for(50ms);
  }

  // Retries PING until the client answers; the client connects by itself.
  static asio::awaitable<void> wait_connected(client& c, std::chrono::milliseconds within) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      auto [ec, r] = co_await c.async_exec(command("PING"), asio::as_tuple(asio::use_awaitable));
      if (!ec && r.str() == "PONG") co_return;
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("client did not (re)connect: " + ec.message());
      timer.expires_after(20ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  asio::io_context io_{1};
  std::unique_ptr<client> client_;
};

TEST_F(RedisClient, ManyCoroutinesShareOneConnectionAndGetTheirOwnRepliesInOrder) {
  test::redis_server server;
  auto& c = connect(server);
  constexpr int coroutines = 100, commands = 10'000;
  int finished = 0, mismatches = 0;
  for (int i = 0; i < coroutines; ++i) {
    asio::co_spawn(
        io_,
        [&, i]() -> asio::awaitable<void> {
          std::string key = "counter:" + std::to_string(i);
          for (int j = 1; j <= commands; ++j) {
            auto r = co_await c.exec("INCR", key);
            if (r.as_integer() != j) ++mismatches;
          }
          ++finished;
        },
        asio::detached);
  }
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (finished < coroutines && std::chrono::steady_clock::now() < deadline) io_.run_one_for(1s);
  EXPECT_EQ(finished, coroutines);
  EXPECT_EQ(mismatches, 0);
  for (int i : {0, 57, 99})
    EXPECT_EQ(server.integer({"GET", "counter:" + std::to_string(i)}), commands);
  // One connection carried it all: the server sees our client plus this probe.
  EXPECT_NE(server.command({"INFO", "clients"}).find("connected_clients:2"), std::string::npos);
  EXPECT_GE(c.stats().commands, static_cast<std::uint64_t>(coroutines * commands));
}

TEST_F(RedisClient, KilledServerFailsCommandsInFlightThenReconnectsByItself) {
  test::redis_server server;
  client_config cfg;
  cfg.command_timeout = 2s;
  auto& c = connect(server, cfg);

  constexpr int workers = 50;
  int failed = 0, succeeded_before = 0;
  std::vector<std::chrono::milliseconds> time_to_fail;
  bool killed = false;
  for (int i = 0; i < workers; ++i) {
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          for (;;) {
            auto sent = std::chrono::steady_clock::now();
            auto [ec, r] =
                co_await c.async_exec(command("INCR", "n"), asio::as_tuple(asio::use_awaitable));
            if (ec) {
              time_to_fail.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - sent));
              EXPECT_TRUE(ec == errc::connection_lost || ec == errc::not_connected) << ec.message();
              ++failed;
              co_return;
            }
            if (!killed) ++succeeded_before;
          }
        },
        asio::detached);
  }
  while (succeeded_before < 5000) io_.run_one_for(1s);
  killed = true;
  server.kill9();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (failed < workers && std::chrono::steady_clock::now() < deadline) io_.run_one_for(100ms);
  ASSERT_EQ(failed, workers) << "every coroutine's command fails, none hangs";
  for (auto t : time_to_fail) EXPECT_LT(t, cfg.command_timeout);
  EXPECT_NE(c.state(), connection_state::connected);

  server.start();
  run_awaitable(io_, wait_connected(c, 10s));
  auto r = run_awaitable(io_, c.exec("SET", "after", "restart"));
  EXPECT_EQ(r.str(), "OK");
  EXPECT_EQ(server.command({"GET", "after"}), "restart");
  EXPECT_GE(c.stats().reconnects, 1u);
}

TEST_F(RedisClient, StoppedServerMakesCommandsTimeOutAtTheirDeadlineAndClientRecovers) {
  test::redis_server server;
  client_config cfg;
  cfg.command_timeout = 300ms;
  cfg.ping_interval = 100ms;
  cfg.ping_timeout = 500ms;
  cfg.connect_timeout = 500ms;
  auto& c = connect(server, cfg);

  server.pause();
  constexpr int n = 20;
  std::vector<std::chrono::milliseconds> elapsed;
  int timeouts = 0;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          auto sent = std::chrono::steady_clock::now();
          auto [ec, r] =
              co_await c.async_exec(command("GET", "x"), asio::as_tuple(asio::use_awaitable));
          elapsed.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - sent));
          if (ec == errc::timeout) ++timeouts;
        },
        asio::detached);
  }
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (elapsed.size() < n && std::chrono::steady_clock::now() < deadline) io_.run_one_for(50ms);
  ASSERT_EQ(elapsed.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(timeouts, n);
  for (auto t : elapsed) {
    EXPECT_GE(t, 290ms);
    EXPECT_LT(t, 800ms);
  }
  EXPECT_GE(c.stats().timeouts, static_cast<std::uint64_t>(n));

  // Still stopped past the ping timeout: the watchdog gives the connection up and retries.
  io_.run_for(1500ms);
  EXPECT_NE(c.state(), connection_state::connected);
  server.resume();
  run_awaitable(io_, wait_connected(c, 10s));
  EXPECT_EQ(run_awaitable(io_, c.exec("SET", "x", "1")).str(), "OK");
}

TEST_F(RedisClient, AConnectionReceivingALargeReplyIsAliveForTheWatchdogAndDeadlines) {
  // Reproduced before the fix: 15 jobs of 20 MB read in one XREADGROUP; the ping watchdog
  // dropped the connection while the reply was still arriving, every time, until the jobs were
  // dead-lettered unrun. Here a 200 MB reply (seconds to arrive and parse; Redis itself takes
  // about 150 ms to build it, during which nothing arrives), with a watchdog and deadlines of
  // 300 ms: the reply takes longer than that even on a quiet machine (about 700 ms here).
  test::redis_server server;
  server.command({"SETRANGE", "big", std::to_string(200 * 1024 * 1024 - 1), "x"});
  client_config cfg;
  cfg.command_timeout = 300ms;
  cfg.ping_interval = 100ms;
  cfg.ping_timeout = 300ms;
  auto& c = connect(server, cfg);
  auto sent = std::chrono::steady_clock::now();
  auto [ec, r] =
      run_awaitable(io_, [&]() -> asio::awaitable<std::tuple<boost::system::error_code, reply>> {
        co_return co_await c.async_exec(command("GET", "big"), asio::as_tuple(asio::use_awaitable));
      }());
  auto took = std::chrono::steady_clock::now() - sent;
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.str().size(), 200u * 1024 * 1024);
  EXPECT_EQ(c.stats().reconnects, 0u);
  EXPECT_EQ(c.stats().timeouts, 0u);
  EXPECT_GT(took, cfg.command_timeout) << "the reply took less than a deadline: nothing tested";
  std::cout << "a 200 MB reply took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms, against a " << cfg.command_timeout.count() << " ms deadline\n";
  // A server that stops answering is still given up at the deadline.
  server.pause();
  auto [ec2, r2] =
      run_awaitable(io_, [&]() -> asio::awaitable<std::tuple<boost::system::error_code, reply>> {
        co_return co_await c.async_exec(command("GET", "x"), asio::as_tuple(asio::use_awaitable));
      }());
  EXPECT_EQ(ec2, errc::timeout);
  server.resume();
}

TEST_F(RedisClient, StartsBeforeTheServerAndConnectsOnceItIsUp) {
  test::redis_server server;
  server.kill9();
  client_config cfg;
  cfg.url = server.url();
  client_ = std::make_unique<client>(io_.get_executor(), cfg);
  client_->start();
  auto [ec, r] =
      run_awaitable(io_, client_->async_exec(command("PING"), asio::as_tuple(asio::use_awaitable)));
  EXPECT_EQ(ec, make_error_code(errc::not_connected));
  io_.run_for(300ms);  // several refused attempts
  server.start();
  run_awaitable(io_, wait_connected(*client_, 10s));
  EXPECT_EQ(run_awaitable(io_, client_->exec("ECHO", "up")).str(), "up");
}

TEST_F(RedisClient, AHostNameIsResolvedWithoutBlockingTheLoop) {
  test::redis_server server({.tcp = true});
  client_config cfg;
  cfg.url = "redis://localhost:" + std::to_string(server.port());
  client_ = std::make_unique<client>(io_.get_executor(), cfg);
  client_->start();
  run_awaitable(io_, wait_connected(*client_, 10s));
  EXPECT_EQ(run_awaitable(io_, client_->exec("ECHO", "by name")).str(), "by name");
  client_->stop();
  io_.run_for(50ms);

  // A name that does not resolve: not connected, tried again later, the loop running meanwhile
  // (here the lookup fails at once; a slow DNS would no longer hold the loop either).
  cfg.url = "redis://no-such-host.invalid:6379";
  client_ = std::make_unique<client>(io_.get_executor(), cfg);
  client_->start();
  int ticks = 0;
  asio::steady_timer tick(io_);
  std::function<void(boost::system::error_code)> again = [&](boost::system::error_code ec) {
    if (ec) return;
    ++ticks;
    tick.expires_after(10ms);
    tick.async_wait(again);
  };
  again({});
  io_.restart();
  io_.run_for(500ms);
  tick.cancel();
  EXPECT_GE(ticks, 20) << "the loop went on while the name was looked up";
  auto [ec, r] =
      run_awaitable(io_, client_->async_exec(command("PING"), asio::as_tuple(asio::use_awaitable)));
  EXPECT_EQ(ec, make_error_code(errc::not_connected));
}

TEST_F(RedisClient, EvalshaOfAnUnknownScriptLoadsIt) {
  test::redis_server server;
  auto& c = connect(server);
  script add("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  EXPECT_EQ(server.command({"SCRIPT", "EXISTS", add.sha1()}), "0");
  std::vector<std::string> keys{"total"}, args{"5"};
  EXPECT_EQ(run_awaitable(io_, c.eval(add, keys, args)).as_integer(), 5);
  EXPECT_EQ(server.command({"SCRIPT", "EXISTS", add.sha1()}), "1");
  EXPECT_EQ(run_awaitable(io_, c.eval(add, keys, args)).as_integer(), 10);
  server.command({"SCRIPT", "FLUSH"});
  EXPECT_EQ(run_awaitable(io_, c.eval(add, keys, args)).as_integer(), 15);
}

TEST_F(RedisClient, ServerErrorsCarryRedisText) {
  test::redis_server server;
  auto& c = connect(server);
  run_awaitable(io_, c.exec("SET", "s", "text"));
  try {
    run_awaitable(io_, c.exec("INCR", "s"));
    FAIL() << "INCR of a string must fail";
  } catch (const error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::server_error));
    EXPECT_NE(std::string(e.what()).find("not an integer"), std::string::npos) << e.what();
  }
  // The connection is still good after an error reply.
  EXPECT_EQ(run_awaitable(io_, c.exec("GET", "s")).str(), "text");
}

TEST_F(RedisClient, AuthenticatesSelectsTheDatabaseAndNeverLogsThePassword) {
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  test::redis_server server({.tcp = true, .password = "hunter2-secret", .extra_args = {}});
  client_config cfg;
  cfg.url = server.url() + "/3";
  client_ = std::make_unique<client>(io_.get_executor(), cfg);
  client_->start();
  run_awaitable(io_, wait_connected(*client_, 10s));
  auto info = run_awaitable(io_, client_->exec("CLIENT", "INFO")).as_string();
  EXPECT_NE(info.find(" db=3 "), std::string::npos) << info;
  client_->stop();

  // A wrong password: commands fail, the error is logged, the password is not.
  client_config wrong;
  wrong.url = "redis://:wrong-horse@127.0.0.1:" + std::to_string(server.port());
  wrong.command_timeout = 500ms;
  client_ = std::make_unique<client>(io_.get_executor(), wrong);
  client_->start();
  auto [ec, r] =
      run_awaitable(io_, client_->async_exec(command("PING"), asio::as_tuple(asio::use_awaitable)));
  EXPECT_TRUE(ec) << r.debug_string();
  spdlog::set_default_logger(previous);
  auto text = log.str();
  EXPECT_NE(text.find("AUTH"), std::string::npos) << text;
  EXPECT_EQ(text.find("hunter2-secret"), std::string::npos) << text;
  EXPECT_EQ(text.find("wrong-horse"), std::string::npos) << text;
}

TEST_F(RedisClient, AnOutageIsLoggedCalmlyAndItsEndWithItsLength) {
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  test::redis_server server({.tcp = true});
  auto& c = connect(server);  // the defaults: backoff capped at 1 s
  auto before = log.str().size();
  server.kill9();
  auto down = std::chrono::steady_clock::now();
  io_.run_for(5s);
  std::string during = log.str().substr(before);
  auto restarted = std::chrono::steady_clock::now();
  server.start();
  run_awaitable(io_, wait_connected(c, 10s));
  auto resumed = std::chrono::steady_clock::now();
  spdlog::set_default_logger(previous);
  std::string all = log.str().substr(before);

  auto lines = [](const std::string& t) { return std::count(t.begin(), t.end(), '\n'); };
  std::cout << "outage of 5 s: " << lines(all) << " lines logged; reconnected "
            << std::chrono::duration_cast<std::chrono::milliseconds>(resumed - restarted).count()
            << " ms after the restart\n"
            << all;
  EXPECT_EQ(lines(during), 1) << during;
  EXPECT_NE(during.find("unreachable"), std::string::npos) << during;
  EXPECT_LE(lines(all), 3) << all;
  auto back = all.find("back after ");
  ASSERT_NE(back, std::string::npos) << all;
  long long length = std::stoll(all.substr(back + 11));
  EXPECT_GE(length, 4900);
  EXPECT_LT(length,
            std::chrono::duration_cast<std::chrono::milliseconds>(resumed - down).count() + 100);
  // Backoff capped at 1 s, with jitter: retried about once a second, not 50 times.
  auto attempts = std::stoll(all.substr(all.find('(', back) + 1));
  EXPECT_GE(attempts, 5);
  EXPECT_LE(attempts, 25);
  EXPECT_LT(resumed - restarted, 1500ms);
}

TEST_F(RedisClient, StopFailsCommandsInFlightAndLaterOnes) {
  test::redis_server server;
  auto& c = connect(server);
  server.pause();
  int stopped = 0;
  for (int i = 0; i < 5; ++i)
    c.async_exec(command("GET", "k"), [&](boost::system::error_code ec, reply) {
      if (ec == errc::stopped) ++stopped;
    });
  io_.poll();
  c.stop();
  io_.run_for(100ms);
  server.resume();
  EXPECT_EQ(stopped, 5);
  auto [ec, r] =
      run_awaitable(io_, c.async_exec(command("PING"), asio::as_tuple(asio::use_awaitable)));
  EXPECT_EQ(ec, make_error_code(errc::stopped));
}

}  // namespace
}  // namespace herald::redis
