// The systemd side: sd_notify messages as systemd receives them, the watchdog coroutine, and the
// unit files in systemd/ as `systemd-analyze` judges them.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/config/daemon_config.hpp"
#include "herald/embedded/redis_supervisor.hpp"
#include "herald/service/notify.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// Sets an environment variable for one test and restores it afterwards.
class scoped_env {
 public:
  scoped_env(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    set(value);
  }
  ~scoped_env() { set(old_); }

 private:
  void set(const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name_.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  std::string name_;
  std::optional<std::string> old_;
};

// What systemd listens on: a datagram socket whose path goes into $NOTIFY_SOCKET.
class fake_notify_socket {
 public:
  fake_notify_socket() : path_(dir_ / "notify"), env_("NOTIFY_SOCKET", path_.string()) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("cannot bind " + path_.string());
    }
  }
  ~fake_notify_socket() { ::close(fd_); }

  // The next message, or nothing within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = 5s) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  // Throws away what has arrived so far.
  void drain() {
    char buf[4096];
    while (::recv(fd_, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
  }

 private:
  herald::test::temp_dir dir_;
  std::filesystem::path path_;
  scoped_env env_;
  int fd_ = -1;
};

TEST(notify, messages_as_systemd_receives_them) {
  fake_notify_socket systemd;
  EXPECT_TRUE(herald::service::notify_ready());
  EXPECT_EQ(systemd.receive(), "READY=1");
  EXPECT_TRUE(herald::service::notify_ready("serving on 127.0.0.1:8080\nqueue herald"));
  EXPECT_EQ(systemd.receive(), "READY=1\nSTATUS=serving on 127.0.0.1:8080 queue herald");
  EXPECT_TRUE(herald::service::notify_status("draining: 3 chunks left"));
  EXPECT_EQ(systemd.receive(), "STATUS=draining: 3 chunks left");
  EXPECT_TRUE(herald::service::notify_stopping());
  EXPECT_EQ(systemd.receive(), "STOPPING=1");
  EXPECT_TRUE(herald::service::notify_watchdog());
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
  EXPECT_TRUE(herald::service::notify_reloading());
  const auto reloading = systemd.receive();
  ASSERT_TRUE(reloading);
  EXPECT_TRUE(std::regex_match(*reloading, std::regex("RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*")))
      << *reloading;
}

TEST(notify, outside_systemd_nothing_is_sent) {
  scoped_env no_socket("NOTIFY_SOCKET", std::nullopt);
  EXPECT_FALSE(herald::service::notify_ready());
  EXPECT_FALSE(herald::service::notify_watchdog());
  EXPECT_FALSE(herald::service::notify_stopping());
}

TEST(notify, watchdog_interval_comes_from_systemd) {
  {
    scoped_env usec("WATCHDOG_USEC", "30000000");
    scoped_env pid("WATCHDOG_PID", std::to_string(::getpid()));
    EXPECT_EQ(herald::service::watchdog_interval(), std::chrono::microseconds(30'000'000));
  }
  {
    scoped_env usec("WATCHDOG_USEC", "30000000");
    scoped_env pid("WATCHDOG_PID", std::to_string(::getpid() + 1));  // meant for another process
    EXPECT_FALSE(herald::service::watchdog_interval());
  }
  scoped_env usec("WATCHDOG_USEC", std::nullopt);
  scoped_env pid("WATCHDOG_PID", std::nullopt);
  EXPECT_FALSE(herald::service::watchdog_interval());
}

// The watchdog pings every interval/2 while the loop turns, not while it is stuck, and stops
// when cancelled.
TEST(notify, watchdog_pings_only_while_the_event_loop_turns) {
  fake_notify_socket systemd;
  asio::io_context io;
  asio::cancellation_signal stop;
  std::promise<std::exception_ptr> finished;
  const auto interval = 100ms;
  asio::co_spawn(io, herald::service::run_watchdog(interval),
                 asio::bind_cancellation_slot(
                     stop.slot(), [&](std::exception_ptr e) { finished.set_value(e); }));
  std::thread loop([&] { io.run(); });

  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
  const auto first = std::chrono::steady_clock::now();
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
  // Two periods of interval/2 passed between the first and the third ping.
  EXPECT_GE(std::chrono::steady_clock::now() - first, interval - 5ms);

  // A stuck loop sends nothing.
  std::promise<void> blocked, release;
  asio::post(io, [&] {
    blocked.set_value();
    release.get_future().wait();
  });
  blocked.get_future().wait();
  systemd.drain();
  EXPECT_EQ(systemd.receive(3 * interval), std::nullopt);  // six missed pings
  release.set_value();
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");

  asio::post(io, [&] { stop.emit(asio::cancellation_type::terminal); });
  auto done = finished.get_future();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready) << "run_watchdog ignored cancellation";
  EXPECT_EQ(done.get(), nullptr);
  loop.join();
}

TEST(notify, watchdog_ends_as_the_losing_side_of_an_or) {
  using namespace asio::experimental::awaitable_operators;
  fake_notify_socket systemd;
  asio::io_context io;
  bool returned = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
        co_await (herald::service::run_watchdog(std::chrono::hours(1))
                  || timer.async_wait(asio::use_awaitable));
        returned = true;
      },
      asio::detached);
  io.run_for(10s);
  EXPECT_TRUE(returned);
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");  // sent at once on start
}

// ---------------------------------------------------------------------------------------------
// The unit files.

