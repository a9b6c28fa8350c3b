// The Redis client's pure parts: RESP encoding, URLs, replies, script hashes, the backoff.
#include <gtest/gtest.h>

#include "herald/common/backoff.hpp"
#include "herald/redis/command.hpp"
#include "herald/redis/error.hpp"
#include "herald/redis/reply.hpp"
#include "herald/redis/script.hpp"
#include "herald/redis/url.hpp"

namespace herald::redis {
namespace {

TEST(RedisCommand, EncodesArgumentsAsResp) {
  command cmd("SET", "key", std::string("va\r\nlue"), 42);
  EXPECT_EQ(cmd.size(), 4u);
  EXPECT_EQ(cmd.name(), "SET");
  EXPECT_EQ(cmd.wire(), "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n$2\r\n42\r\n");
}

TEST(RedisCommand, EncodesManyArgumentsAndEmptyOnes) {
  command cmd("DEL");
  std::vector<std::string> keys;
  for (int i = 0; i < 12; ++i) keys.push_back("k" + std::to_string(i));
  cmd.args(keys).arg("");
  auto wire = cmd.wire();
  EXPECT_TRUE(wire.starts_with("*14\r\n$3\r\nDEL\r\n$2\r\nk0\r\n")) << wire;
  EXPECT_TRUE(wire.ends_with("$3\r\nk11\r\n$0\r\n\r\n")) << wire;
  EXPECT_EQ(cmd.wire(), wire);  // encoding twice gives the same bytes
}

TEST(RedisUrl, ParsesTcpWithPasswordAndDb) {
  auto ep = parse_url("redis://:s3cret@localhost:6380/2");
  ASSERT_TRUE(ep) << ep.error().message();
  EXPECT_EQ(ep->kind, endpoint::transport::tcp);
  EXPECT_EQ(ep->host, "localhost");
  EXPECT_EQ(ep->port, 6380);
  EXPECT_EQ(ep->password, "s3cret");
  EXPECT_EQ(ep->user, "");
  EXPECT_EQ(ep->db, 2);
  EXPECT_EQ(ep->redacted(), "redis://:***@localhost:6380/2");
}

TEST(RedisUrl, ParsesUserAndDefaultPort) {
  auto ep = parse_url("redis://herald:p%40ss@10.0.0.5");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->user, "herald");
  EXPECT_EQ(ep->password, "p@ss");
  EXPECT_EQ(ep->port, 6379);
  EXPECT_EQ(ep->db, 0);
  EXPECT_EQ(ep->redacted().find("p@ss"), std::string::npos);
}

TEST(RedisUrl, ParsesIpv6) {
  auto ep = parse_url("redis://[::1]:7000");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->redacted(), "redis://[::1]:7000");
}

TEST(RedisUrl, ParsesUnixSocket) {
  auto ep = parse_url("unix:///run/herald/redis.sock?db=3");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->kind, endpoint::transport::unix_socket);
  EXPECT_EQ(ep->path, "/run/herald/redis.sock");
  EXPECT_EQ(ep->db, 3);
  EXPECT_EQ(ep->redacted(), "unix:///run/herald/redis.sock?db=3");
}

TEST(RedisUrl, RefusesWhatIsNotARedisUrl) {
  for (const char* bad : {"", "localhost:6379", "http://localhost", "redis://", "redis://h:0",
                          "redis://h:1/x", "redis://h:1/-1", "unix://relative", "unix:///s?db=x",
                          "unix:///s?timeout=1", "redis://h:99999"}) {
    auto ep = parse_url(bad);
    EXPECT_FALSE(ep) << bad;
    if (!ep) {
      EXPECT_EQ(ep.error(), make_error_code(errc::invalid_url)) << bad;
    }
  }
}

