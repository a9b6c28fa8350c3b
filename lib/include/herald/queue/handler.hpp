// Job types: each is a handler registered by name. The worker pool parses a job's body with
// its handler, then asks it to process the items chunk by chunk.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "herald/queue/task.hpp"

namespace herald::redis {
class client;
}
namespace herald::delivery {
class dispatcher;
}

namespace herald::queue {

// A body that can never be processed: the job goes to the dead-letter stream at once, its task
// fails with what() (which names the field, e.g. `body.items: must be an integer`).
class bad_job : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// What the worker knows about the job it runs.
struct job_context {
  std::string task_id;
  std::string type;
  std::string account;
  std::string entry_id;
  std::uint64_t deliveries = 0;
  // The worker's pipelined connection, on the executor the job runs on; handlers that keep data
  // in Redis (profiles) use it.
  redis::client* redis = nullptr;
  // The thread's delivery to the providers; null in a worker that sends nothing.
  delivery::dispatcher* delivery = nullptr;
};

// What one chunk did.
struct chunk_result {
  std::uint64_t processed = 0;  // items done (whatever their outcome)
  std::uint64_t sent = 0, scheduled = 0, skipped = 0, failed = 0;
  std::vector<item_outcome> outcomes;  // only those worth keeping
  // Set: run the job again after this long (from this chunk; it is not counted).
  std::optional<std::chrono::milliseconds> retry_after;
  std::string retry_reason;
};

// A parsed job: knows its items and processes a range of them.
class prepared_job {
 public:
  virtual ~prepared_job() = default;
  virtual std::uint64_t total() const = 0;
  // Reads every item as a chunk will and throws bad_job naming the first one a chunk would fail
  // (`body.data[3].data.email: not a valid email address`). For the HTTP API, which refuses
  // such a request whole rather than enqueue it; a worker never asks (a wrong item fails alone).
  virtual void check_items() const {}
  // Processes items [begin, end). Throwing leaves the job to be delivered again.
  virtual boost::asio::awaitable<chunk_result> run(const job_context& ctx, std::uint64_t begin,
                                                   std::uint64_t end) = 0;
};

class job_handler {
 public:
  virtual ~job_handler() = default;
  // Parses and validates `body`; throws bad_job naming the field.
  virtual std::unique_ptr<prepared_job> prepare(std::string_view body) const = 0;
  // Whether running a job changes anything outside its task (profiles written, messages sent).
  // Only a job without effects may take the fast path that runs a fresh one-chunk job before
  // its task is read: a task cancelled while queued would otherwise still see its job run once.
  virtual bool has_effects() const { return true; }
  // Whether a job's chunk finishes at once (noop). Only a job without effects that is also
  // instant takes the fast path: a job run before its task is written is invisible to status
  // readers while it runs, so that may last no longer than an instant.
  virtual bool instant() const { return false; }
};

class handler_registry {
 public:
  void add(std::string type, std::shared_ptr<const job_handler> handler);
  const job_handler* find(std::string_view type) const;
  std::vector<std::string> types() const;

 private:
  std::map<std::string, std::shared_ptr<const job_handler>, std::less<>> handlers_;
};

// `noop` ({"items": N}, default 1: each item does nothing) and `sleep` ({"items": N, "ms": M}:
// each chunk waits M ms per item; for tests).
void add_builtin_handlers(handler_registry& registry);

}  // namespace herald::queue
