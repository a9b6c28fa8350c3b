// The embedded Redis supervisor against the real redis-server: start, crash and restart, stop,
// leftovers of a crashed heraldd, and the errors an operator sees.
#include "herald/embedded/redis_supervisor.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using herald::embedded::errc;
using herald::embedded::redis_supervisor;
using herald::embedded::supervisor_config;
using herald::embedded::supervisor_error;
using herald::test::child_pids;
using herald::test::process_exists;
using herald::test::wait_until;

// One command over a fresh blocking connection to a unix socket; nothing when it cannot connect.
std::optional<std::string> command(const std::filesystem::path& socket,
                                   const std::vector<std::string>& args) {
  timeval timeout{2, 0};
  redisContext* c = redisConnectUnixWithTimeout(socket.c_str(), timeout);
  if (!c || c->err) {
    if (c) redisFree(c);
    return std::nullopt;
  }
  redisSetTimeout(c, timeout);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::optional<std::string> out;
  if (reply) {
    switch (reply->type) {
      case REDIS_REPLY_STRING:
      case REDIS_REPLY_STATUS:
        out = std::string(reply->str, reply->len);
        break;
      case REDIS_REPLY_ERROR:
        out = "ERR: " + std::string(reply->str, reply->len);
        break;
      case REDIS_REPLY_INTEGER:
        out = std::to_string(reply->integer);
        break;
      case REDIS_REPLY_NIL:
        out = "(nil)";
        break;
      case REDIS_REPLY_ARRAY: {
        std::string joined;
        for (size_t i = 0; i < reply->elements; ++i) {
          if (i) joined += '\n';
          if (reply->element[i]->str) joined.append(reply->element[i]->str, reply->element[i]->len);
        }
        out = joined;
        break;
      }
      default:
        out = "(unexpected reply)";
    }
    freeReplyObject(reply);
  }
  redisFree(c);
  return out;
}

bool answers_ping(const std::filesystem::path& socket) {
  return command(socket, {"PING"}) == std::optional<std::string>("PONG");
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An event loop on its own thread, as in heraldd, and the supervisors a test makes on it; every
// supervisor is stopped before the loop ends, so no redis-server outlives a test.
class embedded_redis : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    for (auto& s : supervisors_) {
      try {
        run(s->stop());
      } catch (const std::exception& e) {
        ADD_FAILURE() << "stop: " << e.what();
      }
    }
    supervisors_.clear();
    work_.reset();
    loop_.join();
    EXPECT_TRUE(child_pids(::getpid(), "redis-server").empty());
  }

  supervisor_config config() const {
    supervisor_config c;
    c.redis_server = HERALD_REDIS_SERVER;
    c.state_dir = dir_.path();
    c.restart_backoff_min = 50ms;
    return c;
  }

  redis_supervisor& make(supervisor_config c) {
    supervisors_.push_back(std::make_unique<redis_supervisor>(io_.get_executor(), std::move(c)));
    return *supervisors_.back();
  }

  // Awaits `work` on the loop's thread, from the test's thread.
  void run(asio::awaitable<void> work) {
    auto done = asio::co_spawn(io_, std::move(work), asio::use_future);
    if (done.wait_for(60s) != std::future_status::ready) {
      throw std::runtime_error("the coroutine did not finish within 60s");
    }
    done.get();
  }

  // The error start() throws; fails the test when it does not throw.
  supervisor_error start_error(redis_supervisor& s) {
    try {
      run(s.start());
    } catch (const supervisor_error& e) {
      return e;
    }
    ADD_FAILURE() << "start() did not throw";
    return supervisor_error(errc::not_found, "");
  }

  herald::test::temp_dir dir_{"herald-embedded"};
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread loop_;
  std::vector<std::unique_ptr<redis_supervisor>> supervisors_;
};

