// The queue's integrity against a real redis-server: no task runs again after it was cancelled or
// finished, one job's entry never changes another job's task, ids and keys live as long as their
// tasks, and every queue structure stays bounded. One test per defect a review found (issue 9),
// each failing before its fix.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "herald/proto/scripts.hpp"
#include "herald/redis/client.hpp"
#include "support/queue_fixture.hpp"

namespace herald::queue {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;
using test_support::Queue;

// Redis's clock, in ms: what the scripts that release delayed jobs go by.
std::int64_t redis_now(test::redis_server& server) {
  auto t = server.command({"TIME"});
  auto nl = t.find('\n');
  return std::stoll(t.substr(0, nl)) * 1000 + std::stoll(t.substr(nl + 1)) / 1000;
}

TEST_F(Queue, ACancelledDelayedTaskNeverRunsAgainOnceItsHashExpires) {
  // Reproduced before the fix: cancel left the delayed member; once the cancelled hash expired
  // (task_ttl 1 s) the promoted entry made a fresh task, ran it, and indexed its id twice.
  store_ = std::make_unique<task_store>(*shared_, keys_, 1s);
  worker_config cfg;
  cfg.task_ttl = 1s;
  start_pool(cfg);
  auto id = enqueue({.type = "scripted", .body = "{}", .run_at = now_ms() + 1500});
  EXPECT_EQ(count({"ZCARD", keys_.delayed()}), 1);
  EXPECT_EQ(run_awaitable(io_, store_->cancel(id, "acme")), task_status::cancelled);
  EXPECT_EQ(count({"ZCARD", keys_.delayed()}), 0) << "the delayed entry went with the cancel";
  io_.run_for(2500ms);
  EXPECT_EQ(scripted_->calls, 0);
  EXPECT_FALSE(run_awaitable(io_, store_->get(id))) << "expired, not revived";
  EXPECT_EQ(server_.command({"LRANGE", keys_.account_tasks("acme"), "0", "-1"}), id);

  // A delayed entry that outlived its task anyway (one made before this fix): dropped.
  server_.command({"ZADD", keys_.delayed(), "0",
                   R"({"v":"1","type":"scripted","task_id":"gone","account":"acme","body":"{}",)"
                   R"("origin":"1-1","retry_of":"1-1"})"});
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(20ms);
        return count({"ZCARD", keys_.delayed()}) == 0 && count({"XLEN", keys_.jobs()}) == 0;
      },
      5s));
  EXPECT_EQ(scripted_->calls, 0);
  EXPECT_EQ(count({"EXISTS", keys_.task("gone")}), 0);
}

TEST_F(Queue, AQueuedTaskCancelledLeavesNoEntryBehind) {
  auto id = enqueue({.type = "scripted", .body = "{}"});
  auto keyed = enqueue({.type = "scripted", .body = "{}", .idempotency_key = "k"});
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 2);
  EXPECT_EQ(run_awaitable(io_, store_->cancel(id, "acme")), task_status::cancelled);
  EXPECT_EQ(run_awaitable(io_, store_->cancel(keyed, "acme")), task_status::cancelled);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 0);
  EXPECT_GT(count({"PTTL", keys_.idempotency("acme", "k")}), 0) << "expires with its task";
}

TEST_F(Queue, AnEntryOfAnotherAccountNeverFailsATaskItDoesNotOwn) {
  start_pool();
  auto id = enqueue({.type = "noop", .body = R"({"items": 3})"});
  wait_for(id, task_status::completed);
  // A body that does not parse, under acme's completed task id, from another account.
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id", id, "account",
                   "evil", "body", "not json"});
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(20ms);
        return count({"XLEN", keys_.dead()}) == 1;
      },
      5s));
  auto task = *run_awaitable(io_, store_->get(id));
  EXPECT_EQ(task.status, task_status::completed);
  EXPECT_EQ(task.account, "acme");
  EXPECT_EQ(task.processed, 3u);
  EXPECT_TRUE(task.error_text.empty());
}

