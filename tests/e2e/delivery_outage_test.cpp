// A provider down for 30 s during a campaign, through the built heraldd (issue 11, "A provider
// down for 30 s"): its circuit opens, the items wait (none fails, no job is dead-lettered),
// every item is delivered after it returns, what `herald providers` lists (the published
// P:{providers}:health) shows it open or half-open meanwhile, and the probes during the outage
// are few. The only test of this file: it takes about 45 s.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>
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

constexpr const char* triggers_json = R"([
{"account": "acme", "id": 16, "name": "hook", "channel": "email", "provider": "hook",
 "resource_id": 1, "message": {"subject": "Заказ", "text": "{lead._fname}"}}
])";

TEST(DeliveryOutage, AProviderDownForThirtySecondsLosesNothingAndIsProbedRarely) {
  redis_server redis;
  fake_webhook hook("hook-secret");
  constexpr std::uint64_t concurrency = 8, threads = 2;
  campaign c(
      redis, triggers_json,
      {"HERALD_PROVIDER_HOOK_KIND=webhook", "HERALD_PROVIDER_HOOK_URL=" + hook.base_url() + "/hook",
       "HERALD_PROVIDER_HOOK_SECRET=hook-secret", "HERALD_PROVIDER_HOOK_RATE_PER_S=300",
       "HERALD_PROVIDER_HOOK_CONCURRENCY=" + std::to_string(concurrency)});
  heraldd_process d(
      c.daemon({"HERALD_CHUNK_SIZE=50", "HERALD_THREADS=" + std::to_string(threads)}));
  ASSERT_TRUE(wait_until([&] { return contains(d.log(), "created"); }, 10s)) << d.log();
  constexpr int jobs = 2, per_job = 1000, items = jobs * per_job;
  const auto ids = c.enqueue_imports(16, jobs, per_job);

  ASSERT_TRUE(wait_until([&] { return hook.distinct() >= 300; }, 30s)) << d.log();
  hook.set_down(true);
  const auto down_at = clock::now();
  const auto before = hook.distinct();
  std::int64_t probes_before = 0;
  for (const auto& h : c.health())
    if (h.name == "hook") probes_before = h.probes;
  // What herald providers lists, every 250 ms of the outage.
  std::set<std::string> states;
  std::int64_t probes_during = 0, failed_during = 0;
  while (clock::now() - down_at < 30s) {
    for (const auto& h : c.health()) {
      if (h.name != "hook") continue;
      states.insert(h.state);
      probes_during = h.probes - probes_before;
      failed_during = h.failed;
    }
    std::this_thread::sleep_for(250ms);
  }
  const auto calls_while_down = hook.calls_while_down();
  hook.set_down(false);
  const auto back_at = clock::now();
  EXPECT_EQ(hook.distinct(), before) << "delivered while down";

  ASSERT_TRUE(wait_until([&] { return hook.distinct() > before; }, 60s)) << d.log();
  const auto resumed_after = clock::now() - back_at;
  ASSERT_TRUE(wait_until([&] { return c.all_completed(ids); }, 90s)) << d.log();
  std::string seen;
  for (const auto& s : states) seen += " " + s;
  std::printf(
      "webhook down 30 s: %llu calls while down (%lld of them half-open probes), states "
      "listed:%s; deliveries resumed %lld ms after it returned\n",
      static_cast<unsigned long long>(calls_while_down), static_cast<long long>(probes_during),
      seen.c_str(),
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(resumed_after).count()));

  EXPECT_TRUE(states.contains("open") || states.contains("half_open")) << seen;
  // Few: the calls that opened it (5 failures in a row, plus what was in flight: `concurrency`
  // for each thread's dispatcher), then about one probe per cool-down, which doubles from 1 s
  // (1, 2, 4, 8, 16 s).
  EXPECT_LE(probes_during, 8);
  EXPECT_LE(calls_while_down, 5 + threads * concurrency + 8);
  EXPECT_EQ(failed_during, 0);
  EXPECT_LT(resumed_after, 20s) << "the longest cool-down within 30 s is 16 s";

  EXPECT_EQ(hook.distinct(), static_cast<std::size_t>(items)) << "an item was lost";
  EXPECT_EQ(hook.delivered(), static_cast<std::size_t>(items));
  for (const auto& id : ids) {
    EXPECT_EQ(c.field(id, "status"), "completed") << id;
    EXPECT_EQ(c.counter(id, "sent"), per_job) << id;
    EXPECT_EQ(c.counter(id, "failed"), 0) << id;
  }
  EXPECT_EQ(c.dead(), 0);
  EXPECT_EQ(d.terminate(), 0) << d.log();
}

}  // namespace
}  // namespace herald::test
