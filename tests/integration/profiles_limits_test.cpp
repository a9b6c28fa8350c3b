// The profile script and the import under hostile input, against a real redis-server: every key
// profile.lua touches is declared in KEYS (watched through MONITOR) and the script runs on a
// Cluster node; a lookup group of large tag sets is bounded; each per-profile limit fails its
// item alone, naming the limit, with nothing of it written; a chunk's writes are split across
// calls by size.
//
// Suites are named Profiles* so that --gtest_filter='Profiles*' selects them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "herald/profiles/import_handler.hpp"
#include "herald/profiles/store.hpp"
#include "herald/queue/handler.hpp"
#include "herald/redis/client.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::profiles {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

struct import_result {
  std::uint64_t processed = 0, failed = 0;
  std::vector<queue::item_outcome> items;
};

asio::awaitable<void> wait_connected(redis::client& c) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto [ec, r] =
        co_await c.async_exec(redis::command("PING"), asio::as_tuple(asio::use_awaitable));
    if (!ec && r.str() == "PONG") co_return;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("redis did not answer: " + ec.message());
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<import_result> run_import(redis::client& client, std::string body,
                                          import_settings settings) {
  queue::handler_registry registry;
  add_import_handler(registry, std::move(settings));
  auto job = registry.find("import_and_start")->prepare(body);
  queue::job_context ctx;
  ctx.task_id = "test-task";
  ctx.type = "import_and_start";
  ctx.account = "acme";
  ctx.redis = &client;
  import_result out;
  for (std::uint64_t begin = 0; begin < job->total(); begin += 100) {
    auto r = co_await job->run(ctx, begin, std::min<std::uint64_t>(job->total(), begin + 100));
    out.processed += r.processed;
    out.failed += r.failed;
    for (auto& o : r.outcomes) out.items.push_back(std::move(o));
  }
  std::sort(out.items.begin(), out.items.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  co_return out;
}

class ProfilesLimits : public ::testing::Test {
 public:
  explicit ProfilesLimits(test::redis_server::options opts = {}) : server_(std::move(opts)) {}

  void SetUp() override { connect(); }
  void TearDown() override {
    client_->stop();
    io_.restart();
    io_.run_for(50ms);
  }

  void connect() {
    redis::client_config cfg;
    cfg.url = server_.url();
    client_ = std::make_unique<redis::client>(io_.get_executor(), cfg);
    client_->start();
    run_awaitable(io_, wait_connected(*client_));
  }

  import_result import(const std::string& body, import_settings settings = {}) {
    return run_awaitable(io_, run_import(*client_, body, std::move(settings)), 60s);
  }

  long long dbsize() { return server_.integer({"DBSIZE"}); }

  test::redis_server server_;
  asio::io_context io_{1};
  std::unique_ptr<redis::client> client_;
  profile_keys keys_{"herald", "acme", 1};
};

// An import exercising every operation of the script: creates, updates, lookups by one key and
// by tag groups, profile_id lookups, conflicts.
const std::string every_operation = R"({"matching": "email", "data": [
    {"data": {"email": "a@x.com", "_fname": "A", "phones": "+10000000001",
              "subscriptions": [{"channel": "email", "email": "a@x.com"}]}},
    {"data": {"email": "b@x.com", "labels": ["t1", "t2"]}},
    {"data": {"email": "a@x.com", "_lname": "Z"}}]})";

const std::string by_tags = R"({"matching": "custom", "field_name": "labels", "data": [
    {"field_value": "t1, t2", "data": {"_fname": "B"}},
    {"field_value": "t9, t1", "data": {"_fname": "C"}}]})";

// --- Cluster safety: every key declared -------------------------------------------------

// Watches MONITOR on its own connection: for each EVAL/EVALSHA, the keys it declares; for each
// command a script runs, that its keys are among them.
class key_watcher {
 public:
  explicit key_watcher(const test::redis_server& server) {
    ctx_ = redisConnectUnix(server.socket_path().c_str());
    if (!ctx_ || ctx_->err) throw std::runtime_error("key_watcher: cannot connect");
    auto* r = static_cast<redisReply*>(redisCommand(ctx_, "MONITOR"));
    if (!r) throw std::runtime_error("key_watcher: MONITOR failed");
    freeReplyObject(r);
    thread_ = std::thread([this] { read(); });
  }
  ~key_watcher() {
    stop_ = true;
    ::shutdown(ctx_->fd, SHUT_RDWR);
    thread_.join();
    redisFree(ctx_);
  }

