// How `herald` shows things: the progress bar and its plain-line form, a task's status for
// people, task lists, queue statistics, dead letters and profiles, each in human and JSON form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "herald/delivery/provider_health.hpp"
#include "herald/profiles/profile.hpp"
#include "herald/queue/task.hpp"
#include "herald/queue/task_store.hpp"

namespace herald::cli {

// "[#####     ] 50% 5000/10000 processing" with a bar `width` characters wide.
std::string progress_bar_line(const queue::task_record& task, std::size_t width = 30);
// "50% 5000/10000 processing": one line per change when the output is not a terminal.
std::string progress_plain_line(const queue::task_record& task);

// Follows the snapshots of one task and says what to write for each: on a terminal the bar,
// redrawn in place; otherwise a new plain line whenever status or progress changed.
class progress_display {
 public:
  enum class style { terminal, plain };
  explicit progress_display(style s, std::size_t bar_width = 30);

  // What to write for this snapshot; empty when nothing changed.
  std::string update(const queue::task_record& task);
  // What to write after the last snapshot (the terminal's newline).
  std::string finish() const;

 private:
  style style_;
  std::size_t bar_width_;
  bool drawn_ = false;
  std::string last_;
};

// "1.234s", "2m 03s", "1h 02m": an elapsed time for people.
std::string format_elapsed(std::int64_t ms);

// A task for people: status, progress, counters and times, one `name: value` line each.
std::string format_status(const queue::task_record& task);

// Tasks newest first, one line each, under a header line.
std::string format_task_list(const std::vector<queue::task_record>& tasks);
// The same as a JSON array of {task_id, type, status, progress, counters, times}.
std::string task_list_json(const std::vector<queue::task_record>& tasks);

std::string format_queue_stats(const queue::queue_stats& stats);
// {"length": .., "pending": .., "delayed": .., "dead": .., "consumers": ..}
std::string queue_stats_json(const queue::queue_stats& stats);

// The providers heraldd instances published (herald providers, delivery::read_published): for
// people a table and each one's recent errors, in JSON an array of the published objects.
std::string format_providers(const std::vector<delivery::published_status>& providers);
std::string providers_json(const std::vector<delivery::published_status>& providers);

std::string format_dead_letters(const std::vector<queue::dead_letter>& dead);
std::string dead_letters_json(const std::vector<queue::dead_letter>& dead);

// A profile for people: id, database, times, then its fields (a tag list joined by ", ") and
// its subscriptions (channel, resource, status, then the address and any other fields as
// name=value), one a line. The JSON form is profiles::profile::to_json.
std::string format_profile(const profiles::profile& p, std::int64_t db_id);

}  // namespace herald::cli
