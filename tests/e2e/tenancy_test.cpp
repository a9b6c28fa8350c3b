// Accounts kept apart through the built heraldd: acme's token cannot read, list, cancel or see
// the items of globex's tasks, nor read, change or delete its triggers, nor read its profiles, and
// every such reply is the one acme gets for an id that exists nowhere (the id aside).
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

constexpr auto acme_token = "tok-acme-5f1c9e";
constexpr auto globex_token = "tok-globex-77ad02";
constexpr auto globex_reader = "tok-globex-reader-0b4e61";  // globex's, read-only

std::filesystem::path write_tokens(const temp_dir& dir) {
  const auto path = dir / "tokens";
  std::ofstream(path) << "acme " << auth::hash_token_hex(secret(acme_token)) << "\n"
                      << "globex " << auth::hash_token_hex(secret(globex_token)) << "\n"
                      << "globex " << auth::hash_token_hex(secret(globex_reader)) << " read\n";
  return path;
}

// `text` with every `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

class Tenancy : public ::testing::Test {
 protected:
  Tenancy()
      : dir_("herald-tenancy-e2e"),
        heraldd_({.redis_url = "",
                  .extra_env = {"HERALD_TOKENS_FILE=" + write_tokens(dir_).string()},
                  .extra_args = {},
                  .wait_until_listening = true}) {}
  ~Tenancy() override { EXPECT_EQ(heraldd_.terminate(), 0) << heraldd_.log(); }

  http_response api(const std::string& route, const std::string& body, const std::string& token) {
    return heraldd_.post("/api/v1.1/" + route, body,
                         {{"Authorization", std::string("Bearer ") + token}});
  }

  // Enqueues `job` for globex with herald; its task id.
  std::string enqueue_for_globex(const std::string& job, bool wait) {
    auto path = globex_cli_.new_path("job", ".json");
    std::ofstream(path) << job;
    std::vector<std::string> args{"enqueue", path.string()};
    if (wait) args.push_back("--wait");
    auto r = globex_cli_.run(args);
    EXPECT_EQ(r.code, 0) << r.err << heraldd_.log();
    auto id = r.out.substr(0, r.out.find('\n'));
    return id;
  }

  // Acme's reply for globex's `id` is exactly acme's reply for an unknown id, `id` aside.
  void expect_like_unknown(const std::string& route, const std::string& body_with_id,
                           const std::string& id, const std::string& unknown_id) {
    const auto foreign = api(route, replaced(body_with_id, "ID", id), acme_token);
    const auto unknown = api(route, replaced(body_with_id, "ID", unknown_id), acme_token);
    EXPECT_EQ(foreign.status, 404) << route << ": " << foreign.body;
    EXPECT_EQ(foreign.status, unknown.status) << route;
    EXPECT_EQ(replaced(foreign.body, id, "ID"), replaced(unknown.body, unknown_id, "ID")) << route;
    EXPECT_EQ(foreign.header("Content-Type"), unknown.header("Content-Type")) << route;
  }

  temp_dir dir_;
  heraldd_process heraldd_;
  herald_cli globex_cli_{
      dir_,
      {"HERALD_CONFIG=/dev/null", "HERALD_STATE_DIR=" + heraldd_.state_dir().path().string(),
       "HERALD_ACCOUNT=globex"}};
};

TEST_F(Tenancy, OneAccountNeverSeesAnothersTasks) {
  const auto done = enqueue_for_globex(R"({"type": "noop", "body": {"items": 3}})", true);
  const auto running =
      enqueue_for_globex(R"({"type": "sleep", "body": {"items": 1000, "ms": 100}})", false);
  ASSERT_FALSE(done.empty());
  ASSERT_FALSE(running.empty());
  const std::string unknown = "7d0e5b0c-0000-4000-8000-000000000000";

  for (const auto& id : {done, running}) {
    expect_like_unknown("tasks/status", R"({"task_id": "ID"})", id, unknown);
    expect_like_unknown("tasks/items", R"({"task_id": "ID"})", id, unknown);
    const auto get_foreign = heraldd_.get("/tasks/status?task_id=" + id,
                                          {{"Authorization", std::string("Bearer ") + acme_token}});
    const auto get_unknown = heraldd_.get("/tasks/status?task_id=" + unknown,
                                          {{"Authorization", std::string("Bearer ") + acme_token}});
    EXPECT_EQ(get_foreign.status, 404) << get_foreign.body;
    EXPECT_EQ(replaced(get_foreign.body, id, "ID"), replaced(get_unknown.body, unknown, "ID"));
  }
  expect_like_unknown("tasks/cancel", R"({"task_id": "ID"})", running, unknown);

  // Globex's own token sees both, and the running one was not cancelled by acme.
  const auto own = api("tasks/status", R"({"task_id": ")" + running + R"("})", globex_token);
  ASSERT_EQ(own.status, 200) << own.body;
  const auto status = json_doc(own.body).str("/data/status");
  EXPECT_TRUE(status == "queued" || status == "processing") << own.body;
  EXPECT_EQ(api("tasks/status", R"({"task_id": ")" + done + R"("})", globex_token).status, 200);
  EXPECT_EQ(api("tasks/cancel", R"({"task_id": ")" + running + R"("})", globex_token).status, 200);
}