  // Waits until `marker` (a command's argument sent after the test's work) has been seen.
  void wait_for(const std::string& marker) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mutex_);
        if (seen_marker_.count(marker)) return;
      }
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "MONITOR never showed " << marker;
  }

  std::vector<std::string> undeclared() {
    std::lock_guard lock(mutex_);
    return undeclared_;
  }
  std::size_t script_commands() {
    std::lock_guard lock(mutex_);
    return script_commands_;
  }

 private:
  static std::vector<std::string> words(const std::string& line) {
    // After the "[db source]" part: "arg" "arg" ... with \" escapes.
    std::vector<std::string> out;
    auto pos = line.find("] ");
    if (pos == std::string::npos) return out;
    for (std::size_t i = pos + 2; i < line.size(); ++i) {
      if (line[i] != '"') continue;
      std::string w;
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        w += line[i];
      }
      out.push_back(std::move(w));
    }
    return out;
  }

  void read() {
    while (!stop_) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) return;
      auto* r = static_cast<redisReply*>(raw);
      std::string line = r->str ? std::string(r->str, r->len) : std::string();
      freeReplyObject(r);
      auto w = words(line);
      if (w.empty()) continue;
      std::string cmd = w[0];
      std::transform(cmd.begin(), cmd.end(), cmd.begin(), ::toupper);
      std::lock_guard lock(mutex_);
      if (cmd == "EVAL" || cmd == "EVALSHA") {
        declared_.clear();
        const auto n = std::stoul(w.at(2));
        for (std::size_t i = 0; i < n; ++i) declared_.insert(w.at(3 + i));
      } else if (line.find("[0 lua]") != std::string::npos) {
        ++script_commands_;
        // EXISTS takes keys only; every other command the script runs has one key, first.
        std::size_t last = cmd == "EXISTS" ? w.size() - 1 : 1;
        for (std::size_t i = 1; i <= last && i < w.size(); ++i)
          if (!declared_.count(w[i])) undeclared_.push_back(cmd + " " + w[i]);
      } else if (cmd == "ECHO" && w.size() > 1) {
        seen_marker_.insert(w[1]);
      }
    }
  }

  redisContext* ctx_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::set<std::string> declared_, seen_marker_;
  std::vector<std::string> undeclared_;
  std::size_t script_commands_ = 0;
};

TEST_F(ProfilesLimits, TheScriptTouchesOnlyTheKeysItDeclares) {
  key_watcher watcher(server_);
  auto r = import(every_operation);
  EXPECT_EQ(r.failed, 0u);
  r = import(by_tags);
  EXPECT_EQ(r.failed, 0u);
  // profile_id lookups read the profile under a declared key too.
  const std::string id = r.items.at(0).profile_id;
  r = import(R"({"matching": "profile_id", "data": [{"profile_id": ")" + id
             + R"(", "data": {"_fname": "D"}}, {"profile_id": "000000000000000000000000",
             "data": {}}]})");
  EXPECT_EQ(r.items.at(0).code, "updated");
  EXPECT_EQ(r.items.at(1).code, "profile_not_found");
  server_.command({"ECHO", "done-1"});
  watcher.wait_for("done-1");
  EXPECT_GT(watcher.script_commands(), 10u);
  EXPECT_EQ(watcher.undeclared(), std::vector<std::string>{});
}

// A TCP port nothing listens on now.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("free_port: no port");
  ::close(fd);
  return ntohs(a.sin_port);
}

