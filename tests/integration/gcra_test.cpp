// proto/lua/gcra.lua against a real redis-server: independent clients sharing one provider's
// limit are admitted at rate·time + burst together, on Redis's clock; batches reserve n tokens;
// the key expires when idle; the script's effects replicate (it calls TIME).
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/delivery/rate_limit.hpp"
#include "herald/delivery/shared_rate_limit.hpp"
#include "herald/proto/scripts.hpp"
#include "herald/redis/client.hpp"
#include "herald/redis/error.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::delivery {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

struct answer {
  bool reserved;
  std::int64_t wait_ms;
};

// Through the library's own call of the script.
asio::awaitable<answer> ask(redis::client& c, const std::string& key, double rate,
                            std::uint64_t burst, std::uint64_t n, std::int64_t max_wait_ms) {
  auto a =
      co_await reserve_shared(c, key, gcra(rate, burst), n, std::chrono::milliseconds(max_wait_ms));
  co_return answer{a.reserved, a.wait.count()};
}

// One instance's worker: its own event loop and its own connection, asking for `n` messages
// at a time until `until`, and counting the messages it was granted. `obey` sleeps the wait
// Redis named (or sends after a reservation's wait); otherwise it asks again 1 ms later.
struct instance {
  std::string url, key;
  double rate;
  std::uint64_t burst, n;
  std::int64_t max_wait_ms;
  bool obey;
  std::chrono::steady_clock::time_point until;
  std::uint64_t granted = 0, calls = 0;

  void run() {
    asio::io_context io;
    redis::client_config cfg;
    cfg.url = url;
    redis::client c(io.get_executor(), cfg);
    c.start();
    run_awaitable(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          while (std::chrono::steady_clock::now() < until) {
            auto a = co_await ask(c, key, rate, burst, n, max_wait_ms);
            ++calls;
            if (a.reserved) granted += n;
            const auto pause = a.reserved ? std::chrono::milliseconds(a.wait_ms)
                               : obey     ? std::chrono::milliseconds(a.wait_ms)
                                          : 1ms;
            if (pause > 0ms) {
              timer.expires_after(pause);
              co_await timer.async_wait(asio::use_awaitable);
            }
          }
        }(),
        30s);
    c.stop();
    io.restart();
    io.run_for(20ms);
  }
};

std::uint64_t run_two(const test::redis_server& server, std::uint64_t n, std::int64_t max_wait_ms,
                      std::chrono::milliseconds span, double rate, std::uint64_t burst,
                      std::uint64_t* calls = nullptr) {
  const auto until = std::chrono::steady_clock::now() + span;
  const std::string key = rate_key("herald", "lc");
  instance a{server.url(), key, rate, burst, n, max_wait_ms, false, until};
  instance b{server.url(), key, rate, burst, n, max_wait_ms, true, until};
  std::thread ta([&] { a.run(); });
  std::thread tb([&] { b.run(); });
  ta.join();
  tb.join();
  EXPECT_GT(a.granted, 0u) << "both instances got a share";
  EXPECT_GT(b.granted, 0u) << "both instances got a share";
  if (calls) *calls = a.calls + b.calls;
  return a.granted + b.granted;
}

TEST(gcra, two_clients_hammering_one_key_get_rate_times_time_plus_burst) {
  test::redis_server server;
  const double rate = 200;
  const std::uint64_t burst = 20;
  std::uint64_t calls = 0;
  const auto granted = run_two(server, 1, 0, 3s, rate, burst, &calls);
  const double expected = rate * 3 + burst;  // 620
  std::printf(
      "gcra: %llu admitted in 3 s at 200/s with a burst of 20 (expected %.0f), %llu calls\n",
      static_cast<unsigned long long>(granted), expected, static_cast<unsigned long long>(calls));
  EXPECT_GE(static_cast<double>(granted), expected * 0.9) << calls << " calls";
  EXPECT_LE(static_cast<double>(granted), expected * 1.1) << calls << " calls";
  EXPECT_GT(calls, granted) << "the hammering client was refused along the way";
}

