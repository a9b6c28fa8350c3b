// proto/openapi.yaml against the built heraldd: every route heraldd serves (as it logs them at
// debug level when it starts) is described there, every request example of a served route is
// accepted, and real replies (successes and each error heraldd can be made to give) validate
// against the yaml's schema for their route, status and media type. The checks themselves are
// tests/contract/openapi/check.py.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "herald/auth/tokens.hpp"
#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/secrets.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

// The token of the yaml's examples, so that they can be sent as they are written.
constexpr auto example_token = "abcdefghijklmnqrstuvwxyz";
constexpr auto other_token = "tok-openapi-other";
constexpr auto reader_token = "tok-openapi-reader";  // the default account's, read-only

std::filesystem::path write_tokens(const temp_dir& dir) {
  const auto path = dir / "tokens";
  std::ofstream(path) << "default " << auth::hash_token_hex(secret(example_token)) << "\n"
                      << "other " << auth::hash_token_hex(secret(other_token)) << "\n"
                      << "default " << auth::hash_token_hex(secret(reader_token)) << " read\n";
  return path;
}

// Runs check.py with `args`: its exit code and what it printed.
std::pair<int, std::string> run_check(const temp_dir& dir, std::vector<std::string> args,
                                      std::vector<std::string> env = {}) {
  static int runs = 0;
  std::vector<std::string> argv{
      "/usr/bin/python3", std::string(HERALD_SOURCE_DIR) + "/tests/contract/openapi/check.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process p(argv, env, dir / ("check-" + std::to_string(++runs) + ".txt"));
  const auto code = p.wait_for(120s);
  return {code.value_or(-1), p.log()};
}

class OpenApi : public ::testing::Test {
 protected:
  OpenApi()
      : dir_("herald-openapi-e2e"),
        heraldd_({.redis_url = "",
                  .extra_env = {"HERALD_TOKENS_FILE=" + write_tokens(dir_).string(),
                                "HERALD_LOG_LEVEL=debug", "HERALD_HTTP_BODY_LIMIT=65536",
                                // the yaml's trigger examples name a provider `lc`; nothing is
                                // sent to it
                                "HERALD_PROVIDER_LC_KIND=leadconverter_messages",
                                "HERALD_PROVIDER_LC_BASE_URL=http://127.0.0.1:9",
                                std::string("HERALD_PROVIDER_LC_TOKEN=") + secret("lc-openapi")},
                  .extra_args = {},
                  .wait_until_listening = true}) {}
  ~OpenApi() override { EXPECT_EQ(heraldd_.terminate(), 0) << heraldd_.log(); }

  // The routes heraldd logged at start, "METHOD PATH" a line.
  std::vector<std::string> served_routes() const {
    std::vector<std::string> routes;
    const std::regex line(R"(http: route ([A-Z]+) (/[^\s"]*))");
    const auto log = heraldd_.log();
    for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) {
      routes.push_back((*it)[1].str() + " " + (*it)[2].str());
    }
    return routes;
  }

  std::filesystem::path routes_file() const {
    const auto path = dir_ / "routes.txt";
    std::ofstream out(path);
    for (const auto& r : served_routes()) out << r << "\n";
    return path;
  }

  // Records the reply to check it as the yaml's `operation` (METHOD PATH, or SCHEMA and a
  // schema's $ref for a reply no operation describes) answering `status`.
  void record(const std::string& operation, const http_response& reply) {
    const auto file = "reply-" + std::to_string(++replies_) + ".txt";
    std::ofstream(dir_ / file) << reply.body;
    const auto space = operation.find(' ');
    manifest_ << operation.substr(0, space) << '\t' << operation.substr(space + 1) << '\t'
              << reply.status << '\t' << reply.header("Content-Type") << '\t' << file << '\n';
  }

  http_response post(const std::string& path, const std::string& body,
                     const std::string& token = example_token) {
    auto reply = heraldd_.post(path, body, {{"Authorization", std::string("Bearer ") + token}});
    record("POST " + path, reply);
    return reply;
  }

  http_response get(const std::string& operation_path, const std::string& target,
                    const std::string& token = example_token) {
    auto reply = heraldd_.get(target, {{"Authorization", std::string("Bearer ") + token}});
    record("GET " + operation_path, reply);
    return reply;
  }

  temp_dir dir_;
  heraldd_process heraldd_;
  herald_cli cli_{
      dir_,
      {"HERALD_CONFIG=/dev/null", "HERALD_STATE_DIR=" + heraldd_.state_dir().path().string(),
       "HERALD_ACCOUNT=default"}};
  std::ofstream manifest_{dir_ / "replies.tsv"};
  int replies_ = 0;
};

