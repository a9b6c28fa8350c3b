#include "herald/queue/worker_pool.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <unordered_set>

#include "herald/metrics/registry.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/redis/client.hpp"
#include "queue/scripts.hpp"

namespace herald::queue {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string default_consumer_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "herald");
  // The task id generator's randomness; 8 hex digits make two starts' names differ.
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + new_task_id().substr(0, 8);
}

bool running_entries::insert(const std::string& id) {
  std::lock_guard lock(mutex_);
  return ids_.insert(id).second;
}
void running_entries::erase(const std::string& id) {
  std::lock_guard lock(mutex_);
  ids_.erase(id);
}
bool running_entries::contains(const std::string& id) const {
  std::lock_guard lock(mutex_);
  return ids_.contains(id);
}

namespace {

// One stream entry as the worker sees it.
struct entry {
  std::string id;
  std::string v, type, task_id, account, body, idempotency_key;
  // The job's first entry id (or delayed token) when this entry was moved through the delayed
  // set (a retry, a run_at): start.lua runs it only for the task of that origin.
  std::string origin;
  bool retried = false;          // moved back from the delayed set after a handler asked to retry
  std::uint64_t body_bytes = 0;  // the body was over max_job_bytes: left in Redis (read.lua)
  const std::string& origin_or_id() const { return origin.empty() ? id : origin; }
};

// Entries of an XREADGROUP reply ([[stream, [[id, fields], ...]]]) or of XAUTOCLAIM's second
// element ([[id, fields], ...]); entries whose fields are nil (deleted) are skipped. Bodies are
// moved out of the reply, not copied: a batch of large jobs is read once.
void collect_entries(redis::reply& list, std::vector<entry>& out) {
  for (auto& e : list.as_array()) {
    auto& pair = e.as_array();
    if (pair.size() < 2 || !pair[1].is_array()) continue;
    entry en;
    en.id = pair[0].as_string();
    auto& f = pair[1].elements();
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      std::string_view name = f[i].str();
      const std::string& value = f[i + 1].str();
      if (name == "v")
        en.v = value;
      else if (name == "type")
        en.type = value;
      else if (name == "task_id")
        en.task_id = value;
      else if (name == "account")
        en.account = value;
      else if (name == "body")
        en.body = f[i + 1].take_str();
      else if (name == "idempotency_key")
        en.idempotency_key = value;
      else if (name == "origin")
        en.origin = value;
      else if (name == "retry_of")
        en.retried = true;
      else if (name == "body_bytes")
        std::from_chars(value.data(), value.data() + value.size(), en.body_bytes);
    }
    out.push_back(std::move(en));
  }
}

// A stream entry id ("<ms>-<seq>") as numbers, for ordering ids.
std::pair<std::uint64_t, std::uint64_t> id_order(std::string_view id) {
  std::pair<std::uint64_t, std::uint64_t> out{0, 0};
  auto dash = id.find('-');
  auto ms = id.substr(0, dash);
  std::from_chars(ms.data(), ms.data() + ms.size(), out.first);
  if (dash != std::string_view::npos)
    std::from_chars(id.data() + dash + 1, id.data() + id.size(), out.second);
  return out;
}

// Why an entry cannot be a job at all, naming the field; empty when it can.
std::string envelope_problem(const entry& e, std::size_t max_job_bytes) {
  if (e.v != "1") return e.v.empty() ? "v: required (1)" : "v: unsupported version \"" + e.v + "\"";
  if (e.task_id.empty()) return "task_id: required";
  if (!valid_task_id(e.task_id)) return "task_id: must be 1 to 64 characters of A-Za-z0-9_-";
  if (e.account.empty()) return "account: required";
  if (!valid_account(e.account)) return "account: must be 1 to 64 characters of A-Za-z0-9_.-";
  if (e.type.empty()) return "type: required";
  // read.lua leaves such a body in Redis (body_bytes); the blocking read brings it in full.
  const auto bytes = e.body_bytes > 0 ? e.body_bytes : e.body.size();
  if (max_job_bytes > 0 && bytes > max_job_bytes)
    return "body: " + std::to_string(bytes) + " bytes, over max_job_bytes ("
           + std::to_string(max_job_bytes) + ")";
  return {};
}

// How one delivery of a job ended here (herald_jobs_total's outcome label).
enum class job_outcome {
  completed,      // its last chunk committed
  retried,        // the handler asked for a later run: moved to the delayed set
  dead_lettered,  // moved to the dead-letter stream (its task failed)
  failed,         // the handler threw: left pending, delivered again once claimed
  cancelled,      // its task ended meanwhile (a cancel)
  lost,           // another consumer had claimed it
  interrupted,    // drained or Redis away: left pending, resumed from its cursor
};
constexpr std::array<std::string_view, 7> job_outcome_names{
    "completed", "retried", "dead_lettered", "failed", "cancelled", "lost", "interrupted"};
constexpr std::array<std::string_view, 5> item_outcome_names{"sent", "scheduled", "skipped",
                                                             "failed", "done"};

// The pool's series, resolved once per job type (the handlers' types, and "unknown" for the
// rest: a type label never comes from a job's own bytes), so that counting takes no lock.
class pool_metrics {
 public:
  struct of_type {
    metrics::counter* started = nullptr;
    std::array<metrics::counter*, job_outcome_names.size()> jobs{};
    std::array<metrics::counter*, item_outcome_names.size()> items{};
  };

