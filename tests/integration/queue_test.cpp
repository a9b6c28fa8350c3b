// The queue against a real redis-server: every enqueue path, idempotency, run_at, retries with
// backoff, dead letters, cancellation, expiry and trimming, with a worker pool in this process.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/proto/scripts.hpp"
#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/queue/worker_pool.hpp"
#include "herald/redis/client.hpp"
#include "herald/redis/script.hpp"
#include "support/queue_fixture.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::queue {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

using test_support::Queue;
using test_support::scripted_handler;

TEST_F(Queue, EnqueueScriptCreatesTheQueuedTaskAndItsEntryTogether) {
  auto id = enqueue({.type = "noop", .body = R"({"items": 3})", .total = 3});
  auto task = run_awaitable(io_, store_->get(id));
  ASSERT_TRUE(task);
  EXPECT_EQ(task->status, task_status::queued);
  EXPECT_EQ(task->total, 3u);
  EXPECT_EQ(task->account, "acme");
  EXPECT_GT(task->created_at, 0);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 1);
  auto fields = server_.command({"XRANGE", keys_.jobs(), "-", "+"});
  EXPECT_NE(fields.find("task_id\n" + id), std::string::npos) << fields;
  EXPECT_NE(fields.find("body\n{\"items\": 3}"), std::string::npos) << fields;
  // Until a worker starts it, the task is a queued record, first in its account's index.
  EXPECT_EQ(count({"EXISTS", keys_.task(id)}), 0);
  EXPECT_EQ(count({"HEXISTS", keys_.queued(), id}), 1);
  EXPECT_EQ(server_.command({"LRANGE", keys_.account_tasks("acme"), "0", "-1"}), id);
  auto entry_ms = std::stoll(server_.command({"XRANGE", keys_.jobs(), "-", "+"}));
  EXPECT_EQ(task->created_at, entry_ms) << "created at its entry's time";

  start_pool();
  auto done = wait_for(id, task_status::completed);
  EXPECT_EQ(count({"HEXISTS", keys_.queued(), id}), 0) << "the record went with the start";
  EXPECT_EQ(done.created_at, task->created_at);
  EXPECT_EQ(done.total, 3u);
  EXPECT_EQ(count({"LLEN", keys_.account_tasks("acme")}), 1) << "indexed once";
  EXPECT_EQ(done.processed, 3u);
  EXPECT_EQ(done.progress(), 100);
  EXPECT_GE(done.started_at, done.created_at);
  EXPECT_GE(done.finished_at, done.started_at);
  EXPECT_EQ(done.expires_at, done.finished_at + 60'000);
  EXPECT_EQ(count({"XPENDING", keys_.jobs(), "workers"}), 0);
  EXPECT_TRUE(stream_trimmed()) << "acknowledged entries are trimmed";
}

TEST_F(Queue, AnIdempotencyKeyReturnsTheEarlierTaskAndEnqueuesNothing) {
  auto first = run_awaitable(
      io_, store_->enqueue(
               {.type = "noop", .account = "acme", .body = "{}", .idempotency_key = "order-7"}));
  auto second = run_awaitable(
      io_, store_->enqueue(
               {.type = "noop", .account = "acme", .body = "{}", .idempotency_key = "order-7"}));
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.task_id, first.task_id);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 1);
  // Another account's identical key is another task.
  auto other = run_awaitable(
      io_, store_->enqueue(
               {.type = "noop", .account = "globex", .body = "{}", .idempotency_key = "order-7"}));
  EXPECT_TRUE(other.created);
  EXPECT_NE(other.task_id, first.task_id);
}

