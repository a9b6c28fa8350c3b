// heraldd's HTTP API under wrk, each figure beside its anchor from the same run:
//   1. GET /tasks/status of an existing task at 64 connections: requests per second and p99,
//      beside `redis-benchmark -t get -c 64` on the same redis-server (goal: at least 0.5 of its
//      rate, p99 under 5 ms);
//   2. POST import_and_start_batch_task carrying 100 profiles each: requests per second and p99
//      (goal: 2,000 a second), and the tasks they made, counted in Redis afterwards.
//
//   build/tests/bench/http_api_bench          (HERALD_BENCH_SECONDS: each run's length, 5)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <thread>

#include "bench_support.hpp"
#include "herald/auth/tokens.hpp"
#include "support/heraldd.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
namespace test = herald::test;
constexpr int connections = 64;
constexpr auto token = "bench-token-3c1d9a";

std::string run_command(const std::string& cmd, int& rc) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    rc = -1;
    return {};
  }
  std::string output;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  rc = ::pclose(p);
  return output;
}

struct wrk_figures {
  double per_second = -1;
  double p99_ms = -1;
  long long non_2xx = 0;
  long long errors = 0;  // socket errors: connect, read, write, timeout
};

// wrk's figures, or per_second < 0 when it could not run. `script` is a Lua file or empty.
wrk_figures run_wrk(const std::string& url, double seconds, const std::string& script) {
  std::string cmd = "wrk -t 2 -c " + std::to_string(connections) + " -d "
                    + std::to_string(static_cast<int>(seconds)) + "s --latency -H "
                    + "'Authorization: Bearer " + token + "' ";
  if (!script.empty()) cmd += "-s " + script + " ";
  cmd += "'" + url + "'";
  int rc = 0;
  const auto output = run_command(cmd, rc);
  wrk_figures f;
  std::smatch m;
  if (rc != 0 || !std::regex_search(output, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) {
    std::cerr << "wrk did not run (" << cmd << "):\n" << output;
    return f;
  }
  f.per_second = std::stod(m[1]);
  if (std::regex_search(output, m, std::regex(R"(99%\s+([0-9.]+)(us|ms|s))"))) {
    f.p99_ms = std::stod(m[1]);
    if (m[2] == "us") f.p99_ms /= 1000;
    if (m[2] == "s") f.p99_ms *= 1000;
  }
  if (std::regex_search(output, m, std::regex(R"(Non-2xx or 3xx responses:\s+([0-9]+))")))
    f.non_2xx = std::stoll(m[1]);
  if (std::regex_search(
          output, m,
          std::regex(R"(connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+))")))
    f.errors = std::stoll(m[1]) + std::stoll(m[2]) + std::stoll(m[3]) + std::stoll(m[4]);
  return f;
}

struct redis_benchmark_figures {
  double per_second = -1;
  double p99_ms = -1;
};

redis_benchmark_figures run_redis_benchmark(int port, double seconds) {
  // About `seconds` of GETs at the rate this box does them (measured first with a short run).
  int rc = 0;
  const std::string base = std::string(HERALD_REDIS_BENCHMARK) + " -h 127.0.0.1 -p "
                           + std::to_string(port) + " -t get -c " + std::to_string(connections);
  auto output = run_command(base + " -n 20000 -q", rc);
  std::smatch m;
  const std::regex rate(R"(GET: ([0-9.]+) requests per second)");
  redis_benchmark_figures f;
  if (rc != 0 || !std::regex_search(output, m, rate)) {
    std::cerr << "redis-benchmark did not run:\n" << output;
    return f;
  }
  const auto n = static_cast<long long>(std::stod(m[1]) * seconds);
  output = run_command(base + " -n " + std::to_string(std::max(20000LL, n)) + " --csv", rc);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
  // "p99_latency_ms","max_latency_ms"
  const std::regex row(
      R"re("GET","([0-9.]+)","[0-9.]+","[0-9.]+","[0-9.]+","[0-9.]+","([0-9.]+)")re");
  if (rc != 0 || !std::regex_search(output, m, row)) {
    std::cerr << "redis-benchmark --csv did not run:\n" << output;
    return f;
  }
  f.per_second = std::stod(m[1]);
  f.p99_ms = std::stod(m[2]);
  return f;
}

// A body of import_and_start_batch_task with `n` profiles (seed 004's shape), skip_triggers so
// that the benchmark measures the route and the import, not a provider.
std::string import_body(int n) {
  std::string body = R"({"matching": "email", "skip_triggers": true, "data": [)";
  for (int i = 0; i < n; ++i) {
    if (i) body += ',';
    body += R"({"data": {"email": "bench-)" + std::to_string(i)
            + R"(@example.com", "_fname": "Имя", "_lname": "Фамилия", "city": "Москва"}})";
  }
  return body + "]}";
}

}  // namespace

