// Large jobs against the built heraldd and a real redis-server (issue 10, defect 3): jobs far
// over max_job_bytes added with plain XADDs are dead-lettered at once without being read, the
// enqueue paths refuse them, and heraldd stays alive, small, and serving.
#include <gtest/gtest.h>

#include <fstream>

#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/redis_server.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

const std::string jobs = "herald:{default}:jobs";
const std::string dead = "herald:{default}:dead";

// heraldd's peak resident memory, in KiB (VmHWM).
long peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  return -1;
}

TEST(LargeJobs, FifteenTwentyMegabyteJobsAreDeadLetteredUnreadAndHeralddKeepsServing) {
  // Reproduced before the fix: the ~300 MB read got the connection dropped by the client's own
  // watchdog, every claim met the same, and 3.5 minutes later all 15 were dead-lettered as
  // "delivered 6 times without finishing", never having run; RSS peaked at 809 MB.
  redis_server redis;
  heraldd_process heraldd({.redis_url = redis.url()});
  // 15 XADDs in one step, made inside Redis so that the test need not send 300 MB (Redis takes
  // seconds over them on a busy machine).
  redis.command({"EVAL",
                 "local body = string.rep(' ', 20 * 1024 * 1024) "
                 "for i = 1, 15 do redis.call('XADD', KEYS[1], '*', 'v', '1', 'type', 'noop', "
                 "'task_id', 'huge-' .. i, 'account', 'acme', 'body', body) end return 15",
                 "1", jobs},
                120s);
  // Redis is busy for moments with such entries: a poll it does not answer in time is retried.
  auto count = [&](const std::vector<std::string>& cmd) {
    try {
      return redis.integer(cmd);
    } catch (const std::exception&) {
      return -1LL;
    }
  };
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return count({"XLEN", dead}) == 15; }, 60s)) << heraldd.log();
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 30s);
  for (int i = 1; i <= 15; ++i) {
    auto key = "herald:{default}:task:huge-" + std::to_string(i);
    EXPECT_EQ(redis.command({"HGET", key, "status"}), "failed");
    EXPECT_NE(redis.command({"HGET", key, "error_text"})
                  .find("20971520 bytes, over max_job_bytes (10485760)"),
              std::string::npos);
  }
  EXPECT_EQ(redis.integer({"XLEN", jobs}), 0);
  auto letters = redis.command({"XRANGE", dead, "-", "+"});
  EXPECT_LT(letters.size(), 15u * 1000) << "no letter keeps such a body";
  auto rss = peak_rss_kib(heraldd.process().pid());
  std::cout << "15 x 20 MB jobs dead-lettered in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms; heraldd's peak RSS " << rss / 1024 << " MiB\n";
  // Each blocking reader (one a thread) may bring one entry in full: the one it waited for.
  EXPECT_LT(rss, 256 * 1024) << "heraldd read the bodies";

  // Still serving.
  redis.command({"XADD", jobs, "*", "v", "1", "type", "noop", "task_id", "after", "account", "acme",
                 "body", R"({"items": 5})"});
  EXPECT_TRUE(wait_until(
      [&] {
        return redis.command({"HGET", "herald:{default}:task:after", "status"}) == "completed";
      },
      10s))
      << heraldd.log();
  EXPECT_EQ(heraldd.get("/healthz").status, 200);

  // The enqueue paths refuse such a job: `herald enqueue` of a 20 MB file, before any write.
  temp_dir dir("large-jobs");
  auto path = dir / "big.job.json";
  {
    std::ofstream out(path);
    out << R"({"type": "noop", "account": "acme", "body": {"items": 1, "pad": ")"
        << std::string(20 * 1024 * 1024, 'x') << "\"}}";
  }
  herald_cli cli(dir, {"HERALD_REDIS_URL=" + redis.url(), "HERALD_CONFIG=/dev/null"});
  auto r = cli.run({"enqueue", path.string()});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "max_job_bytes")) << r.err;
  EXPECT_EQ(redis.integer({"XLEN", jobs}), 0);
}

}  // namespace
}  // namespace herald::test