TEST_F(OpenApi, EveryServedRouteIsDescribed) {
  const auto routes = served_routes();
  const std::set<std::string> got(routes.begin(), routes.end());
  // The log lists what the router holds: the health, task, profile and trigger routes at least.
  for (const char* r :
       {"GET /healthz", "GET /readyz", "GET /tasks/status", "POST /api/v1.1/tasks/status",
        "POST /api/v1.1/tasks/items", "POST /api/v1.1/tasks/cancel", "POST /api/v1.1/profiles/get",
        "POST /api/v1.1/campaigns/triggers/add"}) {
    EXPECT_TRUE(got.contains(r)) << r << " not in heraldd's log:\n" << heraldd_.log();
  }
  EXPECT_EQ(got.size(), routes.size()) << "a route logged twice";
  const auto [code, out] = run_check(dir_, {"routes", routes_file().string()});
  EXPECT_EQ(code, 0) << out;
}

TEST_F(OpenApi, EveryRequestExampleOfAServedRouteIsAccepted) {
  const auto [code, out] = run_check(
      dir_, {"live", routes_file().string(), "http://127.0.0.1:" + std::to_string(heraldd_.port())},
      {std::string("HERALD_OPENAPI_TOKEN=") + example_token});
  EXPECT_EQ(code, 0) << out << heraldd_.log();
  EXPECT_TRUE(contains(out, " 0 failure(s)")) << out;
}