class ProfilesCluster : public ProfilesLimits {
 public:
  ProfilesCluster() : ProfilesLimits(cluster_options()) {}
  static test::redis_server::options cluster_options() {
    test::redis_server::options o;
    // The cluster bus listens on a port of its own (the server's + 10000 by default).
    o.extra_args = {"--cluster-enabled",     "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-port",        std::to_string(free_port())};
    return o;
  }
  void SetUp() override {
    EXPECT_EQ(server_.command({"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}), "OK");
    for (int i = 0; i < 500; ++i) {
      if (contains(server_.command({"CLUSTER", "INFO"}), "cluster_state:ok")) break;
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(contains(server_.command({"CLUSTER", "INFO"}), "cluster_state:ok"));
    connect();
  }
};

TEST_F(ProfilesCluster, TheImportRunsOnASingleNodeCluster) {
  auto r = import(every_operation);
  EXPECT_EQ(r.failed, 0u);
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0].code, "created");
  EXPECT_EQ(r.items[2].code, "updated");
  EXPECT_EQ(r.items[2].profile_id, r.items[0].profile_id);
  r = import(by_tags);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.items.at(0).code, "updated");
}

// --- earliest(): bounded on large groups ------------------------------------------------

TEST_F(ProfilesLimits, ALookupGroupOfLargeDisjointTagSetsIsBoundedNotScanned) {
  // Two tags of 100,000 profiles each that share none: the old scan made 100,000 ZSCOREs in one
  // call. The leapfrog gives up after a bounded number of reads, with its reason.
  match_query q;
  q.mode = match_mode::custom;
  q.field_name = "labels";
  q.keys.field_value = "a, b";
  auto plan = plan_lookup(q);
  ASSERT_EQ(plan.size(), 2u);
  ASSERT_EQ(plan[1].size(), 2u);
  const std::string a = keys_.index(plan[1][0]), b = keys_.index(plan[1][1]);
  for (int start = 0; start < 200'000; start += 10'000) {
    std::vector<std::string> za{"ZADD", a}, zb{"ZADD", b};
    for (int s = start; s < start + 10'000; ++s) {
      auto& z = s % 2 ? za : zb;
      z.push_back(std::to_string(s + 1));
      z.push_back("p" + std::to_string(s));
    }
    server_.command(za);
    server_.command(zb);
  }

  profile_store store(*client_, keys_);
  auto started = std::chrono::steady_clock::now();
  try {
    run_awaitable(io_, store.find(q));
    ADD_FAILURE() << "a lookup over 200,000 disjoint entries answered";
  } catch (const std::exception& e) {
    EXPECT_TRUE(contains(e.what(), "needs more than 2000 reads")) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);

  // Sets that agree early are answered at once, however large: a member both hold, earliest.
  server_.command({"ZADD", a, "0", "common"});
  server_.command({"ZADD", b, "0", "common"});
  started = std::chrono::steady_clock::now();
  EXPECT_NO_THROW(run_awaitable(io_, store.find(q)));  // "common" has no profile: nothing
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

// --- the per-profile limits -------------------------------------------------------------

std::string fields_json(std::size_t n, std::string_view prefix = "f") {
  std::string out;
  for (std::size_t i = 0; i < n; ++i)
    out += (i ? "," : "") + std::string("\"") + std::string(prefix) + std::to_string(i) + "\":1";
  return out;
}

std::string tags_json(std::size_t n) {
  std::string out = "[";
  for (std::size_t i = 0; i < n; ++i) out += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
  return out + "]";
}

std::string subs_json(std::size_t n, std::size_t first = 0) {
  std::string out = "[";
  for (std::size_t i = first; i < first + n; ++i)
    out += (i > first ? "," : "") + std::string(R"({"channel": "email", "resource_id": )")
           + std::to_string(i) + R"(, "email": "s@x.com"})";
  return out + "]";
}

TEST_F(ProfilesLimits, EachLimitFailsItsItemAloneNamingTheLimitAndWritesNothingOfIt) {
  import_settings small;
  small.limits.max_profile_fields = 10;
  small.limits.max_field_tags = 5;
  small.limits.max_field_bytes = 100;
  small.limits.max_profile_subscriptions = 3;
  struct limit_case {
    std::string data, path, limit;
  };
  const std::vector<limit_case> cases = {
      {fields_json(20), "data[1].data", "max_profile_fields"},
      {R"("labels": )" + tags_json(6), "data[1].data.labels", "max_field_tags"},
      {R"("labels": {"action": "add_tags", "value": "a, b, c, d, e, f"})", "data[1].data.labels",
       "max_field_tags"},
      {R"("labels": {"action": "add_tags", "value": )" + tags_json(6) + "}",
       "data[1].data.labels.value", "max_field_tags"},
      {R"("note": ")" + std::string(101, 'x') + "\"", "data[1].data.note", "max_field_bytes"},
      {R"("labels": [")" + std::string(60, 'x') + R"(", ")" + std::string(60, 'y') + "\"]",
       "data[1].data.labels", "max_field_bytes"},
      {R"("subscriptions": )" + subs_json(4), "data[1].data.subscriptions",
       "max_profile_subscriptions"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto before = dbsize();
    const std::string email = "ok" + std::to_string(n) + "@x.com";
    auto r = import(R"({"data": [{"data": {"email": ")" + email + R"("}},
        {"data": {"email": "bad)"
                        + std::to_string(n++) + R"(@x.com", )" + c.data + "}}]}",
                    small);
    ASSERT_EQ(r.items.size(), 2u) << c.limit;
    EXPECT_EQ(r.items[0].code, "created") << c.limit;
    EXPECT_EQ(r.items[1].outcome, queue::item_outcome::kind::failed) << c.limit;
    EXPECT_EQ(r.items[1].code, "limit_exceeded") << c.limit;
    EXPECT_TRUE(contains(r.items[1].message, c.path + ": at most ")) << r.items[1].message;
    EXPECT_TRUE(contains(r.items[1].message, "(limit " + c.limit + ")")) << r.items[1].message;
    // Nothing of the bad item: no index entry holds its email.
    EXPECT_EQ(server_.command({"KEYS", "*bad" + std::to_string(n - 1) + "*"}), "") << c.limit;
    EXPECT_GT(dbsize(), before) << "the good item is written";
  }
}

