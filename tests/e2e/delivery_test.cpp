// Triggers delivered through the built heraldd on a real redis-server to fake providers on
// loopback that behave as the seeds describe: the seeds' import_and_start and start_batch bodies
// on a trigger of each provider kind (every message rendered exactly, Cyrillic upper and
// capitalize included), the subscription rules with forced, skip_triggers, send jobs, timeout
// (scheduled, then sent; cancelled before it is due: never sent), and a trigger edited while a
// task runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_providers.hpp"
#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/secrets.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

constexpr auto lc_token = "lc-secret-token";

// The triggers of account acme, one per provider kind.
constexpr const char* triggers_json = R"([
{"account": "acme", "id": 13, "name": "lc", "channel": "leadconverter", "provider": "lc",
 "resource_id": 1, "message": {"text": "Привет, {lead._fname | upper}! {apicontent.page}"}},
{"account": "acme", "id": 14, "name": "bot", "channel": "leadconverter", "provider": "lcbot",
 "resource_id": 1, "message": {},
 "bot": {"bot_id": "42", "variables": {"name": "{lead._fname | capitalize}", "page": "{apicontent.page}"},
         "forced": true}},
{"account": "acme", "id": 15, "name": "tg", "channel": "telegram_bot", "provider": "tg",
 "resource_id": 1, "message": {"text": "{lead._fname | capitalize}, здравствуйте",
 "buttons": [{"text": "Открыть", "url": "https://example.com/{lead.id}"}]}},
{"account": "acme", "id": 16, "name": "hook", "channel": "email", "provider": "hook",
 "resource_id": 1, "message": {"subject": "Заказ {custom_data.order}",
 "text": "{lead._fname | lower}: {custom_data.order | default:\"-\"}"}},
{"account": "acme", "id": 17, "name": "box", "channel": "sms", "provider": "box",
 "resource_id": 1, "message": {"text": "{lead._fname | default:\"друг\" | upper}"}}
])";

// A profile item of the seeds' import_and_start shape with a subscription on every channel.
std::string person(const std::string& fname, int n, const std::string& status = "active",
                   const std::string& extra = "") {
  const std::string i = std::to_string(n);
  return R"({"data": {"_fname": ")" + fname + R"(", "email": "p)" + i
         + R"(@example.com", "phones": "+7900000000)" + i + R"(", "subscriptions": [)"
         + R"({"channel": "email", "resource_id": 1, "email": "p)" + i + R"(@example.com"},)"
         + R"({"channel": "phone", "resource_id": 1, "phone": "+7900000000)" + i + R"("},)"
         + R"({"channel": "telegram_bot", "resource_id": 1, "cc_data": {"id": "cc)" + i + R"("}},)"
         + R"({"channel": "leadconverter", "resource_id": 1, "subscriber_id": 100)" + i
         + R"(, "status": ")" + status + R"("}]})" + extra + "}";
}