TEST(gcra, batches_reserved_ahead_keep_the_rate) {
  // Each asks for 10 at a time and, granted a slot up to 200 ms ahead, sleeps until it.
  test::redis_server server;
  const auto granted = run_two(server, 10, 200, 3s, 200, 20);
  // Reservations made before the end may lie up to 200 ms past it: at most 40 messages more.
  const double expected = 200 * 3 + 20;
  std::printf("gcra: %llu admitted in 3 s in batches of 10 reserved ahead (expected %.0f)\n",
              static_cast<unsigned long long>(granted), expected);
  EXPECT_GE(static_cast<double>(granted), expected * 0.9);
  EXPECT_LE(static_cast<double>(granted), expected * 1.1 + 40);
}

class gcra_script_test : public ::testing::Test {
 protected:
  void SetUp() override {
    redis::client_config cfg;
    cfg.url = server_.url();
    client_ = std::make_unique<redis::client>(io_.get_executor(), cfg);
    client_->start();
  }
  void TearDown() override {
    client_->stop();
    io_.restart();
    io_.run_for(20ms);
  }
  answer call(double rate, std::uint64_t burst, std::uint64_t n, std::int64_t max_wait_ms = 0) {
    return run_awaitable(io_, ask(*client_, key_, rate, burst, n, max_wait_ms));
  }

  test::redis_server server_;
  asio::io_context io_;
  std::unique_ptr<redis::client> client_;
  std::string key_ = rate_key("herald", "lc");
};

TEST_F(gcra_script_test, the_burst_then_a_refusal_naming_the_wait) {
  // 1 message a second, so that the test's own pace cannot refill the bucket.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(call(1, 3, 1).reserved) << i;
  auto refused = call(1, 3, 1);
  EXPECT_FALSE(refused.reserved);
  EXPECT_GT(refused.wait_ms, 900);
  EXPECT_LE(refused.wait_ms, 1000);
  // A reservation a second ahead is granted with that wait.
  auto ahead = call(1, 3, 1, 1500);
  EXPECT_TRUE(ahead.reserved);
  EXPECT_GT(ahead.wait_ms, 900);
}

TEST_F(gcra_script_test, a_batch_reserves_n_tokens_and_the_key_expires_when_idle) {
  auto batch = call(100, 100, 100);  // 1 s of messages at once
  EXPECT_TRUE(batch.reserved);
  EXPECT_FALSE(call(100, 100, 1).reserved) << "the batch took the whole burst";
  const auto ttl = server_.integer({"PTTL", key_});
  EXPECT_GT(ttl, 900);
  EXPECT_LE(ttl, 1001);
  // A batch above the burst goes when idle, never stuck.
  EXPECT_EQ(server_.command({"EVAL", std::string(proto::gcra_lua), "1", rate_key("herald", "big"),
                             "100", "10", "50", "0"}),
            "1\n0");
}

TEST_F(gcra_script_test, bad_arguments_are_errors_naming_the_argument) {
  for (auto args : std::vector<std::vector<std::string>>{{"0", "1", "1", "0"},
                                                         {"x", "1", "1", "0"},
                                                         {"10", "0", "1", "0"},
                                                         {"10", "1", "0", "0"},
                                                         {"10", "1", "1", "-1"}}) {
    std::vector<std::string> cmd{"EVAL", std::string(proto::gcra_lua), "1", key_};
    cmd.insert(cmd.end(), args.begin(), args.end());
    EXPECT_NE(server_.command(cmd).find("gcra: ARGV["), std::string::npos) << args[0];
  }
  EXPECT_EQ(server_.integer({"EXISTS", key_}), 0);
}

TEST(gcra, its_effects_replicate_to_a_replica) {
  // TIME inside a script: Redis 7 replicates the SET the script made, not the script.
  test::redis_server primary(test::redis_server::options{.tcp = true});
  test::redis_server replica(test::redis_server::options{
      .tcp = true, .extra_args = {"--replicaof", "127.0.0.1", std::to_string(primary.port())}});
  const std::string key = rate_key("herald", "lc");
  // Once the replica is in sync, so that what it gets is the script's replicated effect.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (replica.command({"INFO", "replication"}).find("master_link_status:up") == std::string::npos
         && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  // One message every 1000 s: the key lives long enough to be seen on the replica.
  EXPECT_EQ(
      primary.command({"EVAL", std::string(proto::gcra_lua), "1", key, "0.001", "1", "1", "0"}),
      "1\n0");
  const auto tat = primary.command({"GET", key});
  ASSERT_NE(tat, "(nil)");
  std::string seen;
  deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    seen = replica.command({"GET", key});
    if (seen == tat) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(seen, tat);
}

}  // namespace
}  // namespace herald::delivery
