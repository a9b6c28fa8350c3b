// heraldd across Redis in trouble: restarts (kill -9 with AOF everysec) and a stall (SIGSTOP)
// under five tasks of 10,000 items; and Sentinel failovers (a primary, two replicas, three
// sentinels; the primary killed ten times) under a load of enqueues and jobs, with and without
// redis_wait_replicas. Built binaries, real redis-server and sentinels.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <mutex>
#include <thread>

#include "herald/queue/task_store.hpp"
#include "herald/redis/client.hpp"
#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/redis_server.hpp"
#include "support/sentinel_cluster.hpp"

namespace herald::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const std::string jobs = "herald:{default}:jobs";
std::string task_key(const std::string& id) {
  return "herald:{default}:task:" + id;
}
long long ms(clock_type::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
std::size_t lines_in(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(RedisRestarts, FiveKillsAndAStallUnderFiveLongTasksLoseAndRepeatNothing) {
  redis_server redis({.tcp = false,
                      .password = "",
                      .extra_args = {"--appendonly", "yes", "--appendfsync", "everysec"}});
  // claim_idle stays 30 s: a job left for the claimer would finish far too late.
  heraldd_process heraldd({.redis_url = redis.url(),
                           .extra_env = {"HERALD_CHUNK_SIZE=100"},
                           .extra_args = {},
                           .wait_until_listening = true});
  constexpr int tasks = 5;
  constexpr long long items = 10'000, item_ms = 2;  // 20 s of work a task, run side by side
  const auto work = std::chrono::milliseconds(items * item_ms);
  std::vector<std::string> ids;
  auto began = clock_type::now();
  for (int i = 0; i < tasks; ++i) {
    ids.push_back("restart-" + std::to_string(i));
    redis.command(
        {"XADD", jobs, "*", "v", "1", "type", "sleep", "task_id", ids.back(), "account", "acme",
         "body",
         R"({"items": )" + std::to_string(items) + R"(, "ms": )" + std::to_string(item_ms) + "}"});
  }
  auto status = [&](const std::string& id) {
    try {
      return redis.command({"HGET", task_key(id), "status"});
    } catch (const std::exception&) {
      return std::string();
    }
  };
  ASSERT_TRUE(wait_until(
      [&] {
        return std::all_of(ids.begin(), ids.end(),
                           [&](const auto& id) { return status(id) == "processing"; });
      },
      10s))
      << heraldd.log();
  std::this_thread::sleep_for(1500ms);  // the enqueues are on disk (everysec) before any kill

  clock_type::duration away{};  // how long Redis was gone, in all
  std::vector<std::string> problems;
  auto outage = [&](const std::string& name, bool stall) {
    auto log_before = heraldd.log().size();
    auto lost = clock_type::now();
    if (stall)
      redis.pause();
    else
      redis.kill9();
    bool unready =
        wait_until([&] { return heraldd.get("/readyz").status == 503; }, stall ? 4500ms : 2s, 5ms);
    if (!unready) problems.push_back(name + ": /readyz never answered 503");
    if (stall) {
      std::this_thread::sleep_until(lost + 5s);
      redis.resume();
    } else {
      std::this_thread::sleep_until(lost + 1s);
      redis.start();
    }
    if (!wait_until([&] { return heraldd.get("/readyz").status == 200; }, 10s, 10ms))
      problems.push_back(name + ": /readyz not 200 again within 10 s");
    away += clock_type::now() - lost;
    wait_until([&] { return heraldd.log().find("back after", log_before) != std::string::npos; },
               5s, 20ms);
    std::this_thread::sleep_for(1500ms);  // work goes on, and what the outage logs comes out
    auto logged = heraldd.log().substr(log_before);
    std::cout << name << ": " << lines_in(logged) << " lines logged:\n" << logged;
    if (lines_in(logged) > 5) problems.push_back(name + ": over 5 lines logged");
  };
  for (int k = 1; k <= 5; ++k) outage("kill -9 #" + std::to_string(k), false);
  outage("SIGSTOP for 5 s", true);
  for (const auto& p : problems) ADD_FAILURE() << p;
  EXPECT_FALSE(std::all_of(ids.begin(), ids.end(), [&](const auto& id) {
    return status(id) == "completed";
  })) << "the work ended before the last outage; make it longer";

  ASSERT_TRUE(wait_until(
      [&] {
        return std::all_of(ids.begin(), ids.end(),
                           [&](const auto& id) { return status(id) == "completed"; });
      },
      60s, 50ms))
      << heraldd.log();
  auto took = clock_type::now() - began;
  // Each kill may lose up to a second of commits (everysec), redone; the rest is the work itself
  // and the time Redis was away. A job left for claim_idle (30 s) would blow this.
  auto allowed = work + away + 5s + 5 * 1s;
  std::cout << "5 tasks of " << items << " items (" << ms(work) << " ms of work each) took "
            << ms(took) << " ms with Redis away for " << ms(away) << " ms; allowed " << ms(allowed)
            << " ms\n";
  EXPECT_LT(took, allowed);
  for (const auto& id : ids) {
    EXPECT_EQ(redis.command({"HGET", task_key(id), "processed"}), std::to_string(items)) << id;
    EXPECT_EQ(redis.command({"HGET", task_key(id), "total"}), std::to_string(items)) << id;
    EXPECT_EQ(redis.command({"HGET", task_key(id), "deliveries"}), "1") << id;
  }
  EXPECT_EQ(redis.integer({"XLEN", "herald:{default}:dead"}), 0);
  EXPECT_TRUE(heraldd.process().running()) << "heraldd exited";
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

// Enqueues from a thread of its own through the task store (the path of `herald enqueue` and
// the HTTP routes), each job with an idempotency key retried until it is acknowledged.
class producer {
 public:
  producer(std::string url, std::uint64_t wait_replicas) : url_(std::move(url)) {
    thread_ = std::thread([this, wait_replicas] { run(wait_replicas); });
  }
  ~producer() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> acknowledged() {
    std::lock_guard lock(mutex_);
    return acked_;
  }
  std::size_t refused() const { return refused_; }

 private:
  void run(std::uint64_t wait_replicas) {
    asio::io_context io(1);
    redis::client_config rc;
    rc.url = url_;
    rc.command_timeout = 2s;
    redis::client client(io.get_executor(), rc);
    client.start();
    queue::task_store store(client, queue::queue_keys("herald"), std::chrono::hours(1));
    store.set_replica_wait({.replicas = wait_replicas, .timeout = 1000ms});
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer pause(io);
          for (int n = 0; !stopping_; ++n) {
            queue::new_job job;
            job.account = "acme";
            job.idempotency_key = "job-" + std::to_string(n);
            if (n % 2 == 0) {
              job.type = "noop";
              job.body = R"({"items": 3})";
            } else {
              job.type = "sleep";  // chunks of its own (chunk_size 1), committed one by one
              job.body = R"({"items": 3, "ms": 20})";
            }
            for (;;) {
              try {
                auto done = co_await store.enqueue(job);
                std::lock_guard lock(mutex_);
                acked_.push_back(done.task_id);
                break;
              } catch (const std::exception&) {
                ++refused_;
                if (stopping_) break;
              }
              pause.expires_after(50ms);
              co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            pause.expires_after(10ms);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          client.stop();
        },
        asio::detached);
    io.run();
  }

  std::string url_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> refused_{0};
  std::mutex mutex_;
  std::vector<std::string> acked_;
};

// Kills the primary `rounds` times under load; returns the acknowledged jobs whose task is gone.
std::size_t failovers_under_load(std::uint64_t wait_replicas, int rounds) {
  sentinel_cluster cluster;
  EXPECT_TRUE(cluster.wait_settled()) << "the sentinels did not find each other";
  heraldd_process heraldd(
      {.redis_url = cluster.url(),
       .extra_env = {"HERALD_REDIS_WAIT_REPLICAS=" + std::to_string(wait_replicas),
                     "HERALD_CHUNK_SIZE=1", "HERALD_CLAIM_IDLE=5s"},
       .extra_args = {},
       .wait_until_listening = true});
  EXPECT_EQ(heraldd.get("/readyz").status, 200) << heraldd.log();
  producer load(cluster.url(), wait_replicas);
  std::this_thread::sleep_for(1s);
  for (int round = 1; round <= rounds; ++round) {
    int old = cluster.primary_port();
    const auto acked_before = load.acknowledged().size();
    auto* victim = cluster.kill_primary();
    if (!victim) {
      ADD_FAILURE() << "round " << round << ": no primary to kill";
      break;
    }
    auto killed = clock_type::now();
    if (!cluster.wait_failover(old)) {
      ADD_FAILURE() << "round " << round << ": Sentinel promoted no replica";
      break;
    }
    auto promoted = clock_type::now();
    bool ready = wait_until([&] { return heraldd.get("/readyz").status == 200; }, 10s, 10ms);
    auto followed = clock_type::now();
    std::cout << "failover " << round << " (" << acked_before
              << " jobs acknowledged before the kill): promoted " << ms(promoted - killed)
              << " ms after the kill; heraldd ready " << ms(followed - promoted)
              << " ms after the promotion\n";
    EXPECT_TRUE(ready) << "round " << round << ": /readyz not 200 within 10 s\n" << heraldd.log();
    victim->start();  // back empty; Sentinel makes it a replica of the new primary
    if (!cluster.wait_settled(30s)) {
      ADD_FAILURE() << "round " << round << ": the cluster did not settle";
      break;
    }
    std::this_thread::sleep_for(500ms);
  }
  load.stop();
  auto acked = load.acknowledged();
  EXPECT_GT(acked.size(), 50u) << "hardly any load";
  // Every acknowledged job's task: completed, or lost (neither its hash nor its queued record).
  auto* primary = cluster.server_at(cluster.primary_port());
  if (!primary) {
    ADD_FAILURE() << "no primary at the end";
    return acked.size();
  }
  std::vector<std::string> lost, unfinished;
  auto check = [&] {
    lost.clear();
    unfinished.clear();
    for (const auto& id : acked) {
      auto status = primary->command({"HGET", task_key(id), "status"});
      if (status == "completed") continue;
      if (status == "(nil)" && primary->command({"HEXISTS", "herald:{default}:queued", id}) == "0")
        lost.push_back(id);
      else
        unfinished.push_back(id + " (" + status + ")");
    }
    return unfinished.empty();
  };
  bool finished = wait_until(check, 60s, 200ms);
  std::cout << "redis_wait_replicas = " << wait_replicas << ": " << acked.size()
            << " jobs acknowledged (" << load.refused() << " enqueue attempts refused or failed), "
            << lost.size() << " of them lost in " << rounds << " failovers\n";
  // Where the lost ones are in the order of acknowledgment: runs of consecutive ones.
  std::string runs;
  for (std::size_t i = 0, run_start = 0; i < acked.size(); ++i) {
    bool is_lost = std::find(lost.begin(), lost.end(), acked[i]) != lost.end();
    bool was_lost = i > 0 && std::find(lost.begin(), lost.end(), acked[i - 1]) != lost.end();
    if (is_lost && !was_lost) run_start = i;
    bool next_lost =
        i + 1 < acked.size() && std::find(lost.begin(), lost.end(), acked[i + 1]) != lost.end();
    if (is_lost && !next_lost) runs += " " + std::to_string(run_start) + ".." + std::to_string(i);
  }
  if (!lost.empty()) std::cout << "  lost, by position among the acknowledged:" << runs << "\n";
  for (const auto& id : lost) std::cout << "  lost: " << id << "\n";
  EXPECT_TRUE(finished) << unfinished.size() << " acknowledged jobs not completed, e.g. "
                        << (unfinished.empty() ? "" : unfinished.front()) << "\n"
                        << heraldd.log();
  EXPECT_TRUE(heraldd.process().running()) << "heraldd exited";
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
  return lost.size();
}

TEST(RedisFailover, TenKilledPrimariesLoseNoJobAcknowledgedWithAReplicaWait) {
  EXPECT_EQ(failovers_under_load(1, 10), 0u);
}

TEST(RedisFailover, WithoutAReplicaWaitTheLostAcknowledgedJobsAreCounted) {
  auto lost = failovers_under_load(0, 5);
  std::cout << "without a replica wait: " << lost << " acknowledged jobs lost (asynchronous "
            << "replication; not asserted)\n";
}

TEST(RedisFailover, AnEnqueueShortOfItsReplicasFailsFromTheCli) {
  redis_server redis;  // no replica
  temp_dir dir("herald-cli");
  herald_cli herald(dir, {"HERALD_REDIS_WAIT_REPLICAS=1", "HERALD_REDIS_WAIT_MS=200"});
  auto file = herald.new_path("job", ".json");
  std::ofstream(file) << R"({"type": "noop", "body": {"items": 2}})";
  auto refused = herald.run({"enqueue", file.string(), "--redis-url", redis.url()});
  EXPECT_EQ(refused.code, 4) << refused.out << refused.err;
  EXPECT_TRUE(contains(refused.err, "0 of 1 replicas (redis_wait_replicas)")) << refused.err;
  EXPECT_EQ(redis.integer({"XLEN", jobs}), 1) << "written on the primary all the same";
  temp_dir dir2("herald-cli");
  auto plain = herald_cli(dir2, {}).run({"enqueue", file.string(), "--redis-url", redis.url()});
  EXPECT_EQ(plain.code, 0) << plain.err;
}

}  // namespace
}  // namespace herald::test
