// GET /metrics of the built heraldd on a real redis-server: after noop jobs, a send through a
// sandbox provider, a dead letter, a delayed job and a few HTTP requests, the series moved by
// exactly as much; the text passes `promtool check metrics`; the route names route patterns,
// never a path's token; metrics_token guards it. Then a real prometheus scrapes heraldd on
// loopback every second and its query API sees the series and up{job="herald"} == 1.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "herald/auth/tokens.hpp"
#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/secrets.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* promtool = "/usr/bin/promtool";
constexpr const char* prometheus = "/usr/bin/prometheus";

// The samples of an exposition, by series as written: `name{a="x",b="y"}` -> value.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// Metric families and their types: the `# TYPE` lines of an exposition.
std::map<std::string, std::string> families(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    std::istringstream words(line.substr(7));
    std::string name, type;
    words >> name >> type;
    out[name] = type;
  }
  return out;
}

// The families proto/metrics.md documents: its table's rows "| `name` | type | ...".
std::map<std::string, std::string> documented_families() {
  std::map<std::string, std::string> out;
  std::istringstream in(read_text(std::filesystem::path(HERALD_SOURCE_DIR) / "proto/metrics.md"));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("| `herald_")) continue;
    const auto name_end = line.find('`', 3);
    const auto type_begin = line.find("| ", name_end) + 2;
    const auto type_end = line.find(' ', type_begin);
    out[line.substr(3, name_end - 3)] = line.substr(type_begin, type_end - type_begin);
  }
  return out;
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

class MetricsE2E : public ::testing::Test {
 protected:
  MetricsE2E() : dir_("herald-metrics-e2e") {
    std::ofstream(dir_ / "tokens") << "default " << auth::hash_token_hex(api_token_) << "\n";
    env_ = {"HERALD_PROVIDER_BOX_KIND=sandbox",
            "HERALD_PROVIDER_BOX_PATH=" + (dir_ / "box.jsonl").string()};
    auto daemon_env = env_;
    daemon_env.push_back("HERALD_TOKENS_FILE=" + (dir_ / "tokens").string());
    daemon_env.push_back("HERALD_METRICS_TOKEN=" + scrape_token_);
    daemon_env.push_back("HERALD_THREADS=2");
    heraldd_.emplace(heraldd_process::options{.redis_url = redis_.url(),
                                              .extra_env = daemon_env,
                                              .extra_args = {},
                                              .wait_until_listening = true});
    auto cli_env = env_;
    for (auto e : {"HERALD_CONFIG=/dev/null", "HERALD_ACCOUNT=default"}) cli_env.emplace_back(e);
    cli_env.push_back("HERALD_REDIS_URL=" + redis_.url());
    cli_.emplace(dir_, cli_env);
  }
  ~MetricsE2E() override { EXPECT_EQ(heraldd_->terminate(), 0) << heraldd_->log(); }

  http_response scrape() {
    return heraldd_->get("/metrics", {{"Authorization", "Bearer " + scrape_token_}});
  }

  std::map<std::string, double> scrape_samples() {
    auto r = scrape();
    EXPECT_EQ(r.status, 200) << r.body;
    return samples(r.body);
  }

  static double at(const std::map<std::string, double>& s, const std::string& series) {
    auto it = s.find(series);
    return it == s.end() ? 0 : it->second;
  }

  // Waits (bounded) until a scrape shows `series` at `value`; the last scrape's samples.
  std::map<std::string, double> wait_for(const std::string& series, double value) {
    std::map<std::string, double> last;
    wait_until(
        [&] {
          last = scrape_samples();
          return at(last, series) == value;
        },
        10s, 100ms);
    return last;
  }

  std::string api_token_ = secret("metrics-e2e-api-token");
  std::string scrape_token_ = secret("metrics-e2e-scrape-token");
  temp_dir dir_;
  redis_server redis_;
  std::vector<std::string> env_;
  std::optional<heraldd_process> heraldd_;
  std::optional<herald_cli> cli_;
};