std::string import_body(int trigger_id, const std::vector<std::string>& items,
                        const std::string& extra = "") {
  std::string body = R"({"token": "abcdefghijklmnqrstuvwxyz", "matching": "email", "trigger_id": )"
                     + std::to_string(trigger_id)
                     + R"(, "content": {"page": "registration_form"}, "data": [)";
  for (std::size_t i = 0; i < items.size(); ++i) body += (i ? "," : "") + items[i];
  return body + "]" + extra + "}";
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class DeliveryE2E : public ::testing::Test {
 protected:
  DeliveryE2E() : dir_("herald-delivery-e2e") {
    secret("abcdefghijklmnqrstuvwxyz");  // the token the job bodies carry, as the seeds' do
    std::filesystem::create_directories(dir_ / "triggers");
    std::ofstream(dir_ / "triggers" / "acme.json") << triggers_json;
    env_ = {"HERALD_PROVIDER_LC_KIND=leadconverter_messages",
            "HERALD_PROVIDER_LC_BASE_URL=" + lc_.base_url(),
            std::string("HERALD_PROVIDER_LC_TOKEN=") + lc_token,
            "HERALD_PROVIDER_LC_LINGER_MS=20",
            "HERALD_PROVIDER_LCBOT_KIND=leadconverter_bot",
            "HERALD_PROVIDER_LCBOT_BASE_URL=" + lc_.base_url(),
            std::string("HERALD_PROVIDER_LCBOT_TOKEN=") + lc_token,
            "HERALD_PROVIDER_TG_KIND=chatbot_telegram",
            "HERALD_PROVIDER_TG_BASE_URL=" + tg_.base_url(),
            "HERALD_PROVIDER_TG_USER=12345",
            "HERALD_PROVIDER_TG_PASSWORD=tg-pass",
            "HERALD_PROVIDER_HOOK_KIND=webhook",
            "HERALD_PROVIDER_HOOK_URL=" + hook_.base_url() + "/hook",
            "HERALD_PROVIDER_HOOK_SECRET=hook-secret",
            "HERALD_PROVIDER_BOX_KIND=sandbox",
            "HERALD_PROVIDER_BOX_PATH=" + (dir_ / "box.jsonl").string(),
            "HERALD_TRIGGERS_DIR=" + (dir_ / "triggers").string()};
    auto daemon_env = env_;
    daemon_env.push_back("HERALD_CHUNK_SIZE=2");
    heraldd_.emplace(heraldd_process::options{.redis_url = redis_.url(),
                                              .extra_env = daemon_env,
                                              .extra_args = {},
                                              .wait_until_listening = true});
    auto cli_env = env_;
    for (auto e : {"HERALD_CONFIG=/dev/null", "HERALD_ACCOUNT=acme"}) cli_env.emplace_back(e);
    cli_env.push_back("HERALD_REDIS_URL=" + redis_.url());
    cli_.emplace(dir_, cli_env);
    EXPECT_TRUE(wait_until([&] { return contains(heraldd_->log(), "5 created"); }, 10s))
        << heraldd_->log();
  }
  ~DeliveryE2E() override {
    EXPECT_EQ(heraldd_->terminate(), 0) << heraldd_->log();
    // No secret reaches the log.
    const auto log = heraldd_->log();
    for (const char* s : {lc_token, "tg-pass", "hook-secret"})
      EXPECT_FALSE(contains(log, s)) << s << " in the log:\n" << log;
  }

  // Enqueues `type` with `body`, waits for the task's end, and returns its status reply.
  json_doc run(const std::string& type, const std::string& body, std::string* task_id = nullptr) {
    auto done =
        cli_->enqueue_and_wait(R"({"type": ")" + type + R"(", "body": )" + body + "}", *heraldd_);
    if (task_id) *task_id = done.task_id;
    return json_doc(done.status.out);
  }

  // The task's item outcomes, in item order: "outcome code".
  std::vector<std::string> outcomes(const std::string& task_id) {
    std::vector<std::string> out;
    std::istringstream in(
        redis_.command({"ZRANGE", "herald:{default}:task:" + task_id + ":items", "0", "-1"}));
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      json_doc d(line);
      out.push_back(d.str("/outcome") + (d.has("/code") ? " " + d.str("/code") : ""));
    }
    return out;
  }

  json_doc status(const std::string& task_id) {
    auto r = cli_->run({"status", task_id, "--json"});
    return json_doc(r.out);
  }

  std::vector<std::string> sandbox_texts() {
    std::vector<std::string> out;
    std::ifstream in(dir_ / "box.jsonl");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json_doc(line).str("/message/text"));
    return out;
  }

  redis_server redis_;
  temp_dir dir_;
  fake_leadconverter lc_{lc_token};
  fake_chatbot tg_{"12345", "tg-pass"};
  fake_webhook hook_{"hook-secret"};
  std::vector<std::string> env_;
  std::optional<heraldd_process> heraldd_;
  std::optional<herald_cli> cli_;
};