  pool_metrics(metrics::registry& r, const handler_registry& handlers, std::size_t workers)
      : running_(
          r.add_gauge("herald_jobs_running", "Jobs running now in this heraldd (in flight).")) {
    auto& started =
        r.counter_family("herald_jobs_started_total",
                         "Job deliveries started by this heraldd, by job type.", {"type"});
    auto& jobs = r.counter_family(
        "herald_jobs_total",
        "Job deliveries ended by this heraldd, by job type and outcome (completed, retried, "
        "dead_lettered, failed, cancelled, lost, interrupted).",
        {"type", "outcome"});
    auto& items = r.counter_family(
        "herald_items_total",
        "Job items committed by this heraldd, by job type and outcome (sent, scheduled, "
        "skipped, failed; done: processed with no delivery, as noop and import items).",
        {"type", "outcome"});
    r.add_gauge("herald_worker_slots", "Jobs this heraldd runs at once at most (workers).")
        .add(static_cast<double>(workers));
    auto types = handlers.types();
    types.emplace_back(unknown);
    for (const auto& t : types) {
      of_type& o = types_[t];
      o.started = &started.with({t});
      for (std::size_t i = 0; i < job_outcome_names.size(); ++i)
        o.jobs[i] = &jobs.with({t, job_outcome_names[i]});
      for (std::size_t i = 0; i < item_outcome_names.size(); ++i)
        o.items[i] = &items.with({t, item_outcome_names[i]});
    }
  }

  const of_type& of(std::string_view type) const {
    auto it = types_.find(type);
    return it != types_.end() ? it->second : types_.find(unknown)->second;
  }
  void started(std::string_view type) {
    of(type).started->inc();
    running_.add(1);
  }
  void ended(std::string_view type, std::optional<job_outcome> outcome) {
    running_.add(-1);
    if (outcome) job(type, *outcome);
  }
  void job(std::string_view type, job_outcome outcome) {
    of(type).jobs[static_cast<std::size_t>(outcome)]->inc();
  }
  void items(std::string_view type, const chunk_result& r) {
    const auto& o = of(type);
    o.items[0]->inc(r.sent);
    o.items[1]->inc(r.scheduled);
    o.items[2]->inc(r.skipped);
    o.items[3]->inc(r.failed);
    const std::uint64_t delivered = r.sent + r.scheduled + r.skipped + r.failed;
    if (r.processed > delivered) o.items[4]->inc(r.processed - delivered);
  }

 private:
  static constexpr std::string_view unknown = "unknown";
  std::map<std::string, of_type, std::less<>> types_;
  metrics::gauge& running_;
};

}  // namespace

class worker_pool::impl : public std::enable_shared_from_this<impl> {
 public:
  impl(asio::any_io_executor ex, redis::client& shared, redis::client& blocking, queue_keys keys,
       const handler_registry& handlers, worker_config config)
      : ex_(std::move(ex)),
        shared_(shared),
        blocking_(blocking),
        keys_(std::move(keys)),
        handlers_(handlers),
        config_(std::move(config)),
        wake_(ex_),
        done_(ex_),
        random_(std::random_device{}()) {
    if (config_.consumer.empty()) config_.consumer = default_consumer_name();
    if (!config_.running) config_.running = std::make_shared<running_entries>();
    if (config_.workers == 0) config_.workers = 1;
    if (config_.chunk_size == 0) config_.chunk_size = 1;
    if (config_.metrics) metrics_.emplace(*config_.metrics, handlers_, config_.workers);
  }

  asio::awaitable<void> run() {
    co_await ensure_group();
    auto self = shared_from_this();
    spawn_loop(&impl::read_loop);
    spawn_loop(&impl::claim_loop);
    spawn_loop(&impl::promote_loop);
    spawn_loop(&impl::touch_loop);
    spawn_loop(&impl::trim_loop);
    while (loops_ > 0 || running_ > 0) {
      done_.expires_at(asio::steady_timer::time_point::max());
      co_await done_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  void drain() {
    asio::dispatch(ex_, [self = shared_from_this()] {
      if (self->draining_) return;
      self->draining_ = true;
      spdlog::info("queue: draining, {} jobs finishing their current chunk", self->running_);
      self->wake_.cancel();
      for (auto* t : self->sleepers_) t->cancel();
      // Cut the blocking read short; what it was about to hand over stays for a claimer.
      self->blocking_.stop();
    });
  }

  std::size_t running() const { return running_; }
  worker_stats stats() const { return stats_; }
  const std::string& consumer() const { return config_.consumer; }

 private:
  using loop_fn = asio::awaitable<void> (impl::*)();

  void spawn_loop(loop_fn loop) {
    ++loops_;
    asio::co_spawn(ex_, (this->*loop)(), [self = shared_from_this()](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::critical("queue: a worker loop ended: {}", ex.what());
        }
      }
      --self->loops_;
      self->done_.cancel();
    });
  }

  // Sleeps up to `d`; drain() cuts it short, and so does wake(*slot) when `slot` is given.
  asio::awaitable<void> sleep(std::chrono::milliseconds d, asio::steady_timer** slot = nullptr) {
    asio::steady_timer t(ex_, d);
    sleepers_.insert(&t);
    if (slot) *slot = &t;
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (slot) *slot = nullptr;
    sleepers_.erase(&t);
  }

  asio::awaitable<void> ensure_group() {
    auto [ec, r] = co_await shared_.async_exec(
        redis::command("XGROUP", "CREATE", keys_.jobs(), queue_keys::group, "0", "MKSTREAM"),
        asio::as_tuple(asio::use_awaitable));
    if (ec == redis::errc::server_error && !r.str().starts_with("BUSYGROUP"))
      throw redis::error(redis::errc::server_error, r.str());
    if (ec && ec != redis::errc::server_error) throw redis::error(ec);
  }

  // --- reading ---------------------------------------------------------------------------------

