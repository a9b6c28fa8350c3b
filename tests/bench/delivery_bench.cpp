// Delivery through a running heraldd, against one fresh redis-server (TCP, no persistence) and a
// fast fake LeadConverter of this benchmark's own (Beast on loopback, counting, not recording),
// with each figure beside its anchor from the same run:
//   1. 10 import_and_start jobs of 10,000 profiles each into leadconverter_messages (the BullMQ
//      peer's data: half of the profiles pre-imported in an older version, trigger 13
//      `Привет, {lead._fname | upper}! {apicontent.page}`): profiles imported and messages
//      delivered per second, the share of full calls (100 items), Redis and heraldd CPU per
//      message, heraldd's peak RSS; then the same job through the BullMQ peer
//      (../shared/bench/peers/bullmq-delivery/run.sh), its figures and the ratios.
//   2. start over 100,000 existing profiles (10 jobs of 10,000, the most a job holds): messages
//      per second.
//   3. leadconverter_bot (one call per message) at concurrency 64: calls per second from heraldd,
//      beside `wrk -c 64` against the same fake endpoint.
// Then the goals, each met or not met.
//
//   build/tests/bench/delivery_bench
//   HERALD_BENCH_DELIVERY_JOBS=2 HERALD_BENCH_DELIVERY_PEER=0 build/tests/bench/delivery_bench
//
// Environment: HERALD_BENCH_DELIVERY_JOBS (10), HERALD_BENCH_DELIVERY_PROFILES (10000 a job),
// HERALD_BENCH_START_PROFILES (100000, at most the imported ones), HERALD_BENCH_BOT_MESSAGES
// (20000), HERALD_BENCH_DELIVERY_PEER (1; 0 skips the peer), HERALD_BULLMQ_DELIVERY_DIR (the
// peer's folder; by default shared/bench/peers/bullmq-delivery above the binary or the working
// directory), HERALD_PEER_NODE_MODULES (the peer's
// npm packages; build/peer-node/node_modules by default).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <thread>
#include <unordered_set>

#include "bench_support.hpp"
#include "herald/queue/task_store.hpp"
#include "support/fake_http_server.hpp"
#include "support/fake_providers.hpp"
#include "support/heraldd.hpp"
#include "support/process.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace herald;
using herald::test::redis_server;
using namespace std::chrono_literals;

namespace {

constexpr const char* token = "bench-lc-token";
constexpr long long subscriber_base = 1'000'000;
// gen.js's first names: Cyrillic and Latin.
const std::vector<std::string> fnames{"Иван",   "Мария", "Алексей", "Ольга", "Дмитрий", "Анна",
                                      "Сергей", "Елена", "Jean",    "Zoë",   "Степан",  "Юлия"};

std::size_t env_size(const char* name, std::size_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoul(v) : dflt;
}

// --- the fake LeadConverter: counts, checks, records nothing ------------------------------------

class counting_leadconverter {
 public:
  counting_leadconverter()
      : server_([this](const test::received_request& r) { return answer(r); }, 2, false) {}

  std::string base_url() const { return server_.url(""); }
  std::string bot_url() const {
    return server_.url(std::string("/api/v1/") + token + "/bot.startWithVariables");
  }

  struct counts {
    std::uint64_t calls = 0, items = 0, full = 0, bad = 0, bot_calls = 0;
  };
  counts snapshot() const {
    return {calls_.load(), items_.load(), full_.load(), bad_.load(), bot_calls_.load()};
  }
  std::size_t distinct() const {
    std::lock_guard lock(mutex_);
    return seen_.size();
  }
  void clear_distinct() {
    std::lock_guard lock(mutex_);
    seen_.clear();
  }

 private:
  static test::canned_response reply(int status, std::string body) {
    test::canned_response c;
    c.status = status;
    c.headers.emplace_back("Content-Type", "application/json");
    c.body = std::move(body);
    return c;
  }
  test::canned_response refuse(std::string why) {
    ++bad_;
    return reply(400, R"({"result":"error","code":"invalid_request","message":")" + why + "\"}");
  }

  test::canned_response answer(const test::received_request& r) {
    const std::string prefix = std::string("/api/v1/") + token + "/";
    std::string_view target = r.target;
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (r.method != "POST" || !target.starts_with(prefix)) {
      ++bad_;
      return reply(401, R"({"result":"error","code":"invalid_token"})");
    }
    target.remove_prefix(prefix.size());
    if (target == "broadcasting.sendMessageBatch") return batch(r);
    if (target == "bot.startWithVariables") return bot(r);
    return refuse("unknown method");
  }

