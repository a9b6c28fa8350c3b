// Delivery when processes die (issue 11, "Crashes during delivery"), through the built heraldd
// on a real redis-server to fake providers on loopback:
// - heraldd killed with SIGKILL 10 times during a 20,000-message campaign and restarted each
//   time: no message lost, duplicates at the fake at most the in-flight bound per kill, and
//   none delivered twice to the webhook, which dedupes by Idempotency-Key;
// - redis-server (AOF on, appendfsync everysec) killed 5 times during a campaign and restarted
//   on the same socket and data: no message lost, none sent twice, and each outage costs about
//   its own length (claim_idle is left at 30 s, which a claim would show).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/campaign.hpp"
#include "support/fake_providers.hpp"
#include "support/heraldd.hpp"
#include "support/redis_server.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

constexpr auto lc_token = "lc-secret-token";

constexpr const char* triggers_json = R"([
{"account": "acme", "id": 13, "name": "lc", "channel": "leadconverter", "provider": "lc",
 "resource_id": 1, "message": {"text": "Привет, {lead._fname}! {apicontent.page}"}},
{"account": "acme", "id": 16, "name": "hook", "channel": "email", "provider": "hook",
 "resource_id": 1, "message": {"subject": "Заказ", "text": "{lead._fname}"}}
])";

std::vector<std::string> provider_env(const fake_leadconverter& lc, const fake_webhook& hook,
                                      int lc_rate_per_s = 5000) {
  std::vector<std::string> env{"HERALD_PROVIDER_LC_KIND=leadconverter_messages",
                               "HERALD_PROVIDER_LC_BASE_URL=" + lc.base_url(),
                               std::string("HERALD_PROVIDER_LC_TOKEN=") + lc_token,
                               "HERALD_PROVIDER_LC_LINGER_MS=20",
                               "HERALD_PROVIDER_LC_RATE_PER_S=" + std::to_string(lc_rate_per_s),
                               "HERALD_PROVIDER_HOOK_KIND=webhook",
                               "HERALD_PROVIDER_HOOK_URL=" + hook.base_url() + "/hook",
                               "HERALD_PROVIDER_HOOK_SECRET=hook-secret",
                               "HERALD_PROVIDER_HOOK_RATE_PER_S=5000",
                               "HERALD_PROVIDER_HOOK_CONCURRENCY=128"};
  return env;
}

constexpr int jobs = 4;
constexpr int per_job = 5000;
constexpr int items = jobs * per_job;  // 20,000
constexpr int chunk_size = 100;
// What one kill can make the fake see twice: each running job repeats at most the chunk it was
// in (its messages may have gone out before its commit), and at most `jobs` run at once.
constexpr std::uint64_t in_flight_bound = std::uint64_t{jobs} * chunk_size;  // 400
constexpr int kills = 10;

struct crash_run {
  int kills = 0;
  std::vector<std::uint64_t> duplicates_per_life;  // life i's duplicates follow kill i-1
};

// Runs the campaign on `trigger_id` into `fake`, killing heraldd `kills` times, each once the
// fake has seen `step` more distinct messages since that heraldd started; waits for the end.
// The fake answers every call `answer_after` late (it records the delivery on arrival), so that
// a kill soon after a delivery lands while the call is in flight: before the chunk's commit.
crash_run campaign_through_kills(campaign& c, fake_provider& fake, int trigger_id,
                                 std::vector<std::string>& ids,
                                 std::chrono::milliseconds answer_after) {
  fault_plan slow;
  slow.delay = 1.0;
  slow.delay_by = answer_after;
  fake.set_faults(slow);
  const auto options =
      c.daemon({"HERALD_CHUNK_SIZE=" + std::to_string(chunk_size), "HERALD_CLAIM_IDLE=2s",
                // Each kill makes the jobs it held be claimed again (a delivery each): a job can
                // live through all ten, which the poison-job limit of 5 would dead-letter.
                "HERALD_MAX_DELIVERIES=50"});
  std::optional<heraldd_process> d;
  d.emplace(options);
  EXPECT_TRUE(wait_until([&] { return contains(d->log(), "created"); }, 10s)) << d->log();
  ids = c.enqueue_imports(trigger_id, jobs, per_job);

  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> extra_ms(0, static_cast<int>(answer_after.count()));
  const std::size_t step = items / (kills + 3);
  crash_run run;
  std::uint64_t seen = 0;
  for (int k = 0; k < kills; ++k) {
    const auto base = fake.distinct();
    const bool progressed = wait_until(
        [&] { return fake.distinct() >= base + step || c.all_completed(ids); }, 120s, 5ms);
    if (!progressed || c.all_completed(ids)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(extra_ms(random)));
    d->process().signal(SIGKILL);
    d->process().wait_for(5s);
    ++run.kills;
    const auto dups = fake.duplicates();
    run.duplicates_per_life.push_back(dups - seen);
    seen = dups;
    d.emplace(options);
  }
  EXPECT_TRUE(wait_until([&] { return c.all_completed(ids); }, 180s)) << d->log();
  // The last life's re-sends (of the last kill's chunks) show once the campaign is over.
  run.duplicates_per_life.push_back(fake.duplicates() - seen);
  EXPECT_EQ(d->terminate(), 0) << d->log();
  return run;
}