TEST_F(Queue, AJobWhoseTaskIdIsTakenIsDeadLetteredSayingWhyAndTheTaskIsUntouched) {
  // Before the fix, a job with a finished task's id was acknowledged silently (fast path), or
  // ran items 300..200 of another job's cursor and counted 1.8e19 (start.lua).
  worker_config cfg;
  cfg.chunk_size = 100;
  start_pool(cfg);
  auto id = enqueue({.type = "noop", .body = R"({"items": 300})", .total = 300});
  wait_for(id, task_status::completed);
  for (std::string items : {"50", "200"}) {  // one chunk (the fast path), and start.lua's path
    server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id", id, "account",
                     "acme", "body", R"({"items": )" + items + "}"});
  }
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(20ms);
        return count({"XLEN", keys_.dead()}) == 2;
      },
      5s));
  for (const auto& d : run_awaitable(io_, store_->dead_letters())) {
    EXPECT_EQ(d.reason, "task_id already in use by another job");
    EXPECT_EQ(d.task_id, id);
  }
  auto task = *run_awaitable(io_, store_->get(id));
  EXPECT_EQ(task.status, task_status::completed);
  EXPECT_EQ(task.processed, 300u);
  EXPECT_EQ(task.total, 300u);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 0);
}

TEST_F(Queue, TwoAccountsJobsWithOneTaskIdInOneReadRunOnceAndTheOtherIsDeadLettered) {
  for (std::string account : {"acme", "globex"})
    server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "scripted", "task_id", "same",
                     "account", account, "body", "{}"});
  start_pool();
  auto task = wait_for("same", task_status::completed);
  EXPECT_EQ(task.account, "acme");
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(20ms);
        return count({"XLEN", keys_.dead()}) == 1;
      },
      5s));
  auto dead = run_awaitable(io_, store_->dead_letters());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].account, "globex");
  EXPECT_EQ(dead[0].reason, "task_id already in use by another job");
  EXPECT_EQ(scripted_->calls, 1);
  EXPECT_EQ(server_.command({"LRANGE", keys_.account_tasks("acme"), "0", "-1"}), "same");
}

TEST_F(Queue, ADeadLetterPutBackNeverRevivesAnotherTaskAndKeepsItsOutcomes) {
  scripted_->throw_first = 1000;
  worker_config cfg;
  cfg.claim_idle = 200ms;
  cfg.max_deliveries = 1;
  start_pool(cfg);
  auto id = enqueue({.type = "scripted", .body = "{}"});
  wait_for(id, task_status::failed, 10s);
  auto dead = run_awaitable(io_, store_->dead_letters());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].deliveries, 1u);

  // Outcomes kept by the task (as a chunk would have written them) expire with it; a retry
  // keeps both.
  server_.command({"ZADD", keys_.items(id), "0", R"({"index":0,"outcome":"sent"})"});
  server_.command({"PEXPIRE", keys_.items(id), "60000"});
  scripted_->throw_first = 0;
  EXPECT_TRUE(run_awaitable(io_, store_->retry_dead(dead[0].id)));
  EXPECT_EQ(count({"PTTL", keys_.items(id)}), -1) << "the outcomes no longer expire";
  wait_for(id, task_status::completed);
  EXPECT_EQ(count({"ZCARD", keys_.items(id)}), 5) << "the one kept, and the run's 4";

  // The same letter again, now that its task id is a completed task's: refused, task as it was.
  scripted_->throw_first = 1000;
  auto other = enqueue({.type = "scripted", .body = "{}"});
  wait_for(other, task_status::failed, 10s);
  auto letter = run_awaitable(io_, store_->dead_letters()).at(0);
  server_.command({"DEL", keys_.task(other)});
  scripted_->throw_first = 0;
  enqueue({.type = "noop", .body = "{}", .task_id = other});
  wait_for(other, task_status::completed);
  try {
    run_awaitable(io_, store_->retry_dead(letter.id));
    ADD_FAILURE() << "a dead letter revived another task";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another task"), std::string::npos) << e.what();
  }
  auto task = *run_awaitable(io_, store_->get(other));
  EXPECT_EQ(task.status, task_status::completed);
  EXPECT_EQ(task.type, "noop");
  EXPECT_EQ(count({"XLEN", keys_.dead()}), 1) << "the letter stays";
}

