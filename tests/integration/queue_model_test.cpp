// A model test of the queue's scripts (proto/lua) against a real redis-server: random sequences
// of enqueue (every kind, idempotency keys, run_at), plain XADDs (with other accounts' task ids),
// reads and starts by several consumers, commits, failures, retries, dead letters and their
// retries, claims (stale consumers' entries), cancels, promotes, trims, and expiry, each step
// followed by a check of what must always hold:
// - a task that was cancelled or finished never runs again, whatever expired first;
// - counters never exceed totals;
// - one job's entry never changes another job's task (its account stays its creator's);
// - every task not finished is owned by an entry of its job (in the stream or delayed);
// - an idempotency key returns its task while the task exists;
// - the stream holds only undelivered and pending entries, the dead letters at most dead_max.
// The seed is printed; HERALD_QUEUE_MODEL_SEED=N replays one, HERALD_QUEUE_MODEL_STEPS=N sets
// the number of steps (2,000). The task store's own calls (enqueue, cancel, dead-letter retry)
// use the scripts heraldd embeds; the steps a worker takes load proto/lua as it is.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "herald/queue/keys.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/redis/client.hpp"
#include "herald/redis/script.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::queue {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

constexpr std::uint64_t dead_max = 20;

// The scripts as proto/lua has them, read from the source tree when the test runs (the same
// text heraldd embeds at build time; an edited script is tested without a rebuild).
namespace scripts {
const redis::script& load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<redis::script>> cache;
  auto& s = cache[name];
  if (!s) {
    std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/proto/lua/" + name + ".lua");
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().empty()) throw std::runtime_error("cannot read proto/lua/" + name + ".lua");
    s = std::make_unique<redis::script>(text.str());
  }
  return *s;
}
const redis::script& start() {
  return load("start");
}
const redis::script& commit() {
  return load("commit");
}
const redis::script& dead_letter() {
  return load("dead_letter");
}
const redis::script& retry() {
  return load("retry");
}
const redis::script& note_error() {
  return load("note_error");
}
const redis::script& read() {
  return load("read");
}
const redis::script& promote() {
  return load("promote");
}
const redis::script& trim() {
  return load("trim");
}
}  // namespace scripts
constexpr std::string_view group = queue_keys::group;

struct job_entry {
  std::string id, task_id, account, type, origin, idem;
  std::uint64_t total = 0;
  const std::string& origin_or_id() const { return origin.empty() ? id : origin; }
};

struct running_job {
  std::string consumer;
  job_entry e;
  std::uint64_t cursor = 0;
};

class QueueModel : public ::testing::Test {
 protected:
  void SetUp() override {
    redis::client_config cfg;
    cfg.url = server_.url();
    client_ = std::make_unique<redis::client>(io_.get_executor(), cfg);
    client_->start();
    store_ = std::make_unique<task_store>(*client_, keys_, 60s, 1000);
    server_.command({"XGROUP", "CREATE", keys_.jobs(), std::string(group), "0", "MKSTREAM"});
  }
  void TearDown() override {
    client_->stop();
    io_.run_for(20ms);
  }

  redis::reply eval(const redis::script& s, std::vector<std::string> keys,
                    std::vector<std::string> args) {
    return run_awaitable(io_, client_->eval(s, keys, args));
  }

