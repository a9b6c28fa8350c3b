// The Redis client's outage log: one warning, a line every 10 s, one line when it is back.
#include <gtest/gtest.h>

#include "herald/redis/outage.hpp"

namespace herald::redis {
namespace {

using namespace std::chrono_literals;
using level = outage_log::note::level;

TEST(RedisOutageLog, WarnsOnceThenEveryTenSecondsThenSaysHowLongItLasted) {
  outage_log log("redis://127.0.0.1:6379");
  outage_log::clock::time_point t0{};
  auto first = log.failed(1, t0, "Connection refused");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->severity, level::warn);
  EXPECT_NE(first->text.find("redis://127.0.0.1:6379 unreachable: Connection refused"),
            std::string::npos)
      << first->text;
  EXPECT_TRUE(log.in_outage());
  int lines = 0;
  for (int i = 1; i <= 250; ++i)  // 25 s of attempts every 100 ms, from two connections
    if (log.failed(i % 2 + 1, t0 + i * 100ms, "Connection refused #" + std::to_string(i))) ++lines;
  EXPECT_EQ(lines, 2);  // at 10 s and at 20 s
  auto again = log.failed(1, t0 + 30s, "timeout");
  ASSERT_TRUE(again);
  EXPECT_NE(again->text.find("still unreachable after 30 s, 252 attempts; last error: timeout"),
            std::string::npos)
      << again->text;
  EXPECT_FALSE(log.connected(1, t0 + 31s)) << "connection 2 is still down";
  auto back = log.connected(2, t0 + 31500ms);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->severity, level::info);
  EXPECT_NE(back->text.find("back after 31500 ms (252 failed attempts)"), std::string::npos)
      << back->text;
  EXPECT_FALSE(log.in_outage());
  EXPECT_FALSE(log.connected(1, t0 + 32s)) << "a connection up without an outage says nothing";
}

TEST(RedisOutageLog, AStoppedConnectionNoLongerHoldsTheOutageOpen) {
  outage_log log("unix:///run/redis.sock");
  outage_log::clock::time_point t0{};
  EXPECT_TRUE(log.failed(1, t0, "lost"));
  EXPECT_FALSE(log.failed(2, t0 + 1s, "lost"));
  log.forget(2);
  EXPECT_TRUE(log.connected(1, t0 + 2s));
  EXPECT_TRUE(log.failed(1, t0 + 3s, "lost")) << "a new outage warns again";
}

TEST(RedisOutageLog, ConnectionsToOneEndpointShareOneLog) {
  EXPECT_EQ(&outage_log::for_endpoint("redis://a:1"), &outage_log::for_endpoint("redis://a:1"));
  EXPECT_NE(&outage_log::for_endpoint("redis://a:1"), &outage_log::for_endpoint("redis://b:1"));
}

}  // namespace
}  // namespace herald::redis