TEST_F(embedded_redis, starts_answers_and_stops) {
  auto& redis = make(config());
  EXPECT_EQ(redis.pid(), -1);
  run(redis.start());

  const auto pid = redis.pid();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(child_pids(::getpid(), "redis-server"), std::vector<pid_t>{pid});
  EXPECT_EQ(redis.directory(), dir_.path() / "redis");
  EXPECT_EQ(redis.socket_path(), dir_.path() / "redis" / "redis.sock");
  EXPECT_EQ(redis.url(), "unix://" + (dir_.path() / "redis" / "redis.sock").string());
  EXPECT_TRUE(answers_ping(redis.socket_path()));

  // The configuration Herald relies on.
  EXPECT_EQ(command(redis.socket_path(), {"CONFIG", "GET", "appendonly"}), "appendonly\nyes");
  EXPECT_EQ(command(redis.socket_path(), {"CONFIG", "GET", "appendfsync"}),
            "appendfsync\neverysec");
  EXPECT_EQ(command(redis.socket_path(), {"CONFIG", "GET", "save"}), "save\n");
  EXPECT_EQ(command(redis.socket_path(), {"CONFIG", "GET", "port"}), "port\n0");
  struct stat st {};
  ASSERT_EQ(::stat(redis.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(redis.directory().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(std::stoi(read_text(redis.directory() / "redis.pid")), pid);
  EXPECT_TRUE(std::filesystem::exists(redis.directory() / "redis.log"));

  run(redis.stop());
  EXPECT_EQ(redis.pid(), -1);
  EXPECT_TRUE(child_pids(::getpid(), "redis-server").empty());
  EXPECT_FALSE(process_exists(pid));
  EXPECT_EQ(redis.restarts(), 0u);
  run(redis.stop());  // a second stop does nothing
}

TEST_F(embedded_redis, restarts_after_a_crash_and_keeps_the_data) {
  auto& redis = make(config());
  run(redis.start());
  const auto first = redis.pid();
  // Redis writes the AOF before it replies, so the reply means the write survives a SIGKILL.
  ASSERT_EQ(command(redis.socket_path(), {"SET", "herald:test", "kept"}), "OK");

  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(wait_until(
      [&] {
        const auto now = redis.pid();
        return redis.restarts() == 1 && now > 0 && now != first
               && answers_ping(redis.socket_path());
      },
      20s))
      << "restarts " << redis.restarts() << ", pid " << redis.pid();
  EXPECT_FALSE(process_exists(first));
  EXPECT_EQ(child_pids(::getpid(), "redis-server"), std::vector<pid_t>{redis.pid()});
  EXPECT_EQ(command(redis.socket_path(), {"GET", "herald:test"}), "kept");

  const auto second = redis.pid();
  run(redis.stop());
  EXPECT_FALSE(process_exists(second));
  EXPECT_TRUE(child_pids(::getpid(), "redis-server").empty());
  EXPECT_EQ(redis.restarts(), 1u);
}

TEST_F(embedded_redis, stop_cancels_a_pending_restart) {
  auto c = config();
  c.restart_backoff_min = 30s;
  auto& redis = make(c);
  run(redis.start());
  ASSERT_EQ(::kill(redis.pid(), SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return redis.pid() == -1; }, 10s));
  const auto before = std::chrono::steady_clock::now();
  run(redis.stop());
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s) << "stop() waited out the backoff";
  EXPECT_EQ(redis.restarts(), 0u);
  EXPECT_TRUE(child_pids(::getpid(), "redis-server").empty());
}

TEST_F(embedded_redis, a_missing_binary_is_a_clear_error) {
  auto c = config();
  c.redis_server = "/nonexistent/redis-server";
  auto& by_path = make(c);
  auto e = start_error(by_path);
  EXPECT_EQ(e.code(), herald::embedded::make_error_code(errc::not_found));
  EXPECT_EQ(std::string(e.what()),
            "embedded Redis: cannot execute /nonexistent/redis-server: No such file or directory; "
            "set redis_server to redis-server's path");

  c.redis_server = "herald-no-such-redis-server";
  auto& by_name = make(c);
  e = start_error(by_name);
  EXPECT_EQ(e.code(), herald::embedded::make_error_code(errc::not_found));
  EXPECT_EQ(std::string(e.what()),
            "embedded Redis: redis-server \"herald-no-such-redis-server\" was not found in $PATH, "
            "/usr/bin or /usr/sbin; install redis-server, or set redis_server to its path");
  EXPECT_EQ(by_name.pid(), -1);
}

TEST_F(embedded_redis, a_failed_start_quotes_the_redis_log) {
  auto c = config();
  c.extra_args = {"--maxmemory", "plenty"};
  auto& redis = make(c);
  const auto e = start_error(redis);
  EXPECT_EQ(e.code(), herald::embedded::make_error_code(errc::exited_at_start));
  const std::string what = e.what();
  EXPECT_TRUE(
      what.starts_with("embedded Redis: redis-server exited with status 1 while starting; "
                       "its log "
                       + (dir_.path() / "redis" / "redis.log").string() + " ends with:"))
      << what;
  EXPECT_NE(what.find("FATAL CONFIG FILE ERROR"), std::string::npos) << what;
  EXPECT_NE(what.find("plenty"), std::string::npos) << what;
  EXPECT_EQ(redis.pid(), -1);
  EXPECT_TRUE(child_pids(::getpid(), "redis-server").empty());

  // The lock was released: a corrected configuration starts on the same directory.
  auto& fixed = make(config());
  run(fixed.start());
  EXPECT_TRUE(answers_ping(fixed.socket_path()));
}

TEST_F(embedded_redis, a_binary_that_does_not_answer_times_out) {
  auto c = config();
  c.start_timeout = 300ms;
  // Runs, ignores Herald's arguments and never answers PING.
  const auto script = dir_.path() / "silent-redis";
  std::ofstream(script) << "#!/bin/sh\nexec sleep 60\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  c.redis_server = script.string();
  auto& redis = make(c);
  const auto e = start_error(redis);
  EXPECT_EQ(e.code(), herald::embedded::make_error_code(errc::start_timeout));
  EXPECT_TRUE(
      std::string(e.what()).starts_with("embedded Redis: redis-server did not answer PING on "
                                        + redis.socket_path().string() + " within 300ms"))
      << e.what();
  EXPECT_TRUE(child_pids(::getpid(), "silent-redis").empty());
  EXPECT_TRUE(child_pids(::getpid(), "sleep").empty());
}

TEST_F(embedded_redis, one_state_dir_one_supervisor) {
  auto& first = make(config());
  run(first.start());
  auto& second = make(config());
  const auto e = start_error(second);
  EXPECT_EQ(e.code(), herald::embedded::make_error_code(errc::state_dir_in_use));
  EXPECT_NE(std::string(e.what()).find("give each instance its own state_dir"), std::string::npos);
  EXPECT_TRUE(answers_ping(first.socket_path()));
  EXPECT_EQ(child_pids(::getpid(), "redis-server").size(), 1u);

  run(first.stop());
  run(second.start());
  EXPECT_TRUE(answers_ping(second.socket_path()));
}

// A redis-server still running on the directory (its heraldd died) is made to exit before the
// new one starts on the same AOF, and what it wrote is still there.
TEST_F(embedded_redis, a_leftover_redis_server_is_terminated_first) {
  const auto redis_dir = dir_.path() / "redis";
  std::filesystem::create_directories(redis_dir);
  const auto socket = redis_dir / "redis.sock";
  herald::test::child_process leftover(
      {HERALD_REDIS_SERVER, "--port", "0", "--unixsocket", socket.string(), "--dir",
       redis_dir.string(), "--appendonly", "yes", "--save", "", "--pidfile",
       (redis_dir / "redis.pid").string()},
      {}, dir_.path() / "leftover.log");
  ASSERT_TRUE(wait_until([&] { return answers_ping(socket); }, 10s)) << leftover.log();
  ASSERT_EQ(command(socket, {"SET", "herald:left", "over"}), "OK");

  auto c = config();
  c.stop_timeout = 200ms;  // how long to wait for it to go on its own before SIGTERM
  auto& redis = make(c);
  run(redis.start());
  EXPECT_TRUE(leftover.wait_for(5s).has_value()) << "the leftover redis-server still runs";
  EXPECT_NE(redis.pid(), leftover.pid());
  EXPECT_EQ(child_pids(::getpid(), "redis-server"), std::vector<pid_t>{redis.pid()});
  EXPECT_EQ(command(redis.socket_path(), {"GET", "herald:left"}), "over");
}

// heraldd killed with SIGKILL does not leave its redis-server behind (PR_SET_PDEATHSIG).
TEST(embedded_redis_orphan, dies_with_a_killed_parent) {
  herald::test::temp_dir dir{"herald-orphan"};
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  // A stand-in heraldd, forked while this process has a single thread.
  const pid_t daemon = ::fork();
  ASSERT_GE(daemon, 0);
  if (daemon == 0) {
    ::close(report[0]);
    int code = 0;
    try {
      asio::io_context io;
      supervisor_config c;
      c.redis_server = HERALD_REDIS_SERVER;
      c.state_dir = dir.path();
      redis_supervisor redis(io.get_executor(), c);
      auto started = asio::co_spawn(io, redis.start(), asio::use_future);
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      while (started.wait_for(0s) != std::future_status::ready
             && std::chrono::steady_clock::now() < deadline) {
        io.run_one_for(100ms);
      }
      started.get();
      const pid_t pid = redis.pid();
      if (::write(report[1], &pid, sizeof pid) != sizeof pid) code = 2;
      io.restart();
      io.run_for(60s);  // supervising, until killed
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  ::close(report[1]);
  pid_t redis_pid = -1;
  const auto n = ::read(report[0], &redis_pid, sizeof redis_pid);
  ::close(report[0]);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof redis_pid))
      << "the stand-in heraldd did not start Redis";
  ASSERT_TRUE(process_exists(redis_pid));

  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(daemon, &status, 0), daemon);
  EXPECT_TRUE(wait_until([&] { return !process_exists(redis_pid); }, 15s))
      << "redis-server " << redis_pid << " outlived its killed parent";
  if (process_exists(redis_pid)) ::kill(redis_pid, SIGKILL);
}

