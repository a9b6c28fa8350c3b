#include "support/campaign.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/json_doc.hpp"

namespace herald::test {

std::string campaign_profile(std::int64_t n) {
  const std::string i = std::to_string(n);
  return R"({"data": {"_fname": "p)" + i + R"(", "email": "p)" + i
         + R"(@example.com", "subscriptions": [{"channel": "leadconverter", "resource_id": 1, )"
         + R"("subscriber_id": )" + i + R"(}, {"channel": "email", "resource_id": 1, "email": "p)"
         + i + R"(@example.com"}]}})";
}

namespace {

std::vector<std::string> with_triggers(std::vector<std::string> env, const temp_dir& dir) {
  env.push_back("HERALD_TRIGGERS_DIR=" + (dir / "triggers").string());
  return env;
}

std::vector<std::string> cli_env(std::vector<std::string> env, const redis_server& redis) {
  for (auto e : {"HERALD_CONFIG=/dev/null", "HERALD_ACCOUNT=acme"}) env.emplace_back(e);
  env.push_back("HERALD_REDIS_URL=" + redis.url());
  return env;
}

}  // namespace

campaign::campaign(redis_server& redis, const std::string& triggers_json,
                   std::vector<std::string> provider_env)
    : redis_(redis),
      dir_("herald-campaign"),
      env_(with_triggers(std::move(provider_env), dir_)),
      cli_(dir_, cli_env(env_, redis_)) {
  std::filesystem::create_directories(dir_ / "triggers");
  std::ofstream(dir_ / "triggers" / "acme.json") << triggers_json;
}

heraldd_process::options campaign::daemon(std::vector<std::string> extra) const {
  auto env = env_;
  env.insert(env.end(), extra.begin(), extra.end());
  return {.redis_url = redis_.url(),
          .extra_env = std::move(env),
          .extra_args = {},
          .wait_until_listening = true};
}

std::vector<std::string> campaign::enqueue_imports(int trigger_id, int jobs, int per_job,
                                                   std::int64_t first) {
  std::vector<std::string> ids;
  for (int j = 0; j < jobs; ++j) {
    const auto path = cli_.new_path("job", ".json");
    {
      std::ofstream out(path);
      out << R"({"type": "import_and_start", "body": {"token": "abcdefghijklmnqrstuvwxyz", )"
          << R"("matching": "email", "trigger_id": )" << trigger_id
          << R"(, "content": {"page": "campaign"}, "data": [)";
      for (int i = 0; i < per_job; ++i)
        out << (i ? "," : "") << campaign_profile(first + std::int64_t{j} * per_job + i);
      out << "]}}";
    }
    const auto r = cli_.run({"enqueue", path.string()});
    if (r.code != 0) throw std::runtime_error("herald enqueue failed: " + r.out + r.err);
    ids.push_back(r.out.substr(0, r.out.find('\n')));
  }
  return ids;
}

std::string campaign::field(const std::string& task_id, const std::string& name) const {
  auto v = redis_.command({"HGET", "herald:{default}:task:" + task_id, name});
  return v == "(nil)" ? std::string() : v;
}

std::int64_t campaign::counter(const std::string& task_id, const std::string& name) const {
  const auto v = field(task_id, name);
  return v.empty() ? 0 : std::stoll(v);
}

bool campaign::all_completed(const std::vector<std::string>& ids) const {
  for (const auto& id : ids)
    if (field(id, "status") != "completed") return false;
  return true;
}

std::int64_t campaign::total(const std::vector<std::string>& ids, const std::string& name) const {
  std::int64_t sum = 0;
  for (const auto& id : ids) sum += counter(id, name);
  return sum;
}

long long campaign::dead() const {
  return redis_.integer({"XLEN", "herald:{default}:dead"});
}

std::vector<campaign::health_entry> campaign::health() const {
  std::vector<health_entry> out;
  std::istringstream in(redis_.command({"HVALS", "herald:{providers}:health"}));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() != '{') continue;
    json_doc d(line);
    health_entry e;
    e.name = d.str("/name");
    e.instance = d.str("/instance");
    e.state = d.str("/state");
    e.sent = d.integer("/sent");
    e.failed = d.integer("/failed");
    e.probes = d.integer("/probes");
    e.times_opened = d.integer("/times_opened");
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace herald::test
