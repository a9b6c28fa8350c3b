// Profile import through a running heraldd, against one fresh redis-server (TCP, no persistence):
// 10 jobs of 10,000 profiles each (email matching, two subscriptions a profile, half of the
// profiles already present, and changed by the import), then profiles imported per second, Redis
// commands per profile, Redis memory per stored profile, and a lookup's latency with 10,000 and
// with 1,000,000 profiles stored (two redis-servers, lookups alternating between them).
//
//   build/tests/bench/import_bench
//   HERALD_BENCH_IMPORT_JOBS=2 HERALD_BENCH_LOOKUP_PROFILES=100000 build/tests/bench/import_bench
#include <sched.h>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <random>
#include <thread>

#include "bench_support.hpp"
#include "herald/common/gather.hpp"
#include "herald/profiles/store.hpp"
#include "herald/queue/task_store.hpp"
#include "support/heraldd.hpp"

namespace asio = boost::asio;
using namespace herald;
using herald::bench::seconds_since;
using herald::test::redis_server;

namespace {

constexpr std::size_t items_per_job = 10'000;

std::size_t env_size(const char* name, std::size_t dflt) {
  const char* v = std::getenv(name);
  return v ? std::stoul(v) : dflt;
}

std::string email_of(std::size_t job, std::size_t i) {
  return "user" + std::to_string(job) + "-" + std::to_string(i) + "@example.com";
}

// One import_and_start body: items [from, to) of job `job`, named `name`.
std::string import_body(std::size_t job, std::size_t from, std::size_t to, const char* name) {
  std::string body = R"({"matching": "email", "skip_triggers": true, "data": [)";
  for (auto i = from; i < to; ++i) {
    char phone[32];
    std::snprintf(phone, sizeof phone, "+7900%02zu%06zu", job, i);
    if (i != from) body += ',';
    body += R"({"data": {"_fname": ")" + std::string(name) + std::to_string(i) + R"(", "email": ")"
            + email_of(job, i) + R"(", "phones": ")" + phone
            + R"(", "subscriptions": [{"channel": "email", "resource_id": 1, "email": ")"
            + email_of(job, i) + R"("}, {"channel": "sms", "resource_id": 1, "phone": ")" + phone
            + R"("}]}})";
  }
  return body + "]}";
}

std::vector<std::string> enqueue(const redis_server& redis, std::vector<std::string> bodies) {
  asio::io_context io(1);
  auto client = bench::connected_client(io, redis);
  queue::task_store store(*client, queue::queue_keys());
  std::vector<queue::new_job> jobs;
  for (auto& b : bodies)
    jobs.push_back({.type = "import_and_start", .account = "bench", .body = std::move(b)});
  std::vector<std::string> ids;
  for (auto& d : test::run_awaitable(io, store.enqueue(std::move(jobs)))) ids.push_back(d.task_id);
  client->stop();
  return ids;
}

// Fills database 1 of account "bench" with profiles `from` to `to`, straight through the store.
void fill(asio::io_context& io, redis::client& client, std::size_t from, std::size_t to) {
  profiles::profile_store store(client, profiles::profile_keys("herald", "bench", 1));
  for (auto at = from; at < to;) {
    std::vector<asio::awaitable<profiles::write_result>> writes;
    for (; at < to && writes.size() < 1000; ++at) {
      profiles::profile p;
      p.id = profiles::new_profile_id();
      p.created_at = p.updated_at = 1;
      p.fields["email"] = email_of(0, at);
      profiles::subscription s;
      s.ch = profiles::channel::email;
      s.resource_id = 1;
      s.email = email_of(0, at);
      p.subscriptions.push_back(s);
      profiles::match_query q;
      q.keys.email = email_of(0, at);
      writes.push_back(store.create(std::move(p), profiles::plan_lookup(q)));
    }
    for (auto& w : test::run_awaitable(io, gather(std::move(writes))))
      if (w.error || !w.value->ok) throw std::runtime_error("fill: a create failed");
  }
}

// Keeps process `pid` (0: this one) on CPU `cpu` when the machine has it.
void pin(pid_t pid, int cpu) {
  if (cpu >= static_cast<int>(std::thread::hardware_concurrency())) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(pid, sizeof set, &set);
}

}  // namespace

