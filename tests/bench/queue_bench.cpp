// The queue's throughput through a running heraldd, against one fresh redis-server (TCP, no
// persistence): enqueue and drain rates for N one-item noop jobs, items per second for 10 jobs
// of 10,000 items, Redis commands per job, CPU time per job of Redis, of the producer and of
// heraldd (which tell more than the rates on a busy machine), heraldd's peak RSS, and the status
// endpoint's latency during the drain; then enqueue and drain against a primary with one local
// replica, without and with redis_wait_replicas = 1. N from $HERALD_BENCH_JOBS (default
// 100,000).
//
//   build/tests/bench/queue_bench
//   HERALD_BENCH_VERBOSE=1 build/tests/bench/queue_bench   # also each command's calls and time
//                                                          # per job, scripts' own included
#include <openssl/sha.h>
#include <sys/resource.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "bench_support.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/redis/client.hpp"
#include "support/heraldd.hpp"
#include "support/http_client.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using herald::bench::commands;
using herald::bench::connected_client;
using herald::bench::drained;
using herald::bench::peak_rss_kib;
using herald::bench::percentile;
using herald::bench::seconds_since;
using herald::bench::span_of;
using herald::queue::new_job;
using herald::queue::task_store;
using herald::test::redis_server;

// CPU time (user + system) of `pid` so far, in microseconds.
double process_cpu_us(pid_t pid) {
  return herald::bench::cpu_seconds(pid) * 1e6;
}

namespace {

// Redis's own CPU time so far (used_cpu_sys + used_cpu_user of INFO cpu), in microseconds.
double redis_cpu_us(const redis_server& redis) {
  std::string info = redis.command({"INFO", "cpu"});
  double total = 0;
  for (const char* name : {"used_cpu_sys:", "used_cpu_user:"}) {
    auto at = info.find(name);
    if (at != std::string::npos) total += std::stod(info.substr(at + std::strlen(name)));
  }
  return total * 1e6;
}

// Per command: calls and microseconds (INFO commandstats); with $HERALD_BENCH_VERBOSE the
// difference over a phase is printed per job, scripts' inner commands included.
std::map<std::string, std::pair<long long, long long>> command_times(const redis_server& redis) {
  std::string info = redis.command({"INFO", "commandstats"});
  std::regex line(R"(cmdstat_([a-z|_-]+):calls=([0-9]+),usec=([0-9]+))");
  std::map<std::string, std::pair<long long, long long>> out;
  for (auto it = std::sregex_iterator(info.begin(), info.end(), line); it != std::sregex_iterator();
       ++it)
    out[(*it)[1]] = {std::stoll((*it)[2]), std::stoll((*it)[3])};
  return out;
}

void print_command_times(const char* phase,
                         const std::map<std::string, std::pair<long long, long long>>& before,
                         const std::map<std::string, std::pair<long long, long long>>& after,
                         std::size_t jobs) {
  if (!std::getenv("HERALD_BENCH_VERBOSE")) return;
  std::printf("  Redis commands during %s, per job: calls, usec\n", phase);
  for (const auto& [name, v] : after) {
    auto b = before.count(name) ? before.at(name) : std::pair<long long, long long>{0, 0};
    if (v.first == b.first) continue;
    std::printf("    %-22s %8.3f %8.3f\n", name.c_str(),
                static_cast<double>(v.first - b.first) / jobs,
                static_cast<double>(v.second - b.second) / jobs);
  }
}

std::string sha256_hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  char out[2 * SHA256_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(out + 2 * i, 3, "%02x", d[i]);
  return out;
}

// This process's CPU time so far, in microseconds.
double own_cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

// Enqueues `n` jobs through enqueue.lua, `batch` a call, `in_flight` calls pipelined.
// With `wait`, each call waits for that many replicas (redis_wait_replicas).
double enqueue_rate(const redis_server& redis, std::size_t n, const std::string& body,
                    std::size_t batch, std::vector<std::string>* ids,
                    herald::queue::replica_wait wait = {}) {
  asio::io_context io(1);
  auto connected = connected_client(io, redis);
  auto& client = *connected;
  task_store store(client, herald::queue::queue_keys());
  store.set_replica_wait(wait);
  std::size_t next = 0;
  int running = 0;
  auto start = std::chrono::steady_clock::now();
  for (int p = 0; p < 8; ++p) {
    ++running;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          while (next < n) {
            std::vector<new_job> jobs;
            for (std::size_t i = 0; i < batch && next < n; ++i, ++next)
              jobs.push_back({.type = "noop", .account = "bench", .body = body});
            auto done = co_await store.enqueue(std::move(jobs));
            if (ids)
              for (auto& d : done) ids->push_back(d.task_id);
          }
          if (--running == 0) client.stop();
        },
        asio::detached);
  }
  io.run();
  return n / seconds_since(start);
}