TEST_F(Queue, ABatchIsIndexedPerAccountAndRefusedWholeForATaskIdInUse) {
  // More jobs than enqueue.lua passes to one Redis command (1,000), two accounts.
  std::vector<new_job> jobs;
  for (int i = 0; i < 2500; ++i)
    jobs.push_back({.type = "noop", .account = i % 2 ? "acme" : "globex", .body = "{}"});
  auto done = run_awaitable(io_, store_->enqueue(std::move(jobs)));
  ASSERT_EQ(done.size(), 2500u);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 2500);
  EXPECT_EQ(count({"LLEN", keys_.account_tasks("acme")}), 1250);
  EXPECT_EQ(count({"LLEN", keys_.account_tasks("globex")}), 1250);
  EXPECT_EQ(count({"HLEN", keys_.queued()}), 2500);
  auto last = run_awaitable(io_, store_->get(done.back().task_id));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->status, task_status::queued);
  EXPECT_EQ(last->account, "acme");
  EXPECT_EQ(server_.command({"LINDEX", keys_.account_tasks("acme"), "0"}), done.back().task_id)
      << "newest first";

  // A task id in use, by an existing task or by an earlier job of the same call: the call is
  // refused whole, naming the job, and enqueues nothing (a client retrying it duplicates none).
  auto taken = done.front().task_id;
  for (const auto& in_use : {taken, std::string("twice")}) {
    std::vector<new_job> batch{{.type = "noop", .account = "acme", .body = "{}", .task_id = "b1"},
                               {.type = "noop", .account = "acme", .body = "{}"},
                               {.type = "noop", .account = "acme", .body = "{}", .task_id = "b3"}};
    batch[0].task_id += in_use;
    batch[1].task_id = in_use == taken ? taken : batch[0].task_id;
    batch[2].task_id += in_use;
    try {
      run_awaitable(io_, store_->enqueue(std::move(batch)));
      ADD_FAILURE() << "a task id in use was accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("job 2: task_id"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("already in use"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(run_awaitable(io_, store_->get("b1" + in_use)));
    EXPECT_EQ(server_.command({"LINDEX", keys_.account_tasks("acme"), "0"}), done.back().task_id);
    EXPECT_FALSE(run_awaitable(io_, store_->get("b3" + in_use)));
  }
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 2500);
  EXPECT_EQ(count({"HLEN", keys_.queued()}), 2500);
  EXPECT_EQ(run_awaitable(io_, store_->get(taken))->account, "globex") << "left as it was";

  // An idempotency key and a run_at together: both kept on the task.
  auto due = now_ms() + 60'000;
  auto later = run_awaitable(io_, store_->enqueue({.type = "noop",
                                                   .account = "acme",
                                                   .body = "{}",
                                                   .total = 7,
                                                   .idempotency_key = "k-1",
                                                   .run_at = due}));
  auto fields = server_.command({"HGETALL", keys_.task(later.task_id)});
  EXPECT_NE(fields.find("idempotency_key\nk-1"), std::string::npos) << fields;
  EXPECT_NE(fields.find("run_at\n" + std::to_string(due)), std::string::npos) << fields;
  EXPECT_NE(fields.find("total\n7"), std::string::npos) << fields;
  EXPECT_EQ(count({"ZCARD", keys_.delayed()}), 1);
}

TEST_F(Queue, AQueuedTaskCancelledBeforePickUpStaysCancelledAndCountsNothing) {
  auto id = enqueue({.type = "noop", .body = R"({"items": 3})"});
  EXPECT_EQ(run_awaitable(io_, store_->cancel(id, "acme")), task_status::cancelled);
  start_pool();
  EXPECT_TRUE(stream_trimmed());
  auto task = *run_awaitable(io_, store_->get(id));
  EXPECT_EQ(task.status, task_status::cancelled);
  EXPECT_EQ(task.processed, 0u);
  EXPECT_EQ(task.started_at, 0);
  EXPECT_EQ(count({"XPENDING", keys_.jobs(), "workers"}), 0);
}

TEST_F(Queue, AJobWithEffectsOfATaskCancelledBeforePickUpNeverRuns) {
  // `scripted` has effects (the default): a fresh one-chunk job of it is started by start.lua,
  // which drops it, instead of running before its task is read.
  auto id = enqueue({.type = "scripted", .body = "{}"});
  EXPECT_EQ(run_awaitable(io_, store_->cancel(id, "acme")), task_status::cancelled);
  start_pool();
  EXPECT_TRUE(stream_trimmed());
  EXPECT_EQ(scripted_->calls, 0);
  EXPECT_EQ(run_awaitable(io_, store_->get(id))->status, task_status::cancelled);
}