TEST_F(OpenApi, RealRepliesFitTheSchemas) {
  // A finished import (a profile to read back, items to list) and a long task to cancel.
  const auto import = cli_.enqueue_and_wait(
      R"({"type": "import_and_start", "body": {"matching": "email", "data": [
          {"data": {"email": "john@example.com", "_fname": "John"}},
          {"data": {"email": "not an address"}}]}})",
      heraldd_);
  const auto& done = import.task_id;
  auto path = cli_.new_path("sleep", ".json");
  std::ofstream(path) << R"({"type": "sleep", "body": {"items": 1000, "ms": 100}})";
  const auto sleeping = cli_.run({"enqueue", path.string()});
  ASSERT_EQ(sleeping.code, 0) << sleeping.err;
  const auto running = sleeping.out.substr(0, sleeping.out.find('\n'));

  // Tasks.
  EXPECT_EQ(post("/api/v1.1/tasks/status", R"({"task_id": ")" + done + R"("})").status, 200);
  EXPECT_EQ(post("/api/v1.1/tasks/status", R"({"token": ")" + std::string(example_token)
                                               + R"(", "task_id": ")" + done + R"("})")
                .status,
            200);
  EXPECT_EQ(get("/tasks/status", "/tasks/status?task_id=" + done).status, 200);
  EXPECT_EQ(get("/tasks/status", "/tasks/status?task_id=" + running + "&wait=0.2").status, 200);
  const auto items = post("/api/v1.1/tasks/items", R"({"task_id": ")" + done + R"(", "limit": 1})");
  EXPECT_EQ(items.status, 200) << items.body;
  EXPECT_EQ(post("/api/v1.1/tasks/items", R"({"task_id": ")" + done + R"(", "offset": 1})").status,
            200);
  EXPECT_EQ(post("/api/v1.1/tasks/cancel", R"({"task_id": ")" + running + R"("})").status, 200);
  EXPECT_EQ(post("/api/v1.1/tasks/cancel", R"({"task_id": ")" + done + R"("})").status, 200);

  // Profiles.
  EXPECT_EQ(post("/api/v1.1/profiles/get", R"({"email": "john@example.com"})").status, 200);
  EXPECT_EQ(post("/api/v1.1/profiles/get", R"({"email": "nobody@example.com"})").status, 404);
  EXPECT_EQ(post("/api/v1.1/profiles/get", R"({"matching": "custom"})").status, 400);

  // Triggers.
  const std::string trigger =
      R"({"id": 101, "name": "t", "channel": "email", "provider": "sandbox", "message": {"text": "Hi {lead._fname}"}})";
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/add", R"({"trigger": )" + trigger + "}").status,
            200);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/add", R"({"trigger": )" + trigger + "}").status,
            409);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/update", R"({"trigger": )" + trigger + "}").status,
            200);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/get", R"({"id": 101})").status, 200);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/get", R"({"id": 101, "version": 1})").status, 200);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/list", "{}").status, 200);
  EXPECT_EQ(
      post(
          "/api/v1.1/campaigns/triggers/add",
          R"({"trigger": {"id": 102, "name": "t", "channel": "email", "provider": "sandbox", "message": {"text": "{lead.x | uper}"}}})")
          .status,
      400);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/delete", R"({"id": 101})").status, 200);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/get", R"({"id": 101})").status, 404);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/update", R"({"trigger": )" + trigger + "}").status,
            404);
  EXPECT_EQ(post("/api/v1.1/campaigns/triggers/delete", R"({"id": 101})").status, 404);

  // Health.
  EXPECT_EQ(get("/healthz", "/healthz").status, 200);
  EXPECT_EQ(get("/readyz", "/readyz").status, 200);

  // Each error heraldd can be made to give today.
  EXPECT_EQ(post("/api/v1.1/tasks/status", "{not json").status, 400);
  EXPECT_EQ(post("/api/v1.1/tasks/status", "").status, 400);
  EXPECT_EQ(post("/api/v1.1/tasks/status", "{}").status, 400);
  EXPECT_EQ(post("/api/v1.1/tasks/status", R"({"task_id": "no spaces"})").status, 400);
  EXPECT_EQ(post("/api/v1.1/tasks/items", R"({"task_id": "x", "limit": 0})").status, 400);
  EXPECT_EQ(post("/api/v1.1/tasks/items", R"({"task_id": "x", "colour": 1})").status, 400);
  EXPECT_EQ(get("/tasks/status", "/tasks/status").status, 400);
  EXPECT_EQ(get("/tasks/status", "/tasks/status?task_id=" + done + "&wait=-1").status, 400);
  EXPECT_EQ(post("/api/v1.1/tasks/status", R"({"task_id": "x"})", "not-a-token").status, 401);
  const auto anonymous = heraldd_.post("/api/v1.1/tasks/status", R"({"task_id": "x"})");
  record("POST /api/v1.1/tasks/status", anonymous);
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.header("WWW-Authenticate"), "Bearer");
  const auto anonymous_get = heraldd_.get("/tasks/status?task_id=x");
  record("GET /tasks/status", anonymous_get);
  EXPECT_EQ(anonymous_get.status, 401);
  EXPECT_EQ(post("/api/v1.1/tasks/status", R"({"task_id": "unknown-task"})").status, 404);
  // another account's task answers like an unknown one
  EXPECT_EQ(post("/api/v1.1/tasks/status", R"({"task_id": ")" + done + R"("})", other_token).status,
            404);
  EXPECT_EQ(post("/api/v1.1/tasks/cancel", R"({"task_id": "unknown-task"})").status, 404);
  EXPECT_EQ(post("/api/v1.1/tasks/items", R"({"task_id": "unknown-task"})").status, 404);

  const auto wrong_method = heraldd_.get("/api/v1.1/tasks/status");
  record("POST /api/v1.1/tasks/status", wrong_method);
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("Allow"), "POST");
  const auto wrong_method_get = heraldd_.post("/healthz", "{}");
  record("GET /healthz", wrong_method_get);
  EXPECT_EQ(wrong_method_get.status, 405);

  // No operation describes an unknown path: its 404 is checked against the envelope itself.
  const auto no_route = heraldd_.post("/api/v1.1/tasks/statuz", "{}");
  record("SCHEMA #/components/schemas/ErrorEnvelope", no_route);
  EXPECT_EQ(no_route.status, 404);

  // 403: a read-only token on routes that change or send.
  EXPECT_EQ(
      post("/api/v1.1/tasks/cancel", R"({"task_id": ")" + done + R"("})", reader_token).status,
      403);
  EXPECT_EQ(
      post("/api/v1.1/campaigns/triggers/add", R"({"trigger": )" + trigger + "}", reader_token)
          .status,
      403);
  EXPECT_EQ(
      post("/api/v1.1/campaigns/triggers/import_and_start_batch_task",
           R"({"matching": "email", "data": [{"data": {"email": "r@example.com"}}]})", reader_token)
          .status,
      403);
  const auto lc_path = std::string("/api/v1/") + reader_token + "/bot.startWithVariables";
  const auto lc = heraldd_.post(lc_path + "?bot_id=1&subscriber_id=2", "");
  record("POST /api/v1/{token}/bot.startWithVariables", lc);
  EXPECT_EQ(lc.status, 403) << lc.body;

  // 500: Redis refusing a command (a task's key that is not a hash, WRONGTYPE).
  const std::string broken = "5a0e5b0c-0000-4000-8000-0000000000aa";
  const auto socket = (heraldd_.state_dir() / "redis" / "redis.sock").string();
  ASSERT_EQ(std::system(("redis-cli -s " + socket + " SET herald:{default}:task:" + broken
                         + " not-a-hash > /dev/null")
                            .c_str()),
            0);
  const auto internal = post("/api/v1.1/tasks/status", R"({"task_id": ")" + broken + R"("})");
  EXPECT_EQ(internal.status, 500) << internal.body;
  EXPECT_TRUE(contains(internal.body, "a command was refused")) << internal.body;
  EXPECT_FALSE(contains(internal.body, "WRONGTYPE")) << internal.body;  // that is for the log
  EXPECT_TRUE(contains(heraldd_.log(), "WRONGTYPE")) << heraldd_.log();

  const auto too_large = post("/api/v1.1/tasks/status", std::string(70000, ' '));
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(
      too_large.body,
      R"({"error": 400, "error_debug": "http: request body too large", "error_text": "Invalid request"})");

  manifest_.close();
  EXPECT_GE(replies_, 40);
  const auto [code, out] = run_check(dir_, {"replies", (dir_ / "replies.tsv").string()});
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "checked " + std::to_string(replies_) + " replies: 0 failure(s)"))
      << out;
}