  test::canned_response batch(const test::received_request& r) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::dom::array items;
    if (parser.parse(r.body).get(root) != simdjson::SUCCESS
        || root["batch"].get(items) != simdjson::SUCCESS)
      return refuse("a JSON body {batch: [...]} is required");
    const std::size_t n = items.size();
    if (n == 0 || n > 100) return refuse("batch must hold 1 to 100 items");
    std::vector<std::int64_t> ids;
    ids.reserve(n);
    for (simdjson::dom::element item : items) {
      std::int64_t id = 0;
      std::string_view text;
      if (item["subscriber_id"].get(id) != simdjson::SUCCESS)
        return refuse("an item without an integer subscriber_id");
      if (item["text"].get(text) != simdjson::SUCCESS || text.empty())
        return refuse("an item without text");
      ids.push_back(id);
    }
    {
      std::lock_guard lock(mutex_);
      seen_.insert(ids.begin(), ids.end());
    }
    ++calls_;
    items_ += n;
    if (n == 100) ++full_;
    return reply(200, R"({"result":"ok"})");
  }

  test::canned_response bot(const test::received_request& r) {
    std::int64_t id = -1;
    bool has_bot = false;
    for (const auto& [k, v] : test::form_pairs(r.body)) {
      if (k == "subscriber_id") id = std::atoll(v.c_str());
      if (k == "bot_id") has_bot = !v.empty();
    }
    if (id < 0 || !has_bot) return refuse("subscriber_id and bot_id are required");
    {
      std::lock_guard lock(mutex_);
      seen_.insert(id);
    }
    ++bot_calls_;
    return reply(200, R"({"result":"ok"})");
  }

  test::fake_http_server server_;
  std::atomic<std::uint64_t> calls_{0}, items_{0}, full_{0}, bad_{0}, bot_calls_{0};
  mutable std::mutex mutex_;
  std::unordered_set<std::int64_t> seen_;
};

// --- the jobs -----------------------------------------------------------------------------------

std::string email(std::size_t k) {
  return "user" + std::to_string(k) + "@example.com";
}

// gen.js's jobItem(k), or its oldProfile(k) (another first name, a _city).
std::string item(std::size_t k, bool old) {
  char phone[32];
  std::snprintf(phone, sizeof phone, "+7900%07zu", k);
  std::string s = R"({"data": {"email": ")" + email(k) + R"(", "_fname": ")"
                  + fnames[(k + (old ? 1 : 0)) % fnames.size()] + "\"";
  if (old) s += R"(, "_city": "Москва")";
  return s + R"(, "phones": [")" + phone
         + R"("], "subscriptions": [{"channel": "leadconverter", "subscriber_id": )"
         + std::to_string(subscriber_base + static_cast<long long>(k))
         + R"(, "resource_id": 1}]}})";
}

std::string import_body(std::size_t from, std::size_t to, std::size_t step, bool old) {
  std::string body =
      old ? R"({"matching": "email", "skip_triggers": true, "data": [)"
          : R"({"trigger_id": 13, "matching": "email", "content": {"page": "registration_form"}, "data": [)";
  for (auto k = from; k < to; k += step) {
    if (k != from) body += ',';
    body += item(k, old);
  }
  return body + "]}";
}

std::string start_body(int trigger, std::size_t from, std::size_t to) {
  std::string body = R"({"trigger_id": )" + std::to_string(trigger)
                     + R"(, "matching": "email", "content": {"page": "welcome"}, "data": [)";
  for (auto k = from; k < to; ++k) {
    if (k != from) body += ',';
    body += R"({"email": ")" + email(k) + "\"}";
  }
  return body + "]}";
}

std::vector<std::string> enqueue(const redis_server& redis, const std::string& type,
                                 std::vector<std::string> bodies) {
  asio::io_context io(1);
  auto client = bench::connected_client(io, redis);
  queue::task_store store(*client, queue::queue_keys());
  std::vector<queue::new_job> jobs;
  for (auto& b : bodies) jobs.push_back({.type = type, .account = "bench", .body = std::move(b)});
  std::vector<std::string> ids;
  for (auto& d : test::run_awaitable(io, store.enqueue(std::move(jobs)))) ids.push_back(d.task_id);
  client->stop();
  return ids;
}

