// The Redis keys of one queue (proto/redis-protocol.md): every key carries the queue's hash tag,
// so a queue's keys share one Redis Cluster slot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herald::queue {

// An account's task index (P:{Q}:tasks:<account>) keeps its newest this many task ids.
inline constexpr std::uint64_t task_index_max = 100'000;

class queue_keys {
 public:
  explicit queue_keys(std::string prefix = "herald", std::string queue = "default");

  const std::string& jobs() const { return jobs_; }           // P:{Q}:jobs
  const std::string& delayed() const { return delayed_; }     // P:{Q}:delayed
  const std::string& dead() const { return dead_; }           // P:{Q}:dead
  const std::string& queued() const { return queued_; }       // P:{Q}:queued
  std::string task(std::string_view task_id) const;           // P:{Q}:task:<id>
  std::string items(std::string_view task_id) const;          // P:{Q}:task:<id>:items
  std::string account_tasks(std::string_view account) const;  // P:{Q}:tasks:<account>
  std::string idempotency(std::string_view account, std::string_view key) const;
  // Scheduled sends (proto/triggers.md): P:{Q}:sends, P:{Q}:send_bodies, P:{Q}:task:<id>:sends.
  std::string sends() const { return base_ + "sends"; }
  std::string send_bodies() const { return base_ + "send_bodies"; }
  std::string task_sends(std::string_view task_id) const { return task(task_id) + ":sends"; }
  // The same keys written into `out` (its storage reused), for building many commands' keys.
  std::string& task(std::string& out, std::string_view task_id) const;
  std::string& items(std::string& out, std::string_view task_id) const;
  std::string& account_tasks(std::string& out, std::string_view account) const;
  static constexpr std::string_view group = "workers";

 private:
  std::string base_;  // "P:{Q}:"
  std::string jobs_, delayed_, dead_, queued_;
};

}  // namespace herald::queue
