// The enqueue routes through the built heraldd on its embedded default: profiles imported with
// import_and_start_batch_task, then start_batch really waiting for the start job that sends the
// demo trigger through the sandbox and answering the profile ids; and, with a short
// sync_timeout while the only worker is busy, start_batch answering the task id as still running;
// and an XML import and status in and out (a billion-laughs document refused).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "herald/auth/tokens.hpp"
#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"
#include "support/secrets.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

constexpr auto token = "tok-enqueue-e2e";

std::filesystem::path write_tokens(const temp_dir& dir) {
  const auto path = dir / "tokens";
  std::ofstream(path) << "default " << auth::hash_token_hex(secret(token)) << "\n";
  return path;
}

// Two profiles with email subscriptions on resource 1 (the demo trigger 13's), Cyrillic names.
constexpr auto import_body = R"({"matching": "email", "skip_triggers": true, "data": [
  {"data": {"_fname": "иван", "_lname": "Петров", "email": "ivan@example.com",
            "subscriptions": [{"channel": "email", "email": "ivan@example.com", "resource_id": 1}]}},
  {"data": {"_fname": "мария", "email": "maria@example.com",
            "subscriptions": [{"channel": "email", "email": "maria@example.com", "resource_id": 1}]}}
]})";

// Seed 001's shape on the demo trigger: the two profiles and one nobody has.
constexpr auto start_body = R"({"trigger_id": 13, "format": "json", "matching": "email", "data": [
  {"email": "ivan@example.com"}, {"email": "maria@example.com"}, {"email": "nobody@example.com"}]})";

class EnqueueApi : public ::testing::Test {
 protected:
  explicit EnqueueApi(std::vector<std::string> env = {})
      : dir_("herald-enqueue-e2e"), heraldd_(options(dir_, std::move(env))) {}
  ~EnqueueApi() override { EXPECT_EQ(heraldd_.terminate(), 0) << heraldd_.log(); }

  static heraldd_process::options options(const temp_dir& dir, std::vector<std::string> env) {
    env.push_back("HERALD_TOKENS_FILE=" + write_tokens(dir).string());
    return {.redis_url = "", .extra_env = env, .extra_args = {}, .wait_until_listening = true};
  }

  http_response post(const std::string& route, const std::string& body) {
    return heraldd_.post("/api/v1.1/campaigns/triggers/" + route, body,
                         {{"Authorization", std::string("Bearer ") + token}});
  }

  // The task's status reply once it has ended (or the last one within `timeout`).
  std::string final_status(const std::string& task_id, std::chrono::seconds timeout = 30s) {
    std::string body;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto res = heraldd_.get("/tasks/status?task_id=" + task_id + "&wait=5",
                                    {{"Authorization", std::string("Bearer ") + token}});
      EXPECT_EQ(res.status, 200) << res.body;
      body = res.body;
      const auto status = json_doc(body).str("/data/status");
      if (status != "queued" && status != "processing") break;
    }
    return body;
  }

  // Imports the two profiles; their ids, in order.
  std::vector<std::string> import_profiles() {
    const auto res = post("import_and_start_batch_task", import_body);
    EXPECT_EQ(res.status, 200) << res.body;
    const auto status = json_doc(final_status(json_doc(res.body).str("/task_id")));
    EXPECT_EQ(status.str("/data/status"), "completed") << heraldd_.log();
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < status.array_size("/data/result/result"); ++i)
      ids.push_back(status.str("/data/result/result/" + std::to_string(i) + "/profile_id"));
    EXPECT_EQ(ids.size(), 2u);
    return ids;
  }

  std::vector<std::string> sandbox_lines() {
    std::ifstream in(heraldd_.state_dir() / "sandbox.sandbox.jsonl");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  temp_dir dir_;
  heraldd_process heraldd_;
};

TEST_F(EnqueueApi, StartBatchWaitsForTheSendsAndAnswersTheProfileIds) {
  const auto ids = import_profiles();
  ASSERT_EQ(ids.size(), 2u);

  const auto res = post("start_batch", start_body);
  ASSERT_EQ(res.status, 200) << res.body << heraldd_.log();
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 0);
  EXPECT_EQ(doc.str("/error_text"), "Successful operation");
  ASSERT_EQ(doc.array_size("/result"), 2u) << res.body;
  EXPECT_EQ(doc.str("/result/0/profile_id"), ids[0]);
  EXPECT_EQ(doc.str("/result/1/profile_id"), ids[1]);

  // The messages were sent, not merely queued, by the time it answered.
  const auto lines = sandbox_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(contains(lines[0] + lines[1], "Здравствуйте, Иван!")) << lines[0] << lines[1];
  EXPECT_TRUE(contains(lines[0] + lines[1], "Здравствуйте, Мария!")) << lines[0] << lines[1];
  // The profile nobody has is the task's third item, skipped.
  const auto status = json_doc(final_status(doc.str("/task_id")));
  EXPECT_EQ(status.integer("/data/sent"), 2);
  EXPECT_EQ(status.integer("/data/skipped"), 1);
}

