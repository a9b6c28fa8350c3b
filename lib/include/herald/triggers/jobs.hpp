// The job types that run triggers and send messages (SPEC.md sections 2 and 4):
// - the trigger half of `import_and_start` (profiles::import_settings::followup): each profile a
//   chunk imported gets the trigger's message, or its reason for none;
// - `start` (the start_batch body): the items find existing profiles, which then get the
//   trigger's message; a profile not found is `skipped: not_found`;
// - `send` ({"provider", "messages": [...]}): messages in the provider's own shape, no profiles.
// A job runs the trigger version it started with: the first chunk pins it in the task
// (`trigger_version`), so that a trigger edited while a task runs changes later tasks only.
// With `timeout`, a chunk's rendered messages wait in Redis (proto/triggers.md, "Scheduled
// sends") and the items end `scheduled`; scheduled_sender delivers them when due.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "herald/profiles/import.hpp"
#include "herald/profiles/import_handler.hpp"
#include "herald/queue/handler.hpp"
#include "herald/triggers/template_cache.hpp"
#include "herald/triggers/trigger.hpp"

namespace herald::redis {
class client;
}
namespace herald::delivery {
class dispatcher;
}

namespace herald::triggers {

struct trigger_job_settings {
  std::string prefix = "herald";  // the Redis key prefix (triggers, tasks, profiles)
  profiles::import_limits limits;
  // The configured providers (a `send` job's provider is checked against them when it is read).
  provider_kinds providers;
  // Shared by every job of the process; compiles a trigger version once.
  std::shared_ptr<template_cache> cache = std::make_shared<template_cache>();
  // How long a deleted trigger's versions stay readable (the store's deleted_ttl).
  std::chrono::milliseconds deleted_ttl = std::chrono::hours(24 * 7);
  // How long a task's scheduled batches are kept past their due time at most (task_ttl).
  std::chrono::milliseconds task_ttl = std::chrono::hours(24 * 7);
};

// The trigger half of import_and_start.
std::shared_ptr<const profiles::import_followup> trigger_followup(trigger_job_settings settings);

// Registers `start` and `send`.
void add_trigger_handlers(queue::handler_registry& registry, trigger_job_settings settings);

// Delivers the scheduled sends of one queue when they are due, on one event-loop thread: takes
// due batches (each leased, so that a crashed heraldd's batch is taken again after `lease`),
// delivers them through `delivery` and records the outcomes on their tasks.
struct scheduled_sender_config {
  std::string prefix = "herald";
  std::chrono::milliseconds poll{500};  // how often Redis is asked when nothing is known due
  std::chrono::milliseconds lease{60'000};
  std::size_t batch = 10;  // batches taken a call
};

class scheduled_sender {
 public:
  scheduled_sender(redis::client& redis, delivery::dispatcher& delivery,
                   scheduled_sender_config config);
  ~scheduled_sender();
  // Runs until stop(); Redis failures are waited out.
  boost::asio::awaitable<void> run();
  void stop();
  std::uint64_t delivered_batches() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace herald::triggers