// The sum of a counter field over the tasks.
long long task_sum(const redis_server& redis, const std::vector<std::string>& ids,
                   const std::string& field) {
  long long total = 0;
  for (const auto& id : ids) {
    auto v = redis.command({"HGET", "herald:{default}:task:" + id, field});
    if (v != "(nil)" && !v.empty()) total += std::stoll(v);
  }
  return total;
}

// INFO commandstats as {command: {calls, usec}} (a script's usec includes its commands').
using command_counts = std::map<std::string, std::pair<long long, long long>>;
command_counts commandstats(const redis_server& redis) {
  std::string info = redis.command({"INFO", "commandstats"});
  std::regex line(R"(cmdstat_([a-z|_-]+):calls=([0-9]+),usec=([0-9]+))");
  command_counts out;
  for (auto it = std::sregex_iterator(info.begin(), info.end(), line); it != std::sregex_iterator();
       ++it)
    out[(*it)[1]] = {std::stoll((*it)[2]), std::stoll((*it)[3])};
  return out;
}

// What one phase cost: the span of its tasks, the CPU of redis-server and heraldd, the commands.
struct phase {
  double seconds = 0, redis_cpu = 0, heraldd_cpu = 0;
  counting_leadconverter::counts fake;
  command_counts cmds;
};

phase run_phase(const redis_server& redis, test::heraldd_process& heraldd,
                counting_leadconverter& fake, const std::string& type,
                std::vector<std::string> bodies, std::vector<std::string>* ids_out = nullptr) {
  const auto cmds0 = commandstats(redis);
  const auto fake0 = fake.snapshot();
  const double r0 = bench::cpu_seconds(redis.pid());
  const double h0 = bench::cpu_seconds(heraldd.process().pid());
  auto ids = enqueue(redis, type, std::move(bodies));
  phase p;
  try {
    p.seconds = bench::span_of(redis, ids);
  } catch (const std::exception& e) {
    std::string why = std::string(e.what()) + "; the first task: "
                      + redis.command({"HGETALL", "herald:{default}:task:" + ids.front()});
    auto log = heraldd.log();
    throw std::runtime_error(why + "\nheraldd's log ends:\n"
                             + log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
  }
  p.redis_cpu = bench::cpu_seconds(redis.pid()) - r0;
  p.heraldd_cpu = bench::cpu_seconds(heraldd.process().pid()) - h0;
  const auto fake1 = fake.snapshot();
  p.fake = {fake1.calls - fake0.calls, fake1.items - fake0.items, fake1.full - fake0.full,
            fake1.bad - fake0.bad, fake1.bot_calls - fake0.bot_calls};
  for (const auto& [name, now] : commandstats(redis)) {
    auto it = cmds0.find(name);
    const auto before = it == cmds0.end() ? std::pair<long long, long long>{0, 0} : it->second;
    if (now.first > before.first)
      p.cmds[name] = {now.first - before.first, now.second - before.second};
  }
  if (ids_out) *ids_out = std::move(ids);
  return p;
}

void print_commands(const phase& p, double per) {
  std::vector<std::pair<long long, std::string>> v;
  long long total = 0;
  for (const auto& [name, c] : p.cmds) {
    v.emplace_back(c.first, name);
    if (name != "evalsha" && name != "eval") total += c.first;
  }
  std::sort(v.rbegin(), v.rend());
  std::printf(
      "  Redis commands per message: %.2f, scripts' included; per message (calls, us):\n   ",
      static_cast<double>(total) / per);
  for (std::size_t i = 0; i < v.size() && i < 12; ++i)
    std::printf(" %s %.2f %.1f;", v[i].second.c_str(), static_cast<double>(v[i].first) / per,
                static_cast<double>(p.cmds.at(v[i].second).second) / per);
  std::printf("\n");
}

// A free TCP port on 127.0.0.1 (the kernel's choice, released at once).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("free_port: no port");
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string run_command(const std::string& cmd, int* rc) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  std::string output;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  *rc = ::pclose(p);
  return output;
}

// --- the BullMQ peer ----------------------------------------------------------------------------

struct peer_result {
  bool ran = false;
  double msgs_per_s = 0, full_share = 0, rss_mb = 0, worker_cpu_s = 0, redis_cpu_s = 0;
  std::string line;
};

