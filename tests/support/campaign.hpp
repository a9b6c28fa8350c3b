// A delivery campaign for end-to-end tests of the built heraldd: triggers written to a
// directory heraldd loads (HERALD_TRIGGERS_DIR), fake providers named by HERALD_PROVIDER_*
// variables, import_and_start jobs of numbered profiles enqueued with the built herald, and
// their tasks read back from Redis.
//
//   campaign c(redis, triggers_json, {"HERALD_PROVIDER_LC_KIND=leadconverter_messages", ...});
//   heraldd_process d(c.daemon({"HERALD_CHUNK_SIZE=100"}));
//   auto ids = c.enqueue_imports(13, 4, 5000);   // 4 jobs of 5,000 profiles: p1 .. p20000
//   wait_until([&] { return c.all_completed(ids); }, 60s);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace herald::test {

// Profile n of a campaign: email pN@example.com, a leadconverter subscription (subscriber_id
// n, resource 1) and an email subscription (resource 1).
std::string campaign_profile(std::int64_t n);

class campaign {
 public:
  // `provider_env`: the HERALD_PROVIDER_* variables (given to heraldd and to the CLI, which
  // checks a job's provider against them).
  campaign(redis_server& redis, const std::string& triggers_json,
           std::vector<std::string> provider_env);

  // heraldd's options on this campaign's Redis, triggers and providers, plus `extra` env.
  heraldd_process::options daemon(std::vector<std::string> extra = {}) const;

  // Enqueues `jobs` import_and_start jobs of `per_job` profiles each (profiles first,
  // first+1, ...) on `trigger_id`, without waiting; their task ids in order.
  std::vector<std::string> enqueue_imports(int trigger_id, int jobs, int per_job,
                                           std::int64_t first = 1);

  // A field of the task's hash ("" when absent).
  std::string field(const std::string& task_id, const std::string& name) const;
  std::int64_t counter(const std::string& task_id, const std::string& name) const;
  bool all_completed(const std::vector<std::string>& ids) const;
  // The sum of a counter over the tasks.
  std::int64_t total(const std::vector<std::string>& ids, const std::string& name) const;
  // Entries of the dead-letter stream.
  long long dead() const;
  // The published provider health (P:{providers}:health, what `herald providers` lists):
  // one parsed entry per NAME@INSTANCE field.
  struct health_entry {
    std::string name, instance, state;
    std::int64_t sent = 0, failed = 0, probes = 0, times_opened = 0;
  };
  std::vector<health_entry> health() const;

  herald_cli& cli() { return cli_; }
  const temp_dir& dir() const { return dir_; }

 private:
  redis_server& redis_;
  temp_dir dir_;
  std::vector<std::string> env_;
  herald_cli cli_;
};

}  // namespace herald::test