// Plain XADD, 256 in flight on one connection: the floor any producer can use.
double xadd_rate(const redis_server& redis, std::size_t n) {
  asio::io_context io(1);
  auto connected = connected_client(io, redis);
  auto& client = *connected;
  std::size_t next = 0;
  int running = 0;
  auto start = std::chrono::steady_clock::now();
  for (int p = 0; p < 256; ++p) {
    ++running;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          while (next < n) {
            auto id = "x" + std::to_string(next++);
            co_await client.exec("XADD", "bench:{xadd}:jobs", "*", "v", "1", "type", "noop",
                                 "task_id", id, "account", "bench", "body", "{}");
          }
          if (--running == 0) client.stop();
        },
        asio::detached);
  }
  io.run();
  return n / seconds_since(start);
}

struct drain_result {
  double seconds = 0;  // first pick-up to last completion
  long long commands = 0;
  double redis_cpu_us = 0;    // Redis's CPU time over the drain
  double heraldd_cpu_us = 0;  // heraldd's
  std::vector<double> status_ms;
};

// What Redis has done so far.
struct redis_snapshot {
  long long commands = 0;
  double cpu_us = 0;
  std::map<std::string, std::pair<long long, long long>> times;
};

redis_snapshot snapshot(const redis_server& redis) {
  return {commands(redis), redis_cpu_us(redis), command_times(redis)};
}

