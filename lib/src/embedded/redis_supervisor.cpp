#include "herald/embedded/redis_supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <system_error>
#include <variant>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

extern char** environ;

namespace herald::embedded {

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace asio::experimental::awaitable_operators;
using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uintmax_t max_log_size = 1 << 20;  // redis.log is rotated past this at each start

class supervisor_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "herald.embedded"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::not_found:
        return "the redis-server binary was not found";
      case errc::state_dir_unusable:
        return "the state directory cannot be used";
      case errc::state_dir_in_use:
        return "another heraldd uses the same state directory";
      case errc::spawn_failed:
        return "redis-server could not be started";
      case errc::exited_at_start:
        return "redis-server exited while starting";
      case errc::start_timeout:
        return "redis-server did not answer in time";
      case errc::stopped:
        return "the embedded Redis was stopped while starting";
    }
    return "unknown embedded Redis error";
  }
};

std::string errno_text(int err) {
  return std::strerror(err);
}

// glibc 2.36's <sys/pidfd.h> declares pidfd_open without extern "C": C++ code cannot link to it.
int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U));
}

// "exited with status 1", "was killed by signal 9 (KILL)".
std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig)
           + (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string());
  }
  return "ended with wait status " + std::to_string(status);
}

std::string read_small_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last `max_lines` lines of `path` from byte `offset` on: what redis-server said this time.
std::string log_tail(const fs::path& path, std::uintmax_t offset, std::size_t max_lines = 15) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    lines.push_back(std::move(line));
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

// The command name of a live process, or nothing when it is gone (or a zombie).
std::optional<std::string> process_comm(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return std::nullopt;
  const auto open = line.find('('), close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= line.size()) {
    return std::nullopt;
  }
  if (line[close + 2] == 'Z' || line[close + 2] == 'X') return std::nullopt;
  return line.substr(open + 1, close - open - 1);
}

bool is_executable_file(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Environment variables that belong to heraldd's own relation with systemd or its terminal.
bool inherited_by_child(std::string_view entry) {
  for (std::string_view name : {"NOTIFY_SOCKET=", "WATCHDOG_PID=", "WATCHDOG_USEC=", "LISTEN_FDS=",
                                "LISTEN_PID=", "LISTEN_FDNAMES=", "JOURNAL_STREAM="}) {
    if (entry.starts_with(name)) return false;
  }
  return true;
}

}  // namespace

const boost::system::error_category& category() noexcept {
  static const supervisor_category instance;
  return instance;
}

// ---------------------------------------------------------------------------------------------

restart_backoff::restart_backoff(milliseconds min, milliseconds max, milliseconds stable_after)
    : min_(std::max(min, milliseconds(1))),
      max_(std::max(max, min_)),
      stable_after_(stable_after),
      current_(min_) {}

milliseconds restart_backoff::next(milliseconds uptime) {
  if (uptime >= stable_after_) current_ = min_;
  const auto delay = current_;
  current_ = std::min(current_ * 2, max_);
  return delay;
}