void expect_every_task_exact(campaign& c, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    EXPECT_EQ(c.field(id, "status"), "completed") << id;
    EXPECT_EQ(c.counter(id, "total"), per_job) << id;
    EXPECT_EQ(c.counter(id, "processed"), per_job) << id << ": counted twice or lost";
    EXPECT_EQ(c.counter(id, "sent"), per_job) << id;
    EXPECT_EQ(c.counter(id, "failed"), 0) << id;
    EXPECT_EQ(c.counter(id, "skipped"), 0) << id;
    std::printf("  task %s: %lld deliveries\n", id.c_str(),
                static_cast<long long>(c.counter(id, "deliveries")));
  }
  EXPECT_EQ(c.dead(), 0);
}

void print_duplicates(const crash_run& run) {
  std::printf("  in-flight bound per kill: %d jobs x chunk_size %d = %llu messages\n", jobs,
              chunk_size, static_cast<unsigned long long>(in_flight_bound));
  for (std::size_t i = 1; i < run.duplicates_per_life.size(); ++i)
    std::printf("  kill %zu: %llu duplicates (bound %llu)\n", i,
                static_cast<unsigned long long>(run.duplicates_per_life[i]),
                static_cast<unsigned long long>(in_flight_bound));
}

TEST(DeliveryCrash, HeralddKilledTenTimesLosesNoMessageAndRepeatsAtMostTheChunksInFlight) {
  redis_server redis;
  fake_leadconverter lc(lc_token);
  fake_webhook hook("hook-secret");
  campaign c(redis, triggers_json, provider_env(lc, hook));
  std::vector<std::string> ids;
  const auto run = campaign_through_kills(c, lc, 13, ids, 100ms);
  EXPECT_EQ(run.kills, kills) << "the campaign ended before every kill";

  EXPECT_EQ(lc.distinct(), static_cast<std::size_t>(items)) << "a message was lost";
  EXPECT_EQ(lc.refused(), 0u);
  std::printf("leadconverter_messages: %zu deliveries of %d messages, %llu duplicates\n",
              lc.delivered(), items, static_cast<unsigned long long>(lc.duplicates()));
  print_duplicates(run);
  EXPECT_EQ(run.duplicates_per_life.front(), 0u) << "duplicates before the first kill";
  for (std::size_t i = 1; i < run.duplicates_per_life.size(); ++i)
    EXPECT_LE(run.duplicates_per_life[i], in_flight_bound) << "after kill " << i;
  EXPECT_EQ(lc.delivered(), lc.distinct() + lc.duplicates());
  expect_every_task_exact(c, ids);
}

TEST(DeliveryCrash, HeralddKilledTenTimesDeliversToTheWebhookExactlyOnce) {
  redis_server redis;
  fake_leadconverter lc(lc_token);
  fake_webhook hook("hook-secret");
  campaign c(redis, triggers_json, provider_env(lc, hook));
  std::vector<std::string> ids;
  const auto run = campaign_through_kills(c, hook, 16, ids, 50ms);
  EXPECT_EQ(run.kills, kills) << "the campaign ended before every kill";

  // Every key once: the webhook answered the repeats without delivering them again.
  EXPECT_EQ(hook.distinct(), static_cast<std::size_t>(items)) << "a message was lost";
  EXPECT_EQ(hook.delivered(), static_cast<std::size_t>(items)) << "a message delivered twice";
  std::printf("webhook: %zu delivered of %d, %llu repeated keys deduplicated by the webhook\n",
              hook.delivered(), items, static_cast<unsigned long long>(hook.duplicates()));
  print_duplicates(run);
  for (std::size_t i = 1; i < run.duplicates_per_life.size(); ++i)
    EXPECT_LE(run.duplicates_per_life[i], in_flight_bound) << "after kill " << i;
  EXPECT_LE(hook.duplicates(), kills * in_flight_bound);
  expect_every_task_exact(c, ids);
}

// A campaign of 10,000 messages into leadconverter_messages limited to 1,000 a second (about
// 10 s), with redis-server (AOF on, appendfsync everysec) killed `redis_kills` times, each once
// the fake has seen 1,250 more messages, kept down for 1 s and restarted on the same socket and
// data directory. claim_idle stays at its 30 s: a chunk left for a claimer would cost that.
struct redis_run {
  std::chrono::milliseconds took{0}, down{0};
  int kills = 0;
  std::string log;  // heraldd's
};