  asio::awaitable<void> read_loop() {
    while (!draining_) {
      if (resume_wanted_) {
        co_await pace_resume();
        resume_wanted_ = false;  // set again by what fails meanwhile
        if (!co_await resume_own()) resume_wanted_ = true;
      }
      std::size_t free = config_.workers - running_;
      if (free == 0) {
        wake_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      // read.lua first, which never blocks and leaves an oversized body in Redis; when it finds
      // nothing, a blocking read of one entry waits for the next.
      std::vector<entry> entries;
      std::vector<std::string> keys{keys_.jobs()};
      std::vector<std::string> args{std::string(queue_keys::group), config_.consumer,
                                    std::to_string(std::min(free, config_.read_batch)),
                                    std::to_string(config_.max_job_bytes),
                                    std::to_string(config_.max_read_bytes)};
      std::string failure;
      try {
        auto r = co_await blocking_.eval(scripts::read(), keys, args);
        collect_entries(r, entries);
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (failure.empty() && entries.empty() && !draining_) {
        redis::command read("XREADGROUP", "GROUP", queue_keys::group, config_.consumer, "COUNT", 1,
                            "BLOCK", config_.block.count(), "STREAMS", keys_.jobs(), ">");
        auto [ec, r] =
            co_await blocking_.async_exec(std::move(read), asio::as_tuple(asio::use_awaitable));
        if (ec)
          failure = ec == redis::errc::server_error ? r.str() : ec.message();
        else if (!r.is_nil())
          for (auto& stream : r.as_array()) collect_entries(stream.as_array().at(1), entries);
      }
      if (!failure.empty() && draining_) break;
      if (!failure.empty()) {
        resume_wanted_ = true;
        if (failure.find("NOGROUP") != std::string::npos) {
          co_await try_ensure_group();
        } else {
          warn_once("reading jobs", failure);
          co_await sleep(200ms);
        }
        continue;
      }
      if (entries.empty()) continue;
      // Reserved at once, as resume_own() does: until start.lua has answered and they run,
      // another pool of this process (the same consumer) may read them from the consumer's
      // pending list in its resume_own(), and the job would run twice, sending twice.
      std::erase_if(entries, [&](const entry& e) { return !config_.running->insert(e.id); });
      std::vector<std::string> ids;
      for (const auto& e : entries) ids.push_back(e.id);
      if (!entries.empty()) co_await start_entries(std::move(entries), true);
      for (const auto& id : ids)
        if (!running_entries_.contains(id)) config_.running->erase(id);
    }
  }

  // Each resume delivers its jobs again, and deliveries count against max_deliveries: while
  // Redis keeps stopping them (a failover's READONLY or LOADING, a replica wait that fails), back
  // to back resumes would spend a job's deliveries within a second and dead-letter it unrun.
  // So a resume soon after the previous one waits: 50 ms, doubling to 2 s while they keep
  // coming, back to none once a resume has been quiet for 5 s.
  asio::awaitable<void> pace_resume() {
    using namespace std::chrono;
    const auto now = steady_clock::now();
    if (now - last_resume_ > seconds(5)) resume_pace_ = milliseconds(0);
    if (resume_pace_ > milliseconds(0)) {
      const auto wait = duration_cast<milliseconds>(last_resume_ + resume_pace_ - now);
      if (wait > milliseconds(0)) co_await sleep(wait);
    }
    resume_pace_ = std::min<milliseconds>(seconds(2), std::max(milliseconds(50), resume_pace_ * 2));
    last_resume_ = steady_clock::now();
  }

  // Takes back at once what is still pending under this consumer's name and runs nowhere in this
  // process: jobs stopped by a lost connection to Redis (or by a restart of Redis), which would
  // otherwise wait for claim_idle. They start as claimed ones do. True when the pending list was
  // read to its end.
  asio::awaitable<bool> resume_own() {
    std::string cursor = "0";
    std::size_t resumed = 0;
    while (!draining_) {
      std::vector<std::string> keys{keys_.jobs()};
      std::vector<std::string> args{
          std::string(queue_keys::group),         config_.consumer,
          std::to_string(config_.read_batch),     std::to_string(config_.max_job_bytes),
          std::to_string(config_.max_read_bytes), cursor};
      redis::reply r;
      try {
        r = co_await blocking_.eval(scripts::read(), keys, args);
      } catch (const std::exception&) {
        co_return false;
      }
      if (!r.is_array() || r.as_array().empty()) break;
      cursor = r.as_array().back().as_array().at(0).str();
      std::vector<entry> entries;
      collect_entries(r, entries);
      // Reserved here, so that another pool of this process does not start one as well.
      std::erase_if(entries, [&](const entry& e) { return !config_.running->insert(e.id); });
      std::vector<std::string> ids;
      for (const auto& e : entries) ids.push_back(e.id);
      resumed += entries.size();
      if (!entries.empty()) co_await start_entries(std::move(entries), false, true);
      for (const auto& id : ids)
        if (!running_entries_.contains(id)) config_.running->erase(id);
    }
    if (resumed > 0) {
      stats_.resumed += resumed;
      spdlog::info("queue: resumed {} jobs left pending by a lost connection to Redis", resumed);
    }
    co_return !draining_;
  }

  asio::awaitable<void> try_ensure_group() {
    try {
      co_await ensure_group();
      co_return;
    } catch (const std::exception& e) {
      spdlog::warn("queue: cannot create the consumer group: {}", e.what());
    }
    co_await sleep(200ms);
  }

  void warn_once(std::string_view what, boost::system::error_code ec, const redis::reply& r) {
    warn_once(what, ec == redis::errc::server_error ? r.str() : ec.message());
  }
  void warn_once(std::string_view what, const std::string& message) {
    // Redis unreachable: the client reports the outage itself, calmly.
    static const std::string not_connected = make_error_code(redis::errc::not_connected).message(),
                             lost = make_error_code(redis::errc::connection_lost).message(),
                             late = make_error_code(redis::errc::timeout).message();
    if (message.find(not_connected) != std::string::npos || message.find(lost) != std::string::npos
        || message.find(late) != std::string::npos) {
      spdlog::debug("queue: {}: {}", what, message);
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning_ < 5s) return;
    last_warning_ = now;
    spdlog::warn("queue: {}: {}", what, message);
  }

  // Parses what was handed to this consumer, dead-letters what can never run, and starts the rest.
  // `fresh`: read with XREADGROUP ">", so delivered for the first time. A fresh job that is
  // instant and without effects (job_handler::instant, has_effects) and fits in one chunk skips
  // start.lua: its commit starts the task (commit.lua, `begins`). Other jobs are started by
  // start.lua, which drops those whose task was cancelled while queued and refuses those whose
  // task id is another job's. An entry this process runs already (claimed back from ourselves)
  // is left alone, and one of a type no handler here knows is left pending for a worker that
  // knows it (a rolling deploy), until it has been delivered max_deliveries times. `resumed`:
  // this consumer's own pending entries, taken back after a lost connection (resume_own): the
  // deliveries they are go on, and start.lua counts none.
  asio::awaitable<void> start_entries(std::vector<entry> entries, bool fresh,
                                      bool resumed = false) {
    struct candidate {
      entry e;
      std::unique_ptr<prepared_job> job;
    };
    std::vector<candidate> ready;
    for (auto& e : entries) {
      std::string problem = envelope_problem(e, config_.max_job_bytes);
      std::unique_ptr<prepared_job> job;
      const job_handler* h = nullptr;
      if (problem.empty()) {
        if ((h = handlers_.find(e.type))) {
          job = prepare(*h, e.body, problem);
          std::string().swap(e.body);  // the prepared job holds what it needs
        } else {
          co_await unknown_type(e, fresh);
          continue;
        }
      }
      if (!problem.empty()) {
        co_await dead_letter(e, problem, fresh ? 1 : 0);  // 0: as Redis counted them
        continue;
      }
      const bool derived = e.retried || !e.origin.empty();
      if (fresh && !derived && h->instant() && !h->has_effects()
          && job->total() <= config_.chunk_size) {
        launch(std::move(e), std::move(job), 0, 1, true);
        continue;
      }
      ready.push_back({std::move(e), std::move(job)});
    }
    if (ready.empty()) co_return;

    std::vector<std::string> keys{keys_.jobs(), keys_.queued()};
    std::vector<std::string> args{std::string(queue_keys::group), std::to_string(now_ms()),
                                  std::to_string(config_.max_deliveries),
                                  std::to_string(config_.task_index_max)};
    for (const auto& c : ready) {
      keys.push_back(keys_.task(c.e.task_id));
      keys.push_back(keys_.account_tasks(c.e.account));
      args.insert(args.end(), {c.e.id, c.e.task_id, c.e.type, c.e.account,
                               std::to_string(c.job->total()), c.e.origin, resumed ? "1" : ""});
    }
    redis::reply started;
    try {
      started = co_await shared_.eval(scripts::start(), keys, args);
    } catch (const std::exception& e) {
      // Left pending: taken back by resume_own() (or claimed after claim_idle). Redis being
      // away is the client's to report (once an outage), not a line each time.
      const auto* re = dynamic_cast<const redis::error*>(&e);
      spdlog::log(
          re && redis::connection_trouble(re->code()) ? spdlog::level::debug : spdlog::level::warn,
          "queue: cannot start {} jobs: {}", ready.size(), e.what());
      resume_wanted_ = true;
      co_return;
    }
    const auto& results = started.as_array();
    for (std::size_t i = 0; i < ready.size() && i < results.size(); ++i) {
      const auto& r = results[i].as_array();
      const std::string& state = r.at(0).str();
      auto cursor = static_cast<std::uint64_t>(r.at(1).integer());
      auto deliveries = static_cast<std::uint64_t>(r.at(2).integer());
      auto& c = ready[i];
      if (state == "run" && cursor > c.job->total()) {
        co_await dead_letter(c.e,
                             "the task's cursor (" + std::to_string(cursor) + ") is past the job's "
                                 + std::to_string(c.job->total()) + " items",
                             deliveries);
      } else if (state == "run") {
        launch(std::move(c.e), std::move(c.job), cursor, deliveries, false);
      } else if (state == "exceeded") {
        std::string last = r.at(4).str();
        std::string reason = "delivered " + std::to_string(deliveries - 1)
                             + " times without finishing"
                             + (last.empty() ? "" : "; last error: " + last);
        co_await dead_letter(c.e, reason, deliveries - 1);
      } else if (state == "foreign") {
        co_await dead_letter(c.e, std::string(task_id_in_use), fresh ? 1 : 0);
      }
    }
  }

  static constexpr std::string_view task_id_in_use = "task_id already in use by another job";

  // An entry of a type no handler here knows: left pending (not touched, so claimed again after
  // claim_idle, by whichever worker) until delivered more than max_deliveries times.
  asio::awaitable<void> unknown_type(const entry& e, bool fresh) {
    std::uint64_t deliveries = 1;
    if (!fresh) {
      auto [ec, r] = co_await shared_.async_exec(
          redis::command("XPENDING", keys_.jobs(), queue_keys::group, e.id, e.id, 1),
          asio::as_tuple(asio::use_awaitable));
      if (!ec && !r.as_array().empty()) deliveries = r.as_array()[0].as_array().at(3).integer();
    }
    if (deliveries <= config_.max_deliveries) {
      spdlog::warn(
          "task {}: job type \"{}\" is unknown to this worker; left for one that knows it "
          "(delivery {} of {})",
          e.task_id, e.type, deliveries, config_.max_deliveries);
      co_return;
    }
    co_await dead_letter(e,
                         "type: unknown job type \"" + e.type + "\" (no worker knew it in "
                             + std::to_string(deliveries - 1) + " deliveries)",
                         deliveries - 1);
  }

  void launch(entry e, std::unique_ptr<prepared_job> job, std::uint64_t cursor,
              std::uint64_t deliveries, bool begins) {
    ++stats_.started;
    if (metrics_) metrics_->started(e.type);
    ++running_;
    running_entries_.insert(e.id);
    config_.running->insert(e.id);
    asio::co_spawn(ex_, run_job(std::move(e), std::move(job), cursor, deliveries, begins),
                   asio::detached);
  }

  static std::unique_ptr<prepared_job> prepare(const job_handler& h, std::string_view body,
                                               std::string& problem) {
    try {
      return h.prepare(body);
    } catch (const bad_job& b) {
      problem = b.what();
      return nullptr;
    }
  }

  asio::awaitable<void> dead_letter(const entry& e, const std::string& reason,
                                    std::uint64_t deliveries) {
    bool has_task = valid_task_id(e.task_id) && valid_account(e.account);
    std::vector<std::string> keys{keys_.jobs(),
                                  keys_.dead(),
                                  keys_.task(has_task ? e.task_id : "-"),
                                  keys_.items(has_task ? e.task_id : "-"),
                                  keys_.queued(),
                                  idempotency_key(e)};
    std::vector<std::string> args{std::string(queue_keys::group),
                                  e.id,
                                  reason,
                                  std::to_string(deliveries),
                                  std::to_string(now_ms()),
                                  std::to_string(config_.task_ttl.count()),
                                  e.type,
                                  e.account,
                                  has_task ? "" : "no_task",
                                  e.task_id,
                                  std::to_string(config_.dead_max),
                                  std::to_string(config_.max_job_bytes)};
    try {
      co_await shared_.eval(scripts::dead_letter(), keys, args);
      ++stats_.dead;
      if (metrics_) metrics_->job(e.type, job_outcome::dead_lettered);
      spdlog::warn("task {}: dead-lettered (entry {}): {}", has_task ? e.task_id : "(none)", e.id,
                   reason);
    } catch (const std::exception& ex) {
      spdlog::warn("task {}: cannot dead-letter entry {}: {}", e.task_id, e.id, ex.what());
    }
  }

  // The job's idempotency key, or the stream's key where a script takes one and it has none.
  std::string idempotency_key(const entry& e) const {
    if (e.idempotency_key.empty() || !valid_account(e.account)) return keys_.jobs();
    return keys_.idempotency(e.account, e.idempotency_key);
  }

  // --- running a job ---------------------------------------------------------------------------

  // `begins`: not started by start.lua; the first commit (or retry, or failure) counts the
  // delivery.
  asio::awaitable<void> run_job(entry e, std::unique_ptr<prepared_job> job, std::uint64_t cursor,
                                std::uint64_t deliveries, bool begins) {
    auto self = shared_from_this();
    job_context ctx{e.task_id, e.type, e.account, e.id, deliveries, &shared_, config_.delivery};
    const std::uint64_t total = job->total();
    // How this delivery ended; nothing when dead_letter() has counted it.
    std::optional<job_outcome> outcome = job_outcome::interrupted;
    try {
      for (;;) {
        if (draining_) break;
        if (lost_entries_.erase(e.id)) {
          ++stats_.lost;
          outcome = job_outcome::lost;
          break;
        }
        std::uint64_t end = std::min(total, cursor + config_.chunk_size);
        chunk_result r;
        std::string error;
        try {
          r = co_await job->run(ctx, cursor, end);
        } catch (const redis::error& ex) {
          // Redis went away under the handler (before anything of the chunk went out, or its
          // sends would wait out Redis): not the job's failure. Taken back by resume_own() as
          // soon as Redis answers, below; left for a claimer it would wait claim_idle.
          if (redis::temporarily_unavailable(ex)) throw;
          error = ex.what();
        } catch (const std::exception& ex) {
          error = ex.what();
          if (error.empty()) error = "the handler failed";
        }
        if (!error.empty()) {
          ++stats_.errors;
          outcome = job_outcome::failed;
          spdlog::error("task {}: items {}..{} failed: {}", e.task_id, cursor, end, error);
          co_await note_error(e, error, begins);
          break;  // left pending: delivered again once claimed
        }
        if (r.retry_after) {
          co_await retry_later(e, deliveries, *r.retry_after, r.retry_reason, begins);
          outcome = job_outcome::retried;
          break;
        }
        // A chunk that ran is committed whatever Redis does meanwhile: its messages went out,
        // and left for a claimer it would send them again. The fence (commit.lua) makes a
        // repeated commit safe: one that did apply before the connection broke answers stale.
        auto [state, next] =
            co_await commit_until_answered(e, cursor, end, r, end >= total, begins, total);
        begins = false;
        if (state == "ok") {
          ++stats_.chunks;
          if (metrics_) metrics_->items(e.type, r);
          cursor = end;
          if (end >= total) {
            ++stats_.completed;
            outcome = job_outcome::completed;
            break;
          }
        } else if (state == "stale") {
          cursor = next;
          if (cursor >= total) {
            outcome = job_outcome::lost;  // another delivery finished it
            break;
          }
        } else if (state == "foreign") {
          outcome.reset();
          co_await dead_letter(e, std::string(task_id_in_use), 1);
          break;
        } else {
          if (state == "lost") ++stats_.lost;
          outcome = state == "lost" ? job_outcome::lost : job_outcome::cancelled;
          break;
        }
      }
    } catch (const redis::error& ex) {
      // Redis went away: the client logs the outage once, and resume_own() says what it took
      // back; a line per job would be hundreds in one outage.
      auto level = redis::temporarily_unavailable(ex) ? spdlog::level::debug : spdlog::level::warn;
      spdlog::log(level, "task {}: stopped, resumed once Redis answers: {}", e.task_id, ex.what());
      resume_wanted_ = true;
      outcome = job_outcome::interrupted;
    } catch (const std::exception& ex) {
      spdlog::warn("task {}: stopped, resumed once Redis answers: {}", e.task_id, ex.what());
      resume_wanted_ = true;
      outcome = job_outcome::interrupted;
    }
    // A cancel removes the entry a worker runs, which the worker then finds gone, as when
    // another consumer claims it: the task tells them apart (rare; for the metrics only).
    if (metrics_ && outcome == job_outcome::lost && co_await task_cancelled(e))
      outcome = job_outcome::cancelled;
    running_entries_.erase(e.id);
    lost_entries_.erase(e.id);
    config_.running->erase(e.id);
    if (metrics_) metrics_->ended(e.type, outcome);
    --running_;
    wake_.cancel();
    if (draining_ && running_ == 0) done_.cancel();
  }

  asio::awaitable<bool> task_cancelled(const entry& e) {
    auto [ec, r] =
        co_await shared_.async_exec(redis::command("HGET", keys_.task(e.task_id), "status"),
                                    asio::as_tuple(asio::use_awaitable));
    co_return !ec && r.type() == redis::reply::kind::string && r.str() == "cancelled";
  }

  asio::awaitable<std::pair<std::string, std::uint64_t>> commit_until_answered(
      const entry& e, std::uint64_t begin, std::uint64_t end, const chunk_result& r, bool final,
      bool begins, std::uint64_t total) {
    std::chrono::milliseconds wait{50};
    for (;;) {
      std::string failure;
      try {
        co_return co_await commit(e, begin, end, r, final, begins, total);
      } catch (const redis::error& ex) {
        if (!redis::temporarily_unavailable(ex)) throw;
        failure = ex.what();
      }
      spdlog::debug("task {}: commit of items {}..{} waits for Redis: {}", e.task_id, begin, end,
                    failure);
      asio::steady_timer t(ex_, wait);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      wait = std::min(wait * 2, std::chrono::milliseconds(1000));
    }
  }

  // --- committing: the chunks finished in one turn of the event loop go in one script call ---

  using commit_result = std::pair<std::string, std::uint64_t>;
  using commit_signature = void(std::exception_ptr, commit_result);
  struct commit_request {
    const entry* e;
    std::uint64_t begin, end;
    const chunk_result* result;
    bool final;
    bool begins;
    std::uint64_t total;
    asio::any_completion_handler<commit_signature> handler;
  };

  asio::awaitable<commit_result> commit(const entry& e, std::uint64_t begin, std::uint64_t end,
                                        const chunk_result& r, bool final, bool begins,
                                        std::uint64_t total) {
    return asio::async_initiate<const asio::use_awaitable_t<>, commit_signature>(
        [this, &e, begin, end, &r, final, begins, total](auto handler) {
          commits_.push_back(
              commit_request{&e, begin, end, &r, final, begins, total,
                             asio::any_completion_handler<commit_signature>(std::move(handler))});
          if (commits_.size() >= max_commit_batch) {
            flush_commits();
          } else if (!commit_flush_posted_) {
            commit_flush_posted_ = true;
            asio::post(ex_, [self = shared_from_this()] {
              self->commit_flush_posted_ = false;
              self->flush_commits();
            });
          }
        },
        asio::use_awaitable);
  }

  void flush_commits() {
    if (commits_.empty()) return;
    auto batch = std::make_shared<std::vector<commit_request>>(std::move(commits_));
    commits_.clear();
    auto cmd = commit_command(*batch, "EVALSHA", scripts::commit().sha1());
    auto shortfall = std::make_shared<std::string>();  // replicate_commits(): empty when held
    asio::co_spawn(
        ex_,
        [](std::shared_ptr<impl> self, std::shared_ptr<std::vector<commit_request>> batch,
           redis::command cmd,
           std::shared_ptr<std::string> shortfall) -> asio::awaitable<redis::reply> {
          auto [ec, r] = co_await self->shared_.async_exec(std::move(cmd),
                                                           asio::as_tuple(asio::use_awaitable));
          if (ec == redis::errc::server_error && r.str().starts_with("NOSCRIPT")) {
            // EVAL also caches the script for the next EVALSHA. The chunks are still waiting,
            // so what the command is built from is still there.
            auto again = self->commit_command(*batch, "EVAL", scripts::commit().source());
            std::tie(ec, r) = co_await self->shared_.async_exec(
                std::move(again), asio::as_tuple(asio::use_awaitable));
          }
          if (ec == redis::errc::server_error)
            throw redis::error(redis::errc::server_error, r.str());
          if (ec) throw redis::error(ec);
          *shortfall = co_await self->replicate_commits(*batch);
          co_return std::move(r);
        }(shared_from_this(), batch, std::move(cmd), shortfall),
        [batch, shortfall, self = shared_from_this()](std::exception_ptr error,
                                                      redis::reply reply) {
          // Two values per chunk: its state, then the task's cursor.
          const auto* results = !error && reply.is_array() ? &reply.elements() : nullptr;
          for (std::size_t i = 0; i < batch->size(); ++i) {
            auto& handler = (*batch)[i].handler;
            if (results && !shortfall->empty() && self->has_effects(*(*batch)[i].e)) {
              std::move(handler)(
                  std::make_exception_ptr(redis::error(redis::errc::not_replicated, *shortfall)),
                  commit_result{});
              continue;
            }
            if (!results || 2 * i + 1 >= results->size()) {
              auto e = error ? error
                             : std::make_exception_ptr(std::runtime_error("commit: short reply"));
              std::move(handler)(e, commit_result{});
              continue;
            }
            std::move(handler)(
                nullptr, commit_result{(*results)[2 * i].str(), (*results)[2 * i + 1].integer()});
          }
        });
  }

  // redis_wait_replicas for the chunk commits of jobs with effects (job_handler::has_effects):
  // after a batch's commit, WAIT on the connection that committed. Short of the replicas, what
  // it says why (those chunks fail with not_replicated: their jobs stop and resume at once from
  // the committed cursor; the batch's other chunks stand); empty when they hold it or none has
  // effects.
  asio::awaitable<std::string> replicate_commits(const std::vector<commit_request>& batch) {
    if (config_.replicas.replicas == 0) co_return std::string();
    if (std::none_of(batch.begin(), batch.end(),
                     [&](const commit_request& c) { return has_effects(*c.e); }))
      co_return std::string();
    try {
      co_await wait_for_replicas(shared_, config_.replicas, "chunk commit");
    } catch (const redis::error& e) {
      if (e.code() != redis::errc::not_replicated) throw;
      co_return std::string(e.what());
    }
    co_return std::string();
  }

  bool has_effects(const entry& e) const {
    const job_handler* h = handlers_.find(e.type);
    return !h || h->has_effects();
  }

  // commit.lua's call for `batch` (its KEYS and ARGV are documented in its header), written
  // straight into the command: `verb` EVALSHA with the script's SHA-1, or EVAL with its source.
  redis::command commit_command(const std::vector<commit_request>& batch, std::string_view verb,
                                const std::string& script) const {
    // The chunks' entries span [lowest, highest]: commit.lua looks for this consumer's pending
    // entries in that range only.
    const std::string* lowest = &batch.front().e->id;
    const std::string* highest = lowest;
    auto low = id_order(*lowest), high = low;
    for (const auto& c : batch) {
      auto at = id_order(c.e->id);
      if (at < low) std::tie(low, lowest) = std::pair(at, &c.e->id);
      if (high < at) std::tie(high, highest) = std::pair(at, &c.e->id);
    }
    redis::command cmd(verb, script, 2 + 4 * batch.size(), keys_.jobs());
    cmd.arg(keys_.queued());
    std::string key;
    for (const auto& c : batch) {
      cmd.arg(keys_.task(key, c.e->task_id));
      cmd.arg(keys_.items(key, c.e->task_id));
      cmd.arg(keys_.account_tasks(key, c.e->account));
      cmd.arg(idempotency_key(*c.e));
    }
    cmd.arg(queue_keys::group)
        .arg(config_.consumer)
        .arg(now_ms())
        .arg(config_.task_ttl.count())
        .arg(config_.task_index_max)
        .arg(*lowest)
        .arg(*highest);
    for (const auto& c : batch) {
      const chunk_result& r = *c.result;
      cmd.arg(c.e->id)
          .arg(c.begin)
          .arg(c.end)
          .arg(r.processed)
          .arg(r.sent)
          .arg(r.scheduled)
          .arg(r.skipped)
          .arg(r.failed)
          .arg(c.final ? "1" : "0")
          .arg(c.begins ? "1" : "0")
          .arg(c.e->type)
          .arg(c.e->account)
          .arg(c.total)
          .arg(r.outcomes.size());
      for (const auto& o : r.outcomes) cmd.arg(o.index).arg(o.to_json());
    }
    return cmd;
  }

  // A delivery that failed: its reason is kept for the dead letter it may become (note_error.lua:
  // only on the job's own task, while it runs).
  asio::awaitable<void> note_error(const entry& e, std::string what, bool begins) {
    std::vector<std::string> keys{keys_.task(e.task_id), keys_.queued()};
    std::vector<std::string> args{e.task_id, e.account, e.origin_or_id(), std::move(what),
                                  begins ? "1" : "0"};
    try {
      co_await shared_.eval(scripts::note_error(), keys, args);
    } catch (const std::exception& ex) {
      spdlog::debug("task {}: cannot note the failure: {}", e.task_id, ex.what());
    }
  }

  asio::awaitable<void> retry_later(const entry& e, std::uint64_t deliveries,
                                    std::chrono::milliseconds at_least, const std::string& why,
                                    bool begins) {
    backoff b(config_.retry_backoff);
    std::chrono::milliseconds delay{0};
    for (std::uint64_t i = 0; i < deliveries; ++i) delay = b.next(random_());
    delay = std::max(delay, at_least);
    std::vector<std::string> keys{keys_.jobs(), keys_.delayed(), keys_.task(e.task_id),
                                  keys_.queued()};
    std::vector<std::string> args{std::string(queue_keys::group),
                                  config_.consumer,
                                  e.id,
                                  std::to_string(delay.count()),
                                  why,
                                  begins ? "1" : "0",
                                  std::to_string(config_.task_ttl.count())};
    co_await shared_.eval(scripts::retry(), keys, args);
    if (promoter_sleep_) promoter_sleep_->cancel();  // it may be sleeping past the new due time
    ++stats_.retried;
    spdlog::info("task {}: will run again in {} ms: {}", e.task_id, delay.count(), why);
  }

  // --- claiming, heartbeats, delayed jobs ------------------------------------------------------

  asio::awaitable<void> claim_loop() {
    auto period = std::clamp(config_.claim_idle / 2, std::chrono::milliseconds(100),
                             std::chrono::milliseconds(5000));
    while (!draining_) {
      co_await sleep(period);
      std::string cursor = "0-0";
      while (!draining_ && config_.workers > running_) {
        auto n = std::min<std::size_t>(config_.workers - running_, 100);
        // claim.lua: XAUTOCLAIM, leaving a body over max_job_bytes in Redis.
        std::vector<std::string> keys{keys_.jobs()};
        std::vector<std::string> args{std::string(queue_keys::group),
                                      config_.consumer,
                                      std::to_string(config_.claim_idle.count()),
                                      cursor,
                                      std::to_string(n),
                                      std::to_string(config_.max_job_bytes),
                                      std::to_string(config_.max_read_bytes)};
        redis::reply r;
        std::string failure;
        try {
          r = co_await shared_.eval(scripts::claim(), keys, args);
        } catch (const std::exception& e) {
          failure = e.what();
        }
        if (!failure.empty()) {
          if (failure.find("NOGROUP") != std::string::npos)
            co_await try_ensure_group();
          else
            warn_once("claiming idle jobs", failure);
          break;
        }
        auto& a = r.as_array();
        std::vector<entry> entries;
        collect_entries(a.at(1), entries);
        // What this process runs already only looked idle (the process was stopped, say): it is
        // still ours, and never started twice. The rest is reserved at once, as in read_loop():
        // claimed, it is pending under this consumer, where another pool's resume_own() looks.
        std::erase_if(entries, [&](const entry& e) { return !config_.running->insert(e.id); });
        if (!entries.empty()) {
          stats_.claimed += entries.size();
          spdlog::info("queue: claimed {} jobs idle for over {} ms", entries.size(),
                       config_.claim_idle.count());
          std::vector<std::string> ids;
          for (const auto& e : entries) ids.push_back(e.id);
          co_await start_entries(std::move(entries), false);
          for (const auto& id : ids)
            if (!running_entries_.contains(id)) config_.running->erase(id);
        }
        cursor = a.at(0).str();
        if (cursor == "0-0") break;
      }
    }
  }

  // Keeps running jobs from looking idle to claimers; learns of those claimed away meanwhile.
  asio::awaitable<void> touch_loop() {
    // Until the last chunk ends, draining or not: a running chunk must not look idle.
    auto period = std::max(config_.claim_idle / 3, std::chrono::milliseconds(50));
    while (!draining_ || running_ > 0) {
      if (draining_) {
        asio::steady_timer t(ex_, period);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      } else {
        co_await sleep(period);
      }
      if (running_entries_.empty()) continue;
      std::vector<std::string> keys{keys_.jobs()};
      std::vector<std::string> args{std::string(queue_keys::group), config_.consumer};
      args.insert(args.end(), running_entries_.begin(), running_entries_.end());
      redis::reply r;
      try {
        r = co_await shared_.eval(scripts::touch(), keys, args);
      } catch (const std::exception& e) {
        spdlog::debug("queue: touching running jobs: {}", e.what());
        continue;
      }
      // Only jobs still running: one whose last commit was in flight is gone already.
      for (const auto& id : r.as_array())
        if (running_entries_.contains(id.str())) lost_entries_.insert(id.str());
    }
  }

  // Removes acknowledged entries in bulk (trim.lua never touches a pending or undelivered one).
  // Every few seconds (at most 10, at least half consumer_idle_max), also removes the consumers
  // of instances that are gone (reap.lua).
  asio::awaitable<void> trim_loop() {
    const auto reap_every = static_cast<unsigned>(
        std::clamp<std::int64_t>(config_.consumer_idle_max.count() / 2000, 1, 10));
    for (unsigned round = 1; !draining_; ++round) {
      co_await sleep(1000ms);
      std::vector<std::string> keys{keys_.jobs()};
      std::vector<std::string> args{std::string(queue_keys::group)};
      try {
        co_await shared_.eval(scripts::trim(), keys, args);
        if (round % reap_every != 0) continue;
        args.push_back(std::to_string(config_.consumer_idle_max.count()));
        args.push_back(config_.consumer);
        auto gone = co_await shared_.eval(scripts::reap(), keys, args);
        for (const auto& name : gone.as_array()) {
          ++stats_.reaped;
          spdlog::info("queue: removed consumer {}: nothing pending, idle for over {} ms",
                       name.str(), config_.consumer_idle_max.count());
        }
      } catch (const std::exception& e) {
        spdlog::debug("queue: trimming: {}", e.what());
      }
    }
  }

  asio::awaitable<void> promote_loop() {
    while (!draining_) {
      std::vector<std::string> keys{keys_.delayed(), keys_.jobs()};
      std::vector<std::string> args{"100"};
      std::chrono::milliseconds pause = 1s;
      try {
        auto r = co_await shared_.eval(scripts::promote(), keys, args);
        const auto& a = r.as_array();
        auto moved = a.at(0).integer();
        auto next = a.at(1).integer();
        if (moved >= 100)
          pause = 0ms;
        else if (next >= 0)
          pause = std::clamp(std::chrono::milliseconds(next), 10ms, 1000ms);
      } catch (const std::exception& e) {
        spdlog::debug("queue: promoting delayed jobs: {}", e.what());
      }
      if (pause.count() > 0) co_await sleep(pause, &promoter_sleep_);
    }
  }

  asio::any_io_executor ex_;
  redis::client& shared_;
  redis::client& blocking_;
  queue_keys keys_;
  const handler_registry& handlers_;
  worker_config config_;

  bool draining_ = false;
  bool resume_wanted_ = true;  // resume_own() at the next read: at start, and after a failure
  std::chrono::steady_clock::time_point last_resume_{};
  std::chrono::milliseconds resume_pace_{0};  // pace_resume()'s wait after the last resume
  std::size_t running_ = 0;
  int loops_ = 0;
  std::set<std::string> running_entries_;
  std::unordered_set<std::string> lost_entries_;
  static constexpr std::size_t max_commit_batch = 100;
  std::vector<commit_request> commits_;
  bool commit_flush_posted_ = false;
  std::set<asio::steady_timer*> sleepers_;
  asio::steady_timer* promoter_sleep_ = nullptr;
  asio::steady_timer wake_, done_;
  std::mt19937_64 random_;
  std::chrono::steady_clock::time_point last_warning_{};
  worker_stats stats_;
  std::optional<pool_metrics> metrics_;
};

worker_pool::worker_pool(asio::any_io_executor ex, redis::client& shared, redis::client& blocking,
                         queue_keys keys, const handler_registry& handlers, worker_config config)
    : impl_(std::make_shared<impl>(std::move(ex), shared, blocking, std::move(keys), handlers,
                                   std::move(config))) {}

worker_pool::~worker_pool() = default;

asio::awaitable<void> worker_pool::run() {
  return impl_->run();
}
void worker_pool::drain() {
  impl_->drain();
}
std::size_t worker_pool::running() const {
  return impl_->running();
}
worker_stats worker_pool::stats() const {
  return impl_->stats();
}
const std::string& worker_pool::consumer() const {
  return impl_->consumer();
}

}  // namespace herald::queue
