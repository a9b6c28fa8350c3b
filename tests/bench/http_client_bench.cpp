// Requests per second of Herald's outbound HTTP client at 64 requests in flight against a Beast
// server on loopback, beside `wrk -c 64` against the same server in the same run: wrk is the
// most this box can do, so the ratio is the figure.
//
//   build/tests/bench/http_client_bench          (HERALD_BENCH_SECONDS: each run's length, 5)
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "bench_support.hpp"
#include "herald/outbound/http_client.hpp"
#include "support/fake_http_server.hpp"

namespace {

namespace asio = boost::asio;
namespace out = herald::outbound;
constexpr int in_flight = 64;

struct figures {
  double per_second = 0;
  std::uint64_t errors = 0;
  std::uint64_t connections = 0;
};

figures run_client(const std::string& url, double seconds) {
  asio::io_context io{1};
  out::http_client_config cfg;
  cfg.max_concurrent_requests = in_flight;
  out::http_client client(io.get_executor(), cfg);
  std::uint64_t done = 0, errors = 0;
  auto start = std::chrono::steady_clock::now();
  auto until = start
               + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(seconds));
  auto worker = [&]() -> asio::awaitable<void> {
    out::http_request req;
    req.url = url;
    while (std::chrono::steady_clock::now() < until) {
      auto res = co_await client.request(req);
      if (res.ok() && res.status == 200)
        ++done;
      else
        ++errors;
    }
  };
  for (int i = 0; i < in_flight; ++i) asio::co_spawn(io, worker(), asio::detached);
  io.run();
  double took = herald::bench::seconds_since(start);
  return {static_cast<double>(done) / took, errors, client.stats().connections_opened};
}

// wrk's Requests/sec, or a negative number when it could not run.
double run_wrk(const std::string& url, double seconds) {
  std::string cmd = "wrk -t 2 -c " + std::to_string(in_flight) + " -d "
                    + std::to_string(static_cast<int>(seconds)) + "s " + url + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string output;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  int rc = ::pclose(p);
  std::smatch m;
  std::regex rps(R"(Requests/sec:\s+([0-9.]+))");
  if (rc != 0 || !std::regex_search(output, m, rps)) {
    std::cerr << "wrk did not run (" << cmd << "):\n" << output;
    return -1;
  }
  return std::stod(m[1]);
}

}  // namespace

int main() {
  double seconds = 5;
  if (const char* s = std::getenv("HERALD_BENCH_SECONDS")) seconds = std::max(1.0, std::atof(s));
  herald::test::fake_http_server server(
      [](const herald::test::received_request&) {
        herald::test::canned_response c;
        c.headers = {{"Content-Type", "application/json"}};
        c.body = R"({"ok":true})";
        return c;
      },
      1, false);
  std::string url = server.url("/bench");

  auto herald_run = run_client(url, seconds);
  double wrk = run_wrk(url, seconds);

  std::printf(
      "http_client_bench: GET, %d in flight, Beast server on 127.0.0.1 (1 thread), %.0f s each\n",
      in_flight, seconds);
  std::printf("  herald http_client: %10.0f req/s  (connections opened %llu, errors %llu)\n",
              herald_run.per_second, static_cast<unsigned long long>(herald_run.connections),
              static_cast<unsigned long long>(herald_run.errors));
  if (wrk > 0) {
    std::printf("  wrk -c %d:          %10.0f req/s\n", in_flight, wrk);
    std::printf("  ratio herald/wrk:   %10.2f  (goal: at least 0.5)\n",
                herald_run.per_second / wrk);
  } else {
    std::printf("  wrk: not run (deploy/install-deps.sh installs it)\n");
  }
  return herald_run.errors == 0 ? 0 : 1;
}
