// The workers of one heraldd: read jobs from the queue's stream as one consumer of its group,
// run each job in chunks through its handler, claim jobs other consumers left idle, move due
// delayed jobs back, and drain on request (proto/redis-protocol.md, "What the workers do").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "herald/common/backoff.hpp"
#include "herald/queue/handler.hpp"
#include "herald/queue/keys.hpp"
#include "herald/queue/task_store.hpp"

namespace herald::redis {
class client;
}
namespace herald::delivery {
class dispatcher;
}
namespace herald::metrics {
class registry;
}

namespace herald::queue {

// The stream entries one process runs, across all its pools (one per thread, one consumer):
// an entry claimed while it runs here (the process was stopped past claim_idle, say) is never
// started a second time.
class running_entries {
 public:
  // False when `id` runs already.
  bool insert(const std::string& id);
  void erase(const std::string& id);
  bool contains(const std::string& id) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_set<std::string> ids_;
};

struct worker_config {
  // This instance's consumer name in the group; empty: default_consumer_name().
  std::string consumer;
  // Shared by the pools of one process; empty: the pool's own.
  std::shared_ptr<running_entries> running;
  // The pool's delivery to the providers (on its executor), handed to the jobs; null: none.
  delivery::dispatcher* delivery = nullptr;
  // Where the pool counts jobs and items by type and outcome, and the jobs running
  // (herald_jobs_*, herald_items_total; README "Metrics"); null: nowhere. The pools of one
  // process share it.
  metrics::registry* metrics = nullptr;
  // Jobs run at once.
  std::size_t workers = 256;
  // Items per chunk: the unit of progress, of commits and of what a crash may repeat.
  std::uint64_t chunk_size = 100;
  // Entries read per XREADGROUP, and how long it blocks when the stream is empty.
  std::size_t read_batch = 100;
  std::chrono::milliseconds block{1000};
  // A job not acknowledged and not touched for this long is claimed by a live worker.
  std::chrono::milliseconds claim_idle{30000};
  // Deliveries of one job before it is dead-lettered.
  std::uint64_t max_deliveries = 5;
  // The largest job body; a larger one (a plain XADD) is dead-lettered without being read.
  std::size_t max_job_bytes = 10 * 1024 * 1024;
  // About how many bytes of job bodies one read brings in (fewer entries a read when they are
  // large).
  std::size_t max_read_bytes = 64 * 1024 * 1024;
  // The dead-letter stream keeps its newest this many letters.
  std::uint64_t dead_max = 10'000;
  // A consumer of the group with nothing pending and idle this long is removed (a heraldd
  // that is gone).
  std::chrono::milliseconds consumer_idle_max = std::chrono::minutes(10);
  // How long finished tasks are kept.
  std::chrono::milliseconds task_ttl = std::chrono::hours(24 * 7);
  // An account's task index keeps its newest this many task ids.
  std::uint64_t task_index_max = queue::task_index_max;
  // Replicas that must hold a chunk commit of a job with effects before the job goes on
  // (redis_wait_replicas, redis_wait_ms); 0: no wait.
  replica_wait replicas;
  // Delay before a job a handler asked to retry runs again (full jitter, by delivery count).
  backoff_policy retry_backoff{std::chrono::seconds(1), std::chrono::minutes(5),
                               backoff_policy::jitter::full};
};

struct worker_stats {
  std::uint64_t started = 0;    // jobs started (deliveries)
  std::uint64_t completed = 0;  // jobs whose last chunk was committed here
  std::uint64_t chunks = 0;     // chunks committed
  std::uint64_t dead = 0;       // jobs dead-lettered here
  std::uint64_t retried = 0;    // jobs sent to the delayed set
  std::uint64_t errors = 0;     // handler exceptions
  std::uint64_t claimed = 0;    // entries taken over from idle consumers
  std::uint64_t resumed = 0;    // own pending entries taken back after a lost connection
  std::uint64_t lost = 0;       // jobs given up because another consumer had claimed them
  std::uint64_t reaped = 0;     // consumers of gone instances removed
};

class worker_pool {
 public:
  // `shared` carries the pool's commands (pipelined); `blocking` is a connection of its own for
  // XREADGROUP ... BLOCK, which would stall every command behind it on a shared one. Both must
  // run on `ex`, which must not run handlers concurrently.
  worker_pool(boost::asio::any_io_executor ex, redis::client& shared, redis::client& blocking,
              queue_keys keys, const handler_registry& handlers, worker_config config);
  ~worker_pool();

  // Runs until drain() and every running chunk has finished.
  boost::asio::awaitable<void> run();
  // Stops taking jobs; running jobs stop after their current chunk, left pending for a claimer.
  void drain();

  std::size_t running() const;
  worker_stats stats() const;
  const std::string& consumer() const;

 private:
  class impl;
  std::shared_ptr<impl> impl_;
};

// "<hostname>-<pid>-<random>": unique per process start, also for containers where every
// heraldd is PID 1 on one host name.
std::string default_consumer_name();

}  // namespace herald::queue
