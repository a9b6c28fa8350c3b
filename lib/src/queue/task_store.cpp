#include "herald/queue/task_store.hpp"

#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include "herald/common/gather.hpp"
#include "herald/redis/client.hpp"
#include "queue/scripts.hpp"

namespace herald::queue {

namespace asio = boost::asio;

namespace {

std::int64_t to_int(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Which bytes may appear: A-Za-z0-9 and those of `extra`.
struct charset {
  bool ok[256] = {};
  explicit constexpr charset(std::string_view extra) {
    for (int c = 0; c < 256; ++c)
      ok[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    for (char c : extra) ok[static_cast<unsigned char>(c)] = true;
  }
};

bool allowed(std::string_view s, const charset& set) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return set.ok[static_cast<unsigned char>(c)]; });
}

constexpr charset task_id_chars("_-");
constexpr charset account_chars("_.-");

// A task hash's fields (HGETALL) into `t`; whether they hold its status (a hash without one
// has only what a failed delivery noted: the task is still a queued record).
bool read_task_hash(const redis::reply& reply, task_record& t) {
  const auto& fields = reply.as_array();
  bool has_status = false;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    std::string_view name = fields[i].str();
    const std::string& value = fields[i + 1].str();
    if (name == "type")
      t.type = value;
    else if (name == "account")
      t.account = value;
    else if (name == "status")
      has_status = true, t.status = parse_task_status(value).value_or(task_status::queued);
    else if (name == "total")
      t.total = to_int(value);
    else if (name == "processed")
      t.processed = to_int(value);
    else if (name == "sent")
      t.sent = to_int(value);
    else if (name == "scheduled")
      t.scheduled = to_int(value);
    else if (name == "skipped")
      t.skipped = to_int(value);
    else if (name == "failed")
      t.failed = to_int(value);
    else if (name == "cursor")
      t.cursor = to_int(value);
    else if (name == "deliveries")
      t.deliveries = to_int(value);
    else if (name == "created_at")
      t.created_at = to_int(value);
    else if (name == "started_at")
      t.started_at = to_int(value);
    else if (name == "finished_at")
      t.finished_at = to_int(value);
    else if (name == "expires_at")
      t.expires_at = to_int(value);
    else if (name == "run_at")
      t.run_at = to_int(value);
    else if (name == "error_text")
      t.error_text = value;
    else if (name == "last_error")
      t.last_error = value;
  }
  return has_status;
}

}  // namespace

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_task_id() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no randomness for a task id");
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
    id += hex[b[i] >> 4];
    id += hex[b[i] & 15];
  }
  return id;
}

bool valid_task_id(std::string_view id) {
  return allowed(id, task_id_chars);
}
bool valid_account(std::string_view account) {
  return allowed(account, account_chars);
}

asio::awaitable<void> wait_for_replicas(redis::client& redis, const replica_wait& w,
                                        std::string_view what) {
  if (w.replicas == 0) co_return;
  auto r = co_await redis.exec("WAIT", w.replicas, w.timeout.count());
  auto got = r.integer();
  if (got >= static_cast<std::int64_t>(w.replicas)) co_return;
  throw redis::error(redis::errc::not_replicated,
                     std::string(what) + ": written, but " + std::to_string(got) + " of "
                         + std::to_string(w.replicas) + " replicas (redis_wait_replicas) held it "
                         + "within " + std::to_string(w.timeout.count())
                         + " ms (redis_wait_ms); a failover could lose it: retry with the same "
                           "idempotency key");
}

task_store::task_store(redis::client& redis, queue_keys keys, std::chrono::milliseconds task_ttl,
                       std::uint64_t index_max, std::size_t max_job_bytes)
    : redis_(redis),
      keys_(std::move(keys)),
      task_ttl_(task_ttl),
      index_max_(index_max),
      max_job_bytes_(max_job_bytes) {}