TEST_F(Queue, AnEntryThisProcessRunsIsNeverStartedAgainWhenItLooksIdle) {
  // Reproduced before the fix: SIGSTOP past claim_idle, and the claim loop of the same process
  // (every thread's pool is the same consumer) started the running job a second time. Here:
  // two pools of one process, the entry made to look idle for long.
  scripted_->items = 1;
  scripted_->pause = 1500ms;
  auto running = std::make_shared<running_entries>();
  worker_config cfg;
  cfg.consumer = "one-process";
  cfg.running = running;
  cfg.claim_idle = 200ms;
  cfg.block = 100ms;
  start_pool(cfg);
  worker_pool second(io_.get_executor(), *shared_, *blocking_, keys_, handlers_, cfg);
  bool second_done = false;
  asio::co_spawn(io_, second.run(), [&](std::exception_ptr) { second_done = true; });
  auto id = enqueue({.type = "scripted", .body = "{}"});
  wait_for(id, task_status::processing);
  auto all = server_.command({"XRANGE", keys_.jobs(), "-", "+"});
  auto entry = all.substr(0, all.find('\n'));
  server_.command(
      {"XCLAIM", keys_.jobs(), "workers", "one-process", "0", entry, "IDLE", "100000", "JUSTID"});
  wait_for(id, task_status::completed, 5s);
  EXPECT_EQ(scripted_->calls, 1) << "run once";
  second.drain();
  while (!second_done) io_.run_one_for(50ms);

  // A consumer name is unique per start, also where every heraldd is PID 1 of one host name.
  EXPECT_NE(default_consumer_name(), default_consumer_name());
}

TEST_F(Queue, AnIdempotencyKeyLivesAsLongAsItsTask) {
  // Before the fix the key expired task_ttl after enqueue: a second task for the same key while
  // the first was still queued.
  store_ = std::make_unique<task_store>(*shared_, keys_, 1s);
  auto first = run_awaitable(
      io_,
      store_->enqueue({.type = "noop", .account = "acme", .body = "{}", .idempotency_key = "k"}));
  io_.run_for(1500ms);
  auto again = run_awaitable(
      io_,
      store_->enqueue({.type = "noop", .account = "acme", .body = "{}", .idempotency_key = "k"}));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.task_id, first.task_id);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 1);
  worker_config cfg;
  cfg.task_ttl = 1s;
  start_pool(cfg);
  wait_for(first.task_id, task_status::completed);
  auto ttl = count({"PTTL", keys_.idempotency("acme", "k")});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 1000) << "expires with its finished task";
}

TEST_F(Queue, OnePendingEntryDoesNotKeepAcknowledgedOnesInTheStream) {
  // An old entry some consumer holds (a long import, a poison job between deliveries), then jobs
  // that complete: before the fix the trim stopped at the oldest pending entry and removed 0.
  server_.command({"XGROUP", "CREATE", keys_.jobs(), "workers", "0", "MKSTREAM"});
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "future", "task_id", "held",
                   "account", "acme", "body", "{}"});
  server_.command(
      {"XREADGROUP", "GROUP", "workers", "elsewhere", "COUNT", "1", "STREAMS", keys_.jobs(), ">"});
  start_pool();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(enqueue({.type = "scripted", .body = "{}"}));
  for (const auto& id : ids) wait_for(id, task_status::completed);
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(20ms);
        return count({"XLEN", keys_.jobs()}) == 1;
      },
      3s))
      << count({"XLEN", keys_.jobs()});
}

TEST_F(Queue, ConsumersOfGoneInstancesAreRemovedAndOnesWithPendingEntriesKept) {
  server_.command({"XGROUP", "CREATE", keys_.jobs(), "workers", "0", "MKSTREAM"});
  server_.command({"XGROUP", "CREATECONSUMER", keys_.jobs(), "workers", "gone-1"});
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "future", "task_id", "held",
                   "account", "acme", "body", "{}"});
  server_.command({"XREADGROUP", "GROUP", "workers", "gone-with-work", "COUNT", "1", "STREAMS",
                   keys_.jobs(), ">"});
  io_.run_for(400ms);
  worker_config cfg;
  cfg.consumer_idle_max = 300ms;
  start_pool(cfg);
  // A consumer exists from its first read that got an entry.
  wait_for(enqueue({.type = "noop", .body = "{}"}), task_status::completed);
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(50ms);
        return pool_->stats().reaped == 1;
      },
      15s));
  auto consumers = server_.command({"XINFO", "CONSUMERS", keys_.jobs(), "workers"});
  EXPECT_EQ(consumers.find("gone-1"), std::string::npos) << consumers;
  EXPECT_NE(consumers.find("gone-with-work"), std::string::npos) << consumers;
  EXPECT_NE(consumers.find(pool_->consumer()), std::string::npos) << consumers;
}

