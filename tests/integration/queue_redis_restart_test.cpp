// A worker pool across a restart of Redis (kill -9, AOF on): the job it was running is resumed as
// soon as Redis is back, from its own pending entries, not after claim_idle.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/queue/worker_pool.hpp"
#include "herald/redis/client.hpp"
#include "support/queue_fixture.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::queue {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;
using test_support::scripted_handler;

// The task as Redis has it now, or nothing (while Redis is down, say).
asio::awaitable<std::optional<task_record>> try_get(task_store& store, std::string id) {
  try {
    co_return co_await store.get(id);
  } catch (const std::exception&) {
    co_return std::nullopt;
  }
}

TEST(QueueRedisRestart, AJobRunningWhenRedisDiesIsResumedAsSoonAsItIsBack) {
  test::redis_server server(
      {.tcp = true, .extra_args = {"--appendonly", "yes", "--appendfsync", "always"}});
  asio::io_context io(1);
  redis::client_config rc;
  rc.url = server.url();
  redis::client shared(io.get_executor(), rc), blocking(io.get_executor(), rc);
  shared.start();
  blocking.start();
  queue_keys keys("herald", "default");
  task_store store(shared, keys, 60s);
  handler_registry handlers;
  auto scripted = std::make_shared<scripted_handler>();
  scripted->items = 20;
  scripted->pause = 150ms;  // 3 s of work, a chunk of one item at a time
  handlers.add("scripted", scripted);

  worker_config cfg;
  cfg.consumer = "restart-test";
  cfg.claim_idle = 30s;  // a job left for the claimer would wait this long
  cfg.chunk_size = 1;
  cfg.block = 100ms;
  cfg.task_ttl = 60s;
  worker_pool pool(io.get_executor(), shared, blocking, keys, handlers, cfg);
  bool pool_done = false;
  asio::co_spawn(io, pool.run(), [&](std::exception_ptr) { pool_done = true; });

  auto id = run_awaitable(io, store.enqueue({.type = "scripted", .account = "acme", .body = "{}"}))
                .task_id;
  auto progress = [&] {
    auto t = run_awaitable(io, try_get(store, id));
    return t ? std::optional<task_record>(*t) : std::nullopt;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto t = progress();
    if (t && t->processed >= 5) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the job did not get going";
    io.run_for(20ms);
  }
  server.kill9();
  io.run_for(1s);
  server.start();
  auto back = std::chrono::steady_clock::now();
  std::optional<task_record> t;
  deadline = back + 25s;
  while (std::chrono::steady_clock::now() < deadline) {
    t = progress();
    if (t && t->status == task_status::completed) break;
    io.run_for(20ms);
  }
  auto took = std::chrono::steady_clock::now() - back;
  ASSERT_TRUE(t);
  ASSERT_EQ(t->status, task_status::completed) << "processed " << t->processed;
  std::cout << "completed " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after Redis came back (claim_idle 30 s)\n";
  EXPECT_LT(took, 6s) << "resumed at once, not after claim_idle";
  EXPECT_EQ(t->processed, 20u) << "every item exactly once, AOF kept every commit";
  EXPECT_EQ(t->sent + t->failed, 20u);
  // The running chunk's commit waits for Redis and the job goes on (a job stopped by the loss
  // is resumed instead); never claimed after claim_idle.
  EXPECT_EQ(pool.stats().claimed, 0u);

  pool.drain();
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!pool_done && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
  EXPECT_TRUE(pool_done);
  shared.stop();
  blocking.stop();
  io.restart();
  io.run_for(50ms);
}

// A resume is the delivery going on, not a new one: five restarts of Redis under a job with
// max_deliveries 2 neither dead-letter it nor raise its count of deliveries.
TEST(QueueRedisRestart, FiveRestartsOfRedisDoNotCountAsDeliveries) {
  test::redis_server server(
      {.tcp = true, .extra_args = {"--appendonly", "yes", "--appendfsync", "always"}});
  asio::io_context io(1);
  redis::client_config rc;
  rc.url = server.url();
  redis::client shared(io.get_executor(), rc), blocking(io.get_executor(), rc);
  shared.start();
  blocking.start();
  queue_keys keys("herald", "default");
  task_store store(shared, keys, 60s);
  handler_registry handlers;
  auto scripted = std::make_shared<scripted_handler>();
  scripted->items = 40;
  scripted->pause = 100ms;  // 4 s of work, one item a chunk
  // Each chunk asks Redis first: an outage stops the job, and the reconnect resumes it.
  scripted->reads_redis = true;
  handlers.add("scripted", scripted);

  worker_config cfg;
  cfg.consumer = "restarts-test";
  cfg.claim_idle = 30s;
  cfg.chunk_size = 1;
  cfg.block = 100ms;
  cfg.task_ttl = 60s;
  cfg.max_deliveries = 2;
  worker_pool pool(io.get_executor(), shared, blocking, keys, handlers, cfg);
  bool pool_done = false;
  asio::co_spawn(io, pool.run(), [&](std::exception_ptr) { pool_done = true; });

  auto id = run_awaitable(io, store.enqueue({.type = "scripted", .account = "acme", .body = "{}"}))
                .task_id;
  auto progress = [&] { return run_awaitable(io, try_get(store, id)); };
  std::uint64_t seen = 0;
  for (int outage = 1; outage <= 5; ++outage) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {  // a few more items done since the last outage
      auto t = progress();
      ASSERT_FALSE(t && t->status == task_status::failed)
          << "dead-lettered before outage " << outage << ": " << t->last_error;
      if (t && t->processed >= seen + 3) {
        seen = t->processed;
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "no progress before outage " << outage;
      io.run_for(20ms);
    }
    ASSERT_LT(seen, 40u) << "the job finished before outage " << outage << "; make it longer";
    server.kill9();
    io.run_for(300ms);
    server.start();
  }
  std::optional<task_record> t;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    t = progress();
    if (t && t->status != task_status::processing && t->status != task_status::queued) break;
    io.run_for(20ms);
  }
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, task_status::completed)
      << "after 5 outages with max_deliveries 2; deliveries " << t->deliveries;
  EXPECT_EQ(t->processed, 40u);
  EXPECT_EQ(t->deliveries, 1u) << "a resume counted as a delivery";
  EXPECT_EQ(server.integer({"XLEN", keys.dead()}), 0);
  EXPECT_GE(pool.stats().resumed, 5u);
  EXPECT_EQ(pool.stats().dead, 0u);

  pool.drain();
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!pool_done && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
  EXPECT_TRUE(pool_done);
  shared.stop();
  blocking.stop();
  io.restart();
  io.run_for(50ms);
}

}  // namespace
}  // namespace herald::queue
