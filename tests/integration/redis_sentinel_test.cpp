// The Redis client under Sentinel: a primary, two replicas and three sentinels on loopback. The
// client asks the sentinels for the primary, checks it with ROLE, and follows a failover after
// the primary is killed.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>

#include "herald/redis/client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"
#include "support/sentinel_cluster.hpp"

namespace herald::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

// One command to 127.0.0.1:port, the reply's elements (or its text) as strings; empty on failure.
std::vector<std::string> ask(int port, const std::vector<std::string>& args) {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  std::vector<std::string> out;
  if (!c || c->err) {
    if (c) redisFree(c);
    return out;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (r) {
    if (r->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i < r->elements; ++i)
        out.push_back(r->element[i]->str ? std::string(r->element[i]->str, r->element[i]->len)
                                         : std::to_string(r->element[i]->integer));
    } else if (r->str) {
      out.emplace_back(r->str, r->len);
    }
    freeReplyObject(r);
  }
  redisFree(c);
  return out;
}

// A sentinel (redis-server --sentinel) with a config file of its own, which it rewrites.
struct sentinel {
  sentinel(int primary_port, const test::temp_dir& dir, int index) : port(test::free_tcp_port()) {
    auto conf = dir / ("sentinel-" + std::to_string(index) + ".conf");
    std::ofstream(conf) << "port " << port << "\nbind 127.0.0.1\ndaemonize no\n"
                        << "protected-mode no\ndir " << dir.path().string() << "\n"
                        << "sentinel monitor mymaster 127.0.0.1 " << primary_port << " 2\n"
                        << "sentinel down-after-milliseconds mymaster 1000\n"
                        << "sentinel failover-timeout mymaster 10000\n"
                        << "sentinel parallel-syncs mymaster 1\n";
    process = std::make_unique<test::child_process>(
        std::vector<std::string>{HERALD_REDIS_SERVER, conf.string(), "--sentinel"},
        std::vector<std::string>{}, dir / ("sentinel-" + std::to_string(index) + ".log"));
  }
  int port;
  std::unique_ptr<test::child_process> process;
};

TEST(RedisSentinel, FollowsThreeFailoversWhenThePrimaryIsKilled) {
  std::vector<std::unique_ptr<test::redis_server>> servers;
  servers.push_back(std::make_unique<test::redis_server>(test::redis_server::options{.tcp = true}));
  const int first_primary = servers[0]->port();
  for (int i = 0; i < 2; ++i)
    servers.push_back(std::make_unique<test::redis_server>(test::redis_server::options{
        .tcp = true, .extra_args = {"--replicaof", "127.0.0.1", std::to_string(first_primary)}}));
  test::temp_dir dir("herald-sentinel");
  std::vector<std::unique_ptr<sentinel>> sentinels;
  std::string url = "redis-sentinel://";
  for (int i = 0; i < 3; ++i) {
    sentinels.push_back(std::make_unique<sentinel>(first_primary, dir, i));
    url += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(sentinels.back()->port);
  }
  url += "/mymaster";
  auto primary_port = [&]() -> int {
    auto named = ask(sentinels[0]->port, {"SENTINEL", "get-master-addr-by-name", "mymaster"});
    return named.size() == 2 ? std::stoi(named[1]) : 0;
  };
  // Every sentinel knows both replicas and the two other sentinels, and both replicas replicate.
  auto settled = [&] {
    for (auto& s : sentinels) {
      if (ask(s->port, {"SENTINEL", "replicas", "mymaster"}).size() != 2) return false;
      if (ask(s->port, {"SENTINEL", "sentinels", "mymaster"}).size() != 2) return false;
    }
    int p = primary_port();
    for (auto& srv : servers) {
      if (srv->port() == p) continue;
      auto role = ask(srv->port(), {"ROLE"});
      if (role.empty() || role[0] != "slave") return false;
      auto info = ask(srv->port(), {"INFO", "replication"});
      if (info.empty() || info[0].find("master_link_status:up") == std::string::npos) return false;
    }
    return true;
  };
  ASSERT_TRUE(test::wait_until(settled, 30s, 100ms)) << "the sentinels did not find each other";

  asio::io_context io(1);
  client_config cfg;
  cfg.url = url;
  cfg.command_timeout = 1s;
  client c(io.get_executor(), cfg);
  c.start();
  auto set_until_ok = [&](std::string value,
                          std::chrono::milliseconds within) -> asio::awaitable<bool> {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      auto [ec, r] =
          co_await c.async_exec(command("SET", "k", value), asio::as_tuple(asio::use_awaitable));
      if (!ec) co_return true;
      pause.expires_after(50ms);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return false;
  };
  ASSERT_TRUE(run_awaitable(io, set_until_ok("before", 10s)));
  EXPECT_EQ(servers[0]->command({"GET", "k"}), "before") << "the client found the primary";

  for (int round = 1; round <= 3; ++round) {
    int old = primary_port();
    auto victim = std::find_if(servers.begin(), servers.end(),
                               [&](const auto& s) { return s->port() == old; });
    ASSERT_NE(victim, servers.end());
    (*victim)->kill9();
    auto killed = std::chrono::steady_clock::now();
    std::string value = "after-" + std::to_string(round);
    ASSERT_TRUE(run_awaitable(io, set_until_ok(value, 20s))) << "no failover followed";
    auto took = std::chrono::steady_clock::now() - killed;
    std::cout << "failover " << round << ": writes succeeded again "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
              << " ms after the primary was killed (down-after-milliseconds 1000)\n";
    EXPECT_LT(took, 10s);
    auto role = run_awaitable(io, c.exec("ROLE"));
    EXPECT_EQ(role.as_array().at(0).str(), "master");
    int now = primary_port();
    EXPECT_NE(now, old);
    for (auto& s : servers)
      if (s->port() == now) {
        EXPECT_EQ(s->command({"GET", "k"}), value) << "the new primary has it";
      }
    // The dead one comes back (as a primary, with its old data): Sentinel makes it a replica.
    (*victim)->start();
    if (round < 3) {
      ASSERT_TRUE(test::wait_until(settled, 30s, 100ms)) << "round " << round;
    }
  }
  c.stop();
  io.restart();
  io.run_for(50ms);
}

