// The built heraldd as an operator runs it: the embedded default, health routes, signals,
// systemd notifications, and the configuration's checks.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "support/heraldd.hpp"
#include "support/redis_server.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

TEST(Heraldd, RunsOnTheEmbeddedDefaultAndStopsCleanlyOnSigterm) {
  heraldd_process heraldd;
  EXPECT_EQ(heraldd.get("/healthz").status, 200);
  auto ready = heraldd.get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find("\"error\": 0"), std::string::npos) << ready.body;

  auto redis = child_pids(heraldd.process().pid(), "redis-server");
  ASSERT_EQ(redis.size(), 1u) << heraldd.log();
  EXPECT_TRUE(std::filesystem::exists(heraldd.state_dir() / "redis" / "redis.sock"));
  EXPECT_TRUE(std::filesystem::exists(heraldd.state_dir() / "redis" / "appendonlydir"));

  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
  EXPECT_FALSE(process_exists(redis[0])) << "the embedded redis-server outlived heraldd";
}

TEST(Heraldd, ReadyzFollowsTheEmbeddedRedisDownAndBackUp) {
  heraldd_process heraldd;
  ASSERT_EQ(heraldd.get("/readyz").status, 200);
  auto redis = child_pids(heraldd.process().pid(), "redis-server");
  ASSERT_EQ(redis.size(), 1u);
  ::kill(redis[0], SIGKILL);

  std::string unready_body;
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = heraldd.get("/readyz");
        if (r.status == 503) unready_body = r.body;
        return r.status == 503;
      },
      5s, 2ms))
      << "readyz never said 503 while redis-server was down";
  EXPECT_NE(unready_body.find("\"error\": 503"), std::string::npos) << unready_body;
  EXPECT_NE(unready_body.find("Redis"), std::string::npos) << unready_body;

  EXPECT_TRUE(wait_until([&] { return heraldd.get("/readyz").status == 200; }, 15s, 20ms))
      << heraldd.log();
  auto again = child_pids(heraldd.process().pid(), "redis-server");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_NE(again[0], redis[0]) << "heraldd restarted its redis-server";
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