TEST_F(Queue, AFreshEntryOfATaskWithProgressResumesAtItsCursor) {
  // As a dead letter put back after some chunks were counted: queued, cursor 2 of 4.
  server_.command({"HSET",       keys_.task("resumed"),
                   "v",          "1",
                   "type",       "scripted",
                   "account",    "acme",
                   "status",     "queued",
                   "total",      "4",
                   "cursor",     "2",
                   "processed",  "2",
                   "sent",       "1",
                   "failed",     "1",
                   "deliveries", "0",
                   "created_at", "1"});
  start_pool();
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "scripted", "task_id", "resumed",
                   "account", "acme", "body", "{}"});
  auto task = wait_for("resumed", task_status::completed);
  EXPECT_EQ(task.processed, 4u);
  EXPECT_EQ(task.sent, 2u);
  EXPECT_EQ(task.failed, 2u);
  EXPECT_EQ(task.deliveries, 1u);
  // start.lua read the cursor first: only the remaining items ran, once.
  EXPECT_EQ(scripted_->calls, 1);
  EXPECT_GT(task.started_at, 1);
  EXPECT_EQ(task.expires_at, task.finished_at + 60'000);
  EXPECT_GT(count({"PTTL", keys_.task("resumed")}), 0);
}

TEST_F(Queue, WorkersCommitAfterRedisForgetsTheScripts) {
  start_pool();
  auto first = enqueue({.type = "noop", .body = R"({"items": 2})"});
  EXPECT_EQ(wait_for(first, task_status::completed).processed, 2u);
  server_.command({"SCRIPT", "FLUSH"});  // as after a restart: EVALSHA answers NOSCRIPT
  auto second = enqueue({.type = "noop", .body = R"({"items": 2})"});
  EXPECT_EQ(wait_for(second, task_status::completed).processed, 2u);
  // commit.lua was sent again in full (EVAL), which cached it again.
  redis::script commit{std::string(proto::commit_lua)};
  EXPECT_EQ(server_.command({"SCRIPT", "EXISTS", commit.sha1()}), "1");
}

TEST_F(Queue, APlainXaddIsPickedUpAndItsTaskAppears) {
  start_pool();
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id", "from-cli",
                   "account", "acme", "body", R"({"items": 250})"});
  auto task = wait_for("from-cli", task_status::completed);
  EXPECT_EQ(task.total, 250u);
  EXPECT_EQ(task.processed, 250u);
  EXPECT_EQ(task.type, "noop");
  EXPECT_EQ(count({"XPENDING", keys_.jobs(), "workers"}), 0);
}

TEST_F(Queue, AJobWithRunAtWaitsInTheDelayedSet) {
  start_pool();
  auto due = now_ms() + 700;
  auto id = enqueue({.type = "noop", .body = "{}", .run_at = due});
  EXPECT_EQ(count({"ZCARD", keys_.delayed()}), 1);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 0);
  io_.run_for(300ms);
  EXPECT_EQ(run_awaitable(io_, store_->get(id))->status, task_status::queued);
  auto task = wait_for(id, task_status::completed);
  EXPECT_GE(task.started_at, due);
  EXPECT_EQ(task.run_at, due);
  EXPECT_EQ(count({"ZCARD", keys_.delayed()}), 0);
}