// `before`: taken before heraldd could start on the jobs.
drain_result drain(redis_server& redis, herald::test::heraldd_process& heraldd,
                   const std::vector<std::string>& ids, const std::string& token,
                   const redis_snapshot& before, double heraldd_cpu_before) {
  drain_result out;
  std::atomic<bool> done{false};
  std::thread poller([&] {
    // The status endpoint's latency while the workers drain.
    std::size_t i = 0;
    while (!done) {
      auto t = std::chrono::steady_clock::now();
      try {
        auto r = herald::test::http_request("127.0.0.1", heraldd.port(), "GET",
                                            "/tasks/status?task_id=" + ids[i++ % ids.size()], {},
                                            {{"Authorization", "Bearer " + token}}, 5s);
        if (r.status == 200) out.status_ms.push_back(seconds_since(t) * 1000);
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  while (!drained(redis)) std::this_thread::sleep_for(20ms);
  auto after = snapshot(redis);
  out.heraldd_cpu_us = process_cpu_us(heraldd.process().pid()) - heraldd_cpu_before;
  out.commands = after.commands - before.commands;
  out.redis_cpu_us = after.cpu_us - before.cpu_us;
  print_command_times("the drain", before.times, after.times, ids.size());
  done = true;
  poller.join();
  out.seconds = span_of(redis, ids);
  return out;
}

}  // namespace

int main() {
  std::size_t n = 100'000;
  if (const char* env = std::getenv("HERALD_BENCH_JOBS")) n = std::stoul(env);
  herald::test::temp_dir dir("herald-queue-bench");
  std::string token = "bench-token";
  std::ofstream(dir / "tokens") << "bench " << sha256_hex(token) << "\n";
  std::vector<std::string> env{"HERALD_TOKENS_FILE=" + (dir / "tokens").string(),
                               "HERALD_LOG_LEVEL=info"};

  std::printf("Queue benchmark: %zu one-item noop jobs, then 10 jobs of 10,000 items\n", n);

  redis_server xadd_redis({.tcp = true});
  double xadd = xadd_rate(xadd_redis, n);

  redis_server redis({.tcp = true});
  std::vector<std::string> ids;
  ids.reserve(n);
  auto s0 = snapshot(redis);
  double producer0 = own_cpu_us();
  double enqueue = enqueue_rate(redis, n, R"({"items": 1})", 100, &ids);
  double producer_cpu = own_cpu_us() - producer0;
  auto s1 = snapshot(redis);
  long long enqueue_commands = s1.commands - s0.commands;
  double enqueue_cpu = s1.cpu_us - s0.cpu_us;
  print_command_times("the enqueue", s0.times, s1.times, n);

  herald::test::heraldd_process heraldd({.redis_url = redis.url(), .extra_env = env});
  auto jobs = drain(redis, heraldd, ids, token, s1, 0);
  long rss_jobs = peak_rss_kib(heraldd.process().pid());

  std::vector<std::string> big;
  enqueue_rate(redis, 10, R"({"items": 10000})", 1, &big);
  auto items =
      drain(redis, heraldd, big, token, snapshot(redis), process_cpu_us(heraldd.process().pid()));
  long rss = peak_rss_kib(heraldd.process().pid());
  heraldd.terminate();

  // redis_wait_replicas = 1 against one local replica, beside the same rows on the same pair
  // without the wait. (noop jobs have no effects: their commits never wait, only enqueues.)
  redis_server primary({.tcp = true});
  redis_server replica(
      {.tcp = true, .extra_args = {"--replicaof", "127.0.0.1", std::to_string(primary.port())}});
  herald::test::wait_until(
      [&] {
        return primary.command({"INFO", "replication"}).find("state=online") != std::string::npos;
      },
      10s);
  struct replicated_row {
    double enqueue = 0, drain = 0;
  };
  auto replicated = [&](std::uint64_t wait_replicas) {
    replicated_row row;
    std::vector<std::string> got;
    got.reserve(n);
    row.enqueue = enqueue_rate(primary, n, R"({"items": 1})", 100, &got,
                               {.replicas = wait_replicas, .timeout = 1000ms});
    auto env_wait = env;
    env_wait.push_back("HERALD_REDIS_WAIT_REPLICAS=" + std::to_string(wait_replicas));
    herald::test::heraldd_process d({.redis_url = primary.url(), .extra_env = env_wait});
    auto r = drain(primary, d, got, token, snapshot(primary), 0);
    row.drain = n / r.seconds;
    d.terminate();
    primary.command({"FLUSHALL"});
    return row;
  };
  auto no_wait = replicated(0);
  auto wait_one = replicated(1);

  std::printf("%-44s %12.0f\n", "enqueue, enqueue.lua, 100 a call (jobs/s)", enqueue);
  std::printf("%-44s %12.0f\n", "enqueue, plain XADD pipelined (jobs/s)", xadd);
  std::printf("%-44s %12.0f\n", "drain, first pick-up to last done (jobs/s)", n / jobs.seconds);
  std::printf("%-44s %12.0f\n", "10 jobs x 10,000 items (items/s)", 100'000 / items.seconds);
  std::printf("%-44s %12.0f\n", "enqueue, 1 replica, no wait (jobs/s)", no_wait.enqueue);
  std::printf("%-44s %12.0f\n", "enqueue, 1 replica, redis_wait_replicas=1", wait_one.enqueue);
  std::printf("%-44s %12.0f\n", "drain, 1 replica, no wait (jobs/s)", no_wait.drain);
  std::printf("%-44s %12.0f\n", "drain, 1 replica, redis_wait_replicas=1", wait_one.drain);
  std::printf("%-44s %12.2f\n", "Redis commands per job, enqueue",
              static_cast<double>(enqueue_commands) / n);
  std::printf("%-44s %12.2f\n", "Redis commands per job, drain",
              static_cast<double>(jobs.commands) / n);
  std::printf("%-44s %12.2f\n", "Redis CPU per job, enqueue (us)", enqueue_cpu / n);
  std::printf("%-44s %12.2f\n", "producer CPU per job, enqueue (us)", producer_cpu / n);
  std::printf("%-44s %12.2f\n", "Redis CPU per job, drain (us)", jobs.redis_cpu_us / n);
  std::printf("%-44s %12.2f\n", "heraldd CPU per job, start and drain (us)",
              jobs.heraldd_cpu_us / n);
  std::printf("%-44s %12.1f\n", "heraldd peak RSS after the jobs (MiB)", rss_jobs / 1024.0);
  std::printf("%-44s %12.1f\n", "heraldd peak RSS at the end (MiB)", rss / 1024.0);
  std::printf("%-44s %7.2f p50 %7.2f p99 (%zu requests)\n", "status latency during drain (ms)",
              percentile(jobs.status_ms, 0.5), percentile(jobs.status_ms, 0.99),
              jobs.status_ms.size());
  return 0;
}
