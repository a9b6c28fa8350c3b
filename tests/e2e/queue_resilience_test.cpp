// The queue when processes die: heraldd killed at random moments and restarted, two instances
// of which one dies for good, and SIGTERM under load. Built binaries, a real redis-server.
#include <gtest/gtest.h>
#include <signal.h>

#include <random>
#include <thread>

#include "support/heraldd.hpp"
#include "support/redis_server.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

const std::string jobs = "herald:{default}:jobs";
std::string task_key(const std::string& id) {
  return "herald:{default}:task:" + id;
}

void add_job(redis_server& redis, const std::string& id, const std::string& type,
             const std::string& body) {
  redis.command(
      {"XADD", jobs, "*", "v", "1", "type", type, "task_id", id, "account", "acme", "body", body});
}

std::string field(redis_server& redis, const std::string& id, const std::string& name) {
  return redis.command({"HGET", task_key(id), name});
}

bool all_completed(redis_server& redis, const std::vector<std::string>& ids) {
  return std::all_of(ids.begin(), ids.end(), [&](const std::string& id) {
    return field(redis, id, "status") == "completed";
  });
}

long long pending(redis_server& redis) {
  auto summary = redis.command({"XPENDING", jobs, "workers"});
  return std::stoll(summary.substr(0, summary.find('\n')));
}

heraldd_process::options on(redis_server& redis, std::vector<std::string> env) {
  env.push_back("HERALD_CLAIM_IDLE=1s");
  return {.redis_url = redis.url(), .extra_env = std::move(env)};
}

TEST(QueueResilience, KilledAtRandomTwentyTimesLosesNothingAndCountsNothingTwice) {
  redis_server redis;
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    ids.push_back("crash-" + std::to_string(i));
    add_job(redis, ids.back(), "noop", R"({"items": 10000})");
  }
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> lifetime_ms(20, 300);
  int killed_mid_way = 0;
  for (int round = 0; round < 20; ++round) {
    heraldd_process heraldd(on(redis, {"HERALD_CHUNK_SIZE=1", "HERALD_WORKERS=3"}));
    std::this_thread::sleep_for(std::chrono::milliseconds(lifetime_ms(random)));
    heraldd.process().signal(SIGKILL);
    heraldd.process().wait_for(5s);
    if (!all_completed(redis, ids)) ++killed_mid_way;
  }
  EXPECT_GT(killed_mid_way, 0) << "no kill landed while work was left";

  heraldd_process last(on(redis, {"HERALD_CHUNK_SIZE=100"}));
  ASSERT_TRUE(wait_until([&] { return all_completed(redis, ids); }, 60s)) << last.log();
  for (const auto& id : ids) {
    EXPECT_EQ(field(redis, id, "total"), "10000") << id;
    EXPECT_EQ(field(redis, id, "processed"), "10000") << id << ": counted twice or lost";
    EXPECT_EQ(field(redis, id, "cursor"), "10000") << id;
  }
  EXPECT_EQ(pending(redis), 0);
  EXPECT_TRUE(wait_until(
      [&] {
        return redis.integer({"XLEN", jobs}) == 0;
      },
      5s))
      << "acknowledged entries are trimmed";
  EXPECT_EQ(redis.integer({"XLEN", "herald:{default}:dead"}), 0);
  EXPECT_EQ(last.terminate(), 0);
}

TEST(QueueResilience, TheLivingInstanceFinishesWhatADeadOneHeld) {
  redis_server redis;
  heraldd_process a(on(redis, {"HERALD_CHUNK_SIZE=2", "HERALD_WORKERS=5"}));
  heraldd_process b(on(redis, {"HERALD_CHUNK_SIZE=2", "HERALD_WORKERS=5"}));
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back("shared-" + std::to_string(i));
    add_job(redis, ids.back(), "sleep", R"({"items": 20, "ms": 20})");
  }
  // Wait until A is holding work, then kill it for good.
  auto consumers_with_pending = [&] {
    auto r = redis.command({"XPENDING", jobs, "workers"});
    return std::count(r.begin(), r.end(), '\n') >= 4;  // count, min, max, then one line each
  };
  ASSERT_TRUE(wait_until(consumers_with_pending, 10s))
      << redis.command({"XPENDING", jobs, "workers"});
  a.process().signal(SIGKILL);
  a.process().wait_for(5s);
  EXPECT_FALSE(all_completed(redis, ids));

  ASSERT_TRUE(wait_until([&] { return all_completed(redis, ids); }, 60s)) << b.log();
  for (const auto& id : ids) EXPECT_EQ(field(redis, id, "processed"), "20") << id;
  EXPECT_EQ(pending(redis), 0);
  EXPECT_NE(b.log().find("claimed"), std::string::npos) << "B took over A's jobs";
  EXPECT_EQ(b.terminate(), 0);
}

TEST(QueueResilience, SigtermUnderLoadDrainsWithinTheGraceTenTimesOutOfTen) {
  redis_server redis;
  std::vector<std::string> ids;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 10; ++i) {
      ids.push_back("drain-" + std::to_string(round) + "-" + std::to_string(i));
      add_job(redis, ids.back(), "sleep", R"({"items": 10, "ms": 40})");
    }
    heraldd_process heraldd(
        on(redis, {"HERALD_CHUNK_SIZE=1", "HERALD_WORKERS=8", "HERALD_SHUTDOWN_GRACE=2s"}));
    ASSERT_TRUE(wait_until([&] { return pending(redis) > 0; }, 10s));
    auto sent = std::chrono::steady_clock::now();
    int code = heraldd.terminate(10s);
    auto took = std::chrono::steady_clock::now() - sent;
    EXPECT_EQ(code, 0) << "round " << round << "\n" << heraldd.log();
    EXPECT_LT(took, 4s) << "round " << round << ": more than shutdown_grace + 2 s";
  }
  // What the stopped instances left pending is claimed and finished by the next one.
  heraldd_process next(on(redis, {"HERALD_CHUNK_SIZE=5"}));
  ASSERT_TRUE(wait_until([&] { return all_completed(redis, ids); }, 60s)) << next.log();
  for (const auto& id : ids) EXPECT_EQ(field(redis, id, "processed"), "10") << id;
  EXPECT_EQ(pending(redis), 0);
  EXPECT_EQ(next.terminate(), 0);
}

}  // namespace
}  // namespace herald::test