TEST_F(Queue, AnUnparsableBodyGoesToTheDeadLettersAtOnceNamingTheField) {
  start_pool();
  auto id = enqueue({.type = "noop", .body = R"({"items": "many"})"});
  auto task = wait_for(id, task_status::failed);
  EXPECT_EQ(task.error_text, "body.items: must be a non-negative integer");
  auto dead = run_awaitable(io_, store_->dead_letters());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].task_id, id);
  EXPECT_EQ(dead[0].reason, task.error_text);
  EXPECT_EQ(scripted_->calls, 0);

  // An entry without a task id cannot fail a task, but still leaves the stream.
  server_.command(
      {"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "account", "acme", "body", "{}"});
  EXPECT_TRUE(test::wait_until(
      [&] {
        io_.run_for(20ms);
        return count({"XLEN", keys_.dead()}) == 2;
      },
      5s));
  EXPECT_NE(server_.command({"XRANGE", keys_.dead(), "-", "+"}).find("task_id: required"),
            std::string::npos);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 0);
}

TEST_F(Queue, ARetryWaitsWithBackoffThenResumes) {
  scripted_->retry_first = 2;
  worker_config cfg;
  cfg.retry_backoff = {100ms, 1000ms, backoff_policy::jitter::equal};
  start_pool(cfg);
  auto id = enqueue({.type = "scripted", .body = "{}"});
  auto task = wait_for(id, task_status::completed);
  // Two retries: at least 50 ms (first backoff, [50, 100]) and 100 ms (second, [100, 200]).
  EXPECT_GE(task.finished_at - task.created_at, 150);
  EXPECT_EQ(task.deliveries, 3u);
  EXPECT_EQ(task.processed, 4u);
  EXPECT_EQ(task.sent, 2u);
  EXPECT_EQ(task.failed, 2u);
  EXPECT_EQ(pool_->stats().retried, 2u);
  EXPECT_EQ(task.last_error, "provider unavailable");
  EXPECT_EQ(scripted_->deliveries_seen, (std::vector<std::uint64_t>{1, 2, 3}));
  // The outcomes worth keeping were recorded with their items.
  auto items = run_awaitable(io_, store_->items(id, 0, 10));
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].profile_id, "p0");
  EXPECT_EQ(items[1].code, "bad_item");
  EXPECT_EQ(items[1].outcome, item_outcome::kind::failed);
}

TEST_F(Queue, APoisonJobIsDeadLetteredAfterExactlyMaxDeliveriesAndOthersStillRun) {
  scripted_->throw_first = 1000;
  worker_config cfg;
  cfg.claim_idle = 200ms;
  cfg.max_deliveries = 3;
  start_pool(cfg);
  auto poison = enqueue({.type = "scripted", .body = "{}"});
  auto task = wait_for(poison, task_status::failed, 15s);
  EXPECT_EQ(scripted_->calls, 3) << "the handler ran once per delivery, max_deliveries times";
  EXPECT_NE(task.error_text.find("delivered 3 times"), std::string::npos) << task.error_text;
  EXPECT_NE(task.error_text.find("scripted failure"), std::string::npos) << task.error_text;
  auto dead = run_awaitable(io_, store_->dead_letters());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].task_id, poison);
  EXPECT_EQ(dead[0].deliveries, 3u);
  auto healthy = enqueue({.type = "noop", .body = R"({"items": 10})"});
  EXPECT_EQ(wait_for(healthy, task_status::completed).processed, 10u);

  // A dead letter put back runs again from where it stopped.
  scripted_->throw_first = 0;
  EXPECT_TRUE(run_awaitable(io_, store_->retry_dead(dead[0].id)));
  EXPECT_EQ(wait_for(poison, task_status::completed).processed, 4u);
  EXPECT_EQ(count({"XLEN", keys_.dead()}), 0);
}