TEST_F(DeliveryE2E, TheSeedsImportAndStartOnEveryProviderKind) {
  const std::vector<std::string> people{person("иван", 1), person("мария", 2)};
  // leadconverter_messages: one coalesced call, the text rendered with Cyrillic upper.
  std::string task;
  auto lc = run("import_and_start", import_body(13, people), &task);
  EXPECT_EQ(lc.str("/data/status"), "completed");
  EXPECT_EQ(lc.integer("/data/sent"), 2);
  EXPECT_EQ(lc.array_size("/data/result/result"), 2u);
  EXPECT_EQ(sorted(lc_.texts()),
            sorted({"Привет, ИВАН! registration_form", "Привет, МАРИЯ! registration_form"}));
  EXPECT_EQ(outcomes(task), (std::vector<std::string>{"sent created", "sent created"}));

  // leadconverter_bot: variable[NAME]=VALUE, capitalized, forced.
  auto bot = run("import_and_start", import_body(14, people));
  EXPECT_EQ(bot.integer("/data/sent"), 2);
  std::set<std::string> names;
  for (const auto& d : lc_.deliveries())
    if (d.fields.count("variable.name")) {
      names.insert(d.fields.at("variable.name"));
      EXPECT_EQ(d.fields.at("bot_id"), "42");
      EXPECT_EQ(d.fields.at("variable.page"), "registration_form");
    }
  EXPECT_EQ(names, (std::set<std::string>{"Иван", "Мария"}));

  // chatbot_telegram: subscriberId from cc_data.id, the button's URL with the profile id.
  auto tg = run("import_and_start", import_body(15, people));
  EXPECT_EQ(tg.integer("/data/sent"), 2);
  EXPECT_EQ(sorted(tg_.texts()), sorted({"Иван, здравствуйте", "Мария, здравствуйте"}));

  // webhook: custom_data at the root and per item (the item's wins), signed, keyed.
  auto hook = run(
      "import_and_start",
      import_body(
          16, {person("ИВАН", 1, "active", R"(, "custom_data": {"order": 7})"), person("Мария", 2)},
          R"(, "custom_data": {"order": 1})"));
  EXPECT_EQ(hook.integer("/data/sent"), 2);
  EXPECT_EQ(sorted(hook_.texts()), sorted({"иван: 7", "мария: 1"}));
  EXPECT_EQ(hook_.distinct(), 2u);

  // sandbox: one JSON line a message.
  auto box = run("import_and_start", import_body(17, {person("пётр", 3)}));
  EXPECT_EQ(box.integer("/data/sent"), 1);
  EXPECT_EQ(sandbox_texts(), (std::vector<std::string>{"ПЁТР"}));
  EXPECT_EQ(lc_.refused(), 0u);
  EXPECT_EQ(tg_.refused(), 0u);
}

TEST_F(DeliveryE2E, StartFindsExistingProfilesAndSkipsTheUnknown) {
  run("import_and_start",
      import_body(13, {person("иван", 1), person("мария", 2)}, R"(, "skip_triggers": true)"));
  EXPECT_EQ(lc_.delivered(), 0u) << "skip_triggers imports without sending";
  // seeds/001's start_batch example, matching by email.
  std::string task;
  auto r = run("start", R"({"token": "abcdefghijklmnqrstuvwxyz", "trigger_id": 13,
    "format": "json", "matching": "email", "content": {"page": "welcome"},
    "data": [{"email": "p2@example.com"}, {"email": "nobody@example.com"}, {"email": "P1@example.com"}]})",
               &task);
  EXPECT_EQ(r.str("/data/status"), "completed");
  EXPECT_EQ(r.integer("/data/sent"), 2);
  EXPECT_EQ(r.integer("/data/skipped"), 1);
  EXPECT_EQ(r.array_size("/data/result/result"), 2u);
  EXPECT_EQ(outcomes(task), (std::vector<std::string>{"sent", "skipped not_found", "sent"}));
  EXPECT_EQ(sorted(lc_.texts()), sorted({"Привет, МАРИЯ! welcome", "Привет, ИВАН! welcome"}));
}

TEST_F(DeliveryE2E, SubscriptionRulesAndForced) {
  const std::vector<std::string> people{person("a", 1), person("b", 2, "unsubscribed"),
                                        person("c", 3, "blocked"),
                                        R"({"data": {"email": "p4@example.com"}})"};
  std::string task;
  auto plain = run("import_and_start", import_body(13, people), &task);
  EXPECT_EQ(plain.integer("/data/sent"), 1);
  EXPECT_EQ(plain.integer("/data/skipped"), 3);
  EXPECT_EQ(outcomes(task),
            (std::vector<std::string>{"sent created", "skipped unsubscribed", "skipped blocked",
                                      "skipped no_subscription"}));
  // Trigger 14 is forced: it reaches the unsubscribed one, never the blocked one.
  auto forced = run("import_and_start", import_body(14, people), &task);
  EXPECT_EQ(forced.integer("/data/sent"), 2);
  EXPECT_EQ(outcomes(task),
            (std::vector<std::string>{"sent unchanged", "sent unchanged", "skipped blocked",
                                      "skipped no_subscription"}));
  std::set<std::string> forced_flags;
  for (const auto& d : lc_.deliveries())
    if (d.fields.count("forced")) forced_flags.insert(d.fields.at("forced"));
  EXPECT_EQ(forced_flags, std::set<std::string>{"true"});
}