int main() {
  double seconds = 5;
  if (const char* s = std::getenv("HERALD_BENCH_SECONDS")) seconds = std::max(1.0, std::atof(s));

  test::redis_server redis({.tcp = true});
  test::temp_dir dir("herald-http-api-bench");
  const auto tokens = dir / "tokens";
  std::ofstream(tokens) << "bench " << herald::auth::hash_token_hex(token) << "\n";
  test::heraldd_process heraldd(
      {.redis_url = redis.url(),
       .extra_env = {"HERALD_TOKENS_FILE=" + tokens.string(), "HERALD_LOG_LEVEL=info"}});

  // The task the pollers read: an import of one profile, finished.
  const auto enq =
      heraldd.post("/api/v1.1/campaigns/triggers/import_and_start_batch_task", import_body(1),
                   {{"Authorization", std::string("Bearer ") + token}});
  std::string task_id;
  if (enq.status == 200) task_id = test::json_doc(enq.body).str("/task_id");
  if (task_id.empty()) {
    std::fprintf(stderr, "http_api_bench: cannot enqueue through the API (%d): %s\n", enq.status,
                 enq.body.c_str());
    return 1;
  }
  for (int i = 0; i < 500; ++i) {
    auto st = heraldd.get("/tasks/status?task_id=" + task_id,
                          {{"Authorization", std::string("Bearer ") + token}});
    if (st.status == 200 && test::json_doc(st.body).str("/data/status") == "completed") break;
    std::this_thread::sleep_for(10ms);
  }

  const std::string base = "http://127.0.0.1:" + std::to_string(heraldd.port());
  const auto status = run_wrk(base + "/tasks/status?task_id=" + task_id, seconds, "");
  const auto anchor = run_redis_benchmark(redis.port(), seconds);

  // 2. The enqueue route, 100 profiles a request.
  const auto script = dir / "post.lua";
  {
    std::string body = import_body(100);
    std::string escaped;
    for (char c : body) {
      if (c == '\\' || c == '"') escaped += '\\';
      escaped += c;
    }
    std::ofstream(script) << "wrk.method = \"POST\"\n"
                          << "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
                          << "wrk.body = \"" << escaped << "\"\n";
  }
  const auto before = redis.integer({"LLEN", "herald:{default}:tasks:bench"});
  const auto enqueue = run_wrk(base + "/api/v1.1/campaigns/triggers/import_and_start_batch_task",
                               seconds, script.string());
  const auto after = redis.integer({"LLEN", "herald:{default}:tasks:bench"});

  std::printf("http_api_bench: wrk -t 2 -c %d, %.0f s each, heraldd and redis-server on loopback\n",
              connections, seconds);
  std::printf("\n== GET /tasks/status of a finished task\n");
  std::printf("  %-34s %10.0f req/s  p99 %6.2f ms  (non-2xx %lld, socket errors %lld)\n", "heraldd",
              status.per_second, status.p99_ms, status.non_2xx, status.errors);
  std::printf("  %-34s %10.0f req/s  p99 %6.2f ms\n", "redis-benchmark -t get -c 64",
              anchor.per_second, anchor.p99_ms);
  if (status.per_second > 0 && anchor.per_second > 0)
    std::printf("  %-34s %10.2f  (goal: at least 0.5, p99 under 5 ms)\n", "ratio heraldd/redis GET",
                status.per_second / anchor.per_second);
  std::printf("\n== POST import_and_start_batch_task, 100 profiles a request\n");
  std::printf("  %-34s %10.0f req/s  p99 %6.2f ms  (non-2xx %lld, socket errors %lld)\n", "heraldd",
              enqueue.per_second, enqueue.p99_ms, enqueue.non_2xx, enqueue.errors);
  std::printf("  %-34s %10.0f profiles/s  (goal: 2,000 requests a second)\n", "profiles enqueued",
              enqueue.per_second * 100);
  std::printf("  %-34s %10lld  (wrk: about %.0f requests)\n", "tasks the account gained",
              after - before, enqueue.per_second * seconds);
  heraldd.terminate();
  return status.per_second > 0 && status.non_2xx == 0 && enqueue.non_2xx == 0 ? 0 : 1;
}