// The keys the fake took more than once, with how long after the first each came again.
std::string repeated(const fake_provider& fake) {
  std::map<std::string, clock::time_point> first;
  std::string out;
  int shown = 0;
  for (const auto& d : fake.deliveries()) {
    auto [it, fresh] = first.emplace(d.key, d.at);
    if (fresh || ++shown > 20) continue;
    out += " " + d.key + " (+"
           + std::to_string(
               std::chrono::duration_cast<std::chrono::milliseconds>(d.at - it->second).count())
           + " ms)";
  }
  return out;
}

redis_run campaign_through_redis_kills(int redis_kills) {
  constexpr int r_jobs = 4, r_per_job = 2500, r_items = r_jobs * r_per_job;
  redis_server redis({.tcp = false,
                      .password = "",
                      .extra_args = {"--appendonly", "yes", "--appendfsync", "everysec"}});
  fake_leadconverter lc(lc_token);
  fake_webhook hook("hook-secret");
  campaign c(redis, triggers_json, provider_env(lc, hook, 1000));
  const auto options = c.daemon({"HERALD_CHUNK_SIZE=100", "HERALD_MAX_DELIVERIES=50"});
  std::optional<heraldd_process> loader(options);  // saves the triggers
  EXPECT_TRUE(wait_until([&] { return contains(loader->log(), "created"); }, 10s)) << loader->log();
  EXPECT_EQ(loader->terminate(), 0);
  loader.reset();
  // The whole campaign is queued before the heraldd under test starts: its clock starts there.
  const auto ids = c.enqueue_imports(13, r_jobs, r_per_job);
  const auto started = clock::now();
  heraldd_process d(options);
  redis_run run;
  for (int k = 0; k < redis_kills; ++k) {
    const auto base = lc.distinct();
    if (!wait_until([&] { return lc.distinct() >= base + 1250; }, 60s)) break;
    const auto killed = clock::now();
    redis.kill9();
    std::this_thread::sleep_for(1s);
    redis.start();
    const auto outage =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - killed);
    std::printf("  redis-server outage %d: %lld ms (at %zu messages)\n", k + 1,
                static_cast<long long>(outage.count()), base + 1250);
    run.down += outage;
    ++run.kills;
  }
  EXPECT_TRUE(wait_until(
      [&] {
        try {
          return c.all_completed(ids);
        } catch (const std::exception&) {
          return false;
        }
      },
      120s, 20ms))
      << d.log();
  run.took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);

  EXPECT_EQ(lc.distinct(), static_cast<std::size_t>(r_items)) << "a message was lost";
  EXPECT_EQ(lc.duplicates(), 0u) << "a message was sent twice:" << repeated(lc) << "\n"
                                 << d.log() << "\nredis-server:\n"
                                 << read_text(redis.dir() / "redis.log");
  EXPECT_EQ(lc.delivered(), static_cast<std::size_t>(r_items));
  for (const auto& id : ids) {
    EXPECT_EQ(c.field(id, "status"), "completed") << id;
    EXPECT_EQ(c.counter(id, "processed"), r_per_job) << id;
    EXPECT_EQ(c.counter(id, "sent"), r_per_job) << id;
    EXPECT_EQ(c.counter(id, "failed"), 0) << id;
    if (redis_kills > 0)
      std::printf("  task %s: %lld deliveries\n", id.c_str(),
                  static_cast<long long>(c.counter(id, "deliveries")));
  }
  EXPECT_EQ(c.dead(), 0);
  EXPECT_EQ(d.terminate(), 0) << d.log();
  run.log = d.log();
  if (const char* keep = std::getenv("HERALD_TEST_KEEP_LOG")) std::ofstream(keep) << run.log;
  return run;
}

TEST(DeliveryCrash, RedisKilledFiveTimesSendsNothingTwiceAndEachOutageCostsItsOwnLength) {
  std::printf("without outages:\n");
  const auto baseline = campaign_through_redis_kills(0);
  std::printf("with 5 redis-server kills:\n");
  const auto hit = campaign_through_redis_kills(5);
  EXPECT_EQ(hit.kills, 5) << "the campaign ended before every kill";
  const auto extra = hit.took - baseline.took;
  std::printf(
      "campaign of 10,000 messages: %lld ms without outages, %lld ms with %d outages "
      "totalling %lld ms: %lld ms more\n",
      static_cast<long long>(baseline.took.count()), static_cast<long long>(hit.took.count()),
      hit.kills, static_cast<long long>(hit.down.count()), static_cast<long long>(extra.count()));
  // About the outages' own length: each may add a reconnection (backoff capped at 1 s) and a
  // resumed chunk, never claim_idle (30 s).
  EXPECT_LT(extra, hit.down + hit.kills * 1500ms + 3s) << hit.log;
}

}  // namespace
}  // namespace herald::test
