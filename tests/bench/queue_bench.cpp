// The queue's throughput through a running heraldd, against one fresh redis-server (TCP, no
// persistence): enqueue and drain rates for N one-item noop jobs, items per second for 10 jobs
// of 10,000 items, Redis commands per job, heraldd's peak RSS, and the status endpoint's
// latency during the drain. N from $HERALD_BENCH_JOBS (default 100,000).
//
//   build/tests/bench/queue_bench
#include <openssl/sha.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "herald/queue/task_store.hpp"
#include "herald/redis/client.hpp"
#include "support/heraldd.hpp"
#include "support/http_client.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using herald::queue::new_job;
using herald::queue::task_store;
using herald::test::redis_server;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The sum of calls= over INFO commandstats: every command Redis ran, scripts' inner ones too.
long long commands(const redis_server& redis) {
  std::string info = redis.command({"INFO", "commandstats"});
  std::regex calls(R"(calls=([0-9]+))");
  long long total = 0;
  for (auto it = std::sregex_iterator(info.begin(), info.end(), calls);
       it != std::sregex_iterator(); ++it)
    total += std::stoll((*it)[1]);
  return total;
}

std::string sha256_hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  char out[2 * SHA256_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(out + 2 * i, 3, "%02x", d[i]);
  return out;
}

long peak_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  return -1;
}

// A client of `redis` on `io`, connected (it answered PING).
std::unique_ptr<herald::redis::client> connected_client(asio::io_context& io,
                                                        const redis_server& redis) {
  herald::redis::client_config cfg;
  cfg.url = redis.url();
  auto client = std::make_unique<herald::redis::client>(io.get_executor(), cfg);
  client->start();
  herald::test::run_awaitable(io, client->exec("PING"));
  return client;
}

// Enqueues `n` jobs through enqueue.lua, `batch` a call, `in_flight` calls pipelined.
double enqueue_rate(const redis_server& redis, std::size_t n, const std::string& body,
                    std::size_t batch, std::vector<std::string>* ids) {
  asio::io_context io(1);
  auto connected = connected_client(io, redis);
  auto& client = *connected;
  task_store store(client, herald::queue::queue_keys());
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
  std::vector<double> status_ms;
};

// Whether the workers are done: nothing waits in the stream for the group, nothing is pending.
bool drained(const redis_server& redis) {
  auto groups = redis.command({"XINFO", "GROUPS", "herald:{default}:jobs"});
  auto value = [&](const std::string& name) {
    auto at = groups.find(name + "\n");
    if (at == std::string::npos) return std::string("?");
    auto start = at + name.size() + 1;
    return groups.substr(start, groups.find('\n', start) - start);
  };
  return value("pending") == "0" && value("lag") == "0";
}

// Waits until the workers are done, then returns the span from the first start to the last
// finish of the listed tasks, read from the tasks themselves (all must have completed).
double span_of(const redis_server& redis, const std::vector<std::string>& ids) {
  while (!drained(redis)) std::this_thread::sleep_for(20ms);
  std::string lua =
      "local first, last, done = nil, 0, 0 "
      "for i = 1, #ARGV do local f = redis.call('HMGET', 'herald:{default}:task:' .. ARGV[i], "
      "'status', 'started_at', 'finished_at') "
      "if f[1] == 'completed' then done = done + 1 "
      "local s, e = tonumber(f[2]), tonumber(f[3]) "
      "if not first or s < first then first = s end if e > last then last = e end end end "
      "return {done, first or 0, last}";
  std::vector<std::string> cmd{"EVAL", lua, "0"};
  cmd.insert(cmd.end(), ids.begin(), ids.end());
  std::istringstream in(redis.command(cmd));
  long long done = 0, first = 0, last = 0;
  in >> done >> first >> last;
  if (done != static_cast<long long>(ids.size()))
    throw std::runtime_error("only " + std::to_string(done) + " of " + std::to_string(ids.size())
                             + " tasks completed");
  return std::max<long long>(1, last - first) / 1000.0;
}

drain_result drain(redis_server& redis, herald::test::heraldd_process& heraldd,
                   const std::vector<std::string>& ids, const std::string& token) {
  drain_result out;
  long long before = commands(redis);
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
  out.commands = commands(redis) - before;
  done = true;
  poller.join();
  out.seconds = span_of(redis, ids);
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
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
  long long c0 = commands(redis);
  double enqueue = enqueue_rate(redis, n, R"({"items": 1})", 100, &ids);
  long long enqueue_commands = commands(redis) - c0;

  herald::test::heraldd_process heraldd({.redis_url = redis.url(), .extra_env = env});
  auto jobs = drain(redis, heraldd, ids, token);
  long rss_jobs = peak_rss_kib(heraldd.process().pid());

  std::vector<std::string> big;
  enqueue_rate(redis, 10, R"({"items": 10000})", 1, &big);
  auto items = drain(redis, heraldd, big, token);
  long rss = peak_rss_kib(heraldd.process().pid());
  heraldd.terminate();

  std::printf("%-44s %12.0f\n", "enqueue, enqueue.lua, 100 a call (jobs/s)", enqueue);
  std::printf("%-44s %12.0f\n", "enqueue, plain XADD pipelined (jobs/s)", xadd);
  std::printf("%-44s %12.0f\n", "drain, first pick-up to last done (jobs/s)", n / jobs.seconds);
  std::printf("%-44s %12.0f\n", "10 jobs x 10,000 items (items/s)", 100'000 / items.seconds);
  std::printf("%-44s %12.2f\n", "Redis commands per job, enqueue",
              static_cast<double>(enqueue_commands) / n);
  std::printf("%-44s %12.2f\n", "Redis commands per job, drain",
              static_cast<double>(jobs.commands) / n);
  std::printf("%-44s %12.1f\n", "heraldd peak RSS after the jobs (MiB)", rss_jobs / 1024.0);
  std::printf("%-44s %12.1f\n", "heraldd peak RSS at the end (MiB)", rss / 1024.0);
  std::printf("%-44s %7.2f p50 %7.2f p99 (%zu requests)\n", "status latency during drain (ms)",
              percentile(jobs.status_ms, 0.5), percentile(jobs.status_ms, 0.99),
              jobs.status_ms.size());
  return 0;
}