  static std::vector<job_entry> entries_of(redis::reply& list) {
    std::vector<job_entry> out;
    for (auto& e : list.as_array()) {
      auto& pair = e.as_array();
      if (pair.size() < 2 || !pair[1].is_array()) continue;
      job_entry j;
      j.id = pair[0].as_string();
      auto& f = pair[1].elements();
      for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
        auto name = f[i].str();
        const auto& v = f[i + 1].str();
        if (name == "task_id") j.task_id = v;
        if (name == "account") j.account = v;
        if (name == "type") j.type = v;
        if (name == "origin") j.origin = v;
        if (name == "idempotency_key") j.idem = v;
        if (name == "body") j.total = v.size() > 10 ? std::stoull(v.substr(10)) : 0;
      }
      out.push_back(std::move(j));
    }
    return out;
  }

  std::string idem_key(const job_entry& e) const {
    return e.idem.empty() ? keys_.jobs() : keys_.idempotency(e.account, e.idem);
  }

  // start.lua on what a consumer was handed, as the worker runs it.
  void start(const std::string& consumer, std::vector<job_entry> got) {
    if (got.empty()) return;
    std::vector<std::string> keys{keys_.jobs(), keys_.queued()};
    std::vector<std::string> args{std::string(group), std::to_string(now_ms()), "3", "1000"};
    for (const auto& e : got) {
      keys.push_back(keys_.task(e.task_id));
      keys.push_back(keys_.account_tasks(e.account));
      args.insert(args.end(),
                  {e.id, e.task_id, e.type, e.account, std::to_string(e.total), e.origin, ""});
    }
    auto r = eval(scripts::start(), keys, args);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const auto& res = r.as_array().at(i).as_array();
      const auto& state = res.at(0).str();
      auto& e = got[i];
      if (state == "run") {
        if (finished_.contains(e.origin_or_id()))
          violation("a finished job's entry started again: " + e.task_id);
        auto cursor = static_cast<std::uint64_t>(res.at(1).integer());
        if (cursor > e.total) violation("start.lua returned a cursor past the items");
        owner_.try_emplace(e.task_id, e.account);
        running_.push_back({consumer, e, cursor});
      } else if (state == "exceeded" || state == "foreign") {
        dead_letter(e, state);
      }
    }
  }

  void dead_letter(const job_entry e, const std::string& why) {
    eval(scripts::dead_letter(),
         {keys_.jobs(), keys_.dead(), keys_.task(e.task_id), keys_.items(e.task_id), keys_.queued(),
          idem_key(e)},
         {std::string(group), e.id, why, "1", std::to_string(now_ms()), "60000", e.type, e.account,
          "", e.task_id, std::to_string(dead_max), "0"});
    note_if_finished(e.task_id);
    std::erase_if(running_, [&](const running_job& r) { return r.e.id == e.id; });
  }

  // The running jobs a consumer other than "stale" (which never comes back) may go on with.
  std::vector<std::size_t> active() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < running_.size(); ++i)
      if (running_[i].consumer != "stale") out.push_back(i);
    return out;
  }

  // A task that is finished now: its origin may never run again.
  void note_if_finished(const std::string& task_id) {
    auto f = server_.command({"HMGET", keys_.task(task_id), "status", "origin"});
    auto nl = f.find('\n');
    auto status = f.substr(0, nl), origin = f.substr(nl + 1);
    if (status == "completed" || status == "failed" || status == "cancelled")
      finished_.insert(origin);
  }

  void commit(running_job& r) {
    const job_entry e = r.e;
    auto last = std::min(e.total, r.cursor + 1);
    bool final = last >= e.total;
    std::vector<std::string> keys{keys_.jobs(),
                                  keys_.queued(),
                                  keys_.task(e.task_id),
                                  keys_.items(e.task_id),
                                  keys_.account_tasks(e.account),
                                  idem_key(e)};
    std::vector<std::string> args{std::string(group),
                                  r.consumer,
                                  std::to_string(now_ms()),
                                  "60000",
                                  "1000",
                                  e.id,
                                  e.id,
                                  e.id,
                                  std::to_string(r.cursor),
                                  std::to_string(last),
                                  std::to_string(last - r.cursor),
                                  std::to_string(last - r.cursor),
                                  "0",
                                  "0",
                                  "0",
                                  final ? "1" : "0",
                                  "0",
                                  e.type,
                                  e.account,
                                  std::to_string(e.total),
                                  "0"};
    auto reply = eval(scripts::commit(), keys, args);
    const std::string state = reply.as_array().at(0).str();
    const std::string consumer = r.consumer, id = e.id, task_id = e.task_id;
    if (state == "ok" && finished_.contains(e.origin_or_id()))
      violation("a finished job's chunk was counted: " + e.task_id);
    if (state == "ok") {
      r.cursor = last;
      if (final) {
        note_if_finished(task_id);
        drop(consumer, id);
      }
    } else if (state == "stale") {
      r.cursor = static_cast<std::uint64_t>(reply.as_array().at(1).integer());
      if (r.cursor > e.total) violation("a stale cursor past the items");
      if (r.cursor >= e.total) drop(consumer, id);
    } else {
      if (state == "foreign") dead_letter(e, state);
      drop(consumer, id);
    }
  }

  void drop(const std::string& consumer, const std::string& id) {
    std::erase_if(running_,
                  [&](const running_job& r) { return r.e.id == id && r.consumer == consumer; });
  }

  void violation(const std::string& what) {
    ADD_FAILURE() << "seed " << seed_ << ", step " << step_ << ": " << what;
    ++violations_;
  }

  // What must hold after every step.
  void check() {
    // Every stream entry is undelivered or pending: acknowledged ones are gone.
    std::string last_delivered;
    auto groups = run_awaitable(io_, client_->exec("XINFO", "GROUPS", keys_.jobs()));
    for (const auto& g : groups.as_array()) {
      const auto& f = g.as_array();
      for (std::size_t i = 0; i + 1 < f.size(); i += 2)
        if (f[i].str() == "last-delivered-id") last_delivered = f[i + 1].str();
    }
    auto order = [](const std::string& id) {
      auto dash = id.find('-');
      return std::pair(std::stoull(id.substr(0, dash)), std::stoull(id.substr(dash + 1)));
    };
    std::set<std::string> pending;
    auto p = run_awaitable(io_, client_->exec("XPENDING", keys_.jobs(), group, "-", "+", 100000));
    for (const auto& e : p.as_array()) pending.insert(e.as_array().at(0).as_string());
    auto all = run_awaitable(io_, client_->exec("XRANGE", keys_.jobs(), "-", "+"));
    auto stream = entries_of(all);
    std::set<std::string> live;  // origins with an entry
    for (const auto& e : stream) {
      live.insert(e.origin_or_id());
      if (!pending.contains(e.id) && !last_delivered.empty()
          && order(e.id) <= order(last_delivered))
        violation("an acknowledged entry is still in the stream: " + e.id);
    }
    auto delayed = run_awaitable(io_, client_->exec("ZRANGE", keys_.delayed(), 0, -1));
    for (const auto& m : delayed.as_array()) {
      const auto& text = m.str();
      auto at = text.find("\"origin\":\"");
      if (at != std::string::npos)
        live.insert(text.substr(at + 10, text.find('"', at + 10) - at - 10));
    }
    if (server_.integer({"XLEN", keys_.dead()}) > static_cast<long long>(dead_max))
      violation("the dead letters grew past dead_max");

    // Every task.
    for (const auto& [task_id, account] : std::map<std::string, std::string>(owner_)) {
      auto f = run_awaitable(io_, client_->exec("HMGET", keys_.task(task_id), "status", "total",
                                                "processed", "cursor", "account", "origin"));
      const auto& v = f.as_array();
      auto record = run_awaitable(io_, client_->exec("HGET", keys_.queued(), task_id));
      if (v[0].is_nil() && v[4].is_nil() && record.is_nil()) {
        owner_.erase(task_id);  // expired (or never started): the id is free again
        continue;
      }
      if (!v[4].is_nil() && v[4].str() != account)
        violation("task " + task_id + " changed account from " + account + " to " + v[4].str());
      auto num = [](const redis::reply& r) { return r.is_nil() ? 0ULL : std::stoull(r.str()); };
      if (num(v[2]) > num(v[1]) || num(v[3]) > num(v[1]))
        violation("task " + task_id + " counts past its total");
      const std::string status = v[0].is_nil() ? "" : v[0].str();
      if (status == "queued" || status == "processing") {
        if (v[5].is_nil() || !live.contains(v[5].str()))
          violation("task " + task_id + " is " + status + " with no entry of its job");
      }
    }
    // Idempotency keys return their task while it exists.
    for (const auto& [key, task_id] : std::map<std::string, std::string>(idem_)) {
      if (!owner_.contains(task_id) && server_.integer({"EXISTS", keys_.task(task_id)}) == 0) {
        idem_.erase(key);
        continue;
      }
      auto held = server_.command({"GET", keys_.idempotency("acme", key)});
      if (held != task_id) violation("idempotency key " + key + " lost its task " + task_id);
    }
  }

  test::redis_server server_;
  asio::io_context io_{1};
  queue_keys keys_{"herald", "default"};
  std::unique_ptr<redis::client> client_;
  std::unique_ptr<task_store> store_;
  std::vector<running_job> running_;
  std::set<std::string> finished_;            // origins of finished jobs
  std::map<std::string, std::string> owner_;  // task id -> the account that created its task
  std::map<std::string, std::string> idem_;   // acme's idempotency key -> its task id
  std::uint64_t seed_ = 0;
  int step_ = 0;
  int violations_ = 0;
};