TEST_F(Queue, AShortJobAddedByXaddIsVisibleWhileItRuns) {
  // Before the fix a `sleep` job of one chunk ran before its task was written: 404 until done.
  start_pool();
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "sleep", "task_id", "napping",
                   "account", "acme", "body", R"({"items": 2, "ms": 600})"});
  auto task = wait_for("napping", task_status::processing, 1s);
  EXPECT_EQ(task.total, 2u);
  EXPECT_EQ(run_awaitable(io_, store_->cancel("napping", "acme")), task_status::cancelled);
  io_.run_for(1500ms);
  EXPECT_EQ(run_awaitable(io_, store_->get("napping"))->status, task_status::cancelled);
}

TEST_F(Queue, DeadLettersAreBoundedCountTheirDeliveryAndPurgeCountsWhatItRemoved) {
  worker_config cfg;
  cfg.dead_max = 10;
  start_pool(cfg);
  for (int i = 0; i < 30; ++i)
    server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id",
                     "bad-" + std::to_string(i), "account", "acme", "body", "[]"});
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(20ms);
        return count({"XLEN", keys_.jobs()}) == 0;
      },
      5s));
  EXPECT_EQ(count({"XLEN", keys_.dead()}), 10);
  auto dead = run_awaitable(io_, store_->dead_letters());
  ASSERT_EQ(dead.size(), 10u);
  EXPECT_EQ(dead.back().task_id, "bad-29") << "the newest are kept";
  for (const auto& d : dead) EXPECT_EQ(d.deliveries, 1u) << "a parse error was delivered once";
  EXPECT_EQ(run_awaitable(io_, store_->purge_dead()), 10u);
  EXPECT_EQ(count({"EXISTS", keys_.dead()}), 0);
}

TEST_F(Queue, DelayedJobsAreReleasedByRedissClockNotTheWorkers) {
  // promote.lua takes no time from its caller: a member due 400 ms from now by Redis's clock
  // waits for it, whatever a worker's clock says.
  auto due = redis_now(server_) + 400;
  server_.command({"ZADD", keys_.delayed(), std::to_string(due), R"({"task_id":"x"})"});
  auto r = server_.command(
      {"EVAL", std::string(proto::promote_lua), "2", keys_.delayed(), keys_.jobs(), "100"});
  auto nl = r.find('\n');
  EXPECT_EQ(r.substr(0, nl), "0");
  EXPECT_GT(std::stoll(r.substr(nl + 1)), 300);
  EXPECT_LE(std::stoll(r.substr(nl + 1)), 400);
  io_.run_for(450ms);
  r = server_.command(
      {"EVAL", std::string(proto::promote_lua), "2", keys_.delayed(), keys_.jobs(), "100"});
  EXPECT_EQ(r, "1\n-1");
}

TEST_F(Queue, AJobOfATypeThisWorkerDoesNotKnowWaitsForOneThatDoesThenIsDeadLettered) {
  // A rolling deploy: a `send` job reaching an old worker must not fail for good at once.
  worker_config cfg;
  cfg.claim_idle = 200ms;
  cfg.max_deliveries = 2;
  start_pool(cfg);
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "from_the_future", "task_id",
                   "newer", "account", "acme", "body", "{}"});
  io_.run_for(150ms);
  EXPECT_EQ(count({"XLEN", keys_.dead()}), 0);
  EXPECT_NE(server_.command({"XPENDING", keys_.jobs(), "workers"}).substr(0, 1), "0");
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(50ms);
        return count({"XLEN", keys_.dead()}) == 1;
      },
      10s));
  auto dead = run_awaitable(io_, store_->dead_letters()).at(0);
  EXPECT_NE(dead.reason.find("unknown job type \"from_the_future\""), std::string::npos)
      << dead.reason;
  EXPECT_EQ(dead.deliveries, 2u);
  EXPECT_EQ(wait_for("newer", task_status::failed).error_text, dead.reason);
}

