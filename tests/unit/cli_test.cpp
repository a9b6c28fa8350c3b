// The herald CLI's logic without I/O: the command line, where Redis is, the job file, run_at,
// and every output format.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <string>
#include <vector>

#include "herald/cli/command_line.hpp"
#include "herald/cli/job_file.hpp"
#include "herald/cli/output.hpp"
#include "herald/cli/target.hpp"
#include "support/process.hpp"

namespace herald::cli {
namespace {

using namespace std::chrono_literals;

command_line parse(std::vector<std::string_view> args) {
  return parse_command_line(args);
}

// The usage error's message, or "" when the words parse.
std::string usage_error(std::vector<std::string_view> args) {
  try {
    parse(args);
  } catch (const cli_error& e) {
    EXPECT_EQ(e.code(), exit_code::usage);
    return e.what();
  }
  return {};
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(CliCommandLine, ParsesEnqueueWithItsOptionsInAnyOrder) {
  auto cl = parse({"--account", "acme", "enqueue", "job.json", "--wait", "--idempotency-key=k1",
                   "--run-at", "+5m", "--type", "noop", "--redis-url", "redis://h:1", "--interval",
                   "50ms"});
  EXPECT_EQ(cl.command, command_kind::enqueue);
  EXPECT_EQ(cl.file, "job.json");
  EXPECT_EQ(cl.account, "acme");
  EXPECT_TRUE(cl.wait);
  EXPECT_FALSE(cl.watch);
  EXPECT_EQ(cl.idempotency_key, "k1");
  EXPECT_EQ(cl.run_at, "+5m");
  EXPECT_EQ(cl.type, "noop");
  EXPECT_EQ(cl.redis_url, "redis://h:1");
  EXPECT_EQ(cl.interval, 50ms);
}

TEST(CliCommandLine, DashIsStdinAndDoubleDashEndsOptions) {
  EXPECT_EQ(parse({"enqueue", "-"}).file, "-");
  EXPECT_EQ(parse({"enqueue", "--", "--odd-name.json"}).file, "--odd-name.json");
}

TEST(CliCommandLine, ParsesEveryCommand) {
  auto status = parse({"status", "t1", "--watch", "--json"});
  EXPECT_EQ(status.command, command_kind::status);
  EXPECT_EQ(status.id, "t1");
  EXPECT_TRUE(status.watch);
  EXPECT_TRUE(status.json);
  EXPECT_EQ(parse({"tasks"}).limit, 20u);
  EXPECT_EQ(parse({"tasks", "--limit", "5"}).limit, 5u);
  EXPECT_EQ(parse({"cancel", "t1"}).command, command_kind::cancel);
  EXPECT_EQ(parse({"queue", "stats", "--json"}).command, command_kind::queue_stats);
  auto dead = parse({"dead", "list"});
  EXPECT_EQ(dead.command, command_kind::dead_list);
  EXPECT_EQ(dead.limit, 100u);
  auto retry = parse({"dead", "retry", "1700000000000-3"});
  EXPECT_EQ(retry.command, command_kind::dead_retry);
  EXPECT_EQ(retry.id, "1700000000000-3");
  EXPECT_TRUE(parse({"dead", "retry", "--all"}).all);
  EXPECT_EQ(parse({"dead", "purge"}).command, command_kind::dead_purge);
}

TEST(CliCommandLine, TasksTakesTheFiltersOfTasksList) {
  const auto cl = parse({"tasks", "--status", "queued,processing", "--type", "send", "--since",
                         "2023-11-14T22:13:20Z", "--until", "1700000100000"});
  EXPECT_EQ(cl.task_filter.statuses,
            (std::vector<queue::task_status>{queue::task_status::queued,
                                             queue::task_status::processing}));
  EXPECT_EQ(cl.task_filter.types, std::vector<std::string>{"send"});
  EXPECT_EQ(cl.task_filter.created_from, 1'700'000'000'000);
  EXPECT_EQ(cl.task_filter.created_to, 1'700'000'100'000);
  EXPECT_FALSE(cl.type.has_value());  // --type filters here; it is not enqueue's body type
  EXPECT_TRUE(parse({"tasks"}).task_filter.statuses.empty());

  EXPECT_TRUE(
      contains(usage_error({"tasks", "--status", "done"}), "--status: \"done\" is not one"));
  EXPECT_TRUE(contains(usage_error({"tasks", "--status", ","}), "--status: no value"));
  EXPECT_TRUE(contains(usage_error({"tasks", "--since", "yesterday"}), "--since: \"yesterday\""));
  EXPECT_TRUE(contains(usage_error({"status", "x", "--since", "1"}), "not an option of"));

  queue::task_record t;
  t.type = "send";
  t.status = queue::task_status::processing;
  t.created_at = 1'700'000'050'000;
  EXPECT_TRUE(cl.task_filter.matches(t));
  t.created_at = 1'700'000'100'001;
  EXPECT_FALSE(cl.task_filter.matches(t));
  t.created_at = 1'700'000'000'000;
  t.status = queue::task_status::completed;
  EXPECT_FALSE(cl.task_filter.matches(t));
}

TEST(CliCommandLine, HelpAndVersionWinOverEverythingElse) {
  EXPECT_EQ(parse({"--help"}).command, command_kind::help);
  EXPECT_EQ(parse({"status", "-h"}).command, command_kind::help);
  EXPECT_EQ(parse({"bogus", "--help"}).command, command_kind::help);
  EXPECT_EQ(parse({"--version"}).command, command_kind::version);
  EXPECT_EQ(parse({"help"}).command, command_kind::help);
}

TEST(CliCommandLine, RefusesWhatIsWrongNamingIt) {
  EXPECT_TRUE(contains(usage_error({}), "no command"));
  EXPECT_TRUE(contains(usage_error({"frobnicate"}), "`frobnicate` is not a command"));
  EXPECT_TRUE(contains(usage_error({"queue"}), "`herald queue` needs one of: stats"));
  EXPECT_TRUE(contains(usage_error({"dead", "bury"}), "`herald dead bury`: not a command"));
  EXPECT_TRUE(contains(usage_error({"enqueue"}), "needs a job file"));
  EXPECT_TRUE(contains(usage_error({"enqueue", "a", "b"}), "no argument `b`"));
  EXPECT_TRUE(contains(usage_error({"status"}), "needs a task id"));
  EXPECT_TRUE(contains(usage_error({"status", "t", "--frob"}), "unknown option --frob"));
  EXPECT_TRUE(contains(usage_error({"cancel", "t", "--json"}),
                       "--json is not an option of `herald cancel`"));
  EXPECT_TRUE(contains(usage_error({"queue", "stats", "--wait"}), "--wait is not an option"));
  EXPECT_TRUE(contains(usage_error({"tasks", "--limit"}), "--limit needs a value"));
  EXPECT_TRUE(contains(usage_error({"tasks", "--limit", "0"}), "--limit: \"0\""));
  EXPECT_TRUE(contains(usage_error({"tasks", "--limit", "x"}), "--limit: \"x\""));
  EXPECT_TRUE(contains(usage_error({"tasks", "--json=yes"}), "--json takes no value"));
  EXPECT_TRUE(contains(usage_error({"enqueue", "f", "--wait", "--watch"}), "--wait and --watch"));
  EXPECT_TRUE(contains(usage_error({"enqueue", "f", "--type", "a", "--type", "b"}),
                       "--type is given twice"));
  EXPECT_TRUE(contains(usage_error({"enqueue", "f", "--interval", "soon"}), "--interval"));
  EXPECT_TRUE(
      contains(usage_error({"enqueue", "f", "--account="}), "--account: the value is empty"));
  EXPECT_TRUE(contains(usage_error({"dead", "retry"}), "or --all"));
  EXPECT_TRUE(contains(usage_error({"dead", "retry", "abc"}), "not a stream entry id"));
  EXPECT_TRUE(contains(usage_error({"dead", "retry", "--all", "1-0"}), "no argument `1-0`"));
  EXPECT_TRUE(contains(usage_error({"--help"}), ""));
}

TEST(CliCommandLine, HelpDocumentsEveryCommandAndExitCode) {
  auto help = help_text();
  for (std::string_view part :
       {"enqueue FILE|-", "status ID", "tasks", "cancel ID", "queue stats", "dead list",
        "dead retry", "dead purge", "--redis-url", "--config", "--prefix", "--account", "--wait",
        "--watch", "--json", "--limit", "--idempotency-key", "--run-at", "Exit codes"})
    EXPECT_TRUE(contains(help, part)) << part;
  for (std::string_view code : {"  0  ", "  1  ", "  2  ", "  3  ", "  4  "})
    EXPECT_TRUE(contains(help, code)) << code;
  EXPECT_TRUE(version_text().starts_with("herald "));
}

// --- where Redis is ----------------------------------------------------------------------------

TEST(CliTarget, EmbeddedMeansTheStateDirectorysSocket) {
  auto t = resolve_target(parse({"tasks"}), {{"HERALD_STATE_DIR", "/srv/herald"}}, "");
  EXPECT_EQ(t.redis_url, "unix:///srv/herald/redis/redis.sock");
  EXPECT_EQ(t.prefix, "herald");
  EXPECT_EQ(t.account, "default");
  EXPECT_EQ(embedded_redis_url("/x"), "unix:///x/redis/redis.sock");
}

TEST(CliTarget, FlagsWinOverTheEnvironmentWhichWinsOverTheConfigFile) {
  test::temp_dir dir("herald-cli");
  auto conf = dir / "heraldd.conf";
  std::ofstream(conf) << "redis_url = redis://from-file:6379\nprefix = filed\n";
  const std::string file = conf.string();

  auto from_file = resolve_target(parse({"tasks", "--config", file}), {}, "");
  EXPECT_EQ(from_file.redis_url, "redis://from-file:6379");
  EXPECT_EQ(from_file.prefix, "filed");

  auto via_env_file = resolve_target(parse({"tasks"}), {{"HERALD_CONFIG", file}}, "");
  EXPECT_EQ(via_env_file.redis_url, "redis://from-file:6379");

  auto fallback = resolve_target(parse({"tasks"}), {}, conf);
  EXPECT_EQ(fallback.prefix, "filed");

  auto env = resolve_target(parse({"tasks", "--config", file}),
                            {{"HERALD_REDIS_URL", "redis://from-env:1"},
                             {"HERALD_PREFIX", "envp"},
                             {"HERALD_ACCOUNT", "acme"}},
                            "");
  EXPECT_EQ(env.redis_url, "redis://from-env:1");
  EXPECT_EQ(env.prefix, "envp");
  EXPECT_EQ(env.account, "acme");

  auto flags =
      resolve_target(parse({"tasks", "--config", file, "--redis-url", "redis://flag:2", "--prefix",
                            "fp", "--account", "a1"}),
                     {{"HERALD_REDIS_URL", "redis://from-env:1"}, {"HERALD_ACCOUNT", "acme"}}, "");
  EXPECT_EQ(flags.redis_url, "redis://flag:2");
  EXPECT_EQ(flags.prefix, "fp");
  EXPECT_EQ(flags.account, "a1");
}

TEST(CliTarget, RefusesBadValuesNamingTheirSource) {
  auto message = [](command_line cl, config::environment env) {
    try {
      resolve_target(cl, env, "");
    } catch (const cli_error& e) {
      EXPECT_EQ(e.code(), exit_code::usage);
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_TRUE(contains(message(parse({"tasks", "--redis-url", "http://x"}), {}),
                       "--redis-url: not a Redis URL"));
  EXPECT_TRUE(contains(message(parse({"tasks", "--prefix", "p"}), {{"HERALD_REDIS_URL", "nope"}}),
                       "HERALD_REDIS_URL: not a Redis URL"));
  // Read through heraldd's configuration, which names the variable too.
  auto via_config = message(parse({"tasks"}), {{"HERALD_REDIS_URL", "nope"}});
  EXPECT_TRUE(contains(via_config, "Redis URL")) << via_config;
  EXPECT_TRUE(contains(via_config, "HERALD_REDIS_URL")) << via_config;
  EXPECT_TRUE(contains(message(parse({"tasks", "--account", "a b"}), {}), "--account: \"a b\""));
  EXPECT_TRUE(contains(message(parse({"tasks"}), {{"HERALD_ACCOUNT", "a/b"}}), "HERALD_ACCOUNT"));
  EXPECT_TRUE(contains(message(parse({"tasks", "--config", "/nonexistent/heraldd.conf"}), {}),
                       "heraldd's configuration"));
}

// --- the job file --------------------------------------------------------------------------------

class CliJobFile : public ::testing::Test {
 protected:
  CliJobFile() { queue::add_builtin_handlers(handlers_); }

  queue::new_job read(std::string_view text, job_overrides o = {}) {
    return read_job(text, o, handlers_, now_);
  }
  std::string error(std::string_view text, job_overrides o = {}) {
    try {
      read(text, std::move(o));
    } catch (const cli_error& e) {
      EXPECT_EQ(e.code(), exit_code::usage);
      return e.what();
    }
    return {};
  }

  queue::handler_registry handlers_;
  std::int64_t now_ = 1'700'000'000'000;
};

TEST_F(CliJobFile, ReadsAJobAndCountsItsItemsWithItsHandler) {
  auto job = read(R"({"v": 1, "type": "sleep", "body": {"items": 7, "ms": 3}, "account": "acme",
                      "task_id": "t-1", "idempotency_key": "k", "run_at": 1710000000000})");
  EXPECT_EQ(job.type, "sleep");
  EXPECT_EQ(job.body, R"({"items":7,"ms":3})");
  EXPECT_EQ(job.total, 7u);
  EXPECT_EQ(job.account, "acme");
  EXPECT_EQ(job.task_id, "t-1");
  EXPECT_EQ(job.idempotency_key, "k");
  EXPECT_EQ(job.run_at, 1'710'000'000'000);
}

TEST_F(CliJobFile, DefaultsAndFlagsOverTheFile) {
  auto plain = read(R"({"type": "noop", "body": {}})", {.default_account = "dflt"});
  EXPECT_EQ(plain.account, "dflt");
  EXPECT_EQ(plain.total, 1u);
  EXPECT_TRUE(plain.task_id.empty());
  EXPECT_TRUE(plain.idempotency_key.empty());
  EXPECT_EQ(plain.run_at, 0);

  auto flagged =
      read(R"({"type": "noop", "body": {}, "account": "file", "task_id": "file-id",
                          "run_at": "2030-01-01T00:00:00Z"})",
           {.account = "flag", .task_id = "flag-id", .idempotency_key = "fk", .run_at = "+30s"});
  EXPECT_EQ(flagged.account, "flag");
  EXPECT_EQ(flagged.task_id, "flag-id");
  EXPECT_EQ(flagged.idempotency_key, "fk");
  EXPECT_EQ(flagged.run_at, now_ + 30'000);

  auto file_account =
      read(R"({"type": "noop", "body": {}, "account": "file"})", {.default_account = "dflt"});
  EXPECT_EQ(file_account.account, "file");
}

TEST_F(CliJobFile, WithATypeTheWholeFileIsTheBody) {
  auto job = read(R"({"items": 12})", {.type = "noop"});
  EXPECT_EQ(job.type, "noop");
  EXPECT_EQ(job.body, R"({"items":12})");
  EXPECT_EQ(job.total, 12u);
}

TEST_F(CliJobFile, RefusesABadJobNamingTheField) {
  EXPECT_TRUE(contains(error(R"({"type": "noop", "body": {"items": "many"}})"),
                       "body.items: must be a non-negative integer"));
  EXPECT_TRUE(contains(error(R"({"items": -1})", {.type = "noop"}), "body.items"));
  EXPECT_TRUE(contains(error(R"({"type": "sleep", "body": {"ms": 99999999}})"), "body.ms"));
  EXPECT_TRUE(contains(error(R"({"type": "noop", "body": []})"), "body: must be a JSON object"));
  EXPECT_TRUE(contains(error(R"({"type": "fax", "body": {}})"),
                       "type: unknown job type \"fax\" (known: noop, sleep)"));
  EXPECT_TRUE(contains(error("{}", {.type = "fax"}), "--type: unknown job type"));
  EXPECT_TRUE(contains(error(R"({"body": {}})"), "type: required"));
  EXPECT_TRUE(contains(error(R"({"type": "noop"})"), "body: required"));
  EXPECT_TRUE(contains(error(R"({"type": 3, "body": {}})"), "type: must be a string"));
  EXPECT_TRUE(
      contains(error(R"({"type": "noop", "body": {}, "colour": 1})"), "unknown field \"colour\""));
  EXPECT_TRUE(contains(error(R"({"v": 2, "type": "noop", "body": {}})"), "v: must be 1"));
  EXPECT_TRUE(contains(error(R"({"type": "noop", "body": {}, "account": "a b"})"), "account:"));
  EXPECT_TRUE(contains(error(R"({"type": "noop", "body": {}, "task_id": "x/y"})"), "task_id:"));
  EXPECT_TRUE(
      contains(error(R"({"type": "noop", "body": {}})", {.task_id = "no spaces"}), "--task-id:"));
  EXPECT_TRUE(contains(error(R"({"type": "noop", "body": {}, "run_at": "tomorrow"})"),
                       "run_at: \"tomorrow\""));
  EXPECT_TRUE(contains(error(R"({"type": "noop", "body": {}})", {.run_at = "later"}),
                       "--run-at: \"later\""));
  EXPECT_TRUE(contains(error(R"({"type": "noop", "body": {}, "idempotency_key": ""})"),
                       "idempotency_key: must be 1 to 200"));
  EXPECT_TRUE(contains(error("{\"type\": "), "job file: not valid JSON"));
  EXPECT_TRUE(contains(error("[1]"), "job file: must be a JSON object"));
  EXPECT_TRUE(contains(error("nope", {.type = "noop"}), "body: not valid JSON"));
}

TEST_F(CliJobFile, BoundsTheIdempotencyKeyInCharactersAndRunAtAhead) {
  const std::string job = R"({"type": "noop", "body": {}})";
  EXPECT_EQ(read(job, {.idempotency_key = std::string(200, 'k')}).idempotency_key.size(), 200u);
  // 200 characters of two bytes each are 200 characters.
  std::string cyrillic;
  for (int i = 0; i < 200; ++i) cyrillic += "\xd0\x96";
  EXPECT_EQ(read(job, {.idempotency_key = cyrillic}).idempotency_key, cyrillic);
  EXPECT_TRUE(contains(error(job, {.idempotency_key = std::string(201, 'k')}),
                       "--idempotency-key: must be 1 to 200 characters, got 201"));
  EXPECT_TRUE(contains(
      error(R"({"type": "noop", "body": {}, "idempotency_key": ")" + std::string(201, 'k') + "\"}"),
      "idempotency_key: must be 1 to 200 characters"));

  EXPECT_EQ(read(job, {.run_at = "+364d"}).run_at, now_ + 364LL * 86'400'000);
  EXPECT_EQ(read(job, {.run_at = "+365d"}).run_at, now_ + 365LL * 86'400'000);
  for (std::string when : {"+366d", "+999999999d", "99999999999999999", "9999-12-31T23:59:59Z"}) {
    auto e = error(job, {.run_at = when});
    EXPECT_TRUE(contains(e, "--run-at: ")) << when << ": " << e;
    EXPECT_TRUE(contains(e, "is more than 365 days ahead")) << when << ": " << e;
  }
  EXPECT_TRUE(
      contains(error(R"({"type": "noop", "body": {}, "run_at": 99999999999999999})"), "run_at: "));
  // The bound is the caller's.
  job_limits week{.max_run_ahead = std::chrono::hours(24 * 7)};
  EXPECT_EQ(read_job(job, {.run_at = "+6d"}, handlers_, now_, week).run_at, now_ + 6 * 86'400'000);
  try {
    read_job(job, {.run_at = "+8d"}, handlers_, now_, week);
    ADD_FAILURE() << "+8d accepted";
  } catch (const cli_error& e) {
    EXPECT_TRUE(contains(e.what(), "more than 7 days ahead")) << e.what();
  }
  // A past run_at is due at once, as before.
  EXPECT_EQ(read(job, {.run_at = "1000"}).run_at, 1000);
}

class CliJobInput : public ::testing::Test {
 protected:
  std::string error(const std::string& file, job_limits limits = {}) {
    try {
      read_job_input(file, limits);
    } catch (const cli_error& e) {
      EXPECT_EQ(e.code(), exit_code::usage);
      return e.what();
    }
    ADD_FAILURE() << file << " was read";
    return {};
  }
  herald::test::temp_dir dir_;
};

TEST_F(CliJobInput, ReadsAFileUpToTheLimit) {
  auto path = (dir_.path() / "job.json").string();
  std::ofstream(path) << std::string(1000, ' ') << "{}";
  EXPECT_EQ(read_job_input(path, {.max_job_bytes = 1002}).size(), 1002u);
  EXPECT_EQ(error(path, {.max_job_bytes = 1001}),
            path + ": larger than max_job_bytes (1001 bytes); a job holds at most that much");
}

TEST_F(CliJobInput, RefusesADirectoryAnEndlessFileAndAMissingOne) {
  EXPECT_EQ(error(dir_.path().string()),
            dir_.path().string() + ": is a directory; expected a job file (JSON), or - for stdin");
  EXPECT_TRUE(contains(error("."), ".: is a directory"));
  EXPECT_TRUE(contains(error("/dev/zero"), "/dev/zero: larger than max_job_bytes (10 MiB)"));
  EXPECT_TRUE(contains(error("/dev/zero", {.max_job_bytes = 4096}), "(4 KiB)"));
  EXPECT_TRUE(contains(error((dir_.path() / "none.json").string()), "none.json: cannot read: "));
  auto empty = (dir_.path() / "empty.json").string();
  std::ofstream{empty};
  EXPECT_TRUE(contains(error(empty), "empty.json: empty"));
}

TEST_F(CliJobFile, RefusesARepeatedKeyNamingIt) {
  EXPECT_TRUE(
      contains(error(R"({"type": "noop", "body": {}, "type": "sleep"})"), "type: duplicate key"));
  EXPECT_TRUE(contains(error(R"({"type": "noop", "body": {"items": 3, "items": 1000000000000}})"),
                       "body.items: duplicate key"));
  EXPECT_TRUE(contains(error(R"({"items": 3, "items": 4})", {.type = "noop"}),
                       "body.items: duplicate key"));
}

TEST(CliRunAt, ParsesMillisecondsIsoAndDurations) {
  const std::int64_t now = 1'700'000'000'000;
  EXPECT_EQ(parse_run_at("1800000000000", now), 1'800'000'000'000);
  EXPECT_EQ(parse_run_at("+90s", now), now + 90'000);
  EXPECT_EQ(parse_run_at("+5m", now), now + 300'000);
  EXPECT_EQ(parse_run_at("1970-01-01T00:00:00Z", now), 0);
  EXPECT_EQ(parse_run_at("2023-11-14T22:13:20Z", now), 1'700'000'000'000);
  EXPECT_EQ(parse_run_at("2023-11-14T22:13:20.123Z", now), 1'700'000'000'123);
  EXPECT_EQ(parse_run_at("2023-11-14T22:13:20.5Z", now), 1'700'000'000'500);
  EXPECT_EQ(parse_run_at("2023-11-14T22:13:20", now), 1'700'000'000'000);
  EXPECT_EQ(parse_run_at("2023-11-14 22:13", now), 1'699'999'980'000);
  EXPECT_EQ(parse_run_at("2023-11-15T00:13:20+02:00", now), 1'700'000'000'000);
  EXPECT_EQ(parse_run_at("2023-11-14T21:13:20-0100", now), 1'700'000'000'000);
  EXPECT_EQ(parse_run_at("2024-02-29T00:00:00Z", now), 1'709'164'800'000);
  for (std::string_view bad : {"", "+", "+soon", "2023-02-29T00:00:00Z", "2023-13-01T00:00:00Z",
                               "2023-11-14", "2023-11-14T25:00:00Z", "2023-11-14T22:13:20Zjunk",
                               "2023-11-14T22:13:20.Z", "tomorrow", "-5"})
    EXPECT_FALSE(parse_run_at(bad, now).has_value()) << bad;
}

// --- output --------------------------------------------------------------------------------------

queue::task_record task(queue::task_status status, std::uint64_t processed, std::uint64_t total) {
  queue::task_record t;
  t.task_id = "t-1";
  t.type = "noop";
  t.account = "default";
  t.status = status;
  t.processed = processed;
  t.total = total;
  return t;
}

TEST(CliOutput, ProgressBarLineMatchesTheDocumentedShape) {
  EXPECT_EQ(progress_bar_line(task(queue::task_status::processing, 5000, 10000), 10),
            "[#####     ] 50% 5000/10000 processing");
  EXPECT_EQ(progress_bar_line(task(queue::task_status::queued, 0, 20), 4), "[    ] 0% 0/20 queued");
  EXPECT_EQ(progress_bar_line(task(queue::task_status::completed, 20, 20), 4),
            "[####] 100% 20/20 completed");
  EXPECT_EQ(progress_bar_line(task(queue::task_status::processing, 1, 3), 30),
            "[#########                     ] 33% 1/3 processing");
  EXPECT_EQ(progress_bar_line(task(queue::task_status::completed, 0, 0), 2),
            "[##] 100% 0/0 completed");
  EXPECT_EQ(progress_plain_line(task(queue::task_status::processing, 5, 10)),
            "50% 5/10 processing");
}

TEST(CliOutput, PlainDisplayWritesOneLinePerChange) {
  progress_display d(progress_display::style::plain);
  EXPECT_EQ(d.update(task(queue::task_status::queued, 0, 4)), "0% 0/4 queued\n");
  EXPECT_EQ(d.update(task(queue::task_status::queued, 0, 4)), "");
  EXPECT_EQ(d.update(task(queue::task_status::processing, 0, 4)), "0% 0/4 processing\n");
  EXPECT_EQ(d.update(task(queue::task_status::processing, 2, 4)), "50% 2/4 processing\n");
  EXPECT_EQ(d.update(task(queue::task_status::completed, 4, 4)), "100% 4/4 completed\n");
  EXPECT_EQ(d.finish(), "");
}

TEST(CliOutput, TerminalDisplayRedrawsOneLine) {
  progress_display d(progress_display::style::terminal, 4);
  EXPECT_EQ(d.finish(), "");
  EXPECT_EQ(d.update(task(queue::task_status::processing, 1, 2)),
            "\r[##  ] 50% 1/2 processing\x1b[K");
  EXPECT_EQ(d.update(task(queue::task_status::processing, 1, 2)), "");
  EXPECT_EQ(d.update(task(queue::task_status::completed, 2, 2)),
            "\r[####] 100% 2/2 completed\x1b[K");
  EXPECT_EQ(d.finish(), "\n");
}

TEST(CliOutput, ElapsedTimes) {
  EXPECT_EQ(format_elapsed(0), "0.000s");
  EXPECT_EQ(format_elapsed(1234), "1.234s");
  EXPECT_EQ(format_elapsed(123'000), "2m 03s");
  EXPECT_EQ(format_elapsed(3'720'000), "1h 02m");
  EXPECT_EQ(format_elapsed(90'000'000), "1d 01h");
  EXPECT_EQ(format_elapsed(-5), "0.000s");
}

TEST(CliOutput, HumanStatusShowsStateCountersAndTimes) {
  auto t = task(queue::task_status::failed, 3, 4);
  t.failed = 1;
  t.skipped = 2;
  t.created_at = 1'700'000'000'000;
  t.started_at = 1'700'000'001'000;
  t.finished_at = 1'700'000'003'500;
  t.deliveries = 5;
  t.error_text = "body.items: must be a non-negative integer";
  auto text = format_status(t);
  EXPECT_TRUE(contains(text, "task:        t-1\n")) << text;
  EXPECT_TRUE(contains(text, "status:      failed\n")) << text;
  EXPECT_TRUE(contains(text, "progress:    75% (3 of 4 items)\n")) << text;
  EXPECT_TRUE(contains(text, "outcomes:    sent 0, scheduled 0, skipped 2, failed 1\n")) << text;
  EXPECT_TRUE(contains(text, "created:     2023-11-14T22:13:20.000Z\n")) << text;
  EXPECT_TRUE(contains(text, "finished:    2023-11-14T22:13:23.500Z (ran 2.500s)\n")) << text;
  EXPECT_TRUE(contains(text, "deliveries:  5\n")) << text;
  EXPECT_TRUE(contains(text, "error:       body.items: must be a non-negative integer\n")) << text;
  EXPECT_FALSE(contains(text, "last error")) << text;

  auto queued = format_status(task(queue::task_status::queued, 0, 1));
  EXPECT_TRUE(contains(queued, "started:     -\n")) << queued;
  EXPECT_FALSE(contains(queued, "expires")) << queued;
}

// Parses `json` with simdjson; fails the test when it does not parse.
simdjson::dom::element parsed(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  auto err = parser.parse(json).get(doc);
  EXPECT_FALSE(err) << json;
  return doc;
}

TEST(CliOutput, ListsAndStatsInBothForms) {
  auto done = task(queue::task_status::completed, 4, 4);
  done.created_at = 1'700'000'000'000;
  auto other = task(queue::task_status::queued, 0, 9);
  other.task_id = "t-2";
  std::vector<queue::task_record> tasks{done, other};
  auto table = format_task_list(tasks);
  EXPECT_TRUE(table.starts_with("TASK_ID  TYPE  STATUS     PROGRESS  ITEMS  CREATED\n")) << table;
  EXPECT_TRUE(
      contains(table, "t-1      noop  completed  100%      4/4    2023-11-14T22:13:20.000Z\n"))
      << table;
  EXPECT_TRUE(contains(table, "t-2      noop  queued     0%        0/9    -\n")) << table;
  EXPECT_EQ(format_task_list({}), "no tasks\n");

  simdjson::dom::parser parser;
  auto list = parsed(parser, task_list_json(tasks));
  EXPECT_EQ(list.at(0)["task_id"].get_string().value(), "t-1");
  EXPECT_EQ(list.at(0)["progress"].get_int64().value(), 100);
  EXPECT_EQ(list.at(1)["total"].get_int64().value(), 9);
  EXPECT_TRUE(list.at(1)["created_at"].is_null());
  EXPECT_EQ(task_list_json({}), "[]\n");

  queue::queue_stats s{.length = 3, .pending = 1, .delayed = 2, .dead = 4, .consumers = 5};
  auto stats = format_queue_stats(s);
  EXPECT_TRUE(contains(stats, "stream length:  3\n")) << stats;
  EXPECT_TRUE(contains(stats, "consumers:      5\n")) << stats;
  auto js = parsed(parser, queue_stats_json(s));
  EXPECT_EQ(js["length"].get_int64().value(), 3);
  EXPECT_EQ(js["pending"].get_int64().value(), 1);
  EXPECT_EQ(js["delayed"].get_int64().value(), 2);
  EXPECT_EQ(js["dead"].get_int64().value(), 4);
  EXPECT_EQ(js["consumers"].get_int64().value(), 5);

  queue::dead_letter d{.id = "1-0",
                       .entry_id = "0-1",
                       .task_id = "t",
                       .type = "noop",
                       .account = "default",
                       .reason = "body: not \"valid\"",
                       .deliveries = 1,
                       .dead_at = 1'700'000'000'000};
  auto dead = format_dead_letters({d});
  EXPECT_TRUE(contains(dead,
                       "1-0  t        noop  default  1           2023-11-14T22:13:20.000Z  "
                       "body: not \"valid\"\n"))
      << dead;
  EXPECT_EQ(format_dead_letters({}), "no dead letters\n");
  auto dj = parsed(parser, dead_letters_json({d}));
  EXPECT_EQ(dj.at(0)["reason"].get_string().value(), "body: not \"valid\"");
  EXPECT_EQ(dj.at(0)["deliveries"].get_int64().value(), 1);
}

// --- profiles get ------------------------------------------------------------------------------

TEST(CliProfilesGet, TheKeyGivenImpliesTheMatchingMode) {
  using profiles::match_mode;
  struct expectation {
    std::vector<std::string_view> flags;
    match_mode mode;
  };
  for (const auto& [flags, mode] : std::initializer_list<expectation>{
           {{"--email", "a@example.com"}, match_mode::email},
           {{"--phone", "+79000000000"}, match_mode::phone},
           {{"--profile-id", "691f3a2c9e4b7d01a3c5e7f9"}, match_mode::profile_id},
           {{"--field-name", "CRM_ID", "--field-value", "0002"}, match_mode::custom},
           {{"--subscription-id", "c9f2"}, match_mode::push_sub},
           {{"--channel", "telegram_bot", "--id", "42"}, match_mode::custom_sub},
           {{"--email", "a@example.com", "--phone", "+79000000000"}, match_mode::email_phone},
       }) {
    std::vector<std::string_view> args{"profiles", "get"};
    args.insert(args.end(), flags.begin(), flags.end());
    auto cl = parse(args);
    EXPECT_EQ(cl.command, command_kind::profiles_get) << flags[0];
    EXPECT_EQ(cl.profile_query.mode, mode) << flags[0];
    EXPECT_EQ(cl.db_id, 1) << flags[0];
    EXPECT_FALSE(cl.json);
  }
}

TEST(CliProfilesGet, ParsesEveryOptionAndNormalisesTheKeys) {
  auto cl = parse({"--account", "acme", "profiles", "get", "--db=3", "--email", " A@Example.com",
                   "--json", "--resource-id", "0"});
  EXPECT_EQ(cl.account, "acme");
  EXPECT_EQ(cl.db_id, 3);
  EXPECT_TRUE(cl.json);
  EXPECT_EQ(cl.profile_query.mode, profiles::match_mode::email);
  EXPECT_EQ(cl.profile_query.keys.email, "a@example.com");
  EXPECT_EQ(cl.profile_query.resource_id, 0);

  auto sub = parse({"profiles", "get", "--matching", "email_sub", "--email", "a@example.com",
                    "--resource-id", "12"});
  EXPECT_EQ(sub.profile_query.mode, profiles::match_mode::email_sub);
  EXPECT_EQ(sub.profile_query.resource_id, 12);

  auto phone = parse({"profiles", "get", "--matching=phone_sub", "--phone", "8 (900) 000-00-00"});
  EXPECT_EQ(phone.profile_query.mode, profiles::match_mode::phone_sub);
  ASSERT_EQ(phone.profile_query.keys.phones.size(), 1u);
  EXPECT_EQ(phone.profile_query.keys.phones[0], "+89000000000");

  auto custom =
      parse({"profiles", "get", "--field-name", "interests", "--field-value", "books, music"});
  EXPECT_EQ(custom.profile_query.field_name, "interests");
  EXPECT_EQ(custom.profile_query.keys.field_value, "books, music");

  auto channel = parse({"profiles", "get", "--channel", "sms", "--id", "+7 900 000 00 00"});
  EXPECT_EQ(channel.profile_query.keys.sub_channel, profiles::channel::sms);
  EXPECT_EQ(channel.profile_query.keys.sub_id, "+79000000000");
}

TEST(CliProfilesGet, RefusesWhatIsWrongNamingTheFlag) {
  // The words, and what the usage error says.
  struct refusal {
    std::vector<std::string_view> args;
    std::string_view error;
  };
  for (const auto& [args, error] : std::vector<refusal>{
           {{"profiles"}, "`herald profiles` needs one of: get"},
           {{"profiles", "list"}, "`herald profiles list`: not a command"},
           {{"profiles", "get"},
            "`herald profiles get` needs a key: --email, --phone, --profile-id"},
           {{"profiles", "get", "--email", "a@example.com", "--profile-id",
             "691f3a2c9e4b7d01a3c5e7f9"},
            "--email and --profile-id: give one key, or --matching"},
           {{"profiles", "get", "--email", "nope"},
            "--email: \"nope\" is not a valid email address"},
           {{"profiles", "get", "--phone", "123"}, "--phone: \"123\" is not a phone number"},
           {{"profiles", "get", "--profile-id", "xyz"},
            "--profile-id: must be 24 lowercase hex characters"},
           {{"profiles", "get", "--field-value", "0002"},
            "--field-name: required by matching \"custom\""},
           {{"profiles", "get", "--field-name", "CRM_ID"},
            "--field-value: required by matching \"custom\""},
           {{"profiles", "get", "--id", "42"}, "--channel: required by matching \"custom_sub\""},
           {{"profiles", "get", "--channel", "fax", "--id", "42"},
            "--channel: unknown channel \"fax\""},
           {{"profiles", "get", "--matching", "phone", "--email", "a@example.com"},
            "--phone: required by matching \"phone\""},
           {{"profiles", "get", "--matching", "email_phone"},
            "--email or --phone: required by matching \"email_phone\""},
           {{"profiles", "get", "--resource-id", "-2", "--email", "a@b.cd"},
            "--resource-id: \"-2\" is not a non-negative integer"},
           {{"profiles", "get", "--email", "a@b.cd", "extra"}, "no argument `extra`"},
           {{"profiles", "get", "--email", "a@b.cd", "--wait"},
            "--wait is not an option of `herald profiles get`"},
           {{"status", "t1", "--email", "a@b.cd"}, "--email is not an option of `herald status`"},
           {{"profiles", "get", "--email", "a@b.cd", "--email", "c@d.ef"},
            "--email is given twice"},
       }) {
    const auto message = usage_error(args);
    EXPECT_TRUE(contains(message, error)) << message;
  }
  const auto modes = usage_error({"profiles", "get", "--matching", "fuzzy", "--email", "a@b.cd"});
  EXPECT_TRUE(contains(modes, "--matching: unknown mode \"fuzzy\"; one of email, email_profile"))
      << modes;
  EXPECT_TRUE(contains(modes, "email_phone_sub")) << modes;
  for (std::string_view db : {"0", "-1", "x", "1.5"}) {
    std::string flag = "--db=" + std::string(db);
    EXPECT_TRUE(contains(usage_error({"profiles", "get", flag, "--email", "a@example.com"}),
                         "--db: \"" + std::string(db) + "\" is not a positive integer"))
        << db;
  }
}

TEST(CliProfilesGet, HelpDocumentsTheCommandEveryModeAndNotFound) {
  const auto help = help_text();
  for (std::string_view part :
       {"herald profiles get", "--db N", "--matching MODE", "--email X", "--phone X",
        "--profile-id X", "--field-name F --field-value V", "--subscription-id X",
        "--channel C --id X", "--resource-id R", "no profile matches"})
    EXPECT_TRUE(contains(help, part)) << part;
  // Every mode the matching library knows, so help cannot fall behind it.
  const auto names = profiles::match_mode_names();
  for (std::size_t start = 0; start < names.size();) {
    auto end = names.find(", ", start);
    if (end == std::string::npos) end = names.size();
    const auto mode = names.substr(start, end - start);
    EXPECT_TRUE(contains(help, mode)) << mode;
    start = end + 2;
  }
}

TEST(CliOutput, AProfileForPeopleShowsIdTimesFieldsAndSubscriptions) {
  profiles::profile p;
  p.id = "691f3a2c9e4b7d01a3c5e7f9";
  p.created_at = 1'700'000'000'000;
  p.updated_at = 1'700'000'001'500;
  p.fields = {{"_fname", std::string("John")},
              {"email", std::string("john@example.com")},
              {"phones", profiles::tag_list{"+79000000000", "+79000000001"}},
              {"visits", std::int64_t{3}},
              {"vip", true},
              {"note", std::string("two\nlines")}};
  profiles::subscription email;
  email.resource_id = 1;
  email.email = "john@example.com";
  profiles::subscription bot;
  bot.ch = profiles::channel::telegram_bot;
  bot.resource_id = 2;
  bot.status = profiles::subscription_status::blocked;
  bot.cc_id = "42";
  bot.fields.emplace("username", std::string("john_d"));
  p.subscriptions = {email, bot};

  const auto text = format_profile(p, 3);
  EXPECT_TRUE(
      text.starts_with("profile:  691f3a2c9e4b7d01a3c5e7f9\n"
                       "db:       3\n"
                       "created:  2023-11-14T22:13:20.000Z\n"
                       "updated:  2023-11-14T22:13:21.500Z\n"
                       "fields:\n"))
      << text;
  for (const char* field :
       {"  _fname  John\n", "  email   john@example.com\n",
        "  phones  +79000000000, +79000000001\n", "  visits  3\n", "  vip     true\n"}) {
    EXPECT_TRUE(contains(text, field)) << text;
  }
  // A control character is never written raw to a terminal.
  EXPECT_TRUE(contains(text, "  note    \"two\\nlines\"\n")) << text;
  EXPECT_TRUE(contains(text,
                       "subscriptions:\n"
                       "  CHANNEL       RESOURCE  STATUS   ADDRESS\n"
                       "  email         1         active   email=john@example.com\n"
                       "  telegram_bot  2         blocked  cc_data.id=42 username=john_d\n"))
      << text;

  profiles::profile bare;
  bare.id = "691f3a2c9e4b7d01a3c5e7fa";
  const auto empty = format_profile(bare, 1);
  EXPECT_TRUE(contains(empty, "created:  -\n")) << empty;
  EXPECT_TRUE(contains(empty, "fields: none\nsubscriptions: none\n")) << empty;
}

TEST(CliCommandLine, ParsesTheTriggersCommands) {
  auto add = parse({"triggers", "add", "t.json"});
  EXPECT_EQ(add.command, command_kind::triggers_add);
  EXPECT_EQ(add.file, "t.json");
  EXPECT_EQ(parse({"triggers", "update", "-"}).command, command_kind::triggers_update);
  auto get = parse({"triggers", "get", "7", "--json"});
  EXPECT_EQ(get.command, command_kind::triggers_get);
  EXPECT_EQ(get.id, "7");
  EXPECT_TRUE(get.json);
  EXPECT_EQ(parse({"triggers", "list"}).command, command_kind::triggers_list);
  EXPECT_EQ(parse({"triggers", "delete", "9"}).command, command_kind::triggers_delete);
  EXPECT_EQ(command_name(command_kind::triggers_delete), "triggers delete");

  EXPECT_TRUE(contains(usage_error({"triggers"}),
                       "`herald triggers` needs one of: add, update, get, list, delete"));
  EXPECT_TRUE(contains(usage_error({"triggers", "show"}), "`herald triggers show`: not a command"));
  EXPECT_TRUE(contains(usage_error({"triggers", "add"}), "needs a trigger file, or - for stdin"));
  EXPECT_TRUE(contains(usage_error({"triggers", "get"}), "needs a trigger id"));
  EXPECT_TRUE(
      contains(usage_error({"triggers", "get", "0"}), "trigger id \"0\": not a positive integer"));
  EXPECT_TRUE(contains(usage_error({"triggers", "delete", "x1"}), "not a positive integer"));
  EXPECT_TRUE(contains(usage_error({"triggers", "add", "--json", "t.json"}),
                       "--json is not an option of `herald triggers add`"));
  EXPECT_TRUE(contains(usage_error({"triggers", "list", "extra"}), "takes no argument `extra`"));
  EXPECT_TRUE(contains(help_text(), "herald triggers add FILE|-"));
}

}  // namespace
}  // namespace herald::cli