int main() {
  const std::size_t jobs = env_size("HERALD_BENCH_IMPORT_JOBS", 10);
  const std::size_t big = env_size("HERALD_BENCH_LOOKUP_PROFILES", 1'000'000);
  const std::size_t small = 10'000;
  const std::size_t total = jobs * items_per_job;
  std::printf(
      "Import benchmark: %zu jobs of %zu profiles (email matching, 2 subscriptions each, "
      "half present)\n",
      jobs, items_per_job);

  // --- import through heraldd ------------------------------------------------------------------
  redis_server redis({.tcp = true});
  test::heraldd_process heraldd({.redis_url = redis.url(), .extra_env = {"HERALD_LOG_LEVEL=info"}});
  const long long mem0 = bench::info_field(redis, "memory", "used_memory");
  std::vector<std::string> half;
  for (std::size_t j = 0; j < jobs; ++j)
    half.push_back(import_body(j, 0, items_per_job / 2, "Old"));
  const double pre = bench::span_of(redis, enqueue(redis, std::move(half)));

  std::vector<std::string> bodies;
  for (std::size_t j = 0; j < jobs; ++j) bodies.push_back(import_body(j, 0, items_per_job, "New"));
  const long long c0 = bench::commands(redis);
  const double redis_cpu0 = bench::cpu_seconds(redis.pid());
  const double heraldd_cpu0 = bench::cpu_seconds(heraldd.process().pid());
  auto ids = enqueue(redis, std::move(bodies));
  const double seconds = bench::span_of(redis, ids);
  const long long c1 = bench::commands(redis);
  const double redis_cpu = bench::cpu_seconds(redis.pid()) - redis_cpu0;
  const double heraldd_cpu = bench::cpu_seconds(heraldd.process().pid()) - heraldd_cpu0;
  const long long stored = redis.integer({"GET", "herald:{pdb:bench:1}:seq"});
  const long rss = bench::peak_rss_kib(heraldd.process().pid());
  heraldd.terminate();
  // Only the profiles' keys count: the queue's (tasks, their item outcomes, the stream) go.
  redis.command({"EVAL",
                 "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end", "0",
                 "herald:{default}:*"});
  const long long mem1 = bench::info_field(redis, "memory", "used_memory");
  if (stored != static_cast<long long>(total))
    throw std::runtime_error("expected " + std::to_string(total) + " profiles, Redis holds "
                             + std::to_string(stored));

  // --- lookups: 10,000 profiles beside 1,000,000 -----------------------------------------------
  redis_server small_redis({.tcp = true}), big_redis({.tcp = true});
  // Both servers on one core and this process on the other, so that neither server is favoured
  // by where the scheduler puts it; the lookups alternate between them.
  pin(small_redis.pid(), 1);
  pin(big_redis.pid(), 1);
  pin(0, 0);
  asio::io_context io(1);
  auto small_client = bench::connected_client(io, small_redis);
  auto big_client = bench::connected_client(io, big_redis);
  auto fill_start = std::chrono::steady_clock::now();
  fill(io, *small_client, 0, small);
  fill(io, *big_client, 0, big);
  const double fill_seconds = seconds_since(fill_start);
  profiles::profile_store small_store(*small_client, profiles::profile_keys("herald", "bench", 1));
  profiles::profile_store big_store(*big_client, profiles::profile_keys("herald", "bench", 1));
  std::mt19937_64 rng(42);
  std::vector<double> small_us, big_us;
  auto lookup = [&](profiles::profile_store& store, std::size_t n, std::vector<double>& out) {
    profiles::match_query q;
    q.keys.email = email_of(0, rng() % n);
    auto t = std::chrono::steady_clock::now();
    auto found = test::run_awaitable(io, store.find(q));
    out.push_back(seconds_since(t) * 1e6);
    if (!found) throw std::runtime_error("lookup: " + q.keys.email + " not found");
  };
  for (int i = 0; i < 20'000; ++i) {
    lookup(small_store, small, small_us);
    lookup(big_store, big, big_us);
  }
  small_client->stop();
  big_client->stop();

  std::printf("%-50s %12.0f\n", "import, first pick-up to last done (profiles/s)", total / seconds);
  std::printf("%-50s %12.0f\n", "  (the half-size pre-import, profiles/s)", total / 2 / pre);
  std::printf("%-50s %12.2f\n", "Redis commands per profile (queue's included)",
              static_cast<double>(c1 - c0) / total);
  std::printf("%-50s %12.1f\n", "CPU per profile, redis-server (us)", redis_cpu / total * 1e6);
  std::printf("%-50s %12.1f\n", "CPU per profile, heraldd (us)", heraldd_cpu / total * 1e6);
  std::printf("%-50s %12.0f\n", "Redis memory per stored profile, indexes included (B)",
              static_cast<double>(mem1 - mem0) / stored);
  std::printf("%-50s %12.1f\n", "heraldd peak RSS (MiB)", rss / 1024.0);
  std::printf("%-50s %12.0f\n", "store fill, profiles/s (direct, for the lookups)",
              (small + big) / fill_seconds);
  const double p50s = bench::percentile(small_us, 0.5), p50b = bench::percentile(big_us, 0.5);
  std::printf("lookup latency, %zu profiles (us)                p50 %7.1f  p99 %7.1f\n", small,
              p50s, bench::percentile(small_us, 0.99));
  std::printf("lookup latency, %zu profiles (us)              p50 %7.1f  p99 %7.1f\n", big, p50b,
              bench::percentile(big_us, 0.99));
  std::printf("%-50s %12.2f\n", "lookup p50 ratio, large / small", p50b / p50s);
  return 0;
}