asio::awaitable<std::vector<enqueued>> task_store::enqueue(std::vector<new_job> jobs) {
  // enqueue.lua's KEYS and ARGV (its header): the accounts' index keys first, then each job; a
  // job whose id this call made, due now and without an idempotency key, is of kind 'n' (not
  // looked up), any other of kind 'c'.
  const auto now = now_ms();
  std::vector<std::string_view> accounts;
  std::vector<bool> checked(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    auto& j = jobs[i];
    checked[i] = !j.task_id.empty() || !j.idempotency_key.empty() || j.run_at > now;
    if (j.task_id.empty()) j.task_id = new_task_id();
    if (!valid_task_id(j.task_id))
      throw std::invalid_argument("task_id: must be 1 to 64 characters of A-Za-z0-9_-");
    if (!valid_account(j.account))
      throw std::invalid_argument("account: must be 1 to 64 characters of A-Za-z0-9_.-");
    if (j.type.empty()) throw std::invalid_argument("type: required");
    if (max_job_bytes_ && j.body.size() > max_job_bytes_)
      throw std::invalid_argument("body: " + std::to_string(j.body.size())
                                  + " bytes, over max_job_bytes (" + std::to_string(max_job_bytes_)
                                  + ")");
    if (std::find(accounts.begin(), accounts.end(), j.account) == accounts.end())
      accounts.push_back(j.account);
  }
  std::vector<std::string> keys{keys_.jobs(), keys_.delayed(), keys_.queued()};
  std::vector<std::string> args{std::to_string(now), std::to_string(task_ttl_.count()),
                                std::to_string(index_max_), std::to_string(max_job_bytes_),
                                std::to_string(accounts.size())};
  keys.reserve(3 + accounts.size() + 2 * jobs.size());
  args.reserve(6 + accounts.size() + jobs.size() * 6);
  for (auto account : accounts) {
    keys.push_back(keys_.account_tasks(account));
    args.emplace_back(account);
  }
  args.push_back(std::to_string(jobs.size()));
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    auto& j = jobs[i];
    args.emplace_back(checked[i] ? "c" : "n");
    args.push_back(j.task_id);
    args.push_back(j.type);
    args.push_back(j.account);
    args.push_back(std::move(j.body));
    args.push_back(j.total ? std::to_string(*j.total) : std::string());
    if (checked[i]) {
      keys.push_back(keys_.task(j.task_id));
      keys.push_back(j.idempotency_key.empty() ? keys_.jobs()
                                               : keys_.idempotency(j.account, j.idempotency_key));
      args.push_back(j.idempotency_key);
      args.push_back(std::to_string(j.run_at));
    }
  }
  auto reply = co_await redis_.eval(scripts::enqueue(), keys, args);
  co_await wait_for_replicas(redis_, wait_, "enqueue");
  const auto& results = reply.as_array();
  std::vector<enqueued> out;
  out.reserve(jobs.size());
  for (std::size_t i = 0; i < jobs.size() && i < results.size(); ++i) {
    if (results[i].type() == redis::reply::kind::integer)
      out.push_back({std::move(jobs[i].task_id), true});
    else
      out.push_back({results[i].as_string(), false});
  }
  co_return out;
}

asio::awaitable<enqueued> task_store::enqueue(new_job job) {
  std::vector<new_job> one;
  one.push_back(std::move(job));
  auto r = co_await enqueue(std::move(one));
  co_return r.at(0);
}

asio::awaitable<std::optional<task_record>> task_store::get(std::string task_id,
                                                            std::string account) {
  if (!valid_task_id(task_id)) co_return std::nullopt;
  const auto key = keys_.task(task_id);
  task_record t;
  auto hash = co_await redis_.exec("HGETALL", key);
  if (!read_task_hash(hash, t)) {
    // No worker had started it: a queued record, with what a failed delivery noted in the hash.
    auto record = co_await redis_.exec("HGET", keys_.queued(), task_id);
    std::optional<task_record> queued;
    if (!record.is_nil()) queued = parse_queued_record(task_id, record.as_string());
    if (queued) {
      queued->deliveries = t.deliveries;
      queued->last_error = std::move(t.last_error);
      t = std::move(*queued);
    } else {
      // No record: the task never had one, or a worker started it between the two reads (the
      // hash gets its status as the record goes): the hash tells.
      t = {};
      hash = co_await redis_.exec("HGETALL", key);
      read_task_hash(hash, t);
      if (hash.as_array().empty()) co_return std::nullopt;
    }
  }
  t.task_id = task_id;
  if (!account.empty() && t.account != account) co_return std::nullopt;
  co_return t;
}

asio::awaitable<std::vector<task_record>> task_store::list(std::string account,
                                                           std::uint64_t limit) {
  // A named request: g++ 12 destroys some temporaries of a co_await expression twice.
  task_list_request request{.limit = limit, .count_total = false};
  auto page = co_await list(std::move(account), std::move(request));
  co_return std::move(page.tasks);
}