// 503: Redis stops answering (SIGSTOP) under a running heraldd.
TEST(OpenApiUnavailable, RedisFailuresAnswer503InTheEnvelope) {
  temp_dir dir("herald-openapi-503");
  redis_server redis;
  heraldd_process heraldd({.redis_url = redis.url(),
                           .extra_env = {"HERALD_TOKENS_FILE=" + write_tokens(dir).string(),
                                         "HERALD_REDIS_COMMAND_TIMEOUT=300ms"},
                           .extra_args = {},
                           .wait_until_listening = true});
  std::ofstream manifest(dir / "replies.tsv");
  int n = 0;
  auto record = [&](const std::string& operation, const http_response& reply) {
    const auto file = "reply-" + std::to_string(++n) + ".txt";
    std::ofstream(dir / file) << reply.body;
    manifest << operation << '\t' << reply.status << '\t' << reply.header("Content-Type") << '\t'
             << file << '\n';
  };
  const std::vector<std::pair<std::string, std::string>> bearer{
      {"Authorization", std::string("Bearer ") + example_token}};

  redis.pause();
  const auto status = heraldd.post("/api/v1.1/tasks/status", R"({"task_id": "t1"})", bearer);
  record("POST\t/api/v1.1/tasks/status", status);
  const auto profile =
      heraldd.post("/api/v1.1/profiles/get", R"({"email": "a@example.com"})", bearer);
  record("POST\t/api/v1.1/profiles/get", profile);
  const auto ready = heraldd.get("/readyz");
  record("GET\t/readyz", ready);
  redis.resume();

  EXPECT_EQ(status.status, 503) << status.body;
  EXPECT_EQ(status.header("Retry-After"), "1");
  EXPECT_EQ(profile.status, 503) << profile.body;
  EXPECT_EQ(ready.status, 503) << ready.body;
  manifest.close();
  const auto [code, out] = run_check(dir, {"replies", (dir / "replies.tsv").string()});
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "checked 3 replies: 0 failure(s)")) << out;
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

// 429: an account over api_rate_per_s.
TEST(OpenApiRateLimit, OverTheAccountsLimitAnswers429InTheEnvelope) {
  temp_dir dir("herald-openapi-429");
  heraldd_process heraldd({.redis_url = "",
                           .extra_env = {"HERALD_TOKENS_FILE=" + write_tokens(dir).string(),
                                         "HERALD_API_RATE_PER_S=1", "HERALD_API_BURST=1"},
                           .extra_args = {},
                           .wait_until_listening = true});
  const std::vector<std::pair<std::string, std::string>> bearer{
      {"Authorization", std::string("Bearer ") + example_token}};
  std::ofstream manifest(dir / "replies.tsv");
  std::optional<http_response> refused;
  for (int i = 0; i < 5 && !refused; ++i) {
    auto reply = heraldd.post("/api/v1.1/tasks/status", R"({"task_id": "t1"})", bearer);
    const auto file = "reply-" + std::to_string(i) + ".txt";
    std::ofstream(dir / file) << reply.body;
    manifest << "POST\t/api/v1.1/tasks/status\t" << reply.status << '\t'
             << reply.header("Content-Type") << '\t' << file << '\n';
    if (reply.status == 429) refused = std::move(reply);
  }
  manifest.close();
  ASSERT_TRUE(refused) << "five requests at once, at 1 a second, and none refused";
  EXPECT_FALSE(refused->header("Retry-After").empty());
  const auto [code, out] = run_check(dir, {"replies", (dir / "replies.tsv").string()});
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, " 0 failure(s)")) << out;
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

}  // namespace
}  // namespace herald::test
