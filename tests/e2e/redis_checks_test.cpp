// heraldd checks the Redis it is given: eviction is refused (unless allowed), persistence off is
// a warning, and an outage of Redis is logged in a few lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/redis_server.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

TEST(HeralddRedisChecks, EvictionIsRefusedWithTheReasonAndAcceptedWhenAllowed) {
  redis_server redis({.tcp = false,
                      .password = "",
                      .extra_args = {"--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"}});
  heraldd_process refused(
      {.redis_url = redis.url(), .extra_env = {}, .extra_args = {}, .wait_until_listening = false});
  auto code = refused.process().wait_for(15s);
  ASSERT_TRUE(code) << "heraldd kept running against an evicting Redis:\n" << refused.log();
  EXPECT_NE(*code, 0);
  EXPECT_NE(refused.log().find("refusing to run: maxmemory-policy is allkeys-lru"),
            std::string::npos)
      << refused.log();

  heraldd_process allowed({.redis_url = redis.url(),
                           .extra_env = {"HERALD_ALLOW_EVICTION=true"},
                           .extra_args = {},
                           .wait_until_listening = true});
  auto ready = allowed.get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find("maxmemory-policy is allkeys-lru"), std::string::npos) << ready.body;
  EXPECT_NE(allowed.log().find("maxmemory-policy is allkeys-lru (allowed by allow_eviction)"),
            std::string::npos)
      << allowed.log();
  EXPECT_EQ(allowed.terminate(), 0) << allowed.log();

  // herald queue stats shows it too.
  temp_dir dir("herald-cli");
  herald_cli herald(dir, {});
  auto stats = herald.run({"queue", "stats", "--redis-url", redis.url()});
  EXPECT_EQ(stats.code, 0) << stats.err;
  EXPECT_TRUE(contains(stats.out,
                       "redis checks:\n  refused by heraldd (unless allowed): "
                       "maxmemory-policy is allkeys-lru"))
      << stats.out;
  auto json = herald.run({"queue", "stats", "--json", "--redis-url", redis.url()});
  EXPECT_TRUE(contains(json.out, "\"redis_checks\": [\"refused by heraldd")) << json.out;
}

TEST(HeralddRedisChecks, PersistenceOffIsAWarning) {
  redis_server redis;  // --save "" --appendonly no
  heraldd_process heraldd(
      {.redis_url = redis.url(), .extra_env = {}, .extra_args = {}, .wait_until_listening = true});
  EXPECT_EQ(heraldd.get("/readyz").status, 200);
  EXPECT_NE(heraldd.log().find("persistence is off"), std::string::npos) << heraldd.log();
  EXPECT_NE(heraldd.get("/readyz").body.find("persistence is off"), std::string::npos);
  EXPECT_EQ(heraldd.terminate(), 0);
  temp_dir dir("herald-cli");
  auto stats = herald_cli(dir, {}).run({"queue", "stats", "--redis-url", redis.url()});
  EXPECT_TRUE(contains(stats.out, "warning: persistence is off")) << stats.out << stats.err;
}

TEST(HeralddRedisChecks, AnOutageOfFiveSecondsIsAFewLinesAndReadyzFollowsIt) {
  redis_server redis({.tcp = false, .password = "", .extra_args = {"--appendonly", "yes"}});
  heraldd_process heraldd({.redis_url = redis.url(),
                           .extra_env = {"HERALD_THREADS=2"},
                           .extra_args = {},
                           .wait_until_listening = true});
  ASSERT_EQ(heraldd.get("/readyz").status, 200);
  std::this_thread::sleep_for(300ms);
  auto before = heraldd.log().size();
  redis.kill9();
  auto killed = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return heraldd.get("/readyz").status == 503; }, 5s, 5ms));
  auto unready = std::chrono::steady_clock::now() - killed;
  std::this_thread::sleep_for(5s - unready);
  redis.start();
  EXPECT_TRUE(wait_until([&] { return heraldd.get("/readyz").status == 200; }, 10s, 20ms));
  // The line that ends the outage comes once every connection is back (a busy machine: later).
  EXPECT_TRUE(wait_until(
      [&] { return heraldd.log().find("back after", before) != std::string::npos; }, 5s, 20ms));
  std::this_thread::sleep_for(200ms);
  std::string outage = heraldd.log().substr(before);
  auto lines = std::count(outage.begin(), outage.end(), '\n');
  std::cout << "readyz 503 "
            << std::chrono::duration_cast<std::chrono::milliseconds>(unready).count()
            << " ms after the kill; " << lines << " lines logged for a 5 s outage:\n"
            << outage;
  EXPECT_LT(unready, 1s);
  EXPECT_LE(lines, 5) << outage;
  EXPECT_NE(outage.find("back after"), std::string::npos) << outage;
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

TEST(HeralddRedisSentinel, HeralddAndTheCliTakeASentinelUrl) {
  redis_server primary({.tcp = true, .password = "", .extra_args = {"--appendonly", "yes"}});
  temp_dir dir("herald-sentinel");
  int port = free_tcp_port();
  auto conf = dir / "sentinel.conf";
  std::ofstream(conf) << "port " << port << "\nbind 127.0.0.1\ndaemonize no\n"
                      << "protected-mode no\ndir " << dir.path().string() << "\n"
                      << "sentinel monitor main 127.0.0.1 " << primary.port() << " 1\n";
  child_process sentinel({HERALD_REDIS_SERVER, conf.string(), "--sentinel"}, {},
                         dir / "sentinel.log");
  std::string url = "redis-sentinel://127.0.0.1:" + std::to_string(port) + "/main";
  herald_cli herald(dir, {});
  cli_result stats;
  ASSERT_TRUE(wait_until(
      [&] {
        stats = herald.run({"queue", "stats", "--redis-url", url});
        return stats.code == 0;
      },
      10s, 100ms))
      << stats.err << sentinel.log();
  EXPECT_TRUE(contains(stats.out, "stream length:")) << stats.out;

  heraldd_process heraldd(
      {.redis_url = url, .extra_env = {}, .extra_args = {}, .wait_until_listening = true});
  EXPECT_EQ(heraldd.get("/readyz").status, 200) << heraldd.log();
  EXPECT_NE(heraldd.log().find("main is at 127.0.0.1:" + std::to_string(primary.port())),
            std::string::npos)
      << heraldd.log();
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

}  // namespace
}  // namespace herald::test
