// redis_wait_replicas: an enqueue answers success only once the replicas hold it (WAIT), and
// says so when they do not; chunk commits of jobs with effects wait the same way. A real
// primary and a real replica.
#include <gtest/gtest.h>

#include <optional>

#include <boost/asio/co_spawn.hpp>

#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/queue/worker_pool.hpp"
#include "herald/redis/client.hpp"
#include "support/process.hpp"
#include "support/queue_fixture.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::queue {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;
using test_support::scripted_handler;

long long waits(test::redis_server& s) {
  auto info = s.command({"INFO", "commandstats"});
  auto at = info.find("cmdstat_wait:calls=");
  return at == std::string::npos ? 0 : std::stoll(info.substr(at + 19));
}

bool replicating(test::redis_server& primary) {
  auto info = primary.command({"INFO", "replication"});
  return info.find("connected_slaves:1") != std::string::npos
         && info.find("state=online") != std::string::npos;
}

// The replica acknowledges writes: "online" on the primary can come a moment before its first
// ACK, and a WAIT in that moment counts 0.
bool acknowledging(test::redis_server& primary) {
  primary.command({"SET", "herald-test:warm", "1"});
  return primary.integer({"WAIT", "1", "200"}) == 1;
}

struct QueueReplicaWait : ::testing::Test {
  test::redis_server primary{{.tcp = true}};
  test::redis_server replica{
      {.tcp = true, .extra_args = {"--replicaof", "127.0.0.1", std::to_string(primary.port())}}};
  asio::io_context io{1};
  std::unique_ptr<redis::client> shared, blocking;
  queue_keys keys{"herald", "default"};

  void SetUp() override {
    ASSERT_TRUE(test::wait_until([&] { return replicating(primary); }, 10s));
    ASSERT_TRUE(test::wait_until([&] { return acknowledging(primary); }, 10s));
    primary.command({"CONFIG", "RESETSTAT"});  // the tests count the WAITs they cause
    redis::client_config rc;
    rc.url = primary.url();
    shared = std::make_unique<redis::client>(io.get_executor(), rc);
    blocking = std::make_unique<redis::client>(io.get_executor(), rc);
    shared->start();
    blocking->start();
  }
  void TearDown() override {
    shared->stop();
    blocking->stop();
    io.restart();
    io.run_for(50ms);
  }
};

TEST_F(QueueReplicaWait, AnEnqueueSucceedsOnceTheReplicaHoldsItAndFailsSayingSoWithout) {
  task_store store(*shared, keys, 60s);
  // Longer than the replica's once-a-second ACK: a WAIT at the wrong moment can wait for it.
  store.set_replica_wait({.replicas = 1, .timeout = 1500ms});
  new_job job{.type = "noop", .account = "acme", .body = R"({"items": 1})"};
  job.idempotency_key = "k-1";
  auto first = run_awaitable(io, store.enqueue(job));
  EXPECT_TRUE(first.created);
  EXPECT_EQ(waits(primary), 1);
  EXPECT_EQ(replica.command({"HGET", keys.queued(), first.task_id}).empty(), false)
      << "the replica holds the queued record once the enqueue answered";

  replica.kill9();
  job.idempotency_key = "k-2";
  auto began = std::chrono::steady_clock::now();
  std::string what;
  boost::system::error_code code;
  try {
    run_awaitable(io, store.enqueue(job));
  } catch (const redis::error& e) {
    what = e.what();
    code = e.code();
  }
  auto took = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(code, redis::errc::not_replicated) << what;
  EXPECT_NE(what.find("0 of 1 replicas (redis_wait_replicas)"), std::string::npos) << what;
  EXPECT_NE(what.find("retry with the same idempotency key"), std::string::npos) << what;
  EXPECT_GE(took, 1450ms) << "WAIT waited redis_wait_ms";

  // The producer retries with its key once a replica is back: the same task, not a second one.
  replica.start();
  ASSERT_TRUE(test::wait_until([&] { return replicating(primary); }, 10s));
  ASSERT_TRUE(test::wait_until([&] { return acknowledging(primary); }, 10s));
  // A replica just back may take a moment past "online" to acknowledge (its first ACK follows
  // the resync): the producer retries on not_replicated, as the error tells it to.
  std::optional<herald::queue::enqueued> again;
  for (int attempt = 0; attempt < 20 && !again; ++attempt) {
    try {
      again = run_awaitable(io, store.enqueue(job));
    } catch (const redis::error& e) {
      ASSERT_EQ(e.code(), redis::errc::not_replicated) << e.what();
    }
  }
  ASSERT_TRUE(again) << "the enqueue was never replicated";
  EXPECT_FALSE(again->created);
  EXPECT_EQ(primary.integer({"XLEN", keys.jobs()}), 2);

  // Without a replica wait, no WAIT is sent.
  task_store plain(*shared, keys, 60s);
  auto before = waits(primary);
  run_awaitable(io, plain.enqueue({.type = "noop", .account = "acme", .body = R"({"items": 1})"}));
  EXPECT_EQ(waits(primary), before);
}

TEST_F(QueueReplicaWait, ChunkCommitsOfJobsWithEffectsWaitForTheReplica) {
  task_store store(*shared, keys, 60s);
  handler_registry handlers;
  add_builtin_handlers(handlers);
  auto scripted = std::make_shared<scripted_handler>();  // has effects
  scripted->items = 6;
  handlers.add("scripted", scripted);
  worker_config cfg;
  cfg.consumer = "wait-test";
  cfg.block = 100ms;
  cfg.task_ttl = 60s;
  cfg.chunk_size = 2;
  cfg.replicas = {.replicas = 1, .timeout = 1500ms};
  worker_pool pool(io.get_executor(), *shared, *blocking, keys, handlers, cfg);
  bool pool_done = false;
  asio::co_spawn(io, pool.run(), [&](std::exception_ptr) { pool_done = true; });

  auto wait_completed = [&](const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (primary.command({"HGET", keys.task(id), "status"}) == "completed") return true;
      io.run_for(20ms);
    }
    return false;
  };
  // A job without effects (noop) commits without waiting; one with effects waits per commit.
  auto noop =
      run_awaitable(io,
                    store.enqueue({.type = "noop", .account = "acme", .body = R"({"items": 500})"}))
          .task_id;
  ASSERT_TRUE(wait_completed(noop));
  auto after_noop = waits(primary);
  EXPECT_EQ(after_noop, 0) << "noop has no effects";
  auto id = run_awaitable(io, store.enqueue({.type = "scripted", .account = "acme", .body = "{}"}))
                .task_id;
  ASSERT_TRUE(wait_completed(id));
  EXPECT_EQ(waits(primary), after_noop + 3) << "one WAIT per chunk commit";
  EXPECT_EQ(replica.command({"HGET", keys.task(id), "status"}), "completed");

  // Without the replica, each commit stops its job (resumed at once): it still completes, with
  // every item counted once.
  replica.kill9();
  auto alone =
      run_awaitable(io, store.enqueue({.type = "scripted", .account = "acme", .body = "{}"}))
          .task_id;
  ASSERT_TRUE(wait_completed(alone));
  EXPECT_EQ(primary.command({"HGET", keys.task(alone), "processed"}), "6");
  EXPECT_EQ(primary.command({"HGET", keys.task(alone), "deliveries"}), "1");
  EXPECT_GE(pool.stats().resumed, 1u) << "stopped by the failed WAIT, resumed";

  pool.drain();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!pool_done && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
  EXPECT_TRUE(pool_done);
}

}  // namespace
}  // namespace herald::queue
