// What heraldd asks of a Redis: the verdicts from what INFO and CONFIG GET said.
#include <gtest/gtest.h>

#include "herald/redis/checks.hpp"

namespace herald::redis {
namespace {

server_facts good() {
  server_facts f;
  f.version = "7.0.15";
  f.maxmemory_policy = "noeviction";
  f.aof = true;
  f.save = "3600 1 300 100 60 10000";
  f.appendfsync = "everysec";
  return f;
}

TEST(RedisChecks, AWellConfiguredRedisHasNoVerdict) {
  auto r = check_server(good(), {});
  EXPECT_TRUE(r.verdicts.empty()) << r.summary();
  EXPECT_FALSE(r.refused());
}

TEST(RedisChecks, EvictionIsRefusedUnlessAllowedThenAWarning) {
  auto f = good();
  f.maxmemory_policy = "allkeys-lru";
  auto r = check_server(f, {});
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_TRUE(r.refused());
  EXPECT_NE(r.summary().find("maxmemory-policy is allkeys-lru"), std::string::npos) << r.summary();
  EXPECT_NE(r.summary().find("allow_eviction = true"), std::string::npos) << r.summary();
  r = check_server(f, {.allow_eviction = true});
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_FALSE(r.refused());
  EXPECT_EQ(r.verdicts[0].severity, verdict::level::warning);
}

TEST(RedisChecks, PersistenceOffWarnsOnAConfiguredRedisOnly) {
  auto f = good();
  f.aof = false;
  f.save = "";
  auto r = check_server(f, {});
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_FALSE(r.refused());
  EXPECT_NE(r.summary().find("persistence is off"), std::string::npos) << r.summary();
  EXPECT_TRUE(check_server(f, {.configured = false}).verdicts.empty());
  f.save = "3600 1";  // RDB snapshots alone are persistence
  EXPECT_TRUE(check_server(f, {}).verdicts.empty());
  f.save.reset();  // CONFIG GET refused: unknown, no verdict
  EXPECT_TRUE(check_server(f, {}).verdicts.empty());
}

TEST(RedisChecks, AppendfsyncNoWarns) {
  auto f = good();
  f.appendfsync = "no";
  auto r = check_server(f, {});
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_EQ(r.verdicts[0].severity, verdict::level::warning);
  EXPECT_NE(r.summary().find("appendfsync is no"), std::string::npos);
}

TEST(RedisChecks, RedisOlderThanSevenIsRefusedNamingTheVersion) {
  auto f = good();
  f.version = "6.2.14";
  auto r = check_server(f, {});
  EXPECT_TRUE(r.refused());
  EXPECT_NE(r.summary().find("Redis 6.2.14 is older than 7.0"), std::string::npos) << r.summary();
  f.version = "7.2.4";
  EXPECT_FALSE(check_server(f, {}).refused());
}

TEST(RedisChecks, InfoTextGivesVersionPolicyAndAof) {
  server_facts f;
  parse_info(
      "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Memory\r\n"
      "maxmemory_policy:volatile-lru\r\n# Persistence\r\naof_enabled:0\r\n",
      f);
  EXPECT_EQ(f.version, "7.0.15");
  EXPECT_EQ(f.maxmemory_policy, "volatile-lru");
  ASSERT_TRUE(f.aof);
  EXPECT_FALSE(*f.aof);
}

}  // namespace
}  // namespace herald::redis
