// The queue's test fixture: a real redis-server, a task store, a worker pool in this process, and
// a job type whose behaviour each test sets. Shared by the queue's integration tests.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/queue/worker_pool.hpp"
#include "herald/redis/client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::queue::test_support {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

// A job type for tests whose behaviour the test sets: throw, or ask for a retry, on the first
// deliveries, and take `pause` per chunk; every call is counted.
struct scripted_handler : job_handler {
  struct job : prepared_job {
    scripted_handler* owner;
    explicit job(scripted_handler* o) : owner(o) {}
    std::uint64_t total() const override { return owner->items; }
    asio::awaitable<chunk_result> run(const job_context& ctx, std::uint64_t begin,
                                      std::uint64_t end) override {
      ++owner->calls;
      owner->deliveries_seen.push_back(ctx.deliveries);
      if (owner->pause.count() > 0) {
        asio::steady_timer t(co_await asio::this_coro::executor, owner->pause);
        co_await t.async_wait(asio::use_awaitable);
      }
      if (ctx.deliveries <= owner->throw_first) throw std::runtime_error("scripted failure");
      // Like a handler that reads Redis (profiles): a lost connection stops the job.
      if (owner->reads_redis && ctx.redis) co_await ctx.redis->exec("PING");
      chunk_result r;
      if (ctx.deliveries <= owner->retry_first) {
        r.retry_after = 0ms;
        r.retry_reason = "provider unavailable";
        co_return r;
      }
      r.processed = end - begin;
      for (auto i = begin; i < end; ++i) {
        if (i % 2 == 0) {
          ++r.sent;
          r.outcomes.push_back({i, item_outcome::kind::sent, "p" + std::to_string(i), "", ""});
        } else {
          ++r.failed;
          r.outcomes.push_back({i, item_outcome::kind::failed, "", "bad_item", "odd index"});
        }
      }
      co_return r;
    }
  };
  std::unique_ptr<prepared_job> prepare(std::string_view body) const override {
    if (body.find("unparsable") != std::string_view::npos) throw bad_job("body.x: not allowed");
    return std::make_unique<job>(const_cast<scripted_handler*>(this));
  }
  std::uint64_t items = 4;
  std::uint64_t throw_first = 0, retry_first = 0;
  std::chrono::milliseconds pause{0};
  bool reads_redis = false;
  mutable int calls = 0;
  mutable std::vector<std::uint64_t> deliveries_seen;
};

class Queue : public ::testing::Test {
 protected:
  void SetUp() override {
    redis::client_config cfg;
    cfg.url = server_.url();
    shared_ = std::make_unique<redis::client>(io_.get_executor(), cfg);
    blocking_ = std::make_unique<redis::client>(io_.get_executor(), cfg);
    shared_->start();
    blocking_->start();
    store_ = std::make_unique<task_store>(*shared_, keys_, 60s);
    add_builtin_handlers(handlers_);
    scripted_ = std::make_shared<scripted_handler>();
    handlers_.add("scripted", scripted_);
  }

  void TearDown() override {
    if (pool_) {
      pool_->drain();
      auto deadline = std::chrono::steady_clock::now() + 10s;
      while (!pool_done_ && std::chrono::steady_clock::now() < deadline) io_.run_one_for(50ms);
      EXPECT_TRUE(pool_done_) << "the pool drained";
    }
    shared_->stop();
    blocking_->stop();
    io_.restart();
    io_.run_for(50ms);
  }

  void start_pool(worker_config cfg = {}) {
    cfg.consumer = "test-" + std::to_string(++pools_);
    cfg.block = 100ms;
    if (cfg.task_ttl == worker_config{}.task_ttl) cfg.task_ttl = 60s;  // as the store's
    pool_ = std::make_unique<worker_pool>(io_.get_executor(), *shared_, *blocking_, keys_,
                                          handlers_, cfg);
    asio::co_spawn(io_, pool_->run(), [this](std::exception_ptr) { pool_done_ = true; });
  }

  // Runs the event loop until the task is in `status` (or `within` passes).
  task_record wait_for(const std::string& id, task_status status,
                       std::chrono::milliseconds within = 10s) {
    return run_awaitable(io_, [&]() -> asio::awaitable<task_record> {
      asio::steady_timer t(co_await asio::this_coro::executor);
      auto deadline = std::chrono::steady_clock::now() + within;
      for (;;) {
        auto task = co_await store_->get(id);
        if (task && task->status == status) co_return *task;
        if (std::chrono::steady_clock::now() > deadline)
          throw std::runtime_error("task " + id + " is "
                                   + (task ? std::string(to_string(task->status)) : "missing")
                                   + ", not " + std::string(to_string(status)));
        t.expires_after(10ms);
        co_await t.async_wait(asio::use_awaitable);
      }
    }());
  }

  std::string enqueue(new_job job) {
    if (job.account.empty()) job.account = "acme";
    return run_awaitable(io_, store_->enqueue(std::move(job))).task_id;
  }

  long long count(const std::vector<std::string>& cmd) { return server_.integer(cmd); }

  // Runs the workers until their periodic trim has emptied the stream (or 5 s pass).
  bool stream_trimmed() {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (count({"XLEN", keys_.jobs()}) != 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(50ms);
    }
    return true;
  }

  test::redis_server server_;
  asio::io_context io_{1};
  queue_keys keys_{"herald", "default"};
  std::unique_ptr<redis::client> shared_, blocking_;
  std::unique_ptr<task_store> store_;
  handler_registry handlers_;
  std::shared_ptr<scripted_handler> scripted_;
  std::unique_ptr<worker_pool> pool_;
  bool pool_done_ = false;
  int pools_ = 0;
};

}  // namespace herald::queue::test_support