TEST_F(Queue, CancellingStopsAJobAndKeepsWhatWasDone) {
  worker_config cfg;
  cfg.chunk_size = 1;
  start_pool(cfg);
  auto id = enqueue({.type = "sleep", .body = R"({"items": 100, "ms": 20})"});
  wait_for(id, task_status::processing);
  io_.run_for(150ms);
  EXPECT_EQ(run_awaitable(io_, store_->cancel(id, "globex")), std::nullopt)
      << "another account cannot cancel it";
  EXPECT_EQ(run_awaitable(io_, store_->cancel(id, "acme")), task_status::cancelled);
  auto task = wait_for(id, task_status::cancelled);
  io_.run_for(100ms);
  auto later = *run_awaitable(io_, store_->get(id));
  EXPECT_EQ(later.status, task_status::cancelled);
  EXPECT_GT(later.processed, 0u);
  EXPECT_LT(later.processed, 100u);
  EXPECT_LE(later.processed, task.processed + 1) << "at most the chunk in flight counted";
  EXPECT_TRUE(stream_trimmed());
  EXPECT_EQ(count({"XPENDING", keys_.jobs(), "workers"}), 0);
}

TEST_F(Queue, FinishedTasksExpireAfterTheirTtl) {
  store_ = std::make_unique<task_store>(*shared_, keys_, 1s);
  worker_config cfg;
  cfg.task_ttl = 1s;
  start_pool(cfg);
  auto id = enqueue({.type = "scripted", .body = "{}"});
  auto task = wait_for(id, task_status::completed);
  EXPECT_EQ(task.expires_at, task.finished_at + 1000);
  auto ttl = count({"PTTL", keys_.task(id)});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 1000);
  EXPECT_GT(count({"PTTL", keys_.items(id)}), 0);
  EXPECT_TRUE(test::wait_until([&] { return count({"EXISTS", keys_.task(id)}) == 0; }, 3s));
  EXPECT_FALSE(run_awaitable(io_, store_->get(id)));
}

TEST_F(Queue, TrimmingDuringLoadRemovesNoPendingEntry) {
  // Entries some other tool read and acknowledged without deleting: trim may remove them.
  server_.command({"XGROUP", "CREATE", keys_.jobs(), "workers", "0", "MKSTREAM"});
  for (int i = 0; i < 5; ++i)
    server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id",
                     "acked-" + std::to_string(i), "account", "acme", "body", "{}"});
  server_.command(
      {"XREADGROUP", "GROUP", "workers", "tool", "COUNT", "5", "STREAMS", keys_.jobs(), ">"});
  EXPECT_EQ(count({"EVAL",
                   "local n = 0 for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do "
                   "n = n + redis.call('XACK', KEYS[1], 'workers', e[1]) end return n",
                   "1", keys_.jobs()}),
            5);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 5);

  worker_config cfg;
  cfg.chunk_size = 1;
  cfg.workers = 50;
  start_pool(cfg);
  std::vector<new_job> jobs;
  for (int i = 0; i < 300; ++i)
    jobs.push_back({.type = "sleep", .account = "acme", .body = R"({"items": 3, "ms": 2})"});
  auto ids = run_awaitable(io_, store_->enqueue(std::move(jobs)));
  std::uint64_t trimmed = 0;
  for (int round = 0; round < 30; ++round) {
    io_.run_for(20ms);
    trimmed += run_awaitable(io_, store_->trim());
  }
  for (const auto& e : ids)
    EXPECT_EQ(wait_for(e.task_id, task_status::completed, 30s).processed, 3u);
  EXPECT_GE(trimmed, 5u) << "the entries acknowledged by another tool were trimmed";
  EXPECT_TRUE(stream_trimmed());
}

TEST(QueuedRecord, ParsesAsTheQueuedTaskItStandsFor) {
  auto t = parse_queued_record("t-1", "1790000000123-4 25 acme.eu send batch");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->task_id, "t-1");
  EXPECT_EQ(t->created_at, 1790000000123);
  EXPECT_EQ(t->total, 25u);
  EXPECT_EQ(t->account, "acme.eu");
  EXPECT_EQ(t->type, "send batch") << "the type is the rest, spaces and all";
  EXPECT_EQ(t->status, task_status::queued);
  for (const char* bad : {"", "(nil)", "1790000000123-4 25 acme", "1790000000123-4 25 acme ",
                          "1790000000123 25 acme noop", "x-4 25 acme noop",
                          "1790000000123-4 2x acme noop", "1790000000123-4  acme noop"})
    EXPECT_FALSE(parse_queued_record("t-1", bad)) << bad;
}

