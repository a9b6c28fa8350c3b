// What the benchmarks share: timing, Redis's own counters, heraldd's RSS, and waiting for the
// workers to finish a set of tasks.
#pragma once

#include <boost/asio/io_context.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "herald/redis/client.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::bench {

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The sum of calls= over INFO commandstats: every command Redis ran, scripts' inner ones too.
inline long long commands(const test::redis_server& redis) {
  std::string info = redis.command({"INFO", "commandstats"});
  std::regex calls(R"(calls=([0-9]+))");
  long long total = 0;
  for (auto it = std::sregex_iterator(info.begin(), info.end(), calls);
       it != std::sregex_iterator(); ++it)
    total += std::stoll((*it)[1]);
  return total;
}

// A field of INFO (e.g. "used_memory"), as a number.
inline long long info_field(const test::redis_server& redis, const std::string& section,
                            const std::string& field) {
  std::string info = redis.command({"INFO", section});
  auto at = info.find(field + ":");
  if (at == std::string::npos) throw std::runtime_error("INFO " + section + ": no " + field);
  return std::stoll(info.substr(at + field.size() + 1));
}

inline long peak_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  return -1;
}

// CPU time (user + system) process `pid` has used so far, in seconds.
inline double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  std::istringstream in(text.substr(text.rfind(')') + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A client of `redis` on `io`, connected (it answered PING).
inline std::unique_ptr<redis::client> connected_client(boost::asio::io_context& io,
                                                       const test::redis_server& redis) {
  redis::client_config cfg;
  cfg.url = redis.url();
  auto client = std::make_unique<redis::client>(io.get_executor(), cfg);
  client->start();
  test::run_awaitable(io, client->exec("PING"));
  return client;
}

// Whether the workers are done: nothing waits in the stream for the group, nothing is pending.
inline bool drained(const test::redis_server& redis) {
  auto groups = redis.command({"XINFO", "GROUPS", "herald:{default}:jobs"});
  auto value = [&](const std::string& name) {
    auto at = groups.find(name + "\n");
    if (at == std::string::npos) return std::string("?");
    auto start = at + name.size() + 1;
    return groups.substr(start, groups.find('\n', start) - start);
  };
  return value("pending") == "0" && value("lag") == "0";
}

inline void wait_drained(const test::redis_server& redis) {
  using namespace std::chrono_literals;
  while (!drained(redis)) std::this_thread::sleep_for(20ms);
}

// Waits until the workers are done, then returns the span from the first start to the last
// finish of the listed tasks, read from the tasks themselves (all must have completed).
inline double span_of(const test::redis_server& redis, const std::vector<std::string>& ids) {
  wait_drained(redis);
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

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

}  // namespace herald::bench