TEST(RedisUrl, ParsesASentinelUrl) {
  auto ep = parse_url(
      "redis-sentinel://herald:p%40ss@10.0.0.1:26379,sentinel-b,[::1]:26380/mymaster"
      "?db=2&sentinel_password=s3cret");
  ASSERT_TRUE(ep) << ep.error().message();
  EXPECT_EQ(ep->kind, endpoint::transport::sentinel);
  ASSERT_EQ(ep->sentinels.size(), 3u);
  EXPECT_EQ(ep->sentinels[0].host, "10.0.0.1");
  EXPECT_EQ(ep->sentinels[0].port, 26379);
  EXPECT_EQ(ep->sentinels[1].host, "sentinel-b");
  EXPECT_EQ(ep->sentinels[1].port, 26379) << "the default sentinel port";
  EXPECT_EQ(ep->sentinels[2].host, "::1");
  EXPECT_EQ(ep->sentinels[2].port, 26380);
  EXPECT_EQ(ep->master_name, "mymaster");
  EXPECT_EQ(ep->user, "herald");
  EXPECT_EQ(ep->password, "p@ss");
  EXPECT_EQ(ep->db, 2);
  EXPECT_EQ(ep->sentinel_password, "s3cret");
  EXPECT_EQ(ep->redacted(),
            "redis-sentinel://herald:***@10.0.0.1:26379,sentinel-b:26379,[::1]:26380/mymaster"
            "?db=2&sentinel_password=***");
  auto plain = parse_url("redis-sentinel://127.0.0.1:26379/m");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->redacted(), "redis-sentinel://127.0.0.1:26379/m");
  for (const char* bad :
       {"redis-sentinel://", "redis-sentinel://h:1", "redis-sentinel://h:1/", "redis-sentinel:///m",
        "redis-sentinel://h:0/m", "redis-sentinel://h:1,/m", "redis-sentinel://h:1/m?db=x",
        "redis-sentinel://h:1/m?timeout=1", "redis-sentinel://[::1/m"})
    EXPECT_FALSE(parse_url(bad)) << bad;
}

TEST(RedisUrl, ASwitchMasterMessageNamesTheNewPrimaryOfItsMasterOnly) {
  auto to = parse_switch_master("mymaster 127.0.0.1 6379 10.0.0.2 6380", "mymaster");
  ASSERT_TRUE(to);
  EXPECT_EQ(to->first, "10.0.0.2");
  EXPECT_EQ(to->second, 6380);
  EXPECT_FALSE(parse_switch_master("other 127.0.0.1 6379 10.0.0.2 6380", "mymaster"));
  EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 10.0.0.2", "mymaster"));
  EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 10.0.0.2 port", "mymaster"));
  EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 10.0.0.2 0", "mymaster"));
  EXPECT_FALSE(parse_switch_master("", "mymaster"));
}

TEST(RedisReply, TypedAccessNamesWhatItFound) {
  auto r = reply::make_array({reply::make_integer(7), reply::make_string("x"), reply()});
  EXPECT_EQ(r.as_array().size(), 3u);
  EXPECT_EQ(r.as_array()[0].as_integer(), 7);
  EXPECT_EQ(r.as_array()[1].as_string(), "x");
  EXPECT_FALSE(r.as_array()[2].as_optional_string());
  try {
    (void)r.as_integer();
    FAIL() << "as_integer on an array must throw";
  } catch (const error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::unexpected_reply));
    EXPECT_NE(std::string(e.what()).find("[7, \"x\", (nil)]"), std::string::npos) << e.what();
  }
}

TEST(RedisScript, HashesLikeRedis) {
  // redis-cli SCRIPT LOAD "return 1" answers this digest.
  EXPECT_EQ(script("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST(Backoff, DoublesUpToTheCapWithEqualJitter) {
  backoff b({std::chrono::milliseconds(100), std::chrono::milliseconds(1000),
             backoff_policy::jitter::equal});
  EXPECT_EQ(b.ceiling(0).count(), 100);
  EXPECT_EQ(b.ceiling(1).count(), 200);
  EXPECT_EQ(b.ceiling(3).count(), 800);
  EXPECT_EQ(b.ceiling(4).count(), 1000);
  EXPECT_EQ(b.ceiling(60).count(), 1000);
  EXPECT_EQ(b.next(0).count(), 50);  // the lowest of [50, 100]
  EXPECT_EQ(b.next(~0ull).count() <= 200, true);
  EXPECT_GE(b.next(0).count(), 200);  // third attempt: [200, 400]
  b.reset();
  EXPECT_EQ(b.attempts(), 0u);
  EXPECT_LE(b.next(12345).count(), 100);
}

TEST(Backoff, FullJitterCanBeZero) {
  backoff b({std::chrono::milliseconds(100), std::chrono::milliseconds(1000),
             backoff_policy::jitter::full});
  EXPECT_EQ(b.next(0).count(), 0);
  EXPECT_EQ(b.next(200).count(), 200);  // 200 % 201
}

}  // namespace
}  // namespace herald::redis