TEST(embedded_restart_backoff, doubles_up_to_the_cap_and_resets_after_a_stable_run) {
  herald::embedded::restart_backoff backoff(100ms, 1000ms, 60s);
  EXPECT_EQ(backoff.next(0ms), 100ms);
  EXPECT_EQ(backoff.next(5ms), 200ms);
  EXPECT_EQ(backoff.next(5ms), 400ms);
  EXPECT_EQ(backoff.next(5ms), 800ms);
  EXPECT_EQ(backoff.next(5ms), 1000ms);
  EXPECT_EQ(backoff.next(59s), 1000ms);
  EXPECT_EQ(backoff.next(60s), 100ms);
  EXPECT_EQ(backoff.next(1s), 200ms);
}

TEST(embedded_find_executable, path_then_usr_bin) {
  herald::test::temp_dir dir;
  const auto tool = dir / "herald-fake-tool";
  std::ofstream(tool) << "#!/bin/sh\n";
  std::filesystem::permissions(tool, std::filesystem::perms::owner_all);
  const auto plain = dir / "herald-plain-file";
  std::ofstream(plain) << "data\n";
  std::filesystem::create_directory(dir / "herald-a-directory");

  using herald::embedded::find_executable;
  const auto path_env = "/nonexistent:" + dir.path().string();
  EXPECT_EQ(find_executable("herald-fake-tool", path_env), tool);
  EXPECT_EQ(find_executable("herald-plain-file", path_env), std::nullopt);
  EXPECT_EQ(find_executable("herald-a-directory", path_env), std::nullopt);
  EXPECT_EQ(find_executable("herald-fake-tool", "/nonexistent"), std::nullopt);
  EXPECT_EQ(find_executable("/any/path/redis-server", path_env),
            std::filesystem::path("/any/path/redis-server"));
  EXPECT_EQ(find_executable("", path_env), std::nullopt);
  // /usr/bin comes after $PATH, for the Debian package's binary.
  if (std::filesystem::exists("/usr/bin/redis-server")) {
    EXPECT_EQ(find_executable("redis-server", ""), std::filesystem::path("/usr/bin/redis-server"));
  }
}

}  // namespace
