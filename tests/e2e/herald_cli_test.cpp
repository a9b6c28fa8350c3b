// The built `herald` against the built heraldd on its embedded Redis, as an operator or a script
// uses it: enqueue (file and stdin), --wait and --watch, status, tasks, cancel, queue stats, the
// dead letters, and the exit codes a script relies on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/process.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

// heraldd (chunks of 2 items, so progress moves in small steps) and a way to run `herald` against
// it: the built binary, stdin fed through a pipe, stdout and stderr kept apart, and the daemon's
// state directory in HERALD_STATE_DIR so that herald finds the embedded Redis by itself.
class HeraldCli : public ::testing::Test {
 protected:
  HeraldCli()
      : heraldd_({.redis_url = "",
                  .extra_env = {},
                  .extra_args = {"--chunk-size", "2"},
                  .wait_until_listening = true}),
        dir_("herald-cli") {}
  // SIGTERM, so that heraldd stops and reaps its redis-server instead of orphaning it.
  ~HeraldCli() override { EXPECT_EQ(heraldd_.terminate(), 0) << heraldd_.log(); }

  // The environment herald runs with: this test's, minus anything that would point it elsewhere.
  std::vector<std::string> environment(const std::vector<std::string>& extra) const {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string_view v(*e);
      if (!v.starts_with("HERALD_") && !v.starts_with("STATE_DIRECTORY=")) env.emplace_back(v);
    }
    env.push_back("HERALD_STATE_DIR=" + heraldd_.state_dir().path().string());
    env.push_back("HERALD_CONFIG=/dev/null");  // never the host's /etc/herald/heraldd.conf
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
  }

  cli_result herald(std::vector<std::string> args, const std::string& input = {},
                    std::vector<std::string> extra_env = {}) {
    args.insert(args.begin(), HERALD_CLI);
    auto env = environment(extra_env);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    // The input goes into the pipe before the fork: it fits the pipe's buffer, and writing never
    // races with a child that exits without reading.
    EXPECT_LT(input.size(), 60'000u);
    int in[2];
    if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    if (!input.empty() && ::write(in[1], input.data(), input.size()) != ssize_t(input.size()))
      throw std::runtime_error("writing herald's stdin failed");
    ::close(in[1]);
    const auto n = std::to_string(++runs_);
    const auto out_path = dir_ / ("out." + n), err_path = dir_ / ("err." + n);
    int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0 || err_fd < 0) throw std::runtime_error("cannot create herald's output files");
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::dup2(in[0], 0);
      ::dup2(out_fd, 1);
      ::dup2(err_fd, 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out_fd);
    ::close(err_fd);

    cli_result r;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        ADD_FAILURE() << "herald did not finish within 60 s";
        break;
      }
      std::this_thread::sleep_for(2ms);
    }
    r.out = read_text(out_path);
    r.err = read_text(err_path);
    return r;
  }

  // A command on the daemon's Redis, bypassing herald; the reply flattened to text.
  std::string redis(const std::vector<std::string>& args) {
    auto socket = heraldd_.state_dir() / "redis" / "redis.sock";
    redisContext* c = redisConnectUnix(socket.c_str());
    if (!c || c->err) {
      if (c) redisFree(c);
      throw std::runtime_error("cannot connect to " + socket.string());
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
    std::string text;
    if (!reply) {
      redisFree(c);
      throw std::runtime_error("no reply from Redis");
    }
    if (reply->type == REDIS_REPLY_INTEGER)
      text = std::to_string(reply->integer);
    else if (reply->type == REDIS_REPLY_ERROR)
      text = "ERR: " + std::string(reply->str, reply->len);
    else if (reply->str)
      text.assign(reply->str, reply->len);
    freeReplyObject(reply);
    redisFree(c);
    return text;
  }

  std::filesystem::path write_file(const std::string& name, const std::string& content) {
    auto path = dir_ / name;
    std::ofstream(path) << content;
    return path;
  }

  // The one line herald printed: a task id.
  static std::string task_id(const cli_result& r) {
    static const std::regex uuid(
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n");
    EXPECT_TRUE(std::regex_match(r.out, uuid)) << "stdout: " << r.out << "\nstderr: " << r.err;
    return r.out.substr(0, r.out.size() - 1);
  }

  heraldd_process heraldd_;
  temp_dir dir_;
  int runs_ = 0;
  simdjson::dom::parser parser_;
};

TEST_F(HeraldCli, EnqueuesAFileWaitsAndTheTaskIsCompleted) {
  auto file = write_file("job.json", R"({"type": "noop", "body": {"items": 10}})");
  auto r = herald({"enqueue", file.string(), "--wait"});
  ASSERT_EQ(r.code, 0) << r.err << heraldd_.log();
  EXPECT_EQ(r.err, "");
  auto id = task_id(r);

  auto status = herald({"status", id, "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser_.parse(status.out).get(doc)) << status.out;
  EXPECT_EQ(doc["error"].get_int64().value(), 0);
  auto data = doc["data"];
  EXPECT_EQ(data["task_id"].get_string().value(), id);
  EXPECT_EQ(data["status"].get_string().value(), "completed");
  EXPECT_EQ(data["progress"].get_int64().value(), 100);
  EXPECT_EQ(data["total"].get_int64().value(), 10);
  EXPECT_EQ(data["processed"].get_int64().value(), 10);
  EXPECT_EQ(data["failed"].get_int64().value(), 0);
  EXPECT_FALSE(data["finished_at"].is_null());

  auto human = herald({"status", id});
  ASSERT_EQ(human.code, 0);
  EXPECT_TRUE(contains(human.out, "status:      completed\n")) << human.out;
  EXPECT_TRUE(contains(human.out, "100% (10 of 10 items)")) << human.out;
}

TEST_F(HeraldCli, EnqueuesFromStdinAndListsTheAccountsTasksNewestFirst) {
  auto first = herald({"enqueue", "-"}, R"({"type": "noop", "body": {"items": 3}})");
  ASSERT_EQ(first.code, 0) << first.err;
  auto first_id = task_id(first);
  auto watched = herald({"status", first_id, "--watch", "--interval", "20ms"});
  EXPECT_EQ(watched.code, 0) << watched.err;
  EXPECT_TRUE(watched.out.ends_with("100% 3/3 completed\n")) << watched.out;

  // With --type the whole input is the body.
  auto second = herald({"enqueue", "-", "--type", "noop", "--wait"}, R"({"items": 4})");
  ASSERT_EQ(second.code, 0) << second.err;
  auto second_id = task_id(second);
  auto status = herald({"status", second_id, "--json"});
  simdjson::dom::element doc;
  ASSERT_FALSE(parser_.parse(status.out).get(doc)) << status.out;
  EXPECT_EQ(doc["data"]["processed"].get_int64().value(), 4);
  EXPECT_EQ(doc["data"]["type"].get_string().value(), "noop");

  auto tasks = herald({"tasks", "--json"});
  ASSERT_EQ(tasks.code, 0) << tasks.err;
  ASSERT_FALSE(parser_.parse(tasks.out).get(doc)) << tasks.out;
  ASSERT_EQ(doc.get_array().size(), 2u) << tasks.out;
  EXPECT_EQ(doc.at(0)["task_id"].get_string().value(), second_id);
  EXPECT_EQ(doc.at(1)["task_id"].get_string().value(), first_id);
  auto newest = herald({"tasks", "--limit", "1"});
  EXPECT_TRUE(contains(newest.out, second_id)) << newest.out;
  EXPECT_FALSE(contains(newest.out, first_id)) << newest.out;
  auto other_account = herald({"tasks", "--account", "acme"});
  EXPECT_EQ(other_account.out, "no tasks\n");

  // The filters tasks/list takes: status, type and creation time.
  auto completed = herald({"tasks", "--status", "completed", "--type", "noop,sleep"});
  EXPECT_TRUE(contains(completed.out, first_id) && contains(completed.out, second_id))
      << completed.out;
  EXPECT_EQ(herald({"tasks", "--status", "queued,failed"}).out, "no tasks\n");
  EXPECT_EQ(herald({"tasks", "--type", "send"}).out, "no tasks\n");
  EXPECT_EQ(herald({"tasks", "--until", "2020-01-01T00:00:00Z"}).out, "no tasks\n");
  auto recent = herald({"tasks", "--since", "2020-01-01T00:00:00Z", "--json"});
  ASSERT_FALSE(parser_.parse(recent.out).get(doc)) << recent.out;
  EXPECT_EQ(doc.get_array().size(), 2u) << recent.out;
}

TEST_F(HeraldCli, RefusesABadJobNamingTheFieldAndEnqueuesNothing) {
  // The workers create the stream and its group once heraldd listens; wait for it, so that the
  // count below is not taken before it.
  ASSERT_TRUE(wait_until(
      [&] {
        return redis({"EXISTS", "herald:{default}:jobs"}) == "1";
      },
      std::chrono::seconds(10)));
  auto keys_before = redis({"DBSIZE"});
  auto stats_before = herald({"queue", "stats", "--json"});
  ASSERT_EQ(stats_before.code, 0) << stats_before.err;

  auto bad_body = herald({"enqueue", "-"}, R"({"type": "noop", "body": {"items": "many"}})");
  EXPECT_EQ(bad_body.code, 2);
  EXPECT_EQ(bad_body.out, "");
  EXPECT_TRUE(contains(bad_body.err, "body.items: must be a non-negative integer")) << bad_body.err;

  auto bad_type =
      herald({"enqueue", write_file("fax.json", R"({"type": "fax", "body": {}})").string()});
  EXPECT_EQ(bad_type.code, 2);
  EXPECT_TRUE(contains(bad_type.err, "type: unknown job type \"fax\"")) << bad_type.err;

  auto not_json = herald({"enqueue", "-", "--type", "sleep"}, "{\"items\": ");
  EXPECT_EQ(not_json.code, 2);
  EXPECT_TRUE(contains(not_json.err, "stdin: body: not valid JSON")) << not_json.err;

  auto bad_run_at =
      herald({"enqueue", "-", "--run-at", "someday"}, R"({"type": "noop", "body": {}})");
  EXPECT_EQ(bad_run_at.code, 2);
  EXPECT_TRUE(contains(bad_run_at.err, "--run-at")) << bad_run_at.err;

  auto missing = herald({"enqueue", (dir_ / "no-such.json").string()});
  EXPECT_EQ(missing.code, 2);
  EXPECT_TRUE(contains(missing.err, "no-such.json: cannot read")) << missing.err;

  // Hostile input (issue 10, defect 7): a directory, an endless file, a long key, a far run_at.
  auto directory = herald({"enqueue", "."});
  EXPECT_EQ(directory.code, 2) << directory.err;
  EXPECT_TRUE(contains(directory.err, ".: is a directory")) << directory.err;
  const auto started = std::chrono::steady_clock::now();
  auto endless = herald({"enqueue", "/dev/zero"});
  EXPECT_EQ(endless.code, 2) << endless.err;
  EXPECT_TRUE(contains(endless.err, "larger than max_job_bytes (10 MiB)")) << endless.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  auto long_key = herald({"enqueue", "-", "--idempotency-key", std::string(201, 'k')},
                         R"({"type": "noop", "body": {}})");
  EXPECT_EQ(long_key.code, 2);
  EXPECT_TRUE(contains(long_key.err, "--idempotency-key: must be 1 to 200 characters"))
      << long_key.err;
  for (std::string when : {"+999999999d", "99999999999999999", "9999-12-31T23:59:59Z"}) {
    auto far = herald({"enqueue", "-", "--run-at", when}, R"({"type": "noop", "body": {}})");
    EXPECT_EQ(far.code, 2) << when;
    EXPECT_TRUE(contains(far.err, "--run-at:")) << far.err;
    EXPECT_TRUE(contains(far.err, "more than 365 days ahead")) << far.err;
  }
  auto twice = herald({"enqueue", "-"}, R"({"type": "noop", "body": {}, "type": "sleep"})");
  EXPECT_EQ(twice.code, 2);
  EXPECT_TRUE(contains(twice.err, "stdin: type: duplicate key")) << twice.err;

  EXPECT_EQ(redis({"DBSIZE"}), keys_before);
  EXPECT_EQ(herald({"queue", "stats", "--json"}).out, stats_before.out);
  EXPECT_EQ(herald({"tasks"}).out, "no tasks\n");
}

TEST_F(HeraldCli, AnIdempotencyKeyTwiceGivesTheSameTask) {
  const std::string job = R"({"type": "noop", "body": {"items": 2}})";
  auto first = herald({"enqueue", "-", "--idempotency-key", "order-42"}, job);
  ASSERT_EQ(first.code, 0) << first.err;
  auto second = herald({"enqueue", "-", "--idempotency-key", "order-42", "--wait"}, job);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(task_id(second), task_id(first));
  EXPECT_TRUE(contains(second.err, "was used before")) << second.err;

  simdjson::dom::element doc;
  auto tasks = herald({"tasks", "--json"});
  ASSERT_FALSE(parser_.parse(tasks.out).get(doc)) << tasks.out;
  EXPECT_EQ(doc.get_array().size(), 1u) << tasks.out;

  auto taken = herald({"enqueue", "-", "--task-id", task_id(first)}, job);
  EXPECT_EQ(taken.code, 2);
  EXPECT_TRUE(contains(taken.err, "already in use")) << taken.err;
}

TEST_F(HeraldCli, UnknownTasksAndForeignOnesExit3) {
  auto unknown = herald({"status", "no-such-task"});
  EXPECT_EQ(unknown.code, 3);
  EXPECT_TRUE(contains(unknown.err, "no task \"no-such-task\" in account \"default\""))
      << unknown.err;
  EXPECT_EQ(herald({"status", "no-such-task", "--json"}).code, 3);
  EXPECT_EQ(herald({"cancel", "no-such-task"}).code, 3);

  auto mine =
      herald({"enqueue", "-", "--account", "acme", "--wait"}, R"({"type": "noop", "body": {}})");
  ASSERT_EQ(mine.code, 0) << mine.err;
  auto id = task_id(mine);
  EXPECT_EQ(herald({"status", id, "--account", "acme"}).code, 0);
  EXPECT_EQ(herald({"status", id}).code, 3);
  EXPECT_EQ(herald({"status", id}, {}, {"HERALD_ACCOUNT=acme"}).code, 0);
}

TEST_F(HeraldCli, QueueStatsAndCancellingADelayedTask) {
  auto r = herald({"enqueue", "-", "--run-at", "+1h"}, R"({"type": "noop", "body": {}})");
  ASSERT_EQ(r.code, 0) << r.err;
  auto id = task_id(r);

  // Redis 7.0 counts a consumer once it has been handed an entry: heraldd gets one first.
  ASSERT_EQ(herald({"enqueue", "-", "--wait"}, R"({"type": "noop", "body": {}})").code, 0);

  auto stats = herald({"queue", "stats", "--json"});
  ASSERT_EQ(stats.code, 0) << stats.err;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser_.parse(stats.out).get(doc)) << stats.out;
  EXPECT_EQ(doc["delayed"].get_int64().value(), 1);
  EXPECT_EQ(doc["pending"].get_int64().value(), 0);
  EXPECT_EQ(doc["dead"].get_int64().value(), 0);
  EXPECT_EQ(doc["consumers"].get_int64().value(), 1);
  auto human = herald({"queue", "stats"});
  EXPECT_TRUE(contains(human.out, "delayed:        1\n")) << human.out;
  EXPECT_TRUE(contains(human.out, "consumers:      1\n")) << human.out;

  // A --wait on it ends with 1 once it is cancelled.
  child_process waiter({HERALD_CLI, "status", id, "--watch", "--interval", "20ms"}, environment({}),
                       dir_ / "waiter.log");
  auto cancel = herald({"cancel", id});
  EXPECT_EQ(cancel.code, 0) << cancel.err;
  EXPECT_EQ(cancel.out, "cancelled\n");
  auto code = waiter.wait_for(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1) << waiter.log();
  EXPECT_TRUE(contains(waiter.log(), "was cancelled")) << waiter.log();

  auto again = herald({"cancel", id});
  EXPECT_EQ(again.code, 0);
  EXPECT_EQ(again.out, "cancelled\n");
}

TEST_F(HeraldCli, DeadLettersAreListedRetriedAndPurged) {
  // A job no handler can parse goes to the dead-letter stream at once; its task fails.
  redis({"XADD", "herald:{default}:jobs", "*", "v", "1", "type", "noop", "task_id", "bad-1",
         "account", "default", "body", "not json"});
  simdjson::dom::element doc;
  std::string first_id;
  ASSERT_TRUE(wait_until(
      [&] {
        auto list = herald({"dead", "list", "--json"});
        if (list.code != 0 || parser_.parse(list.out).get(doc) || doc.get_array().size() != 1)
          return false;
        first_id = std::string(doc.at(0)["id"].get_string().value());
        return true;
      },
      10s, 20ms))
      << heraldd_.log();
  EXPECT_EQ(doc.at(0)["task_id"].get_string().value(), "bad-1");
  EXPECT_TRUE(contains(std::string(doc.at(0)["reason"].get_string().value()), "body"));
  auto human = herald({"dead", "list"});
  EXPECT_TRUE(contains(human.out, first_id + "  bad-1")) << human.out;
  auto stats = herald({"queue", "stats", "--json"});
  ASSERT_FALSE(parser_.parse(stats.out).get(doc)) << stats.out;
  EXPECT_EQ(doc["dead"].get_int64().value(), 1);

  auto failed = herald({"status", "bad-1", "--watch"});
  EXPECT_EQ(failed.code, 1);
  EXPECT_TRUE(contains(failed.err, "task bad-1 failed: body")) << failed.err;

  // Retried, it is back on the stream, and dies again under a new id.
  auto retry = herald({"dead", "retry", first_id});
  EXPECT_EQ(retry.code, 0) << retry.err;
  EXPECT_EQ(retry.out, "retried " + first_id + "\n");
  ASSERT_TRUE(wait_until(
      [&] {
        auto list = herald({"dead", "list", "--json"});
        return !parser_.parse(list.out).get(doc) && doc.get_array().size() == 1
               && doc.at(0)["id"].get_string().value() != first_id;
      },
      10s, 20ms));
  auto unknown = herald({"dead", "retry", "1-0"});
  EXPECT_EQ(unknown.code, 3);
  EXPECT_TRUE(contains(unknown.err, "no dead letter \"1-0\"")) << unknown.err;
  EXPECT_EQ(herald({"dead", "retry", "not-an-id"}).code, 2);

  // A job that had failed for another reason runs to completion once retried.
  const auto now = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  redis({"HSET",       "herald:{default}:task:good-1",
         "v",          "1",
         "type",       "noop",
         "account",    "default",
         "status",     "failed",
         "total",      "2",
         "processed",  "0",
         "sent",       "0",
         "scheduled",  "0",
         "skipped",    "0",
         "failed",     "0",
         "cursor",     "0",
         "deliveries", "5",
         "created_at", now,
         "error_text", "gave up after 5 deliveries"});
  redis({"XADD",
         "herald:{default}:dead",
         "*",
         "v",
         "1",
         "type",
         "noop",
         "task_id",
         "good-1",
         "account",
         "default",
         "body",
         R"({"items": 2})",
         "entry_id",
         "1-1",
         "reason",
         "handler kept failing",
         "deliveries",
         "5",
         "dead_at",
         now});
  auto all = herald({"dead", "retry", "--all"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(all.out, "retried 2 dead letters\n");
  auto good = herald({"status", "good-1", "--watch", "--interval", "20ms"});
  EXPECT_EQ(good.code, 0) << good.err;
  EXPECT_TRUE(good.out.ends_with("100% 2/2 completed\n")) << good.out;

  // bad-1 is back in the dead letters; purge empties them.
  ASSERT_TRUE(wait_until(
      [&] {
        return contains(herald({"dead", "list"}).out, "bad-1");
      },
      10s, 20ms));
  auto purge = herald({"dead", "purge"});
  EXPECT_EQ(purge.code, 0) << purge.err;
  EXPECT_EQ(purge.out, "purged 1 dead letter\n");
  EXPECT_EQ(herald({"dead", "list"}).out, "no dead letters\n");
  EXPECT_EQ(herald({"dead", "list", "--json"}).out, "[]\n");
  stats = herald({"queue", "stats", "--json"});
  ASSERT_FALSE(parser_.parse(stats.out).get(doc)) << stats.out;
  EXPECT_EQ(doc["dead"].get_int64().value(), 0);
}

TEST_F(HeraldCli, WatchWithoutATerminalPrintsRisingPercentagesEndingAt100) {
  auto r = herald({"enqueue", "-", "--type", "sleep", "--watch", "--interval", "10ms"},
                  R"({"items": 20, "ms": 20})");
  ASSERT_EQ(r.code, 0) << r.err << heraldd_.log();
  std::istringstream lines(r.out);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line.size(), 36u) << "the first line is the task id: " << r.out;
  static const std::regex progress(R"(([0-9]+)% ([0-9]+)/20 (queued|processing|completed))");
  std::vector<int> percentages;
  std::string last;
  while (std::getline(lines, line)) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, progress)) << line;
    percentages.push_back(std::stoi(m[1]));
    last = line;
  }
  ASSERT_FALSE(percentages.empty()) << r.out;
  EXPECT_TRUE(std::is_sorted(percentages.begin(), percentages.end())) << r.out;
  EXPECT_GE(std::set<int>(percentages.begin(), percentages.end()).size(), 3u) << r.out;
  EXPECT_EQ(percentages.back(), 100) << r.out;
  EXPECT_EQ(last, "100% 20/20 completed");
  EXPECT_FALSE(contains(r.out, "\r")) << "no redrawing when stdout is not a terminal";
}

TEST_F(HeraldCli, ExitCodesForUsageAndAnUnreachableRedis) {
  auto help = herald({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(contains(help.out, "Exit codes")) << help.out;
  EXPECT_EQ(herald({}).code, 2);
  auto unknown = herald({"frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_TRUE(contains(unknown.err, "`frobnicate` is not a command")) << unknown.err;

  auto down = herald({"queue", "stats", "--redis-url", "unix://" + (dir_ / "none.sock").string()});
  EXPECT_EQ(down.code, 4);
  EXPECT_TRUE(contains(down.err, "Redis unreachable")) << down.err;
  // A bad job is refused before Redis is even asked.
  auto bad = herald({"enqueue", "-", "--redis-url", "unix://" + (dir_ / "none.sock").string()},
                    R"({"type": "noop", "body": {"items": -1}})");
  EXPECT_EQ(bad.code, 2);
}

}  // namespace
}  // namespace herald::test