asio::awaitable<task_page> task_store::list(std::string account, task_list_request request) {
  // Newest first; ids whose task expired are skipped, so a page may need the next one. An id
  // may come twice: pushed again (a dead letter retried after its task expired), or read again
  // when ids pushed meanwhile moved the next page.
  task_page out;
  std::unordered_set<std::string> seen;
  const auto key = keys_.account_tasks(account);
  const std::uint64_t page = 1000;
  const std::uint64_t page_end = request.offset + request.limit;
  // The ids after the last one whose task exists: at the index's old end, they can go.
  std::vector<std::string> trailing;
  for (std::uint64_t from = 0;; from += page) {
    if (from >= request.max_scan) {
      out.total_exact = false;
      break;
    }
    if (!request.count_total && out.total >= page_end) {
      out.total_exact = false;
      break;
    }
    const auto count = std::min(page, request.max_scan - from);
    auto reply = co_await redis_.exec("LRANGE", key, from, from + count - 1);
    const auto& ids = reply.as_array();
    std::vector<asio::awaitable<std::optional<task_record>>> reads;
    reads.reserve(ids.size());
    for (const auto& id : ids) reads.push_back(get(id.as_string(), account));
    auto tasks = co_await gather(std::move(reads));
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      if (tasks[i].error) std::rethrow_exception(tasks[i].error);
      if (!*tasks[i].value) {
        trailing.push_back(ids[i].as_string());
        continue;
      }
      trailing.clear();
      if (!seen.insert(ids[i].as_string()).second) continue;
      auto& task = **tasks[i].value;
      if (!request.filter.matches(task)) continue;
      if (out.total >= request.offset && out.total < page_end) out.tasks.push_back(std::move(task));
      ++out.total;
    }
    if (ids.size() < count) {
      if (!trailing.empty()) {
        std::vector<std::string> keys{key};
        co_await redis_.eval(scripts::prune_index(), keys, trailing);
      }
      break;
    }
  }
  co_return out;
}

std::optional<task_record> parse_queued_record(std::string_view task_id, std::string_view record) {
  // `entry_id total account type`: the type last, as it may hold anything.
  std::string_view part[3];
  for (auto& p : part) {
    auto space = record.find(' ');
    if (space == std::string_view::npos || space == 0) return std::nullopt;
    p = record.substr(0, space);
    record.remove_prefix(space + 1);
  }
  const auto& [entry, total, account] = part;
  auto dash = entry.find('-');
  task_record t;
  if (record.empty() || dash == std::string_view::npos
      || std::from_chars(entry.data(), entry.data() + dash, t.created_at).ptr != entry.data() + dash
      || std::from_chars(total.data(), total.data() + total.size(), t.total).ptr
             != total.data() + total.size())
    return std::nullopt;
  t.task_id = task_id;
  t.account = account;
  t.type = record;
  t.status = task_status::queued;
  return t;
}

asio::awaitable<std::vector<item_outcome>> task_store::items(std::string task_id,
                                                             std::uint64_t from,
                                                             std::uint64_t limit) {
  std::vector<item_outcome> out;
  if (limit == 0 || !valid_task_id(task_id)) co_return out;
  auto reply =
      co_await redis_.exec("ZRANGE", keys_.items(task_id), from, from + limit - 1, "BYSCORE");
  for (const auto& m : reply.as_array())
    if (auto o = item_outcome::from_json(m.str())) out.push_back(std::move(*o));
  co_return out;
}

asio::awaitable<std::optional<task_status>> task_store::cancel(std::string task_id,
                                                               std::string account) {
  if (!valid_task_id(task_id) || !valid_account(account)) co_return std::nullopt;
  // cancel.lua re-arms the task's idempotency key, which it must be given: a task's key never
  // changes, so reading it first is safe.
  auto idem = co_await redis_.exec("HGET", keys_.task(task_id), "idempotency_key");
  std::vector<std::string> keys{
      keys_.task(task_id), keys_.items(task_id), keys_.queued(),
      keys_.jobs(),        keys_.delayed(),      keys_.jobs(),
      keys_.sends(),       keys_.send_bodies(),  keys_.task_sends(task_id)};
  if (!idem.is_nil() && !idem.str().empty()) keys[5] = keys_.idempotency(account, idem.str());
  std::vector<std::string> args{account, std::to_string(now_ms()),
                                std::to_string(task_ttl_.count()), task_id};
  auto r = co_await redis_.eval(scripts::cancel(), keys, args);
  if (r.is_nil()) co_return std::nullopt;
  co_return parse_task_status(r.as_string());
}

