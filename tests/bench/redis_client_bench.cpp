// The Redis client's throughput on one connection with 1, 16 and 256 coroutines in flight,
// beside redis-benchmark with the matching pipelining against the same server, in one run.
//
//   build/tests/bench/redis_client_bench [ops-per-round]
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <regex>
#include <string>

#include "herald/redis/client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using herald::redis::client;
using herald::redis::command;

namespace {

// Operations per second of `in_flight` coroutines sharing one client, `total` SETs in all.
double client_rate(const herald::test::redis_server& server, int in_flight, int total) {
  asio::io_context io(1);
  herald::redis::client_config cfg;
  cfg.url = server.url();
  if (const char* f = std::getenv("HERALD_BENCH_FLUSH_EVERY")) cfg.flush_every = std::atoi(f);
  client c(io.get_executor(), cfg);
  c.start();
  herald::test::run_awaitable(io, [&]() -> asio::awaitable<void> {
    for (;;) {
      auto [ec, r] = co_await c.async_exec(command("PING"), asio::as_tuple(asio::use_awaitable));
      if (!ec) co_return;
    }
  }());
  int per = total / in_flight, finished = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < in_flight; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (int j = 0; j < per; ++j) co_await c.exec("SET", "key:000000000000", "xxx");
          if (++finished == in_flight) c.stop();
        },
        asio::detached);
  }
  io.run();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return per * in_flight / took.count();
}

// redis-benchmark's SET rate with one connection and `pipeline` commands per round trip.
double redis_benchmark_rate(const herald::test::redis_server& server, int pipeline, int total) {
  herald::test::temp_dir dir("herald-bench");
  auto out = dir / "out.txt";
  herald::test::child_process p(
      {HERALD_REDIS_BENCHMARK, "-s", server.socket_path(), "-c", "1", "-P",
       std::to_string(pipeline), "-n", std::to_string(total), "-t", "set", "-q"},
      {}, out);
  p.wait_for(300s);
  std::smatch m;
  std::string text = p.log();
  // "SET: 123456.78 requests per second, p50=..." (the last line; progress lines use \r)
  std::regex rate(R"(SET: ([0-9.]+) requests per second)");
  double last = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), rate); it != std::sregex_iterator();
       ++it)
    last = std::stod((*it)[1]);
  return last;
}

}  // namespace

int main(int argc, char** argv) {
  int total = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  herald::test::redis_server server;
  std::printf("Redis client vs redis-benchmark: SET, one connection, %d operations a round\n",
              total);
  std::printf("%-10s %16s %22s %8s\n", "in flight", "herald ops/s", "redis-benchmark ops/s",
              "ratio");
  for (int n : {1, 16, 256}) {
    int ops = n == 1 ? total / 5 : total;
    double ours = client_rate(server, n, ops);
    double theirs = redis_benchmark_rate(server, n, ops);
    std::printf("%-10d %16.0f %22.0f %8.2f\n", n, ours, theirs, theirs > 0 ? ours / theirs : 0);
    std::fflush(stdout);
  }
  return 0;
}