fs::path find_peer_dir() {
  if (const char* d = std::getenv("HERALD_BULLMQ_DELIVERY_DIR")) return d;
  // Above the binary (build/tests/bench/) or the working directory: ../shared/bench/peers/ of the
  // repository or of a worktree's parent.
  for (fs::path from : {fs::read_symlink("/proc/self/exe").parent_path(), fs::current_path()}) {
    for (fs::path at = from; !at.empty(); at = at.parent_path()) {
      auto candidate = at / "shared" / "bench" / "peers" / "bullmq-delivery";
      if (fs::exists(candidate / "run.sh")) return candidate;
      if (at == at.root_path()) break;
    }
  }
  return {};
}

peer_result run_peer(std::size_t jobs, std::size_t profiles) {
  peer_result r;
  const fs::path dir = find_peer_dir();
  fs::path modules = fs::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path()
                     / "peer-node" / "node_modules";
  if (const char* m = std::getenv("HERALD_PEER_NODE_MODULES")) modules = m;
  if (dir.empty() || !fs::exists(modules / "bullmq")) {
    std::printf(
        "BullMQ peer: not run (peer dir %s, packages %s; install them with: npm install "
        "--prefix build/peer-node --no-audit --no-fund bullmq@6.7.0 ioredis@5.11.1)\n",
        dir.empty() ? "not found" : dir.c_str(), modules.c_str());
    return r;
  }
  const std::string log = "/tmp/herald-delivery-bench-peer." + std::to_string(::getpid()) + ".log";
  const std::string cmd =
      "cd /tmp && NODE_PATH=" + modules.string() + " JOBS=" + std::to_string(jobs)
      + " PROFILES=" + std::to_string(profiles) + " PORT=" + std::to_string(free_port())
      + " LC_PORT=" + std::to_string(free_port()) + " timeout 600 bash " + (dir / "run.sh").string()
      + " 2>" + log;
  int rc = 0;
  const std::string out = run_command(cmd, &rc);
  std::smatch m;
  std::regex last(R"(peer=bullmq-delivery .*msgs_per_s=([0-9.]+) full_batch_share=([0-9.]+) )"
                  R"(worker_rss_mb=([0-9.]+) worker_cpu_s=([0-9.]+) redis_cpu_s=([0-9.]+))");
  std::string tail = out;
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  tail = tail.substr(tail.rfind('\n') == std::string::npos ? 0 : tail.rfind('\n') + 1);
  if (rc != 0 || !std::regex_search(tail, m, last)) {
    std::ifstream in(log);
    std::cerr << "BullMQ peer failed (rc " << rc << "): " << out << "\n" << in.rdbuf() << "\n";
    fs::remove(log);
    return r;
  }
  fs::remove(log);
  r.ran = true;
  r.msgs_per_s = std::stod(m[1]);
  r.full_share = std::stod(m[2]);
  r.rss_mb = std::stod(m[3]);
  r.worker_cpu_s = std::stod(m[4]);
  r.redis_cpu_s = std::stod(m[5]);
  r.line = tail;
  return r;
}

// wrk -c 64 POSTing one bot.startWithVariables form to `url`: Requests/sec, or -1.
double run_wrk(const std::string& url, int connections, int seconds) {
  const std::string script =
      "/tmp/herald-delivery-bench-wrk." + std::to_string(::getpid()) + ".lua";
  std::ofstream(script)
      << "wrk.method = \"POST\"\n"
         "wrk.body = \"subscriber_id=1000001&bot_id=42&variable%5Bname%5D="
         "%D0%98%D0%B2%D0%B0%D0%BD&variable%5Bpage%5D=welcome\"\n"
         "wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n";
  int rc = 0;
  const std::string cmd = "timeout 60 wrk -t 2 -c " + std::to_string(connections) + " -d "
                          + std::to_string(seconds) + "s -s " + script + " " + url + " 2>&1";
  const std::string out = run_command(cmd, &rc);
  fs::remove(script);
  std::smatch m;
  if (rc != 0 || !std::regex_search(out, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) {
    std::cerr << "wrk did not run (" << cmd << "):\n" << out;
    return -1;
  }
  if (out.find("Non-2xx") != std::string::npos) std::cerr << "wrk saw non-2xx answers:\n" << out;
  return std::stod(m[1]);
}

const char* verdict(bool met) {
  return met ? "met" : "NOT MET";
}

}  // namespace

