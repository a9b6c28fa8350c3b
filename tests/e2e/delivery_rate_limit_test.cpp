// A provider's rate limit holds across every heraldd sharing the Redis (issue 11, "Rate
// limit"): two built heraldd on one real redis-server, a webhook limited to 200 messages a
// second and work enough for both; over 10 s the fake sees between 1,800 and 2,200 deliveries.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
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

constexpr const char* triggers_json = R"([
{"account": "acme", "id": 16, "name": "hook", "channel": "email", "provider": "hook",
 "resource_id": 1, "message": {"subject": "Заказ", "text": "{lead._fname}"}}
])";

TEST(DeliveryRateLimit, TwoHeralddShareOneProvidersTwoHundredPerSecond) {
  redis_server redis;
  fake_webhook hook("hook-secret");
  campaign c(
      redis, triggers_json,
      {"HERALD_PROVIDER_HOOK_KIND=webhook", "HERALD_PROVIDER_HOOK_URL=" + hook.base_url() + "/hook",
       "HERALD_PROVIDER_HOOK_SECRET=hook-secret", "HERALD_PROVIDER_HOOK_RATE_PER_S=200",
       "HERALD_PROVIDER_HOOK_CONCURRENCY=32"});
  const auto options = c.daemon({"HERALD_CHUNK_SIZE=20"});
  heraldd_process a(options);
  heraldd_process b(options);
  for (auto* d : {&a, &b})
    ASSERT_TRUE(wait_until([&] { return contains(d->log(), "created"); }, 10s)) << d->log();
  // 8 jobs of 500 (4,000 messages, 20 s at the limit), enqueued one by one so that the readers
  // blocked on the stream, of both instances, take them in turn.
  std::vector<std::string> ids;
  for (int j = 0; j < 8; ++j) {
    auto one = c.enqueue_imports(16, 1, 500, 1 + std::int64_t{j} * 500);
    ids.push_back(one.front());
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(wait_until([&] { return hook.delivered() > 0; }, 20s)) << a.log() << b.log();
  const auto first = hook.deliveries().front().at;
  // The window leaves out the first second (the limit's burst and the instances' start).
  const auto from = first + 1s, to = from + 10s;
  std::this_thread::sleep_until(to + 500ms);
  const auto seen = hook.deliveries();
  std::size_t in_window = 0;
  for (const auto& d : seen)
    if (d.at >= from && d.at < to) ++in_window;
  std::map<std::string, std::int64_t> sent_by_instance;
  for (const auto& h : c.health())
    if (h.name == "hook") sent_by_instance[h.instance] = h.sent;
  std::printf("webhook limited to 200/s, two heraldd: %zu deliveries in 10 s (1,800..2,200)\n",
              in_window);
  for (const auto& [instance, sent] : sent_by_instance)
    std::printf("  %s sent %lld\n", instance.c_str(), static_cast<long long>(sent));

  EXPECT_GE(in_window, 1800u);
  EXPECT_LE(in_window, 2200u);
  EXPECT_GE(seen.back().at, to) << "the work ran out inside the window";
  EXPECT_FALSE(c.all_completed(ids)) << "the work ran out inside the window";
  // Both instances were sending: the limit was shared, not one instance's.
  ASSERT_EQ(sent_by_instance.size(), 2u);
  for (const auto& [instance, sent] : sent_by_instance) EXPECT_GT(sent, 100) << instance;
  EXPECT_EQ(hook.delivered(), hook.distinct());
  EXPECT_EQ(a.terminate(), 0) << a.log();
  EXPECT_EQ(b.terminate(), 0) << b.log();
}

}  // namespace
}  // namespace herald::test