TEST_F(EnqueueApi, XmlRequestsAndRepliesThroughHeraldd) {
  const std::string xml = std::string(R"(<?xml version="1.0" encoding="UTF-8"?>
<xml>
<token>)") + token + R"(</token>
<format>xml</format>
<skip_triggers>true</skip_triggers>
<matching>email</matching>
<data><data><_fname>Иван</_fname><email>ivan@example.com</email>
<subscriptions><channel>email</channel><email>ivan@example.com</email><resource_id>1</resource_id></subscriptions>
</data></data>
</xml>)";
  const auto res = heraldd_.post("/api/v1.1/campaigns/triggers/import_and_start_batch_task", xml,
                                 {{"Content-Type", "application/xml"}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("Content-Type"), "application/xml; charset=utf-8");
  ASSERT_TRUE(res.body.starts_with(
      "<xml>\n<error>0</error>\n<error_text>Successful operation</error_text>\n<task_id>"))
      << res.body;
  const auto from = res.body.find("<task_id>") + 9;
  const auto id = res.body.substr(from, res.body.find("</task_id>") - from);
  const auto done = json_doc(final_status(id));
  EXPECT_EQ(done.str("/data/status"), "completed");
  const auto profile_id = done.str("/data/result/result/0/profile_id");

  const auto status = heraldd_.post(
      "/api/v1.1/tasks/status",
      "<xml><token>" + std::string(token) + "</token><task_id>" + id + "</task_id></xml>",
      {{"Content-Type", "text/xml"}});
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_TRUE(contains(status.body, "<status>completed</status>\n<progress>100</progress>\n"))
      << status.body;
  EXPECT_TRUE(
      contains(status.body, "<result>\n<profile_id>" + profile_id + "</profile_id>\n</result>"))
      << status.body;

  // A billion-laughs document is refused, in XML, before anything is read.
  const auto laughs = heraldd_.post(
      "/api/v1.1/campaigns/triggers/import_and_start_batch_task",
      R"(<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<xml><token>&b;</token></xml>)",
      {{"Content-Type", "application/xml"}});
  EXPECT_EQ(laughs.status, 400);
  EXPECT_TRUE(contains(laughs.body, "<error_debug>body: a DOCTYPE is refused")) << laughs.body;
}

// One worker, kept busy by a sleep job, and a short sync_timeout.
class EnqueueApiBusy : public EnqueueApi {
 protected:
  EnqueueApiBusy()
      : EnqueueApi({"HERALD_SYNC_TIMEOUT=300ms", "HERALD_WORKERS=1", "HERALD_THREADS=1"}) {}

  herald_cli cli_{
      dir_,
      {"HERALD_CONFIG=/dev/null", "HERALD_STATE_DIR=" + heraldd_.state_dir().path().string(),
       "HERALD_ACCOUNT=default"}};
};

TEST_F(EnqueueApiBusy, StartBatchPastSyncTimeoutAnswersTheTaskIdAsStillRunning) {
  const auto ids = import_profiles();
  ASSERT_EQ(ids.size(), 2u);
  const auto job = cli_.new_path("sleep", ".json");
  std::ofstream(job) << R"({"type": "sleep", "body": {"items": 1, "ms": 3000}})";
  const auto sleep = cli_.run({"enqueue", job.string()});
  ASSERT_EQ(sleep.code, 0) << sleep.err;
  const std::string sleep_id = sleep.out.substr(0, sleep.out.find('\n'));
  ASSERT_TRUE(wait_until(
      [&] {
        const auto res = heraldd_.get("/tasks/status?task_id=" + sleep_id,
                                      {{"Authorization", std::string("Bearer ") + token}});
        return res.status == 200 && json_doc(res.body).str("/data/status") == "processing";
      },
      10s));

  const auto started = std::chrono::steady_clock::now();
  const auto res = post("start_batch", start_body);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2500ms);
  ASSERT_EQ(res.status, 202) << res.body;
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 0);
  EXPECT_EQ(doc.str("/error_text"), "Task is still running");
  EXPECT_EQ(doc.str("/status"), "queued");
  // The task runs once the worker is free, and reaches the same profiles.
  const auto status = json_doc(final_status(doc.str("/task_id")));
  EXPECT_EQ(status.str("/data/status"), "completed");
  ASSERT_EQ(status.array_size("/data/result/result"), 2u);
  EXPECT_EQ(status.str("/data/result/result/0/profile_id"), ids[0]);
  EXPECT_EQ(status.str("/data/result/result/1/profile_id"), ids[1]);
}

}  // namespace
}  // namespace herald::test