TEST_F(Queue, AListingPastManyExpiredIdsPrunesThemInBulk) {
  // 5,000 ids of expired tasks at the index's old end, then three live tasks.
  std::vector<std::string> push{"RPUSH", keys_.account_tasks("acme")};
  for (int i = 0; i < 5000; ++i) push.push_back("expired-" + std::to_string(i));
  server_.command(push);
  std::vector<std::string> live;
  for (int i = 0; i < 3; ++i) live.push_back(enqueue({.type = "noop", .body = "{}"}));
  auto before = shared_->stats().commands;
  auto tasks = run_awaitable(io_, store_->list("acme", 10));
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].task_id, live[2]) << "newest first";
  EXPECT_EQ(count({"LLEN", keys_.account_tasks("acme")}), 3) << "the expired ids went";
  // Pipelined pages: a few commands per id at most, not round trips (the test would time out).
  EXPECT_LT(shared_->stats().commands - before, 5003u * 3 + 20);
  EXPECT_EQ(run_awaitable(io_, store_->list("acme", 10)).size(), 3u);
}

TEST_F(Queue, ADrainingWorkerKeepsTouchingItsRunningChunkUntilItEnds) {
  // Before the fix the touch loop ended with the drain, and a chunk running on for longer than
  // claim_idle looked idle to other instances.
  scripted_->items = 1;
  scripted_->pause = 1200ms;
  worker_config cfg;
  cfg.claim_idle = 300ms;
  start_pool(cfg);
  auto id = enqueue({.type = "scripted", .body = "{}"});
  wait_for(id, task_status::processing);
  pool_->drain();
  long long most_idle = 0;
  while (!pool_done_) {
    io_.run_for(25ms);
    auto p = server_.command({"XPENDING", keys_.jobs(), "workers", "-", "+", "10"});
    // id \n consumer \n idle \n deliveries
    auto parts = std::vector<std::string>{};
    std::size_t at = 0;
    for (std::size_t nl; (nl = p.find('\n', at)) != std::string::npos; at = nl + 1)
      parts.push_back(p.substr(at, nl - at));
    parts.push_back(p.substr(at));
    if (parts.size() >= 3 && !parts[2].empty())
      most_idle = std::max(most_idle, std::stoll(parts[2]));
  }
  EXPECT_LT(most_idle, 300) << "touched while it ran";
  EXPECT_EQ(run_awaitable(io_, store_->get(id))->status, task_status::completed);
}

TEST_F(Queue, ScriptsThatFindTheJobGoneFailOrLeaveTheTaskButNeverStrandIt) {
  // retry.lua for an entry deleted meanwhile (its task cancelled, or the stream edited): before
  // the fix it acknowledged it and left a task `processing` with no TTL.
  server_.command({"XGROUP", "CREATE", keys_.jobs(), "workers", "0", "MKSTREAM"});
  auto entry = server_.command({"XADD", keys_.jobs(), "*", "task_id", "t", "account", "acme"});
  server_.command({"XREADGROUP", "GROUP", "workers", "me", "STREAMS", keys_.jobs(), ">"});
  server_.command({"XDEL", keys_.jobs(), entry});
  server_.command(
      {"HSET", keys_.task("t"), "status", "processing", "account", "acme", "origin", entry});
  EXPECT_EQ(
      count({"EVAL", std::string(proto::retry_lua), "4", keys_.jobs(), keys_.delayed(),
             keys_.task("t"), keys_.queued(), "workers", "me", entry, "100", "why", "0", "60000"}),
      2);
  EXPECT_NE(server_.command({"HGET", keys_.task("t"), "status"}), "processing");
  EXPECT_GT(count({"PTTL", keys_.task("t")}), 0);

  // note_error.lua on a task that has expired (or is another job's) writes nothing.
  EXPECT_EQ(count({"EVAL", std::string(proto::note_error_lua), "2", keys_.task("expired"),
                   keys_.queued(), "expired", "acme", "1-1", "boom", "0"}),
            0);
  EXPECT_EQ(count({"EXISTS", keys_.task("expired")}), 0);
  EXPECT_EQ(count({"EVAL", std::string(proto::note_error_lua), "2", keys_.task("t"), keys_.queued(),
                   "t", "evil", entry, "boom", "1"}),
            0);
}