TEST_F(Queue, AQueuedRecordReadsAsItsTaskWithWhatAFailedDeliveryNoted) {
  auto id = enqueue({.type = "scripted", .body = "{}", .total = 4});
  // A fresh job's delivery that failed before start.lua ran notes its error on the hash.
  server_.command({"HSET", keys_.task(id), "last_error", "provider timed out", "deliveries", "1"});
  auto task = run_awaitable(io_, store_->get(id, "acme"));
  ASSERT_TRUE(task);
  EXPECT_EQ(task->status, task_status::queued);
  EXPECT_EQ(task->type, "scripted");
  EXPECT_EQ(task->total, 4u);
  EXPECT_EQ(task->last_error, "provider timed out");
  EXPECT_EQ(task->deliveries, 1u);
  // Another account's: not found, and not cancelled.
  EXPECT_FALSE(run_awaitable(io_, store_->get(id, "globex")));
  EXPECT_FALSE(run_awaitable(io_, store_->cancel(id, "globex")));
  EXPECT_EQ(count({"HEXISTS", keys_.queued(), id}), 1);
  // Cancelled: the record becomes the hash.
  EXPECT_EQ(run_awaitable(io_, store_->cancel(id, "acme")), task_status::cancelled);
  EXPECT_EQ(count({"HEXISTS", keys_.queued(), id}), 0);
  auto cancelled = run_awaitable(io_, store_->get(id, "acme"));
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->status, task_status::cancelled);
  EXPECT_EQ(cancelled->type, "scripted");
  EXPECT_EQ(cancelled->total, 4u);
  EXPECT_EQ(cancelled->created_at, task->created_at);
  EXPECT_EQ(cancelled->last_error, "provider timed out");
  EXPECT_GT(count({"PTTL", keys_.task(id)}), 0);
}

TEST_F(Queue, ATaskIndexKeepsItsNewestIdsAndAListingSkipsExpiredTasks) {
  store_ = std::make_unique<task_store>(*shared_, keys_, 60s, 5);
  std::vector<std::string> ids;
  for (int call = 0; call < 2; ++call) {
    std::vector<new_job> jobs(4, new_job{.type = "noop", .account = "acme", .body = "{}"});
    jobs.push_back({.type = "noop", .account = "globex", .body = "{}"});
    for (auto& d : run_awaitable(io_, store_->enqueue(std::move(jobs)))) ids.push_back(d.task_id);
  }
  // acme's newest five, newest first; globex's two.
  std::string newest;
  for (int i : {8, 7, 6, 5, 3}) newest += (newest.empty() ? "" : "\n") + ids[i];
  EXPECT_EQ(server_.command({"LRANGE", keys_.account_tasks("acme"), "0", "-1"}), newest);
  EXPECT_EQ(count({"LLEN", keys_.account_tasks("globex")}), 2);

  // A job XADDed directly joins its account's index when a worker starts it, trimmed alike.
  start_pool({.task_index_max = 5});
  server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id", "direct",
                   "account", "acme", "body", "{}"});
  wait_for("direct", task_status::completed);
  for (const auto& id : ids) wait_for(id, task_status::completed);
  EXPECT_EQ(server_.command({"LINDEX", keys_.account_tasks("acme"), "0"}), "direct");
  EXPECT_EQ(count({"LLEN", keys_.account_tasks("acme")}), 5);

  // A task that expired is skipped; a listing reads on until it has `limit` tasks. An id
  // pushed again is listed once.
  server_.command({"DEL", keys_.task(ids[8]), keys_.task(ids[6])});
  server_.command({"RPUSH", keys_.account_tasks("acme"), ids[7]});
  auto listed = [&](std::uint64_t limit) {
    std::vector<std::string> out;
    for (auto& t : run_awaitable(io_, store_->list("acme", limit))) out.push_back(t.task_id);
    return out;
  };
  EXPECT_EQ(listed(2), (std::vector<std::string>{"direct", ids[7]}));
  EXPECT_EQ(listed(3), (std::vector<std::string>{"direct", ids[7], ids[5]}));
  EXPECT_EQ(listed(100), (std::vector<std::string>{"direct", ids[7], ids[5]}));
  EXPECT_TRUE(listed(0).empty());
  EXPECT_TRUE(run_awaitable(io_, store_->list("initech", 10)).empty());
}

