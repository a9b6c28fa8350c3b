// The worker pool's metrics against a real redis-server: each delivery of a job ends in exactly
// one outcome (completed, retried, failed, dead_lettered, cancelled), the items of committed
// chunks are counted by outcome, and the running gauge comes back to zero.
#include <gtest/gtest.h>

#include <functional>

#include "herald/metrics/registry.hpp"
#include "support/queue_fixture.hpp"

namespace herald::queue::test_support {
namespace {

class QueueMetrics : public Queue {
 protected:
  std::uint64_t jobs(std::string_view type, std::string_view outcome) {
    return metrics_.counter_family("herald_jobs_total", "", {"type", "outcome"})
        .with({type, outcome})
        .value();
  }
  std::uint64_t items(std::string_view type, std::string_view outcome) {
    return metrics_.counter_family("herald_items_total", "", {"type", "outcome"})
        .with({type, outcome})
        .value();
  }
  std::uint64_t started(std::string_view type) {
    return metrics_.counter_family("herald_jobs_started_total", "", {"type"}).with({type}).value();
  }
  double running() { return metrics_.add_gauge("herald_jobs_running", "").value(); }

  // Outlives the pool: declared in the derived fixture, it goes after TearDown has drained it.
  metrics::registry metrics_;
};

TEST_F(QueueMetrics, EachDeliveryEndsInOneOutcomeAndItemsAreCountedOnCommit) {
  worker_config cfg;
  cfg.metrics = &metrics_;
  cfg.workers = 8;
  cfg.claim_idle = 200ms;
  cfg.max_deliveries = 2;
  cfg.retry_backoff = {10ms, 20ms, backoff_policy::jitter::equal};
  start_pool(cfg);
  EXPECT_EQ(metrics_.add_gauge("herald_worker_slots", "").value(), 8);

  // Asked to retry once, then done: 2 items sent, 2 failed (scripted_handler's odd indexes).
  scripted_->retry_first = 1;
  auto retried = enqueue({.type = "scripted", .body = "{}"});
  wait_for(retried, task_status::completed);
  io_.run_for(50ms);
  EXPECT_EQ(started("scripted"), 2u);
  EXPECT_EQ(jobs("scripted", "retried"), 1u);
  EXPECT_EQ(jobs("scripted", "completed"), 1u);
  EXPECT_EQ(items("scripted", "sent"), 2u);
  EXPECT_EQ(items("scripted", "failed"), 2u);
  EXPECT_EQ(items("scripted", "done"), 0u);

  // Throws on every delivery: failed twice (left pending, claimed again), then dead-lettered.
  scripted_->retry_first = 0;
  scripted_->throw_first = 1000;
  auto poison = enqueue({.type = "scripted", .body = "{}"});
  wait_for(poison, task_status::failed, 15s);
  io_.run_for(50ms);
  EXPECT_EQ(jobs("scripted", "failed"), 2u);
  EXPECT_EQ(jobs("scripted", "dead_lettered"), 1u);
  EXPECT_EQ(jobs("scripted", "completed"), 1u) << "unchanged";

  // A body no handler can parse is dead-lettered without starting.
  auto bad = enqueue({.type = "noop", .body = R"({"items": "x"})"});
  wait_for(bad, task_status::failed);
  io_.run_for(50ms);
  EXPECT_EQ(jobs("noop", "dead_lettered"), 1u);
  EXPECT_EQ(started("noop"), 0u);

  // Cancelled while it runs, after a chunk: its next commit finds the task ended.
  auto sleepy = enqueue({.type = "sleep", .body = R"({"items": 1000, "ms": 1})"});
  auto pump_until = [&](const std::function<bool()>& done) {
    return test::wait_until(
        [&] {
          io_.run_for(10ms);
          return done();
        },
        10s, 1ms);
  };
  EXPECT_TRUE(pump_until([&] { return items("sleep", "done") > 0; }));
  EXPECT_EQ(run_awaitable(io_, store_->cancel(sleepy, "acme")), task_status::cancelled);
  EXPECT_TRUE(pump_until([&] { return jobs("sleep", "cancelled") == 1; }));
  EXPECT_EQ(items("sleep", "done") % 100, 0u) << "whole chunks (chunk_size 100)";
  EXPECT_LT(items("sleep", "done"), 1000u);

  // noop items have no delivery outcome: done.
  auto plain = enqueue({.type = "noop", .body = R"({"items": 7})"});
  wait_for(plain, task_status::completed);
  EXPECT_TRUE(pump_until([&] { return jobs("noop", "completed") == 1 && running() == 0; }))
      << running();
  EXPECT_EQ(items("noop", "done"), 7u);
  EXPECT_EQ(items("noop", "sent"), 0u);
  // Every delivery started has ended in one outcome.
  std::uint64_t ended = 0;
  for (const auto& e :
       metrics_.counter_family("herald_jobs_total", "", {"type", "outcome"}).series())
    ended += e.series->value();
  std::uint64_t begun = 0;
  for (const auto& e : metrics_.counter_family("herald_jobs_started_total", "", {"type"}).series())
    begun += e.series->value();
  EXPECT_EQ(begun, 6u);
  EXPECT_EQ(ended, begun + 2) << "the two dead letters ended without a delivery starting here";
}

}  // namespace
}  // namespace herald::queue::test_support