TEST_F(Queue, ABodyOverMaxJobBytesIsRefusedAtEnqueueAndDeadLetteredUnreadFromAPlainXadd) {
  store_ = std::make_unique<task_store>(*shared_, keys_, 60s, task_index_max, 4096);
  try {
    enqueue({.type = "noop", .body = R"({"items": 1, "pad": ")" + std::string(5000, 'x') + "\"}"});
    ADD_FAILURE() << "a body over max_job_bytes was enqueued";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("over max_job_bytes (4096)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(count({"EXISTS", keys_.jobs()}), 0);

  worker_config cfg;
  cfg.max_job_bytes = 4096;
  start_pool(cfg);
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id", "huge",
                   "account", "acme", "body", std::string(1 << 20, ' ')});
  auto task = wait_for("huge", task_status::failed);
  EXPECT_NE(task.error_text.find("1048576 bytes, over max_job_bytes (4096)"), std::string::npos)
      << task.error_text;
  auto letter = server_.command({"XRANGE", keys_.dead(), "-", "+"});
  EXPECT_NE(letter.find("body_bytes\n1048576"), std::string::npos);
  EXPECT_LT(letter.size(), 1000u) << "the letter keeps no such body";
}

TEST_F(Queue, ABodyWithARepeatedKeyIsDeadLetteredNamingIt) {
  // Reproduced before the fix: heraldd kept the first `items` (3), a validator keeping the last
  // checked another job than the one that ran.
  start_pool();
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id", "twice",
                   "account", "acme", "body", R"({"items": 3, "items": 1000000000000})"});
  auto task = wait_for("twice", task_status::failed);
  EXPECT_EQ(task.error_text, "body.items: duplicate key; a key may appear once in an object");
  EXPECT_EQ(task.processed, 0u);
}

TEST_F(Queue, ABodysTokenIsNeverStored) {
  const std::string body =
      R"({"token": "s3cret-token", "data": [{"token": "nested stays"}], "db_id": 1})";
  auto id = enqueue({.type = "scripted", .body = body});
  auto stored = server_.command({"XRANGE", keys_.jobs(), "-", "+"});
  EXPECT_EQ(stored.find("s3cret-token"), std::string::npos) << stored;
  EXPECT_NE(stored.find(R"({"data": [{"token": "nested stays"}],"db_id": 1})"), std::string::npos)
      << stored;
  for (auto [in, out] : std::vector<std::pair<std::string, std::string>>{
           {R"({"a":1,"token":"x"})", R"({"a":1})"},
           {R"({ "token" : "x" })", R"({})"},
           {R"({"token":{"deep":["}"]},"b":"\"token\""})", R"({"b":"\"token\""})"},
           {R"({"a":"token","token":null,"token":"y","c":[1,2]})", R"({"a":"token","c":[1,2]})"},
           {R"(["token"])", R"(["token"])"},
       }) {
    auto t = enqueue({.type = "scripted", .body = in});
    auto entry = server_.command({"HGET", keys_.queued(), t});
    auto fields = server_.command({"XRANGE", keys_.jobs(), entry.substr(0, entry.find(' ')),
                                   entry.substr(0, entry.find(' '))});
    EXPECT_NE(fields.find("body\n" + out), std::string::npos) << in << " -> " << fields;
  }

  // A plain XADD keeps it in the stream until it runs; its dead letter does not.
  start_pool();
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "scripted", "task_id", "leaky",
                   "account", "acme", "body", R"({"token": "s3cret-token", "unparsable": 1})"});
  wait_for("leaky", task_status::failed);
  auto letters = server_.command({"XRANGE", keys_.dead(), "-", "+"});
  EXPECT_EQ(letters.find("s3cret-token"), std::string::npos) << letters;
  EXPECT_NE(letters.find(R"({"unparsable": 1})"), std::string::npos) << letters;
  (void)id;
}

}  // namespace
}  // namespace herald::queue
