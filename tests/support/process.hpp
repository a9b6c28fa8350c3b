// Child processes and temporary directories for tests: every test owns what it starts, and
// nothing it started outlives it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace herald::test {

// A directory under $TMPDIR, removed with everything in it when this object goes.
class temp_dir {
 public:
  explicit temp_dir(std::string_view prefix = "herald-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A process started with fork+exec. Its stdout and stderr go to `log_path` (or are inherited
// when empty). The destructor kills (SIGKILL) and reaps it if it still runs.
class child_process {
 public:
  child_process(std::vector<std::string> argv, std::vector<std::string> extra_env = {},
                std::filesystem::path log_path = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  bool running();
  // The exit code (128+N when killed by signal N), or nothing if it still runs after `timeout`.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  std::string log() const;  // what it wrote so far, when it has a log file

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path log_path_;
};

// Polls `condition` until it holds or `timeout` passes; for waiting on other processes only.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(10));

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_tcp_port();

// The pids of the direct children of `parent` whose command name is `comm`.
std::vector<pid_t> child_pids(pid_t parent, std::string_view comm);
bool process_exists(pid_t pid);

}  // namespace herald::test