TEST_F(QueueModel, RandomSequencesKeepEveryInvariant) {
  const char* replay = std::getenv("HERALD_QUEUE_MODEL_SEED");
  seed_ = replay ? std::strtoull(replay, nullptr, 10) : std::random_device{}();
  std::cout << "queue model seed " << seed_ << " (HERALD_QUEUE_MODEL_SEED replays it)\n";
  std::mt19937_64 random(seed_);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  const std::vector<std::string> consumers{"c1", "c2", "stale"};
  const std::vector<std::string> accounts{"acme", "globex"};
  std::map<std::string, int> ops;

  const char* steps_env = std::getenv("HERALD_QUEUE_MODEL_STEPS");
  const int steps = steps_env ? std::atoi(steps_env) : 2000;
  for (step_ = 0; step_ < steps && violations_ == 0; ++step_) {
    const auto op = pick(15);
    const auto items = std::to_string(1 + pick(3));
    const std::string body = R"({"items": )" + items + "}";
    const std::string task_id = "t" + std::to_string(pick(12));  // few ids: they collide
    try {
      switch (op) {
        case 0: {  // enqueue, a new id
          ops["enqueue"]++;
          const auto& account = accounts[pick(2)];
          auto r = run_awaitable(
              io_, store_->enqueue({.type = "noop", .account = account, .body = body}));
          owner_.try_emplace(r.task_id, account);
          break;
        }
        case 1: {  // enqueue a chosen id, maybe with a key or a run_at
          ops["enqueue_checked"]++;
          std::string key = pick(2) ? "k" + std::to_string(pick(4)) : "";
          new_job j{.type = "noop",
                    .account = "acme",
                    .body = body,
                    .task_id = task_id,
                    .idempotency_key = key};
          if (pick(3) == 0) j.run_at = now_ms() + 1;
          auto r = run_awaitable(io_, store_->enqueue(std::move(j)));
          if (!key.empty()) {
            auto known = idem_.find(key);
            if (known != idem_.end() && known->second != r.task_id)
              violation("idempotency key " + key + " gave another task");
            idem_[key] = r.task_id;
          }
          if (r.created) owner_.try_emplace(r.task_id, "acme");
          break;
        }
        case 2:  // a plain XADD, any account, a colliding id
          ops["xadd"]++;
          server_.command({"XADD", keys_.jobs(), "*", "v", "1", "type", "noop", "task_id", task_id,
                           "account", accounts[pick(2)], "body", body});
          break;
        case 3:
        case 4: {  // a consumer reads and starts
          ops["read"]++;
          const auto& c = consumers[pick(consumers.size())];
          auto r = eval(scripts::read(), {keys_.jobs()},
                        {std::string(group), c, std::to_string(1 + pick(3)), "0", "1048576"});
          start(c, entries_of(r));
          break;
        }
        case 5:
        case 6:
        case 7:  // a running chunk commits
          if (auto a = active(); !a.empty()) {
            ops["commit"]++;
            commit(running_[a[pick(a.size())]]);
          }
          break;
        case 8:  // a running job asks to run again later
          if (auto a = active(); !a.empty()) {
            ops["retry"]++;
            auto r = running_[a[pick(a.size())]];
            eval(scripts::retry(),
                 {keys_.jobs(), keys_.delayed(), keys_.task(r.e.task_id), keys_.queued()},
                 {std::string(group), r.consumer, r.e.id, "0", "later", "0", "60000"});
            drop(r.consumer, r.e.id);
          }
          break;
        case 9:  // a running job fails: left pending for a claimer
          if (auto a = active(); !a.empty()) {
            ops["fail"]++;
            auto r = running_[a[pick(a.size())]];
            eval(scripts::note_error(), {keys_.task(r.e.task_id), keys_.queued()},
                 {r.e.task_id, r.e.account, r.e.origin_or_id(), "boom", "0"});
            drop(r.consumer, r.e.id);
          }
          break;
        case 10: {  // a claim of entries idle for any time (as after claim_idle)
          ops["claim"]++;
          const auto& c = consumers[pick(2)];
          auto r = run_awaitable(
              io_, client_->exec("XAUTOCLAIM", keys_.jobs(), group, c, 0, "0-0", "COUNT", 10));
          // Their runners go on, and find them lost at their next commit.
          start(c, entries_of(r.as_array().at(1)));
          break;
        }
        case 11: {  // cancel
          ops["cancel"]++;
          auto r = run_awaitable(io_, store_->cancel(task_id, accounts[pick(2)]));
          if (r) note_if_finished(task_id);
          break;
        }
        case 12: {  // promote due jobs, trim
          ops["promote"]++;
          eval(scripts::promote(), {keys_.delayed(), keys_.jobs()}, {"100"});
          eval(scripts::trim(), {keys_.jobs()}, {std::string(group)});
          break;
        }
        case 13: {  // a dead letter put back
          auto dead = run_awaitable(io_, store_->dead_letters(50));
          if (dead.empty()) break;
          ops["dead_retry"]++;
          try {
            run_awaitable(io_, store_->retry_dead(dead[pick(dead.size())].id));
          } catch (const std::exception&) {
            // refused: its task id is another task's now
          }
          break;
        }
        case 14: {  // time passes: every key with a TTL (finished tasks, their keys) expires
          if (pick(3)) break;
          ops["expire"]++;
          auto keys = run_awaitable(io_, client_->exec("KEYS", "herald:{default}:*"));
          for (const auto& k : keys.as_array())
            if (server_.integer({"PTTL", k.str()}) > 0) server_.command({"DEL", k.str()});
          break;
        }
      }
    } catch (const std::exception& e) {
      const std::string what = e.what();
      // Refusals the contract promises are fine; anything else is a finding.
      if (what.find("already in use") == std::string::npos)
        violation("op " + std::to_string(op) + " threw: " + what);
    }
    check();
  }
  std::cout << "steps " << step_ << ":";
  for (const auto& [name, n] : ops) std::cout << " " << name << " " << n;
  std::cout << "\n";
  EXPECT_EQ(violations_, 0);
}

}  // namespace
}  // namespace herald::queue