TEST_F(Queue, TheEnqueueScriptCalledAsItsHeaderSaysEnqueuesBothKindsOfJob) {
  // A producer in another language: EVAL with the KEYS and ARGV enqueue.lua documents.
  const std::string now = std::to_string(now_ms());
  auto reply = server_.command(
      {"EVAL", std::string(proto::enqueue_lua), "9", keys_.jobs(), keys_.delayed(), keys_.queued(),
       keys_.account_tasks("acme"), keys_.account_tasks("globex"), keys_.task("mine-1"),
       keys_.idempotency("globex", "order-9"), keys_.task("mine-2"),
       keys_.idempotency("globex", "order-9"),
       // now, task_ttl, index_max, max_job_bytes, the accounts, n
       now, "60000", "100", "0", "2", "acme", "globex", "3",
       // a new id, not looked up
       "n", "0b6f4c8e-5d1c-4c43-9a3e-1b2f1f0f6a01", "noop", "acme", R"({"items": 2})", "2",
       // a checked id with an idempotency key, then the same key again
       "c", "mine-1", "noop", "globex", R"({"items": 1})", "", "order-9", "0", "c", "mine-2",
       "noop", "globex", R"({"items": 1})", "", "order-9", "0"});
  EXPECT_EQ(reply, "1\n1\nmine-1");
  auto n = run_awaitable(io_, store_->get("0b6f4c8e-5d1c-4c43-9a3e-1b2f1f0f6a01", "acme"));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->total, 2u);
  EXPECT_EQ(n->status, task_status::queued);
  EXPECT_EQ(run_awaitable(io_, store_->get("mine-1", "globex"))->status, task_status::queued);
  EXPECT_FALSE(run_awaitable(io_, store_->get("mine-2")));
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 2);

  // Mistakes in a call are named, and enqueue nothing.
  auto refused = [&](std::vector<std::string> job) {
    std::vector<std::string> cmd{"EVAL",
                                 std::string(proto::enqueue_lua),
                                 "4",
                                 keys_.jobs(),
                                 keys_.delayed(),
                                 keys_.queued(),
                                 keys_.account_tasks("acme"),
                                 now,
                                 "60000",
                                 "100",
                                 "16",
                                 "1",
                                 "acme",
                                 "1"};
    cmd.insert(cmd.end(), job.begin(), job.end());
    return server_.command(cmd);  // an error reply's text
  };
  EXPECT_NE(refused({"n", "x-1", "noop", "initech", "{}", ""}).find("account initech"),
            std::string::npos);
  EXPECT_NE(refused({"q", "x-2", "noop", "acme", "{}", ""}).find("kind must be n or c"),
            std::string::npos);
  EXPECT_NE(refused({"c", "x-3", "noop", "acme", "{}", "", "", ""}).find("KEYS[6] missing"),
            std::string::npos);
  EXPECT_NE(refused({"n", "x-4", "noop", "acme", R"({"items": 1000000})", ""})
                .find("job 1: body is 18 bytes, over max_job_bytes (16)"),
            std::string::npos);
  EXPECT_EQ(count({"XLEN", keys_.jobs()}), 2);

  start_pool();
  EXPECT_EQ(wait_for("mine-1", task_status::completed).processed, 1u);
  EXPECT_EQ(wait_for("0b6f4c8e-5d1c-4c43-9a3e-1b2f1f0f6a01", task_status::completed).processed, 2u);
  EXPECT_EQ(count({"HLEN", keys_.queued()}), 0);
}

}  // namespace
}  // namespace herald::queue