TEST_F(DeliveryE2E, SendJobsInTheProvidersOwnShape) {
  std::string task;
  auto r = run("send", R"({"provider": "lc", "messages": [
      {"subscriber_id": 7365, "file_uuid": "db0227be-c7c7-484e-8fa4-de9bcfd4723f"},
      {"text": "no subscriber"},
      {"subscriber_id": 7366, "text": "hello"}]})",
               &task);
  EXPECT_EQ(r.str("/data/status"), "completed");
  EXPECT_EQ(r.integer("/data/sent"), 2);
  EXPECT_EQ(r.integer("/data/failed"), 1);
  auto o = outcomes(task);
  ASSERT_EQ(o.size(), 1u);
  EXPECT_TRUE(o[0].starts_with("failed")) << o[0];
  EXPECT_EQ(lc_.delivered(), 2u);
  EXPECT_EQ(lc_.refused(), 0u);
  // An unknown provider is refused before anything is enqueued, naming the field.
  auto file = cli_->new_path("job", ".json");
  std::ofstream(file) << R"({"type": "send", "body": {"provider": "nope", "messages": []}})";
  auto refused = cli_->run({"enqueue", file.string()});
  EXPECT_EQ(refused.code, 2);
  EXPECT_TRUE(contains(refused.err, "body.provider: no provider \"nope\" is configured"))
      << refused.err;
}

TEST_F(DeliveryE2E, TimeoutSchedulesThenSendsAndCancelStopsThem) {
  std::string task;
  auto r = run("import_and_start",
               import_body(13, {person("иван", 1), person("мария", 2)},
                           R"(, "timeout": {"days": 0, "hours": 0, "minutes": 0, "seconds": 2})"),
               &task);
  EXPECT_EQ(r.str("/data/status"), "completed");
  EXPECT_EQ(r.integer("/data/scheduled"), 2);
  EXPECT_EQ(r.integer("/data/sent"), 0);
  EXPECT_EQ(lc_.delivered(), 0u);
  EXPECT_EQ(outcomes(task), (std::vector<std::string>{"scheduled created", "scheduled created"}));
  ASSERT_TRUE(wait_until([&] { return lc_.delivered() == 2; }, 10s)) << heraldd_->log();
  ASSERT_TRUE(wait_until([&] { return status(task).integer("/data/sent") == 2; }, 5s));
  EXPECT_EQ(status(task).integer("/data/scheduled"), 0);
  EXPECT_EQ(outcomes(task), (std::vector<std::string>{"sent", "sent"}));

  // Cancelled before it is due: never sent.
  auto cancelled =
      run("import_and_start",
          import_body(13, {person("пётр", 3)}, R"(, "timeout": {"seconds": 3})"), &task);
  EXPECT_EQ(cancelled.integer("/data/scheduled"), 1);
  auto c = cli_->run({"cancel", task});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(status(task).str("/data/status"), "cancelled");
  std::this_thread::sleep_for(4s);
  EXPECT_EQ(lc_.delivered(), 2u) << "the cancelled send went out";
  EXPECT_EQ(outcomes(task), (std::vector<std::string>{"skipped cancelled"}));
}

TEST_F(DeliveryE2E, ATaskRunsTheTriggerVersionItStartedWith) {
  // Slow deliveries: each webhook call answers after 300 ms, one profile a chunk of 2.
  fault_plan slow;
  slow.delay = 1.0;
  slow.delay_by = 300ms;
  hook_.set_faults(slow);
  std::vector<std::string> people;
  for (int i = 1; i <= 8; ++i) people.push_back(person("v" + std::to_string(i), i));
  // Enqueue without waiting, edit the trigger once the first message arrived, then wait.
  auto file = cli_->new_path("job", ".json");
  std::ofstream(file) << R"({"type": "import_and_start", "body": )" << import_body(16, people)
                      << "}";
  auto enq = cli_->run({"enqueue", file.string()});
  ASSERT_EQ(enq.code, 0) << enq.err;
  ASSERT_TRUE(wait_until([&] { return hook_.delivered() >= 1; }, 10s)) << heraldd_->log();
  auto edited = cli_->new_path("trigger", ".json");
  std::ofstream(edited) << R"({"id": 16, "name": "hook", "channel": "email", "provider": "hook",
    "resource_id": 1, "message": {"text": "edited"}})";
  auto up = cli_->run({"triggers", "update", edited.string()});
  ASSERT_EQ(up.code, 0) << up.err;
  ASSERT_TRUE(wait_until([&] { return hook_.delivered() == 8; }, 20s)) << heraldd_->log();
  for (const auto& t : hook_.texts()) EXPECT_FALSE(contains(t, "edited")) << t;
  // A new task runs the new version.
  hook_.set_faults({});
  run("import_and_start", import_body(16, {person("w", 9)}));
  EXPECT_EQ(hook_.texts().back(), "edited");
}

}  // namespace
}  // namespace herald::test