TEST_F(Tenancy, OneAccountNeverSeesAnothersTriggers) {
  const std::string trigger = R"({"trigger": {"id": 71, "name": "globex's", "channel": "email",
      "provider": "sandbox", "message": {"subject": "s", "text": "globex only"}}})";
  const auto added = api("campaigns/triggers/add", trigger, globex_token);
  ASSERT_EQ(added.status, 200) << added.body;

  expect_like_unknown("campaigns/triggers/get", R"({"id": ID})", "71", "72");
  expect_like_unknown("campaigns/triggers/delete", R"({"id": ID})", "71", "72");
  expect_like_unknown("campaigns/triggers/update",
                      R"({"trigger": {"id": ID, "name": "stolen", "channel": "email",
                          "provider": "sandbox",
                          "message": {"subject": "s", "text": "acme was here"}}})",
                      "71", "72");
  const auto listed = api("campaigns/triggers/list", "{}", acme_token);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_FALSE(contains(listed.body, "globex")) << listed.body;

  // Globex's trigger is as it was saved.
  const auto own = api("campaigns/triggers/get", R"({"id": 71})", globex_token);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(json_doc(own.body).str("/trigger/message/text"), "globex only");
  EXPECT_EQ(json_doc(own.body).integer("/trigger/version"), 1);
}

TEST_F(Tenancy, OneAccountNeverSeesAnothersProfiles) {
  enqueue_for_globex(R"({"type": "import_and_start", "body": {"matching": "email",
      "skip_triggers": true, "data": [{"data": {"email": "only-globex@example.com",
      "_fname": "Gina"}}]}})",
                     true);
  const auto own = api("profiles/get", R"({"email": "only-globex@example.com"})", globex_token);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(json_doc(own.body).str("/profile/fields/_fname"), "Gina") << own.body;
  expect_like_unknown("profiles/get", R"({"email": "ID"})", "only-globex@example.com",
                      "nobody-anywhere@example.com");
}

// A read-only token (a dashboard's, a poller's) reads its account's tasks, triggers and profiles,
// and gets 403 from every route that would change or send anything, which then does nothing.
TEST_F(Tenancy, AReadOnlyTokenReadsItsAccountAndChangesNothing) {
  const auto done = enqueue_for_globex(R"({"type": "noop", "body": {"items": 2}})", true);
  ASSERT_FALSE(done.empty());
  const std::string trigger = R"({"trigger": {"id": 81, "name": "globex's", "channel": "email",
      "provider": "sandbox", "message": {"subject": "s", "text": "as saved"}}})";
  ASSERT_EQ(api("campaigns/triggers/add", trigger, globex_token).status, 200);
  const std::string task = R"({"task_id": ")" + done + R"("})";

  // Reads.
  EXPECT_EQ(api("tasks/status", task, globex_reader).status, 200);
  EXPECT_EQ(api("tasks/items", task, globex_reader).status, 200);
  EXPECT_EQ(api("tasks/list", "{}", globex_reader).status, 200);
  EXPECT_EQ(api("campaigns/triggers/get", R"({"id": 81})", globex_reader).status, 200);
  EXPECT_EQ(api("campaigns/triggers/list", "{}", globex_reader).status, 200);
  const auto bearer = std::vector<std::pair<std::string, std::string>>{
      {"Authorization", std::string("Bearer ") + globex_reader}};
  EXPECT_EQ(heraldd_.get("/tasks/status?task_id=" + done, bearer).status, 200);
  EXPECT_EQ(heraldd_.get("/api/v1.1/tasks/list", bearer).status, 200);
  EXPECT_EQ(heraldd_.get("/api/v1.1/overview", bearer).status, 200);

  // Changes: 403 in the envelope, naming the token's kind (never the token).
  const auto tasks_before = api("tasks/list", "{}", globex_token).body;
  const std::vector<std::pair<std::string, std::string>> changes{
      {"tasks/cancel", task},
      {"campaigns/triggers/add", replaced(trigger, "81", "82")},
      {"campaigns/triggers/update", replaced(trigger, "as saved", "changed")},
      {"campaigns/triggers/delete", R"({"id": 81})"},
      {"campaigns/triggers/import_and_start_batch_task",
       R"({"matching": "email", "skip_triggers": true, "data": [{"data": {"email": "r@x.org"}}]})"},
      {"campaigns/triggers/start_batch_task",
       R"({"trigger_id": 81, "matching": "email", "data": [{"email": "r@x.org"}]})"},
  };
  for (const auto& [route, body] : changes) {
    const auto r = api(route, body, globex_reader);
    EXPECT_EQ(r.status, 403) << route << ": " << r.body;
    EXPECT_EQ(json_doc(r.body).integer("/error"), 403) << route << ": " << r.body;
    EXPECT_EQ(json_doc(r.body).str("/error_text"), "Forbidden") << route;
    EXPECT_TRUE(contains(r.body, "read-only token")) << route << ": " << r.body;
    EXPECT_FALSE(contains(r.body, globex_reader)) << route;
  }
  const auto lc =
      heraldd_.post(std::string("/api/v1/") + globex_reader + "/broadcasting.sendMessageBatch",
                    R"({"batch": [{"subscriber_id": 1, "text": "hi"}]})", {});
  EXPECT_EQ(lc.status, 403) << lc.body;
  EXPECT_EQ(json_doc(lc.body).str("/code"), "read_only_token") << lc.body;

  // Nothing changed: the trigger is as saved, the task list is the same, no trigger 82.
  const auto own = api("campaigns/triggers/get", R"({"id": 81})", globex_token);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(json_doc(own.body).str("/trigger/message/text"), "as saved");
  EXPECT_EQ(json_doc(own.body).integer("/trigger/version"), 1);
  EXPECT_EQ(api("campaigns/triggers/get", R"({"id": 82})", globex_token).status, 404);
  EXPECT_EQ(api("tasks/list", "{}", globex_token).body, tasks_before);
}

}  // namespace
}  // namespace herald::test