std::optional<std::filesystem::path> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(std::string(path ? path : "") + ":/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

struct command_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

command_result run(const std::string& command) {
  command_result r;
  std::FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

struct unit_case {
  std::string file;        // in systemd/
  std::string exec_start;  // the ExecStart= line it must have
  std::string instance;    // the unit name analysed (an instance, for the template)
};

const std::vector<unit_case> units = {
    {"heraldd.service", "ExecStart=/usr/bin/heraldd --config /etc/herald/heraldd.conf",
     "heraldd.service"},
    {"heraldd@.service", "ExecStart=/usr/bin/heraldd --config /etc/herald/heraldd-%i.conf",
     "heraldd@eu1.service"},
};

class systemd_unit : public ::testing::TestWithParam<unit_case> {
 protected:
  void SetUp() override {
    analyze_ = find_program("systemd-analyze");
    if (!analyze_) GTEST_SKIP() << "systemd-analyze is not installed";
    original_ = read_text(std::filesystem::path(HERALD_SOURCE_DIR) / "systemd" / GetParam().file);
    ASSERT_FALSE(original_.empty()) << GetParam().file;
  }

  // The unit as installed, except that ExecStart runs /bin/true: `verify` refuses a unit whose
  // binary does not exist, and /usr/bin/heraldd is not installed here. Only that path changes;
  // the test checks the line it replaces.
  std::filesystem::path install_copy(const std::string& extra_service_line = {}) {
    std::string text;
    int exec_starts = 0;
    for (const auto& line : lines_of(original_)) {
      if (line.starts_with("ExecStart=")) {
        ++exec_starts;
        EXPECT_EQ(line, GetParam().exec_start);
        const std::string binary = "/usr/bin/heraldd";
        text +=
            "ExecStart=/bin/true" + line.substr(std::string("ExecStart=").size() + binary.size());
      } else {
        text += line;
      }
      text += "\n";
      if (line == "[Service]" && !extra_service_line.empty()) text += extra_service_line + "\n";
    }
    EXPECT_EQ(exec_starts, 1);
    std::ofstream(dir_ / GetParam().file) << text;
    return dir_ / GetParam().instance;
  }

  std::optional<std::filesystem::path> analyze_;
  std::string original_;
  herald::test::temp_dir dir_;
};

TEST_P(systemd_unit, has_the_service_contract) {
  const auto lines = lines_of(original_);
  auto has = [&](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  for (const char* line :
       {"Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=30",
        "Restart=on-failure", "KillMode=mixed", "DynamicUser=yes", "ConfigurationDirectory=herald",
        "UMask=0077", "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallFilter=@system-service",
        "SystemCallArchitectures=native", "MemoryDenyWriteExecute=yes"}) {
    EXPECT_TRUE(has(line)) << GetParam().file << " lacks " << line;
  }
  const bool is_template = GetParam().file.find('@') != std::string::npos;
  EXPECT_TRUE(has(is_template ? "StateDirectory=herald/%i" : "StateDirectory=herald"));
  EXPECT_TRUE(has(is_template ? "RuntimeDirectory=herald/%i" : "RuntimeDirectory=herald"));

  // Stopping takes shutdown_grace for the drain, then up to stop_timeout for the embedded Redis.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(original_, m, std::regex(R"(\nTimeoutStopSec=(\d+)\n)")));
  const auto timeout_stop = std::chrono::seconds(std::stoi(m[1]));
  EXPECT_GT(timeout_stop, herald::config::daemon_config{}.shutdown_grace
                              + herald::embedded::supervisor_config{}.stop_timeout);
}

TEST_P(systemd_unit, verifies_without_warnings) {
  const auto unit = install_copy();
  const auto r = run(analyze_->string() + " verify " + unit.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const auto& line : lines_of(r.output)) {
    EXPECT_EQ(line.find("heraldd"), std::string::npos) << line;
  }
  // The template file itself, too.
  const auto file = run(analyze_->string() + " verify " + (dir_ / GetParam().file).string());
  EXPECT_EQ(file.exit_code, 0) << file.output;
  EXPECT_EQ(file.output.find("heraldd"), std::string::npos) << file.output;
}

// The check above would see a warning: a misspelt directive is reported with the unit's name.
TEST_P(systemd_unit, verify_reports_what_is_wrong) {
  const auto unit = install_copy("ProtectSystems=strict");
  const auto r = run(analyze_->string() + " verify " + unit.string());
  EXPECT_NE(r.output.find("ProtectSystems"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("heraldd"), std::string::npos) << r.output;
}

TEST_P(systemd_unit, is_rated_ok_by_systemd_analyze_security) {
  const auto unit = install_copy();
  const auto r =
      run(analyze_->string() + " security --offline=yes --threshold=20 " + unit.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.output, m,
      std::regex("Overall exposure level for "
                 + std::regex_replace(GetParam().instance, std::regex(R"([.@])"), R"(\$&)")
                 + R"(: (\d+\.\d+) (\w+))")))
      << r.output;
  const double exposure = std::stod(m[1]);
  EXPECT_LE(exposure, 2.0) << r.output;
  EXPECT_EQ(m[2], "OK") << r.output;
  RecordProperty("exposure", m[1].str());
}

INSTANTIATE_TEST_SUITE_P(units, systemd_unit, ::testing::ValuesIn(units),
                         [](const ::testing::TestParamInfo<unit_case>& info) {
                           return info.param.file.find('@') == std::string::npos ? "single"
                                                                                 : "template";
                         });

}  // namespace