asio::awaitable<queue_stats> task_store::stats() {
  queue_stats s;
  s.length = (co_await redis_.exec("XLEN", keys_.jobs())).as_integer();
  s.delayed = (co_await redis_.exec("ZCARD", keys_.delayed())).as_integer();
  s.dead = (co_await redis_.exec("XLEN", keys_.dead())).as_integer();
  s.scheduled_sends = (co_await redis_.exec("ZCARD", keys_.sends())).as_integer();
  bool lag_known = false;
  auto [ec, groups] = co_await redis_.async_exec(redis::command("XINFO", "GROUPS", keys_.jobs()),
                                                 asio::as_tuple(asio::use_awaitable));
  if (!ec) {
    for (const auto& g : groups.as_array()) {
      const auto& f = g.as_array();
      bool ours = false;
      for (std::size_t i = 0; i + 1 < f.size(); i += 2)
        if (f[i].str() == "name" && f[i + 1].str() == queue_keys::group) ours = true;
      if (!ours) continue;
      for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
        if (f[i].str() == "pending") s.pending = f[i + 1].integer();
        if (f[i].str() == "consumers") s.consumers = f[i + 1].integer();
        if (f[i].str() == "lag" && f[i + 1].type() == redis::reply::kind::integer) {
          s.waiting = f[i + 1].integer();
          lag_known = true;
        }
      }
    }
  }
  if (!lag_known) s.waiting = s.length > s.pending ? s.length - s.pending : 0;
  co_return s;
}

asio::awaitable<std::vector<consumer_stats>> task_store::consumers() {
  std::vector<consumer_stats> out;
  auto [ec, reply] = co_await redis_.async_exec(
      redis::command("XINFO", "CONSUMERS", keys_.jobs(), queue_keys::group),
      asio::as_tuple(asio::use_awaitable));
  if (ec == redis::errc::server_error) co_return out;  // no stream or no group yet: none
  if (ec) throw redis::error(ec);
  for (const auto& c : reply.as_array()) {
    const auto& f = c.as_array();
    consumer_stats s;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      if (f[i].str() == "name") s.name = f[i + 1].str();
      if (f[i].str() == "pending") s.pending = f[i + 1].integer();
      if (f[i].str() == "idle") s.idle_ms = f[i + 1].integer();
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  co_return out;
}

asio::awaitable<std::vector<dead_letter>> task_store::dead_letters(std::uint64_t limit) {
  auto reply = co_await redis_.exec("XRANGE", keys_.dead(), "-", "+", "COUNT", limit);
  std::vector<dead_letter> out;
  for (const auto& e : reply.as_array()) {
    const auto& entry = e.as_array();
    dead_letter d;
    d.id = entry.at(0).as_string();
    const auto& f = entry.at(1).as_array();
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      std::string_view name = f[i].str();
      const std::string& value = f[i + 1].str();
      if (name == "entry_id")
        d.entry_id = value;
      else if (name == "task_id")
        d.task_id = value;
      else if (name == "type")
        d.type = value;
      else if (name == "account")
        d.account = value;
      else if (name == "reason")
        d.reason = value;
      else if (name == "deliveries")
        d.deliveries = to_int(value);
      else if (name == "dead_at")
        d.dead_at = to_int(value);
    }
    out.push_back(std::move(d));
  }
  co_return out;
}

asio::awaitable<bool> task_store::retry_dead(std::string id) {
  auto entry = co_await redis_.exec("XRANGE", keys_.dead(), id, id);
  if (entry.as_array().empty()) co_return false;
  std::string task_id, account, idem;
  const auto& f = entry.as_array().at(0).as_array().at(1).as_array();
  for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
    if (f[i].str() == "task_id") task_id = f[i + 1].str();
    if (f[i].str() == "account") account = f[i + 1].str();
    if (f[i].str() == "idempotency_key") idem = f[i + 1].str();
  }
  if (!valid_task_id(task_id) || !valid_account(account))
    throw std::invalid_argument("dead letter " + id
                                + ": it has no valid task_id and account; it cannot run again");
  std::vector<std::string> keys{keys_.dead(),
                                keys_.jobs(),
                                keys_.task(task_id),
                                keys_.items(task_id),
                                keys_.queued(),
                                keys_.account_tasks(account),
                                idem.empty() ? keys_.jobs() : keys_.idempotency(account, idem)};
  std::vector<std::string> args{id, std::to_string(now_ms()), std::to_string(index_max_)};
  auto r = co_await redis_.eval(scripts::dead_retry(), keys, args);
  co_return !r.is_nil();
}

asio::awaitable<std::uint64_t> task_store::purge_dead() {
  std::vector<std::string> keys{keys_.dead()};
  co_return static_cast<std::uint64_t>(
      (co_await redis_.eval(scripts::purge_dead(), keys, {})).as_integer());
}

asio::awaitable<std::uint64_t> task_store::trim() {
  std::vector<std::string> keys{keys_.jobs()};
  std::vector<std::string> args{std::string(queue_keys::group)};
  auto [ec, r] = co_await redis_.async_exec(redis::command("EXISTS", keys_.jobs()),
                                            asio::as_tuple(asio::use_awaitable));
  if (ec || r.integer() == 0) co_return 0;
  co_return static_cast<std::uint64_t>(
      (co_await redis_.eval(scripts::trim(), keys, args)).as_integer());
}

}  // namespace herald::queue