TEST_F(MetricsE2E, TheSeriesMoveWithTheWorkAndPromtoolAcceptsThem) {
  // metrics_token guards the route.
  auto open = heraldd_->get("/metrics");
  EXPECT_EQ(open.status, 401) << open.body;
  EXPECT_EQ(open.header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(heraldd_->get("/metrics", {{"Authorization", "Bearer " + api_token_}}).status, 401);
  auto first = scrape();
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const auto before = samples(first.body);
  EXPECT_EQ(at(before, "herald_build_info{version=\"" HERALD_VERSION "\"}"), 1);
  EXPECT_EQ(at(before, "herald_worker_slots"), 256);  // workers, split across the 2 threads
  EXPECT_EQ(at(before, "herald_jobs_total{type=\"noop\",outcome=\"completed\"}"), 0);

  // Work: two noop jobs of 5 items, a send of two messages through the sandbox, a job that is
  // dead-lettered at once, and one delayed an hour.
  for (int i = 0; i < 2; ++i)
    cli_->enqueue_and_wait(R"({"type": "noop", "body": {"items": 5}})", *heraldd_);
  auto send = cli_->enqueue_and_wait(
      R"({"type": "send", "body": {"provider": "box", "messages": [{"text": "a"}, {"text": "b"}]}})",
      *heraldd_);
  redis_.command({"XADD", "herald:{default}:jobs", "*", "v", "1", "type", "noop", "task_id",
                  "metrics-bad-1", "account", "default", "body", R"({"items": "x"})"});
  const auto delayed_file = cli_->new_path("delayed", ".json");
  std::ofstream(delayed_file) << R"({"items": 1})";
  const auto in_an_hour = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch() + 1h)
                              .count();
  auto later = cli_->run(
      {"enqueue", delayed_file.string(), "--type", "noop", "--run-at", std::to_string(in_an_hour)});
  ASSERT_EQ(later.code, 0) << later.err;

  // HTTP: three health probes, a status poll, a method not allowed, and two unknown paths, one
  // holding what looks like a LeadConverter token.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(heraldd_->get("/healthz").status, 200);
  auto status = heraldd_->get("/tasks/status?task_id=" + send.task_id,
                              {{"Authorization", "Bearer " + api_token_}});
  EXPECT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(heraldd_->post("/healthz", "{}").status, 405);
  EXPECT_EQ(heraldd_->get("/nope").status, 404);
  EXPECT_EQ(heraldd_->post("/api/v1/lc-path-secret-42/broadcasting.nothing", "{}").status, 404);

  auto after = wait_for("herald_queue_delayed", 1);
  EXPECT_EQ(at(after, "herald_queue_delayed"), 1);
  after = wait_for("herald_jobs_total{type=\"noop\",outcome=\"dead_lettered\"}", 1);
  const auto moved = [&](const std::string& series) {
    return at(after, series) - at(before, series);
  };
  EXPECT_EQ(moved("herald_jobs_total{type=\"noop\",outcome=\"completed\"}"), 2);
  EXPECT_EQ(moved("herald_jobs_started_total{type=\"noop\"}"), 2);
  EXPECT_EQ(moved("herald_items_total{type=\"noop\",outcome=\"done\"}"), 10);
  EXPECT_EQ(moved("herald_jobs_total{type=\"noop\",outcome=\"dead_lettered\"}"), 1);
  EXPECT_EQ(moved("herald_jobs_total{type=\"send\",outcome=\"completed\"}"), 1);
  EXPECT_EQ(moved("herald_items_total{type=\"send\",outcome=\"sent\"}"), 2);
  EXPECT_EQ(moved("herald_items_total{type=\"send\",outcome=\"failed\"}"), 0);
  EXPECT_EQ(moved("herald_provider_messages_total{provider=\"box\",outcome=\"sent\"}"), 2);
  EXPECT_GE(moved("herald_provider_request_duration_seconds_count{provider=\"box\"}"), 1);
  EXPECT_EQ(
      at(after, "herald_provider_request_duration_seconds_bucket{provider=\"box\",le=\"+Inf\"}"),
      at(after, "herald_provider_request_duration_seconds_count{provider=\"box\"}"));
  EXPECT_EQ(at(after, "herald_jobs_running"), 0);
  EXPECT_EQ(at(after, "herald_queue_dead_letters"), 1);
  EXPECT_EQ(at(after, "herald_queue_depth"), 0);
  EXPECT_EQ(at(after, "herald_queue_pending"), 0);
  EXPECT_EQ(at(after, "herald_queue_consumers"), 1);
  EXPECT_EQ(at(after, "herald_redis_up"), 1);
  EXPECT_GT(moved("herald_redis_command_duration_seconds_count"), 10);

  EXPECT_EQ(moved("herald_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}"),
            3);
  EXPECT_EQ(moved("herald_http_requests_total{route=\"/healthz\",method=\"POST\",status=\"405\"}"),
            1);
  EXPECT_EQ(
      moved("herald_http_requests_total{route=\"/tasks/status\",method=\"GET\",status=\"200\"}"),
      1);
  EXPECT_EQ(moved("herald_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"}"), 1);
  EXPECT_EQ(moved("herald_http_requests_total{route=\"other\",method=\"POST\",status=\"404\"}"), 1);
  EXPECT_GE(moved("herald_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}"),
            2);
  EXPECT_EQ(
      at(after, "herald_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"401\"}"), 2);
  EXPECT_EQ(moved("herald_http_request_duration_seconds_count{route=\"/healthz\"}"), 4);
  EXPECT_GE(at(after, "herald_http_connections"), 1);  // the scrape's own

  // The exposition itself: no path, no token; promtool's parser and linter accept it.
  auto text = scrape().body;
  EXPECT_EQ(text.find("lc-path-secret"), std::string::npos);
  EXPECT_EQ(text.find("/nope"), std::string::npos);
  EXPECT_EQ(text.find(api_token_), std::string::npos);
  EXPECT_EQ(text.find(scrape_token_), std::string::npos);
  // Every family is in proto/metrics.md with its type, and every documented one is exposed (the
  // errors appear with the first error).
  auto exposed = families(text);
  auto documented = documented_families();
  EXPECT_GE(documented.size(), 20u);
  for (const auto& [name, type] : exposed) EXPECT_EQ(documented[name], type) << name;
  documented.erase("herald_provider_errors_total");
  for (const auto& [name, type] : documented) EXPECT_TRUE(exposed.contains(name)) << name;

  const auto file = dir_ / "metrics.txt";
  std::ofstream(file) << text;
  child_process check(
      {"/bin/sh", "-c", std::string(promtool) + " check metrics < " + file.string()}, {},
      dir_ / "promtool.log");
  auto code = check.wait_for(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << read_text(dir_ / "promtool.log") << "\n" << text;
}

TEST_F(MetricsE2E, APrometheusScrapingHeralddSeesTheSeries) {
  cli_->enqueue_and_wait(R"({"type": "noop", "body": {"items": 3}})", *heraldd_);
  const int port = free_tcp_port();
  std::ofstream(dir_ / "prometheus.yml") << "global:\n"
                                            "  scrape_interval: 1s\n"
                                            "  scrape_timeout: 1s\n"
                                            "scrape_configs:\n"
                                            "  - job_name: herald\n"
                                            "    authorization:\n"
                                            "      credentials: "
                                         << scrape_token_
                                         << "\n"
                                            "    static_configs:\n"
                                            "      - targets: ['127.0.0.1:"
                                         << heraldd_->port() << "']\n";
  std::filesystem::create_directories(dir_ / "tsdb");
  child_process prom({prometheus, "--config.file=" + (dir_ / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                     {}, dir_ / "prometheus.log");

  // Asks prometheus's query API; the number of series in the result (-1 when it cannot answer
  // yet), and the first one's value.
  auto query = [&](const std::string& promql, std::string* value = nullptr) -> long {
    http_response r;
    try {
      r = http_request("127.0.0.1", static_cast<unsigned short>(port), "GET",
                       "/api/v1/query?query=" + url_encode(promql), {}, {}, 5s);
    } catch (const std::exception&) {
      return -1;
    }
    if (r.status != 200) return -1;
    json_doc d(r.body);
    if (d.str("/status") != "success") return -1;
    const auto n = static_cast<long>(d.array_size("/data/result"));
    if (n > 0 && value) *value = d.str("/data/result/0/value/1");
    return n;
  };
  std::string up;
  EXPECT_TRUE(
      wait_until([&] { return query(R"(up{job="herald"})", &up) == 1 && up == "1"; }, 60s, 250ms))
      << "up = " << up << "\n"
      << read_text(dir_ / "prometheus.log");
  std::string completed;
  EXPECT_TRUE(wait_until(
      [&] {
        return query(R"(herald_jobs_total{job="herald",type="noop",outcome="completed"})",
                     &completed)
                   == 1
               && completed == "1";
      },
      30s, 250ms))
      << completed << "\n"
      << read_text(dir_ / "prometheus.log");
  EXPECT_TRUE(wait_until([&] { return query(R"(herald_http_requests_total{job="herald"})") > 0; },
                         30s, 250ms));
  EXPECT_TRUE(wait_until(
      [&] {
        return query(R"(herald_http_requests_total{job="herald",route="/metrics",status="200"})")
               == 1;
      },
      30s, 250ms))
      << "prometheus's scrapes are counted under the route pattern";
  EXPECT_TRUE(wait_until(
      [&] { return query(R"(herald_redis_command_duration_seconds_bucket{job="herald"})") > 1; },
      30s, 250ms));
  prom.signal(SIGTERM);
  EXPECT_TRUE(prom.wait_for(20s).has_value());
}

}  // namespace
}  // namespace herald::test
