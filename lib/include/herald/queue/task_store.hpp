// Reads and changes tasks and queues in Redis through the scripts of proto/: enqueue, status,
// item outcomes, cancel, queue statistics and the dead-letter stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "herald/queue/keys.hpp"
#include "herald/queue/task.hpp"

namespace herald::redis {
class client;
}

namespace herald::queue {

// An idempotency key's longest length, in characters (the job schema's maxLength).
inline constexpr std::size_t max_idempotency_key_chars = 200;

// One job to enqueue.
struct new_job {
  std::string type;
  std::string account;
  std::string body;                    // JSON
  std::string task_id;                 // empty: a new random UUID
  std::optional<std::uint64_t> total;  // items; nothing: the worker counts them
  std::string idempotency_key;         // empty: none
  std::int64_t run_at = 0;             // ms since the epoch; 0 or past: now
};

struct enqueued {
  std::string task_id;
  bool created = true;  // false: the idempotency key returned an earlier task
};

struct queue_stats {
  std::uint64_t length = 0;   // entries in the stream (waiting and pending)
  std::uint64_t pending = 0;  // handed to a worker, not acknowledged
  std::uint64_t delayed = 0;
  std::uint64_t dead = 0;
  std::uint64_t consumers = 0;
  // Entries no worker has been handed yet: the group's lag (when Redis cannot tell, after
  // entries were deleted from the stream's middle, the length less the pending).
  std::uint64_t waiting = 0;
  std::uint64_t scheduled_sends = 0;  // batches of scheduled sends waiting (P:{Q}:sends)
};

// One consumer of the group (a heraldd) as XINFO CONSUMERS shows it.
struct consumer_stats {
  std::string name;
  std::uint64_t pending = 0;  // entries handed to it, not acknowledged
  std::int64_t idle_ms = 0;   // since its last read or claim
};

// What task_store::list reads.
struct task_list_request {
  task_filter filter;
  std::uint64_t offset = 0;  // matching tasks skipped, newest first
  std::uint64_t limit = 100;
  // Index ids read at most: bounds one listing's cost whatever the account's size.
  std::uint64_t max_scan = task_index_max;
  // Read on past the page to count every matching task (total); false: stop once it is full.
  bool count_total = true;
};

struct task_page {
  std::vector<task_record> tasks;  // newest first
  // Matching tasks among the ids read: all of them when total_exact, a lower bound otherwise
  // (max_scan was reached, or count_total was false and the page filled).
  std::uint64_t total = 0;
  bool total_exact = true;
};

struct dead_letter {
  std::string id;        // in the dead-letter stream
  std::string entry_id;  // the job's stream entry
  std::string task_id, type, account, reason;
  std::uint64_t deliveries = 0;
  std::int64_t dead_at = 0;
};

// How many replicas must hold a write before it counts as done (redis_wait_replicas and
// redis_wait_ms): WAIT after the write, on the connection that wrote.
struct replica_wait {
  std::uint64_t replicas = 0;  // 0: do not wait
  std::chrono::milliseconds timeout{1000};
};

// WAIT `w.replicas` `w.timeout` on `redis` (nothing when w.replicas is 0); throws
// redis::error(errc::not_replicated), naming `what` and the count, when fewer acknowledged.
boost::asio::awaitable<void> wait_for_replicas(redis::client& redis, const replica_wait& w,
                                               std::string_view what);

class task_store {
 public:
  task_store(redis::client& redis, queue_keys keys,
             std::chrono::milliseconds task_ttl = std::chrono::hours(24 * 7),
             std::uint64_t index_max = task_index_max,
             std::size_t max_job_bytes = default_max_job_bytes);

  // The largest job body any enqueue path takes (the HTTP body limit).
  static constexpr std::size_t default_max_job_bytes = 10 * 1024 * 1024;

  const queue_keys& keys() const { return keys_; }

  // Every enqueue waits for `w` after its write, and fails (errc::not_replicated) short of it.
  void set_replica_wait(replica_wait w) { wait_ = w; }

  // Creates the tasks as `queued` and their entries, atomically per call (enqueue.lua): all of
  // them, or (a job refused: its task id in use, its body over max_job_bytes) none, with an
  // error naming the job. A body's top-level `token` is not stored. With a replica wait set,
  // the write is answered only once that many replicas hold it (else redis::error
  // not_replicated: the jobs are enqueued on the primary, and a retry with the same
  // idempotency keys returns them).
  boost::asio::awaitable<std::vector<enqueued>> enqueue(std::vector<new_job> jobs);
  boost::asio::awaitable<enqueued> enqueue(new_job job);

  // The task, or nothing when it does not exist (or expired). `account` non-empty: a task of
  // another account is reported as not existing. A task no worker has started yet may be a
  // queued record rather than a hash (proto/redis-protocol.md); either reads the same.
  boost::asio::awaitable<std::optional<task_record>> get(std::string task_id,
                                                         std::string account = {});
  // The account's newest tasks, newest first, at most `limit` (expired ones skipped; the ids of
  // expired tasks at the index's old end are removed from it). Reads pages of ids, each page's
  // tasks in one pipelined round trip.
  boost::asio::awaitable<std::vector<task_record>> list(std::string account, std::uint64_t limit);
  // The same, filtered and paginated: the matching tasks from `offset`, and how many match.
  boost::asio::awaitable<task_page> list(std::string account, task_list_request request);
  // Item outcomes with index in [from, from+limit), in index order.
  boost::asio::awaitable<std::vector<item_outcome>> items(std::string task_id, std::uint64_t from,
                                                          std::uint64_t limit);
  // cancel.lua: the status after the call, or nothing when the account has no such task.
  boost::asio::awaitable<std::optional<task_status>> cancel(std::string task_id,
                                                            std::string account);

  boost::asio::awaitable<queue_stats> stats();
  // The group's consumers (each heraldd is one), by name; none before the group exists.
  boost::asio::awaitable<std::vector<consumer_stats>> consumers();
  boost::asio::awaitable<std::vector<dead_letter>> dead_letters(std::uint64_t limit = 100);
  // Puts a dead letter back on the stream (dead_retry.lua); false when there is none with `id`;
  // throws when its task id is another task's now.
  boost::asio::awaitable<bool> retry_dead(std::string id);
  // Removes every dead letter, atomically; returns how many there were.
  boost::asio::awaitable<std::uint64_t> purge_dead();
  // trim.lua: removes acknowledged entries only; returns how many.
  boost::asio::awaitable<std::uint64_t> trim();

 private:
  redis::client& redis_;
  queue_keys keys_;
  std::chrono::milliseconds task_ttl_;
  std::uint64_t index_max_;
  std::size_t max_job_bytes_;
  replica_wait wait_;
};

// A queued record (`entry_id total account type`, the queued hash's value for a task no worker
// has started) as the task it stands for; nothing when `record` is not one.
std::optional<task_record> parse_queued_record(std::string_view task_id, std::string_view record);

// Milliseconds since the epoch, now.
std::int64_t now_ms();
// A random UUID (version 4), lowercase.
std::string new_task_id();
// Whether `id` can be a task id: 1 to 64 characters of A-Za-z0-9_-.
bool valid_task_id(std::string_view id);
// Whether `account` can be an account name: 1 to 64 characters of A-Za-z0-9_.-.
bool valid_account(std::string_view account);

}  // namespace herald::queue