TEST_F(ProfilesLimits, AnUpdateThatWouldPassALimitWithWhatTheProfileHoldsFails) {
  import_settings small;
  small.limits.max_profile_fields = 10;
  small.limits.max_field_tags = 5;
  small.limits.max_profile_subscriptions = 3;
  auto r = import(R"({"data": [{"data": {"email": "a@x.com", )" + fields_json(8)
                      + R"(, "labels": ["a", "b", "c"], "subscriptions": )" + subs_json(2) + "}}]}",
                  small);
  ASSERT_EQ(r.items.at(0).code, "created") << r.items.at(0).message;
  const auto id = r.items[0].profile_id;
  r = import(R"({"data": [{"data": {"email": "a@x.com", )" + fields_json(3, "g") + "}}]}", small);
  EXPECT_EQ(r.items.at(0).code, "limit_exceeded");
  EXPECT_TRUE(contains(r.items[0].message, "data[0].data: at most 10 fields a profile"))
      << r.items[0].message;
  r = import(R"({"data": [{"data": {"email": "a@x.com", "labels": {"action": "add_tags",
      "value": ["d", "e", "f"]}}}]})",
             small);
  EXPECT_EQ(r.items.at(0).code, "limit_exceeded");
  EXPECT_TRUE(contains(r.items[0].message, "data[0].data.labels: at most 5 tags"))
      << r.items[0].message;
  r = import(
      R"({"data": [{"data": {"email": "a@x.com", "subscriptions": )" + subs_json(2, 5) + "}}]}",
      small);
  EXPECT_EQ(r.items.at(0).code, "limit_exceeded");
  EXPECT_TRUE(contains(r.items[0].message, "at most 3 subscriptions")) << r.items[0].message;
  profile_store store(*client_, keys_);
  auto p = run_awaitable(io_, store.get(id));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 1u) << "nothing written";
}

TEST_F(ProfilesLimits, TheDefaultsRefuseTheOversizedItemsOfTheAttack) {
  const auto before = dbsize();
  // 100,000 fields once made 100,000 index keys; 20,000 tags 20,000.
  auto r =
      import(R"({"data": [{"data": {"email": "a@x.com", )" + fields_json(100'000) + "}},"
             + R"({"data": {"email": "b@x.com", "labels": )" + tags_json(20'000) + "}},"
             + R"({"data": {"email": "c@x.com", "note": ")" + std::string(65 * 1024, 'n') + "\"}},"
             + R"({"data": {"email": "d@x.com", "subscriptions": )" + subs_json(101) + "}}]}");
  ASSERT_EQ(r.items.size(), 4u);
  const char* limits[] = {"max_profile_fields", "max_field_tags", "max_field_bytes",
                          "max_profile_subscriptions"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.items[i].code, "limit_exceeded") << i;
    EXPECT_TRUE(contains(r.items[i].message, std::string("(limit ") + limits[i] + ")"))
        << r.items[i].message;
  }
  EXPECT_EQ(dbsize(), before);
  // At the limits themselves, the items are written.
  r = import(R"({"data": [{"data": {"email": "a@x.com", )" + fields_json(999) + "}}]}");
  EXPECT_EQ(r.items.at(0).code, "created") << r.items.at(0).message;
}

// --- writes split across calls ------------------------------------------------------------

TEST_F(ProfilesLimits, AChunksWritesAreSplitAcrossScriptCallsBySize) {
  // 100 profiles of 900 indexed fields: 90,000 index keys, in calls of at most write_call_keys.
  std::string body = R"({"data": [)";
  for (int i = 0; i < 100; ++i) {
    std::string fields;
    for (int f = 0; f < 900; ++f)
      fields += ",\"c" + std::to_string(f) + "\":\"v" + std::to_string(i) + "\"";
    body += (i ? "," : "") + std::string(R"({"data": {"email": "p)") + std::to_string(i)
            + "@x.com\"" + fields + "}}";
  }
  body += "]}";
  server_.command({"CONFIG", "RESETSTAT"});
  auto r = import(body);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.processed, 100u);
  auto stats = server_.command({"INFO", "commandstats"});
  auto calls_of = [&](const std::string& name) -> std::size_t {
    std::smatch m;
    if (!std::regex_search(stats, m, std::regex("cmdstat_" + name + ":calls=(\\d+)"))) return 0;
    return std::stoul(m[1]);
  };
  // One match (no profile found: no read), and at least 90,000 / 5,000 write calls.
  EXPECT_GE(calls_of("evalsha") + calls_of("eval"), 1 + 90'000 / write_call_keys) << stats;
  EXPECT_EQ(server_.integer({"ZCARD", keys_.index(custom_entry("c899", "v99"))}), 1);
}

}  // namespace
}  // namespace herald::profiles
