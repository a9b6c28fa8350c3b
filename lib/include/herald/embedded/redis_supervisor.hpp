// heraldd's own redis-server for the embedded mode (redis_url = embedded): started under the state
// directory with a unix socket and an AOF, restarted after a crash with a capped backoff, and
// stopped with the daemon.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace herald::embedded {

struct supervisor_config {
  // The redis-server binary: a path, or a name looked up in $PATH, then /usr/bin and /usr/sbin.
  std::string redis_server = "redis-server";
  // heraldd's state directory; Redis keeps its socket, AOF, pid file and log in its "redis"
  // subdirectory (created with mode 0700).
  std::filesystem::path state_dir = "/var/lib/herald";
  // How long a start may take until PING answers PONG (loading a large AOF takes a while).
  std::chrono::milliseconds start_timeout{10000};
  // How long stop() waits after SIGTERM before SIGKILL; also how long start() waits for a
  // redis-server left behind by a crashed heraldd before signalling it.
  std::chrono::milliseconds stop_timeout{5000};
  // Delay before restarting after a crash; doubles with each crash in a row up to the maximum.
  std::chrono::milliseconds restart_backoff_min{100};
  std::chrono::milliseconds restart_backoff_max{30000};
  // A redis-server that ran at least this long before dying restarts after the minimum delay.
  std::chrono::milliseconds stable_after{60000};
  // Further redis-server arguments, after Herald's own, e.g. {"--maxmemory", "2gb"}.
  std::vector<std::string> extra_args;
};

enum class errc {
  not_found = 1,       // the redis-server binary is not there or not executable
  state_dir_unusable,  // the directory cannot be created or written, or its path is too long
  state_dir_in_use,    // another supervisor (another heraldd) uses the same state directory
  spawn_failed,        // fork, exec or pidfd_open failed
  exited_at_start,     // redis-server exited before answering PING
  start_timeout,       // redis-server did not answer PING within start_timeout
  stopped,             // stop() was called while starting
};

const boost::system::error_category& category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// What start() throws. what() says what failed and what to do, and ends with the last lines
// redis-server wrote to its log when it got that far.
class supervisor_error : public std::runtime_error {
 public:
  supervisor_error(errc e, const std::string& what)
      : std::runtime_error(what), code_(make_error_code(e)) {}
  boost::system::error_code code() const noexcept { return code_; }

 private:
  boost::system::error_code code_;
};

// The delay before each restart. Plain arithmetic, no clock: the caller says how long the child
// that just died had run.
class restart_backoff {
 public:
  restart_backoff(std::chrono::milliseconds min, std::chrono::milliseconds max,
                  std::chrono::milliseconds stable_after);

  std::chrono::milliseconds next(std::chrono::milliseconds uptime);

 private:
  std::chrono::milliseconds min_, max_, stable_after_, current_;
};

// Where `name` is: itself when it contains a '/', else the first executable `name` in the
// directories of `path_env` (a $PATH value), then /usr/bin and /usr/sbin.
std::optional<std::filesystem::path> find_executable(std::string_view name,
                                                     std::string_view path_env);

// Runs one redis-server child. All work happens on a strand of the executor given, so start()
// and stop() may be awaited from any coroutine. The child gets PR_SET_PDEATHSIG (SIGTERM), which
// fires when the *thread* that forked it ends: run the supervisor on an executor whose threads
// live until stop() has returned.
class redis_supervisor {
 public:
  redis_supervisor(boost::asio::any_io_executor executor, supervisor_config config);
  // Call stop() first. Otherwise a child still running gets SIGKILL, if the executor still runs.
  ~redis_supervisor();
  redis_supervisor(const redis_supervisor&) = delete;
  redis_supervisor& operator=(const redis_supervisor&) = delete;

  // Spawns redis-server and returns once PING answers PONG over its socket; from then on it is
  // restarted whenever it dies, until stop(). A redis-server left running on the same directory
  // by a crashed heraldd is waited for, then terminated, first. Throws supervisor_error.
  boost::asio::awaitable<void> start();

  // SIGTERM, up to stop_timeout for it to exit (Redis flushes its AOF), then SIGKILL; reaped.
  // No restart after this. Does nothing when not started.
  boost::asio::awaitable<void> stop();

  // "unix://<state_dir>/redis/redis.sock": what the Redis client connects to.
  std::string url() const;
  std::filesystem::path socket_path() const;
  // <state_dir>/redis: the socket, appendonlydir/, redis.pid and redis.log.
  std::filesystem::path directory() const;

  // The running child's pid; -1 while there is none (before start, between a crash and its
  // restart, after stop).
  pid_t pid() const;
  // How many times redis-server was started again after dying unexpectedly.
  std::uint64_t restarts() const;

 private:
  class state;
  std::shared_ptr<state> state_;
};

}  // namespace herald::embedded

template <>
struct boost::system::is_error_code_enum<herald::embedded::errc> : std::true_type {};