// A NOTIFY_SOCKET the test owns: every datagram heraldd sends to systemd, in order.
class notify_socket {
 public:
  explicit notify_socket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot bind the notify socket");
    timeval tv{0, 100'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~notify_socket() { ::close(fd_); }
  const std::filesystem::path& path() const { return path_; }

  // Reads what has arrived (waiting up to 100 ms for the first).
  void collect() {
    char buf[4096];
    for (int flags = 0;; flags = MSG_DONTWAIT) {  // then only what is there already
      ssize_t n = ::recv(fd_, buf, sizeof buf, flags);
      if (n <= 0) return;
      messages_.emplace_back(buf, static_cast<std::size_t>(n));
    }
  }
  // The index of the first message containing `line`, or -1.
  int find(std::string_view line) const {
    for (std::size_t i = 0; i < messages_.size(); ++i)
      if (messages_[i].find(line) != std::string::npos) return static_cast<int>(i);
    return -1;
  }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

TEST(Heraldd, TellsSystemdReadyWatchdogAndStoppingInThatOrder) {
  temp_dir dir("herald-notify");
  notify_socket notify(dir / "notify.sock");
  heraldd_process heraldd(
      {.redis_url = "",
       .extra_env = {"NOTIFY_SOCKET=" + notify.path().string(), "WATCHDOG_USEC=200000"},
       .extra_args = {},
       .wait_until_listening = true});
  ASSERT_TRUE(wait_until(
      [&] {
        notify.collect();
        int ready = notify.find("READY=1");
        return ready >= 0 && notify.find("WATCHDOG=1") > ready;
      },
      10s))
      << heraldd.log();
  // The watchdog keeps coming while the loop turns (every 100 ms here).
  auto count = [&] {
    return std::count_if(notify.messages().begin(), notify.messages().end(),
                         [](const std::string& m) { return m.find("WATCHDOG=1") != m.npos; });
  };
  auto before = count();
  ASSERT_TRUE(wait_until(
      [&] {
        notify.collect();
        return count() >= before + 3;
      },
      5s));
  EXPECT_EQ(heraldd.terminate(), 0);
  notify.collect();
  int ready = notify.find("READY=1"), watchdog = notify.find("WATCHDOG=1"),
      stopping = notify.find("STOPPING=1");
  EXPECT_GE(ready, 0);
  EXPECT_GT(watchdog, ready);
  EXPECT_GT(stopping, watchdog);
}

TEST(Heraldd, UsesAConfiguredRedisAndStartsNoServerOfItsOwn) {
  redis_server redis;
  heraldd_process heraldd(
      {.redis_url = redis.url(), .extra_env = {}, .extra_args = {}, .wait_until_listening = true});
  EXPECT_EQ(heraldd.get("/readyz").status, 200);
  EXPECT_TRUE(child_pids(heraldd.process().pid(), "redis-server").empty());
  EXPECT_FALSE(std::filesystem::exists(heraldd.state_dir() / "redis"));
  // heraldd's connection is there, under its name.
  EXPECT_NE(redis.command({"CLIENT", "LIST"}).find("name=heraldd-"), std::string::npos);
  EXPECT_EQ(heraldd.terminate(), 0);
}

// With two threads, every other connection is answered on the second event loop, through its own
// Redis connection (named -api1): GET /metrics reads the queue's figures there.
TEST(Heraldd, AnswersOnEveryThreadEachWithItsOwnRedisConnection) {
  redis_server redis({.tcp = true});
  heraldd_process heraldd({.redis_url = redis.url(),
                           .extra_env = {"HERALD_THREADS=2"},
                           .extra_args = {},
                           .wait_until_listening = true});
  // The lane's connection's address, from its name.
  const std::string name = "name=heraldd-" + std::to_string(heraldd.process().pid()) + "-api1 ";
  std::string addr;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto list = redis.command({"CLIENT", "LIST"});
        const auto at = list.find(name);
        if (at == std::string::npos) return false;
        const auto from = list.rfind(" addr=", at) + 6;  // not laddr=, Redis's own
        addr = list.substr(from, list.find(' ', from) - from);
        return true;
      },
      5s))
      << redis.command({"CLIENT", "LIST"});
  // What Redis runs meanwhile, by client address.
  temp_dir dir("herald-lanes");
  const auto seen = dir / "monitor";
  child_process monitor(
      {"/bin/sh", "-c",
       "exec redis-cli -p " + std::to_string(redis.port()) + " monitor > " + seen.string()});
  ASSERT_TRUE(wait_until(
      [&] {
        std::error_code ec;
        return std::filesystem::file_size(seen, ec) > 0 && !ec;  // its "OK"
      },
      5s));
  for (int i = 0; i < 2; ++i) {  // a connection each, dealt to either loop in turn
    auto m = heraldd.get("/metrics");
    EXPECT_EQ(m.status, 200) << m.body;
    EXPECT_NE(m.body.find("herald_queue_depth"), std::string::npos);
  }
  for (int i = 0; i < 2; ++i)  // read on the main loop, wherever asked
    EXPECT_EQ(heraldd.get("/readyz").status, 200);
  auto lane_ran_xlen = [&] {
    std::ifstream in(seen);
    for (std::string line; std::getline(in, line);)
      if (line.find("[0 " + addr + "] \"XLEN\"") != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(wait_until(lane_ran_xlen, 5s)) << addr << " ran no XLEN:\n" << [&] {
    std::ifstream in(seen);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

TEST(Heraldd, ReadyzSaysWhyWhileTheConfiguredRedisIsDown) {
  redis_server redis;
  heraldd_process heraldd(
      {.redis_url = redis.url(), .extra_env = {}, .extra_args = {}, .wait_until_listening = true});
  redis.kill9();
  auto r = heraldd.get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("Redis"), std::string::npos) << r.body;
  redis.start();
  EXPECT_TRUE(wait_until([&] { return heraldd.get("/readyz").status == 200; }, 10s, 20ms));
  EXPECT_EQ(heraldd.terminate(), 0);
}

TEST(Heraldd, SighupReloadsTheLogLevel) {
  temp_dir dir("herald-conf");
  auto conf = dir / "heraldd.conf";
  std::ofstream(conf) << "log_level = info\n";
  heraldd_process heraldd({.redis_url = "",
                           .extra_env = {},
                           .extra_args = {"--config", conf.string()},
                           .wait_until_listening = true});
  std::ofstream(conf) << "log_level = debug\n";
  heraldd.process().signal(SIGHUP);
  EXPECT_TRUE(wait_until(
      [&] {
        return heraldd.log().find("configuration reloaded (log level debug)") != std::string::npos;
      },
      10s))
      << heraldd.log();
  EXPECT_EQ(heraldd.get("/healthz").status, 200) << "still serving after the reload";
  EXPECT_EQ(heraldd.terminate(), 0);
}

TEST(Heraldd, CheckConfigNamesTheBadKeyAndExitsNonZero) {
  temp_dir dir("herald-conf");
  auto conf = dir / "heraldd.conf";
  std::ofstream(conf) << "http_listen = 127.0.0.1:8080\nlog_level = loud\n";
  child_process bad({HERALD_HERALDD, "--config", conf.string(), "--check-config"}, {},
                    dir / "bad.log");
  auto code = bad.wait_for(10s);
  ASSERT_TRUE(code);
  EXPECT_NE(*code, 0);
  EXPECT_NE(bad.log().find("log_level"), std::string::npos) << bad.log();

  // A provider section's bad value is named with its section, key and line; its token is not
  // printed.
  std::ofstream(conf) << "http_listen = 127.0.0.1:0\n[provider.lc]\nkind = leadconverter_bot\n"
                         "base_url = https://lc.example\ntoken = s3cr3t-token\nburst = lots\n";
  child_process bad_provider({HERALD_HERALDD, "--config", conf.string(), "--check-config"}, {},
                             dir / "bad_provider.log");
  code = bad_provider.wait_for(10s);
  ASSERT_TRUE(code);
  EXPECT_NE(*code, 0);
  EXPECT_NE(bad_provider.log().find("provider.lc: burst: must be a whole number from 1 to "
                                    "1000000, not \"lots\" (from "
                                    + conf.string() + " line 6)"),
            std::string::npos)
      << bad_provider.log();
  EXPECT_EQ(bad_provider.log().find("s3cr3t-token"), std::string::npos) << bad_provider.log();

  std::ofstream(conf) << "http_listen = 127.0.0.1:0\n[provider.sb]\nkind = sandbox\n";
  child_process good({HERALD_HERALDD, "--config", conf.string(), "--check-config"}, {},
                     dir / "good.log");
  EXPECT_EQ(good.wait_for(10s), 0) << good.log();
  EXPECT_NE(good.log().find("[provider.sb]\nkind = sandbox\n"), std::string::npos) << good.log();

  child_process version({HERALD_HERALDD, "--version"}, {}, dir / "version.log");
  EXPECT_EQ(version.wait_for(10s), 0);
  EXPECT_NE(version.log().find(HERALD_VERSION), std::string::npos) << version.log();
}

}  // namespace
}  // namespace herald::test