std::optional<fs::path> find_executable(std::string_view name, std::string_view path_env) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string_view::npos) return fs::path(name);
  std::vector<std::string_view> dirs;
  while (!path_env.empty()) {
    const auto colon = path_env.find(':');
    auto dir = path_env.substr(0, colon);
    if (!dir.empty()) dirs.push_back(dir);
    if (colon == std::string_view::npos) break;
    path_env.remove_prefix(colon + 1);
  }
  dirs.push_back("/usr/bin");
  dirs.push_back("/usr/sbin");
  for (auto dir : dirs) {
    auto candidate = fs::path(dir) / name;
    if (is_executable_file(candidate)) return candidate;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------

class redis_supervisor::state : public std::enable_shared_from_this<state> {
 public:
  state(asio::any_io_executor executor, supervisor_config config)
      : strand_(asio::make_strand(std::move(executor))),
        config_(std::move(config)),
        dir_((fs::absolute(config_.state_dir) / "redis").lexically_normal()),
        socket_(dir_ / "redis.sock"),
        pid_file_(dir_ / "redis.pid"),
        log_file_(dir_ / "redis.log"),
        backoff_timer_(strand_),
        idle_(strand_),
        backoff_(config_.restart_backoff_min, config_.restart_backoff_max, config_.stable_after) {
    idle_.expires_at(clock_type::time_point::max());
  }

  ~state() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  asio::strand<asio::any_io_executor>& strand() { return strand_; }
  const fs::path& dir() const { return dir_; }
  const fs::path& socket() const { return socket_; }
  pid_t pid() const { return pid_.load(); }
  std::uint64_t restarts() const { return restarts_.load(); }

  asio::awaitable<void> start() {
    auto self = shared_from_this();
    if (active_ || started_) {
      throw supervisor_error(errc::state_dir_in_use, "embedded Redis: start() called twice");
    }
    active_ = true;
    stopping_ = false;
    try {
      prepare();
      co_await clear_leftover();
      if (stopping_)
        throw supervisor_error(errc::stopped, "embedded Redis: stopped while starting");
      spawn();
      auto outcome = co_await wait_ready(clock_type::now() + config_.start_timeout);
      if (outcome == ready_outcome::ready && stopping_) {
        ::kill(child_->pid, SIGTERM);  // stop() came while it started; it found no child yet
        co_await wait_exit();
        outcome = ready_outcome::exited;
      }
      if (outcome != ready_outcome::ready) co_await fail_start(outcome);
    } catch (...) {
      release_lock();
      set_idle();
      throw;
    }
    started_ = true;
    spdlog::info("embedded Redis: redis-server (pid {}) answers on {}", pid(), socket_.string());
    asio::co_spawn(strand_, supervise(), asio::detached);
  }

  asio::awaitable<void> stop() {
    auto self = shared_from_this();
    stopping_ = true;
    backoff_timer_.cancel();
    if (!active_) co_return;
    if (child_) ::kill(child_->pid, SIGTERM);
    asio::steady_timer deadline(strand_);
    deadline.expires_after(config_.stop_timeout);
    auto first = co_await (wait_idle() || deadline.async_wait(use_tuple));
    if (first.index() == 1 && active_) {
      if (child_) {
        spdlog::warn(
            "embedded Redis: redis-server (pid {}) did not exit within {}ms of SIGTERM; "
            "sending SIGKILL",
            child_->pid, config_.stop_timeout.count());
        ::kill(child_->pid, SIGKILL);
      }
      co_await wait_idle();
    }
    release_lock();
  }

  // What the destructor of redis_supervisor asks for: no restart, and no child left.
  void abandon() {
    stopping_ = true;
    backoff_timer_.cancel();
    if (child_) ::kill(child_->pid, SIGKILL);
  }

 private:
  struct child {
    pid_t pid;
    std::unique_ptr<asio::posix::stream_descriptor> pidfd;  // readable once it exits
    clock_type::time_point started;
  };

  enum class ready_outcome { ready, exited, timed_out };

  // The directory, the binary, the lock: everything that can be checked before spawning.
  void prepare() {
    const char* path_env = std::getenv("PATH");
    auto binary = find_executable(config_.redis_server, path_env ? path_env : "");
    if (!binary) {
      throw supervisor_error(errc::not_found,
                             "embedded Redis: redis-server \"" + config_.redis_server
                                 + "\" was not found in $PATH, /usr/bin or /usr/sbin; install "
                                   "redis-server, or set redis_server to its path");
    }
    if (!is_executable_file(*binary)) {
      const int err = ::access(binary->c_str(), X_OK) == 0 ? EISDIR : errno;
      throw supervisor_error(errc::not_found, "embedded Redis: cannot execute " + binary->string()
                                                  + ": " + errno_text(err)
                                                  + "; set redis_server to redis-server's path");
    }
    binary_ = *binary;

    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (!ec) fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) {
      throw supervisor_error(errc::state_dir_unusable, "embedded Redis: cannot create "
                                                           + dir_.string() + ": " + ec.message()
                                                           + "; check state_dir and its owner");
    }
    if (socket_.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
      throw supervisor_error(errc::state_dir_unusable,
                             "embedded Redis: the socket path " + socket_.string() + " is longer "
                                 + "than a unix socket allows ("
                                 + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1)
                                 + " bytes); choose a shorter state_dir");
    }

    const auto lock_path = dir_ / "supervisor.lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) {
      throw supervisor_error(
          errc::state_dir_unusable,
          "embedded Redis: cannot open " + lock_path.string() + ": " + errno_text(errno));
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      release_lock();
      if (err == EWOULDBLOCK) {
        throw supervisor_error(errc::state_dir_in_use,
                               "embedded Redis: another heraldd runs Redis in " + dir_.string()
                                   + " (it holds " + lock_path.string()
                                   + "); give each instance its own state_dir");
      }
      throw supervisor_error(
          errc::state_dir_unusable,
          "embedded Redis: cannot lock " + lock_path.string() + ": " + errno_text(err));
    }
  }

  void release_lock() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    lock_fd_ = -1;
  }

  void set_idle() {
    active_ = false;
    idle_.cancel();
  }

  asio::awaitable<void> wait_idle() {
    if (!active_) co_return;
    co_await idle_.async_wait(use_tuple);
  }

  // A redis-server named by redis.pid that still runs in our directory was left by a heraldd
  // that died (we hold the lock now). Two must never share the AOF: wait for it to go (the
  // parent-death signal usually has it shutting down already), then make it go.
  asio::awaitable<void> clear_leftover() {
    const auto text = read_small_file(pid_file_);
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(text));
    } catch (const std::exception&) {
      co_return;  // no pid file, or not a pid
    }
    if (pid <= 1 || pid == ::getpid()) co_return;
    const auto comm = process_comm(pid);
    if (!comm || *comm != "redis-server") co_return;
    std::error_code ec;
    const bool same_dir = fs::equivalent(fs::path("/proc") / std::to_string(pid) / "cwd", dir_, ec);
    if (!ec && !same_dir) co_return;  // another redis-server that got the pid; not ours

    const int fd = open_pidfd(pid);
    if (fd < 0) co_return;  // it is gone already
    asio::posix::stream_descriptor pidfd(strand_, fd);
    spdlog::warn(
        "embedded Redis: redis-server (pid {}) left by an earlier heraldd still runs in "
        "{}; waiting for it to exit",
        pid, dir_.string());
    for (int signal : {0, SIGTERM, SIGKILL}) {
      if (signal != 0) {
        spdlog::warn("embedded Redis: sending SIG{} to the leftover redis-server (pid {})",
                     sigabbrev_np(signal), pid);
        ::kill(pid, signal);
      }
      asio::steady_timer deadline(strand_);
      deadline.expires_after(config_.stop_timeout);
      auto first = co_await (pidfd.async_wait(asio::posix::descriptor_base::wait_read, use_tuple)
                             || deadline.async_wait(use_tuple));
      if (first.index() == 0) co_return;
    }
    throw supervisor_error(errc::state_dir_in_use,
                           "embedded Redis: the leftover redis-server (pid " + std::to_string(pid)
                               + ") in " + dir_.string() + " does not exit even after SIGKILL");
  }

  // fork+exec of redis-server. Everything the child needs is built before fork: the child only
  // makes async-signal-safe calls.
  void spawn() {
    std::error_code ec;
    if (fs::file_size(log_file_, ec) > max_log_size && !ec) {
      fs::rename(log_file_, log_file_.string() + ".1", ec);
    }
    fs::remove(socket_, ec);  // a socket file left by a killed redis-server would fool PING
    log_offset_ = fs::file_size(log_file_, ec);
    if (ec) log_offset_ = 0;

    std::vector<std::string> args = {binary_.string(),
                                     "--port",
                                     "0",
                                     "--unixsocket",
                                     socket_.string(),
                                     "--unixsocketperm",
                                     "700",
                                     "--dir",
                                     dir_.string(),
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     "everysec",
                                     "--save",
                                     "",
                                     "--maxmemory-policy",
                                     "noeviction",
                                     "--daemonize",
                                     "no",
                                     "--supervised",
                                     "no",
                                     "--pidfile",
                                     pid_file_.string(),
                                     "--logfile",
                                     ""};
    args.insert(args.end(), config_.extra_args.begin(), config_.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; e && *e; ++e) {
      if (inherited_by_child(*e)) envp.push_back(*e);
    }
    envp.push_back(nullptr);

    const int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
      throw supervisor_error(
          errc::state_dir_unusable,
          "embedded Redis: cannot open " + log_file_.string() + ": " + errno_text(errno));
    }
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int exec_pipe[2];
    if (null_fd < 0 || ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
      const int err = errno;
      ::close(log_fd);
      if (null_fd >= 0) ::close(null_fd);
      throw supervisor_error(errc::spawn_failed, "embedded Redis: " + errno_text(err));
    }
    const pid_t parent = ::getpid();
    const long max_fd = ::sysconf(_SC_OPEN_MAX);
    sigset_t no_signals;
    sigemptyset(&no_signals);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);

    const pid_t pid = ::fork();
    if (pid == 0) {
      // The child: async-signal-safe calls only.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(125);  // heraldd died already
      ::setpgid(0, 0);  // Ctrl-C in heraldd's terminal is for heraldd, which stops us in order
      for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) {
        ::sigaction(sig, &default_action, nullptr);
      }
      ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (long fd = 3; fd < max_fd; ++fd) {
          if (fd != exec_pipe[1]) ::close(static_cast<int>(fd));
        }
      }
      ::execve(argv[0], argv.data(), envp.data());
      const int err = errno;
      [[maybe_unused]] auto n = ::write(exec_pipe[1], &err, sizeof err);
      ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(exec_pipe[1]);
    ::close(log_fd);
    ::close(null_fd);
    if (pid < 0) {
      ::close(exec_pipe[0]);
      throw supervisor_error(errc::spawn_failed,
                             "embedded Redis: fork failed: " + errno_text(fork_errno));
    }
    // The pipe closes on a successful exec; otherwise the child sends exec's errno.
    int exec_errno = 0;
    ssize_t n;
    do {
      n = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    ::close(exec_pipe[0]);
    if (n == sizeof exec_errno) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      throw supervisor_error(
          errc::spawn_failed,
          "embedded Redis: cannot execute " + binary_.string() + ": " + errno_text(exec_errno));
    }
    const int fd = open_pidfd(pid);
    if (fd < 0) {
      const int err = errno;
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      throw supervisor_error(errc::spawn_failed,
                             "embedded Redis: pidfd_open failed: " + errno_text(err)
                                 + " (Linux 5.3 or later is needed)");
    }
    child_ = child{pid, std::make_unique<asio::posix::stream_descriptor>(strand_, fd),
                   clock_type::now()};
    pid_ = pid;
  }

  // Reaps the child, which has exited (its pidfd is readable); returns its wait status text.
  std::string reap() {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(child_->pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    pid_ = -1;
    child_.reset();
    last_signal_ = r >= 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return r < 0 ? "exited (its status was collected elsewhere)" : describe_status(status);
  }

  asio::awaitable<void> wait_exit() {
    co_await child_->pidfd->async_wait(asio::posix::descriptor_base::wait_read, use_tuple);
  }

  // One PING over the socket; true when PONG came back.
  asio::awaitable<bool> ping_once() {
    asio::local::stream_protocol::socket socket(strand_);
    auto [ec] = co_await socket.async_connect(socket_.string(), use_tuple);
    if (ec) co_return false;
    auto [wec, written] =
        co_await asio::async_write(socket, asio::buffer("PING\r\n", 6), use_tuple);
    if (wec) co_return false;
    std::string reply;
    auto [rec, read] = co_await asio::async_read_until(socket, asio::dynamic_buffer(reply, 1024),
                                                       "\r\n", use_tuple);
    co_return !rec && reply.starts_with("+PONG");
  }

  // Polls PING until PONG or `deadline`; true when it answered.
  asio::awaitable<bool> poll_ping(clock_type::time_point deadline) {
    asio::steady_timer timer(strand_);
    milliseconds pause(10);
    while (clock_type::now() < deadline) {
      timer.expires_after(std::chrono::seconds(1));
      auto attempt = co_await (ping_once() || timer.async_wait(use_tuple));
      if (attempt.index() == 0 && std::get<0>(attempt)) co_return true;
      timer.expires_after(pause);
      co_await timer.async_wait(use_tuple);
      pause = std::min(pause * 2, milliseconds(100));
    }
    co_return false;
  }

  asio::awaitable<ready_outcome> wait_ready(clock_type::time_point deadline) {
    auto first = co_await (poll_ping(deadline) || wait_exit());
    if (first.index() == 1) co_return ready_outcome::exited;
    co_return std::get<0>(first) ? ready_outcome::ready : ready_outcome::timed_out;
  }

  // start() did not get a PONG: clean up and throw with what redis-server said.
  asio::awaitable<void> fail_start(ready_outcome outcome) {
    if (outcome == ready_outcome::timed_out) {
      ::kill(child_->pid, SIGKILL);
      co_await wait_exit();
    }
    const auto status = reap();
    const auto tail = log_tail(log_file_, log_offset_);
    const auto said = tail.empty() ? std::string(" (its log " + log_file_.string() + " is empty)")
                                   : "; its log " + log_file_.string() + " ends with:" + tail;
    if (stopping_) {
      throw supervisor_error(errc::stopped, "embedded Redis: stopped while starting");
    }
    if (outcome == ready_outcome::timed_out) {
      throw supervisor_error(errc::start_timeout,
                             "embedded Redis: redis-server did not answer PING on "
                                 + socket_.string() + " within "
                                 + std::to_string(config_.start_timeout.count()) + "ms" + said);
    }
    throw supervisor_error(errc::exited_at_start,
                           "embedded Redis: redis-server " + status + " while starting" + said);
  }

  // After a successful start: wait for the child to die, restart it, forever until stop().
  asio::awaitable<void> supervise() {
    auto self = shared_from_this();
    try {
      co_await supervise_loop();
    } catch (const std::exception& e) {
      // Nothing should get here; if something does, say so and leave no child behind.
      spdlog::critical("embedded Redis: supervision failed: {}; redis-server is stopped", e.what());
      if (child_) {
        ::kill(child_->pid, SIGKILL);
        reap();
      }
    }
    started_ = false;
    set_idle();
  }

  asio::awaitable<void> supervise_loop() {
    while (child_) {
      co_await wait_exit();
      const auto uptime =
          std::chrono::duration_cast<milliseconds>(clock_type::now() - child_->started);
      const auto old_pid = child_->pid;
      const auto status = reap();
      if (stopping_) break;
      auto delay = backoff_.next(uptime);
      // Killed by SIGKILL (the OOM killer, an operator), it had nothing to say in its log.
      spdlog::warn("embedded Redis: redis-server (pid {}) {} after {}ms; restarting in {}ms{}",
                   old_pid, status, uptime.count(), delay.count(),
                   last_signal_ == SIGKILL ? "" : log_tail(log_file_, log_offset_, 5));
      co_await restart(delay);
    }
  }

  // Spawns again after `delay` until one answers PING, or stop() is called.
  asio::awaitable<void> restart(milliseconds delay) {
    for (;;) {
      backoff_timer_.expires_after(delay);
      co_await backoff_timer_.async_wait(use_tuple);
      if (stopping_) co_return;
      try {
        spawn();
      } catch (const std::exception& e) {
        delay = backoff_.next(milliseconds(0));
        const std::string what = e.what();
        spdlog::error("{}{}; trying again in {}ms",
                      what.starts_with("embedded Redis: ") ? "" : "embedded Redis: ", what,
                      delay.count());
        continue;
      }
      ++restarts_;
      const auto outcome = co_await wait_ready(clock_type::now() + config_.start_timeout);
      if (outcome == ready_outcome::ready) {
        spdlog::info("embedded Redis: redis-server restarted (pid {}, restart {})", pid(),
                     restarts());
        co_return;
      }
      if (outcome == ready_outcome::timed_out) {
        ::kill(child_->pid, SIGKILL);
        co_await wait_exit();
      }
      const auto status = reap();
      if (stopping_) co_return;
      delay = backoff_.next(milliseconds(0));
      spdlog::error(
          "embedded Redis: restarted redis-server {} before answering PING; trying "
          "again in {}ms{}",
          outcome == ready_outcome::timed_out ? "did not answer in time and " + status : status,
          delay.count(), log_tail(log_file_, log_offset_, 5));
    }
  }

  asio::strand<asio::any_io_executor> strand_;
  supervisor_config config_;
  fs::path dir_, socket_, pid_file_, log_file_, binary_;
  asio::steady_timer backoff_timer_;
  asio::steady_timer idle_;  // cancelled when nothing runs any more: what stop() waits for
  restart_backoff backoff_;
  std::optional<child> child_;
  std::uintmax_t log_offset_ = 0;  // where the current child's output starts in redis.log
  int last_signal_ = 0;            // the signal that ended the child reaped last, if any
  int lock_fd_ = -1;
  bool active_ = false;   // start() or supervise() is running
  bool started_ = false;  // start() succeeded and supervise() runs
  bool stopping_ = false;
  std::atomic<pid_t> pid_{-1};
  std::atomic<std::uint64_t> restarts_{0};
};

// ---------------------------------------------------------------------------------------------

redis_supervisor::redis_supervisor(asio::any_io_executor executor, supervisor_config config)
    : state_(std::make_shared<state>(std::move(executor), std::move(config))) {}

redis_supervisor::~redis_supervisor() {
  asio::post(state_->strand(), [s = state_] { s->abandon(); });
}

asio::awaitable<void> redis_supervisor::start() {
  co_await asio::co_spawn(state_->strand(), state_->start(), asio::use_awaitable);
}

asio::awaitable<void> redis_supervisor::stop() {
  co_await asio::co_spawn(state_->strand(), state_->stop(), asio::use_awaitable);
}

std::string redis_supervisor::url() const {
  return "unix://" + state_->socket().string();
}

fs::path redis_supervisor::socket_path() const {
  return state_->socket();
}

fs::path redis_supervisor::directory() const {
  return state_->dir();
}

pid_t redis_supervisor::pid() const {
  return state_->pid();
}

std::uint64_t redis_supervisor::restarts() const {
  return state_->restarts();
}

}  // namespace herald::embedded