// A failover Sentinel makes on request (the old primary lives on, as a replica): an idle client
// hears of it on its +switch-master subscription and moves to the new primary by itself.
TEST(RedisSentinel, AnIdleClientFollowsAManualFailoverAnnouncedBySwitchMaster) {
  test::sentinel_cluster cluster;
  ASSERT_TRUE(cluster.wait_settled()) << "the sentinels did not find each other";
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(200);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", ring));

  asio::io_context io(1);
  client_config cfg;
  cfg.url = cluster.url();
  cfg.command_timeout = 1s;
  cfg.client_name = "idle-follower";
  client c(io.get_executor(), cfg);
  c.start();
  auto connected_to = [&](int port) {
    auto list = test::sentinel_cluster::ask(port, {"CLIENT", "LIST"});
    return !list.empty() && list[0].find("name=idle-follower") != std::string::npos;
  };
  const int old = cluster.primary_port();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!connected_to(old) && std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
  ASSERT_TRUE(connected_to(old));

  std::vector<std::string> asked;
  for (int attempt = 0; attempt < 50; ++attempt) {
    // Any sentinel will do; one may refuse while another failover is settling.
    auto url = cluster.url();
    auto first = url.find("127.0.0.1:") + 10;
    int sentinel_port = std::stoi(url.substr(first));
    asked = test::sentinel_cluster::ask(sentinel_port, {"SENTINEL", "FAILOVER", "mymaster"});
    if (!asked.empty() && asked[0] == "OK") break;
    io.run_for(100ms);
  }
  ASSERT_FALSE(asked.empty());
  ASSERT_EQ(asked[0], "OK");
  ASSERT_TRUE(cluster.wait_failover(old));
  const int now = cluster.primary_port();
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!connected_to(now) && std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
  EXPECT_TRUE(connected_to(now)) << "the client did not move to the new primary";
  auto role = run_awaitable(io, c.exec("ROLE"));
  EXPECT_EQ(role.as_array().at(0).str(), "master");

  std::string logged;
  for (const auto& line : ring->last_formatted()) logged += line;
  spdlog::set_default_logger(previous);
  std::cout << logged;
  EXPECT_NE(logged.find("mymaster is now at 127.0.0.1:" + std::to_string(now)), std::string::npos)
      << "no +switch-master heard:\n"
      << logged;
  c.stop();
  io.restart();
  io.run_for(50ms);
}

}  // namespace
}  // namespace herald::redis