int main() {
  const std::size_t jobs = env_size("HERALD_BENCH_DELIVERY_JOBS", 10);
  const std::size_t per_job = env_size("HERALD_BENCH_DELIVERY_PROFILES", 10'000);
  const std::size_t total = jobs * per_job;
  const std::size_t start_n = std::min(total, env_size("HERALD_BENCH_START_PROFILES", 100'000));
  const std::size_t bot_n = std::min(total, env_size("HERALD_BENCH_BOT_MESSAGES", 20'000));
  const bool with_peer = env_size("HERALD_BENCH_DELIVERY_PEER", 1) != 0;
  std::printf(
      "Delivery benchmark: %zu import_and_start jobs of %zu profiles (email matching, half "
      "present in an older version) into leadconverter_messages; start over %zu; "
      "leadconverter_bot x %zu at concurrency 64\n",
      jobs, per_job, start_n, bot_n);
  std::fflush(stdout);

  bool checks_failed = false;  // a count off: the figures are printed, the exit code is 1
  counting_leadconverter fake;
  redis_server redis({.tcp = true});
  test::temp_dir dir("herald-delivery-bench");
  fs::create_directories(dir.path() / "triggers");
  std::ofstream(dir.path() / "triggers" / "bench.json") << R"([
{"account": "bench", "id": 13, "name": "registration", "channel": "leadconverter", "provider": "lc",
 "resource_id": 1, "message": {"text": "Привет, {lead._fname | upper}! {apicontent.page}"}},
{"account": "bench", "id": 14, "name": "bot", "channel": "leadconverter", "provider": "lcbot",
 "resource_id": 1, "message": {},
 "bot": {"bot_id": "42", "variables": {"name": "{lead._fname | capitalize}", "page": "{apicontent.page}"}}}
])";
  const std::string base = fake.base_url();
  test::heraldd_process heraldd(
      {.redis_url = redis.url(),
       .extra_env = {
           "HERALD_LOG_LEVEL=info", "HERALD_TRIGGERS_DIR=" + (dir.path() / "triggers").string(),
           "HERALD_PROVIDER_LC_KIND=leadconverter_messages", "HERALD_PROVIDER_LC_BASE_URL=" + base,
           std::string("HERALD_PROVIDER_LC_TOKEN=") + token, "HERALD_PROVIDER_LC_LINGER_MS=50",
           "HERALD_PROVIDER_LC_CONCURRENCY=16", "HERALD_PROVIDER_LC_RATE_PER_S=1000000",
           "HERALD_PROVIDER_LCBOT_KIND=leadconverter_bot", "HERALD_PROVIDER_LCBOT_BASE_URL=" + base,
           std::string("HERALD_PROVIDER_LCBOT_TOKEN=") + token,
           "HERALD_PROVIDER_LCBOT_CONCURRENCY=64", "HERALD_PROVIDER_LCBOT_RATE_PER_S=1000000"}});
  for (int i = 0; i < 500 && heraldd.log().find("2 created") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);
  if (heraldd.log().find("2 created") == std::string::npos)
    throw std::runtime_error("heraldd did not load the triggers:\n" + heraldd.log());

  // --- setup: the even half, in the older version (not measured) --------------------------------
  std::vector<std::string> old;
  for (std::size_t j = 0; j < jobs; ++j)
    old.push_back(import_body(j * per_job, (j + 1) * per_job, 2, true));
  auto setup = run_phase(redis, heraldd, fake, "import_and_start", std::move(old));

  // --- 1. import_and_start --------------------------------------------------------------------
  std::vector<std::string> bodies;
  for (std::size_t j = 0; j < jobs; ++j)
    bodies.push_back(import_body(j * per_job, (j + 1) * per_job, 1, false));
  std::vector<std::string> ids;
  fake.clear_distinct();
  auto imp = run_phase(redis, heraldd, fake, "import_and_start", std::move(bodies), &ids);
  const long rss_import = bench::peak_rss_kib(heraldd.process().pid());
  const std::size_t distinct = fake.distinct();
  const long long sent = task_sum(redis, ids, "sent");
  const long long stored = redis.integer({"GET", "herald:{pdb:bench:1}:seq"});
  if (imp.fake.items != total || distinct != total || imp.fake.bad != 0
      || sent != static_cast<long long>(total) || stored != static_cast<long long>(total)) {
    checks_failed = true;
    std::fprintf(stderr,
                 "CHECK FAILED: import_and_start: the fake took %llu items (%zu distinct, %llu "
                 "refused calls), the tasks count %lld sent, Redis holds %lld profiles; "
                 "expected %zu each\n",
                 static_cast<unsigned long long>(imp.fake.items), distinct,
                 static_cast<unsigned long long>(imp.fake.bad), sent, stored, total);
  }
  const double imp_msgs = static_cast<double>(imp.fake.items) / imp.seconds;
  const double imp_full =
      imp.fake.calls ? static_cast<double>(imp.fake.full) / static_cast<double>(imp.fake.calls) : 0;
  std::printf(
      "\n== import_and_start: %zu jobs x %zu profiles (setup: %zu pre-imported in %.2f s)\n", jobs,
      per_job, total / 2, setup.seconds);
  std::printf("  %-44s %10.0f\n", "profiles imported per second", total / imp.seconds);
  std::printf("  %-44s %10.0f\n", "messages delivered per second", imp_msgs);
  std::printf("  %-44s %10.3f  (%llu of %llu calls)\n", "share of calls with a full batch",
              imp_full, static_cast<unsigned long long>(imp.fake.full),
              static_cast<unsigned long long>(imp.fake.calls));
  std::printf("  %-44s %10.1f\n", "redis-server CPU per message (us)", imp.redis_cpu / total * 1e6);
  std::printf("  %-44s %10.1f\n", "heraldd CPU per message (us)", imp.heraldd_cpu / total * 1e6);
  std::printf("  %-44s %10.1f  (cores %.2f heraldd, %.2f redis)\n", "heraldd peak RSS (MiB)",
              rss_import / 1024.0, imp.heraldd_cpu / imp.seconds, imp.redis_cpu / imp.seconds);
  print_commands(imp, static_cast<double>(total));
  std::fflush(stdout);

  peer_result peer;
  if (with_peer) {
    peer = run_peer(jobs, per_job);
    if (peer.ran) {
      std::printf("  BullMQ peer: %s\n", peer.line.c_str());
      std::printf("  %-44s %10.0f  peer %10.0f  ratio %.2f\n", "messages per second", imp_msgs,
                  peer.msgs_per_s, imp_msgs / peer.msgs_per_s);
      std::printf("  %-44s %10.3f  peer %10.3f\n", "full-batch share", imp_full, peer.full_share);
      std::printf("  %-44s %10.1f  peer %10.1f  ratio %.2f\n", "redis-server CPU per message (us)",
                  imp.redis_cpu / total * 1e6, peer.redis_cpu_s / total * 1e6,
                  imp.redis_cpu / peer.redis_cpu_s);
      std::printf("  %-44s %10.1f  peer %10.1f  ratio %.2f\n", "worker CPU per message (us)",
                  imp.heraldd_cpu / total * 1e6, peer.worker_cpu_s / total * 1e6,
                  imp.heraldd_cpu / peer.worker_cpu_s);
      std::printf("  %-44s %10.1f  peer %10.1f\n", "peak RSS (MiB; peer: MB)", rss_import / 1024.0,
                  peer.rss_mb);
    }
    std::fflush(stdout);
  }

  // --- 2. start over existing profiles --------------------------------------------------------
  fake.clear_distinct();
  // A job holds at most max_job_items (10,000) items: the 100,000 go as jobs of 10,000.
  std::vector<std::string> start_bodies;
  for (std::size_t from = 0; from < start_n; from += 10'000)
    start_bodies.push_back(start_body(13, from, std::min(start_n, from + 10'000)));
  const std::size_t start_jobs = start_bodies.size();
  auto st = run_phase(redis, heraldd, fake, "start", std::move(start_bodies));
  if (st.fake.items != start_n || fake.distinct() != start_n) {
    checks_failed = true;
    std::fprintf(stderr,
                 "CHECK FAILED: start: the fake took %llu items (%zu distinct), expected %zu\n",
                 static_cast<unsigned long long>(st.fake.items), fake.distinct(), start_n);
  }
  const double start_msgs = static_cast<double>(st.fake.items) / st.seconds;
  std::printf("\n== start: %zu existing profiles in %zu jobs\n", start_n, start_jobs);
  std::printf("  %-44s %10.0f\n", "messages per second", start_msgs);
  std::printf(
      "  %-44s %10.3f\n", "share of calls with a full batch",
      st.fake.calls ? static_cast<double>(st.fake.full) / static_cast<double>(st.fake.calls) : 0);
  std::printf("  %-44s %10.1f\n", "redis-server CPU per message (us)",
              st.redis_cpu / start_n * 1e6);
  std::printf("  %-44s %10.1f\n", "heraldd CPU per message (us)", st.heraldd_cpu / start_n * 1e6);
  print_commands(st, static_cast<double>(start_n));
  if (peer.ran)
    std::printf("  %-44s %10.0f  peer %10.0f  ratio %.2f\n", "beside the peer's import_and_start",
                start_msgs, peer.msgs_per_s, start_msgs / peer.msgs_per_s);
  std::fflush(stdout);

  // --- 3. leadconverter_bot at concurrency 64, beside wrk ---------------------------------------
  constexpr std::size_t bot_jobs = 10;
  std::vector<std::string> bot_bodies;
  for (std::size_t j = 0; j < bot_jobs; ++j)
    bot_bodies.push_back(start_body(14, j * bot_n / bot_jobs, (j + 1) * bot_n / bot_jobs));
  fake.clear_distinct();
  auto bot = run_phase(redis, heraldd, fake, "start", std::move(bot_bodies));
  if (bot.fake.bot_calls != bot_n || fake.distinct() != bot_n) {
    checks_failed = true;
    std::fprintf(stderr,
                 "CHECK FAILED: bot: the fake took %llu calls (%zu distinct), expected %zu\n",
                 static_cast<unsigned long long>(bot.fake.bot_calls), fake.distinct(), bot_n);
  }
  const double bot_rate = static_cast<double>(bot.fake.bot_calls) / bot.seconds;
  const long rss_end = bench::peak_rss_kib(heraldd.process().pid());
  const double wrk = run_wrk(fake.bot_url(), 64, 5);
  std::printf("\n== leadconverter_bot: %zu messages in %zu start jobs, concurrency 64\n", bot_n,
              bot_jobs);
  std::printf("  %-44s %10.0f\n", "calls per second from heraldd", bot_rate);
  std::printf("  %-44s %10.1f\n", "heraldd CPU per call (us)", bot.heraldd_cpu / bot_n * 1e6);
  std::printf("  %-44s %10.1f\n", "redis-server CPU per call (us)", bot.redis_cpu / bot_n * 1e6);
  print_commands(bot, static_cast<double>(bot_n));
  if (wrk > 0)
    std::printf("  %-44s %10.0f  ratio %.2f\n", "wrk -c 64 on the same endpoint (req/s)", wrk,
                bot_rate / wrk);
  std::printf("  %-44s %10.1f\n", "heraldd peak RSS, whole run (MiB)", rss_end / 1024.0);

  // --- goals ----------------------------------------------------------------------------------
  std::printf("\n== goals (ratios from this run)\n");
  if (peer.ran) {
    std::printf(
        "  import_and_start >= the peer's msgs/s (%.0f vs %.0f, %.2fx) with >= 95%% full "
        "calls (%.3f): %s\n",
        imp_msgs, peer.msgs_per_s, imp_msgs / peer.msgs_per_s, imp_full,
        verdict(imp_msgs >= peer.msgs_per_s && imp_full >= 0.95));
    std::printf("  start >= 1.5x the peer's rate (%.0f vs %.0f, %.2fx): %s\n", start_msgs,
                1.5 * peer.msgs_per_s, start_msgs / peer.msgs_per_s,
                verdict(start_msgs >= 1.5 * peer.msgs_per_s));
  } else {
    std::printf("  import_and_start and start against the peer: not measured (peer not run)\n");
  }
  if (wrk > 0)
    std::printf("  leadconverter_bot >= 0.5 of wrk (%.2f): %s\n", bot_rate / wrk,
                verdict(bot_rate >= 0.5 * wrk));
  else
    std::printf("  leadconverter_bot against wrk: not measured (wrk did not run)\n");
  std::printf("  peak RSS < 128 MiB (%.1f MiB in import_and_start, %.1f MiB whole run): %s\n",
              rss_import / 1024.0, rss_end / 1024.0, verdict(rss_end < 128 * 1024));
  heraldd.terminate();
  return checks_failed ? 1 : 0;
}
