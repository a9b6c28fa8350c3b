// A task as stored in Redis and as its status is shown: state, counters, times, outcomes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::queue {

enum class task_status { queued, processing, completed, failed, cancelled };
std::string_view to_string(task_status s);
std::optional<task_status> parse_task_status(std::string_view s);
inline bool is_final(task_status s) {
  return s == task_status::completed || s == task_status::failed || s == task_status::cancelled;
}

// What happened to one item, when there is something to say about it.
struct item_outcome {
  enum class kind { processed, sent, scheduled, skipped, failed };
  std::uint64_t index = 0;
  kind outcome = kind::processed;
  std::string profile_id;  // empty when the item has none
  std::string code;        // skipped/failed: a machine-readable reason, e.g. "no_subscription"
  std::string message;     // failed: what a person reads

  std::string to_json() const;  // the member stored in the task's items set
  static std::optional<item_outcome> from_json(std::string_view json);
};
std::string_view to_string(item_outcome::kind k);

struct task_record {
  std::string task_id;
  std::string type;
  std::string account;
  task_status status = task_status::queued;
  std::uint64_t total = 0, processed = 0, sent = 0, scheduled = 0, skipped = 0, failed = 0;
  std::uint64_t cursor = 0, deliveries = 0;
  // Milliseconds since the epoch; 0 when not (yet) set.
  std::int64_t created_at = 0, started_at = 0, finished_at = 0, expires_at = 0, run_at = 0;
  std::string error_text;
  std::string last_error;

  // floor(100·processed/total); 100 for a completed task without items.
  int progress() const;
};

// Which of an account's tasks a listing shows; an empty part does not filter.
struct task_filter {
  std::vector<task_status> statuses;  // any of these
  std::vector<std::string> types;     // any of these
  // Milliseconds since the epoch, both inclusive.
  std::optional<std::int64_t> created_from, created_to;

  bool matches(const task_record& t) const;
};

// The profiles a job reached (imported, or sent or scheduled the trigger's message; not those
// skipped or failed), in the order of `outcomes`: `[{"profile_id": "..."}, ...]`, the result list
// of seeds 001 and 004.
std::string profile_results_json(const std::vector<item_outcome>& outcomes);

// The task-status reply of seeds/004 (proto/schemas/task-status.schema.json):
// {"data": {"status", "progress", "result": {"error", "error_text", "result": [{"profile_id"}]},
//  counters, timestamps}, "error": 0, "error_text": "Successful operation"}
std::string status_reply_json(const task_record& task, const std::vector<item_outcome>& outcomes);
// That reply's `data` object. Without `outcomes` (tasks/list), `result` has no `result` list.
std::string task_status_json(const task_record& task, const std::vector<item_outcome>* outcomes);

// "2026-11-23T05:00:00.123Z" for milliseconds since the epoch.
std::string iso8601(std::int64_t ms);

}  // namespace herald::queue
