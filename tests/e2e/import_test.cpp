// import_and_start end to end: seeds/004's own example bodies (the one matching by email, the one
// matching by the custom field New_field_1) enqueued with the built `herald` into the built
// heraldd on a real redis-server. Each task completes with the ids of the profiles its items
// really have in Redis; importing the email example again finds the same profiles.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <hiredis/hiredis.h>

#include <fstream>

#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

// An item of seeds/004's email example, as the seed writes it: both its items hold the same two
// subscriptions.
std::string email_example_item(std::string_view fname, std::string_view lname,
                               std::string_view email, std::string_view phones) {
  std::string item = "{\n\"data\": {\n";
  item.append("\"_fname\": \"").append(fname).append("\",\n");
  item.append("\"_lname\": \"").append(lname).append("\",\n");
  item.append("\"email\": \"").append(email).append("\",\n");
  item.append("\"phones\": \"").append(phones).append("\",\n");
  item.append(R"("subscriptions": [
{
"channel": "email",
"email": "example@example.com",
"resource_id": 1
},
{
"channel": "phone",
"phone": "+79000000000",
"resource_id": 1
}
]
}
})");
  return item;
}

// seeds/004: "Пример запроса с матчингом по email", as the seed gives it.
const std::string email_example =
    R"({
"token": "abcdefghijklmnqrstuvwxyz",
"matching": "email",
"data": [
)" + email_example_item("John", "Lambert", "profile4@example.com", "+79000000000")
    + ",\n" + email_example_item("Tom", "Hard", "profile3@example.com", "+79000000001") + R"(
],
"trigger_id": 13,
"timeout": {
"days": 0,
"hours": 0,
"minutes": 5
},
"content": {
"page": "registration_form"
},
"attach": [
{
"data": "data:text/csv;base64,5LuK5pel44GvCg==",
"name": "Attach.txt"
}
]
})";

// seeds/004: "Пример запроса с матчингом по custom-полю".
constexpr const char* custom_example = R"({
"token": "abcdefghijklmnqrstuvwxyz",
"trigger_id": 455,
"format": "json",
"skip_triggers": false,
"detect_geo": true,
"matching": "custom",
"field_name": "New_field_1",
"data": [
{
"data": {
"_fname": "NUMBER1",
"_lname": "Lambert",
"email": "profile01@example.com",
"phones": "+79000000000",
"New_field_1" : "0002"
}
},
{
"data" : {
"_fname": "NUMBER2",
"_lname": "Hard",
"email": "profile02@example.com",
"phones": "+79000000001",
"New_field_1" : "0001"
}
}
]
})";

const std::string pdb = "herald:{pdb:acme:1}:";

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// The seeds' triggers of account acme: 13 on email (the email example's subscriptions), 455 on
// sms.
std::filesystem::path seed_triggers(const temp_dir& dir) {
  const auto d = dir / "triggers";
  std::filesystem::create_directories(d);
  std::ofstream(d / "seeds.json") << R"([
    {"account": "acme", "id": 13, "name": "welcome", "channel": "email", "provider": "box",
     "resource_id": 1, "message": {"subject": "Hi", "text": "{lead._fname}: {apicontent.page}"}},
    {"account": "acme", "id": 455, "name": "sms", "channel": "sms", "provider": "box",
     "resource_id": 1, "message": {"text": "{lead._fname | capitalize}"}}])";
  return d;
}

// What a task ended as: its status and the profile ids of result.result, and each item's outcome.
struct task_end {
  std::string status;
  std::vector<std::string> ids;
  std::vector<std::string> codes, outcomes, item_ids;
};

class ImportE2E : public ::testing::Test {
 protected:
  ImportE2E()
      : dir_("herald-import-e2e"),
        heraldd_({.redis_url = redis_.url(),
                  // Each item its own chunk; jobs up to 32 MiB, so that the million-field item
                  // (19 MB) meets the per-profile limits rather than max_job_bytes. The seeds'
                  // triggers 13 and 455 deliver to a sandbox.
                  .extra_env = {"HERALD_CHUNK_SIZE=1", "HERALD_MAX_JOB_BYTES=32MiB",
                                "HERALD_PROVIDER_BOX_KIND=sandbox",
                                "HERALD_PROVIDER_BOX_PATH=" + (dir_ / "box.jsonl").string(),
                                "HERALD_TRIGGERS_DIR=" + seed_triggers(dir_).string()},
                  .extra_args = {},
                  .wait_until_listening = true}) {}
  ~ImportE2E() override { EXPECT_EQ(heraldd_.terminate(), 0) << heraldd_.log(); }

  // Enqueues `body` as an import_and_start job with `herald enqueue --wait`, then reads how its
  // task ended: `herald status --json` and the task's item outcomes in Redis.
  task_end import(const std::string& body) {
    const auto [task_id, status] =
        cli_.enqueue_and_wait(R"({"type": "import_and_start", "body": )" + body + "}", heraldd_);
    task_end end;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(status.out).get(doc)) {
      ADD_FAILURE() << "status is not JSON: " << status.out;
      return end;
    }
    std::string_view s;
    if (!doc.at_pointer("/data/status").get(s)) end.status = s;
    simdjson::dom::array result;
    if (!doc.at_pointer("/data/result/result").get(result))
      for (auto r : result)
        if (!r["profile_id"].get(s)) end.ids.emplace_back(s);
    // The item outcomes, in item order (the score is the index).
    for (const auto& json : lines(redis_.command(
             {"ZRANGE", "herald:{default}:task:" + task_id + ":items", "0", "-1"}))) {
      simdjson::dom::parser item_parser;
      simdjson::dom::element item;
      if (item_parser.parse(json).get(item)) {
        ADD_FAILURE() << "an item outcome is not JSON: " << json;
        continue;
      }
      end.codes.emplace_back(item["code"].get(s) ? "" : s);
      end.outcomes.emplace_back(item["outcome"].get(s) ? "" : s);
      end.item_ids.emplace_back(item["profile_id"].get(s) ? "" : s);
    }
    return end;
  }

  // The members of one index entry of account acme's database 1.
  std::set<std::string> index(const std::string& entry) {
    auto l = lines(redis_.command({"ZRANGE", pdb + "ix:" + entry, "0", "-1"}));
    return {l.begin(), l.end()};
  }

  // A stored profile's document, or "" when there is none.
  std::string document(const std::string& id) {
    auto d = redis_.command({"HGET", pdb + "p:" + id, "d"});
    return d == "(nil)" ? std::string() : d;
  }

  std::size_t profile_count() {
    std::size_t n = 0;
    for (const auto& key : lines(redis_.command({"KEYS", pdb + "p:*"}))) n += !key.empty();
    return n;
  }

  redis_server redis_;
  temp_dir dir_;
  heraldd_process heraldd_;
  herald_cli cli_{
      dir_, {"HERALD_CONFIG=/dev/null", "HERALD_REDIS_URL=" + redis_.url(), "HERALD_ACCOUNT=acme"}};
};

TEST_F(ImportE2E, TheSeedsEmailExampleCreatesTwoProfilesThenFindsThemAgain) {
  auto first = import(email_example);
  ASSERT_EQ(first.status, "completed") << heraldd_.log();
  ASSERT_EQ(first.ids.size(), 2u);
  ASSERT_EQ(first.codes, (std::vector<std::string>{"created", "created"}));
  // Trigger 13 with the seed's timeout of 5 minutes: each message waits, scheduled.
  EXPECT_EQ(first.outcomes, (std::vector<std::string>{"scheduled", "scheduled"}));
  EXPECT_EQ(redis_.command({"ZCARD", "herald:{default}:sends"}), "2");
  EXPECT_EQ(first.item_ids, first.ids) << "result.result in item order";
  const auto& john = first.ids[0];
  const auto& tom = first.ids[1];
  EXPECT_NE(john, tom) << "two items, two profiles";

  // The ids are the profiles' ids in Redis, each found by its own email.
  EXPECT_EQ(index("e:profile4@example.com"), std::set<std::string>{john});
  EXPECT_EQ(index("e:profile3@example.com"), std::set<std::string>{tom});
  EXPECT_TRUE(contains(document(john), R"("_fname":"John")")) << document(john);
  EXPECT_TRUE(contains(document(tom), R"("_fname":"Tom")")) << document(tom);
  EXPECT_EQ(index("p:+79000000000"), std::set<std::string>{john});
  EXPECT_EQ(index("p:+79000000001"), std::set<std::string>{tom});
  // Both hold the shared subscriptions; "phone" is read as sms.
  EXPECT_EQ(index("s:email:1:example@example.com"), (std::set<std::string>{john, tom}));
  EXPECT_EQ(index("s:sms:1:+79000000000"), (std::set<std::string>{john, tom}));
  EXPECT_TRUE(index("s:phone:1:+79000000000").empty());
  EXPECT_TRUE(contains(document(john), R"("channel":"sms")")) << document(john);
  EXPECT_EQ(profile_count(), 2u);

  // The same body again: the same profiles, nothing new.
  auto again = import(email_example);
  ASSERT_EQ(again.status, "completed") << heraldd_.log();
  EXPECT_EQ(again.ids, first.ids);
  EXPECT_EQ(again.codes, (std::vector<std::string>{"unchanged", "unchanged"}));
  EXPECT_EQ(profile_count(), 2u);

  // A change to one of them: updated, in place.
  std::string changed = email_example;
  changed.replace(changed.find("\"Tom\""), 5, "\"Thomas\"");
  auto third = import(changed);
  ASSERT_EQ(third.status, "completed");
  EXPECT_EQ(third.ids, first.ids);
  EXPECT_EQ(third.codes, (std::vector<std::string>{"unchanged", "updated"}));
  EXPECT_TRUE(contains(document(tom), R"("_fname":"Thomas")")) << document(tom);
  EXPECT_EQ(profile_count(), 2u);
}

TEST_F(ImportE2E, TheSeedsCustomFieldExampleCreatesTwoProfilesFoundByTheField) {
  auto end = import(custom_example);
  ASSERT_EQ(end.status, "completed") << heraldd_.log();
  // Trigger 455 sends on sms, and the items give no subscription: imported, each skipped, and
  // result.result (the profiles the trigger reached) is empty.
  EXPECT_TRUE(end.ids.empty());
  EXPECT_EQ(end.outcomes, (std::vector<std::string>{"skipped", "skipped"}));
  EXPECT_EQ(end.codes, (std::vector<std::string>{"no_subscription", "no_subscription"}));
  ASSERT_EQ(end.item_ids.size(), 2u);
  const auto number1 = end.item_ids[0];
  const auto number2 = end.item_ids[1];
  EXPECT_NE(number1, number2);
  EXPECT_EQ(index("c:11:New_field_1:0002"), std::set<std::string>{number1});
  EXPECT_EQ(index("c:11:New_field_1:0001"), std::set<std::string>{number2});
  EXPECT_EQ(index("e:profile01@example.com"), std::set<std::string>{number1});
  EXPECT_TRUE(contains(document(number1), R"("_fname":"NUMBER1")")) << document(number1);
  EXPECT_TRUE(contains(document(number2), R"("New_field_1":"0001")")) << document(number2);

  // Matching by the field again finds them, whatever else the items say.
  auto again = import(R"({"matching": "custom", "field_name": "New_field_1", "data": [
      {"field_value": "0001", "data": {"_fname": "Second"}},
      {"data": {"New_field_1": "0002", "_lname": "Lambert"}}]})");
  ASSERT_EQ(again.status, "completed");
  EXPECT_EQ(again.ids, (std::vector<std::string>{number2, number1}));
  EXPECT_EQ(again.codes, (std::vector<std::string>{"updated", "unchanged"}));
  EXPECT_EQ(profile_count(), 2u);
}

TEST_F(ImportE2E, DetectGeoUsesDebiansDatabaseAndBadItemsFailAlone) {
  auto end = import(R"({"detect_geo": true, "data": [
      {"data": {"email": "geo@example.com", "_ip": "8.8.8.8"}},
      {"data": {"email": "not an email"}},
      {"email": "geo@example.com", "data": {"visits": {"action": "incr"}}}]})");
  ASSERT_EQ(end.status, "completed") << heraldd_.log();
  ASSERT_EQ(end.codes, (std::vector<std::string>{"created", "invalid_email", "updated"}));
  EXPECT_EQ(end.outcomes[1], "failed");
  ASSERT_EQ(end.ids.size(), 2u) << "the failed item has no profile";
  EXPECT_EQ(end.ids[0], end.ids[1]);
  EXPECT_TRUE(contains(document(end.ids[0]), R"("_country":"US")")) << document(end.ids[0]);
  EXPECT_TRUE(contains(document(end.ids[0]), R"("visits":1)")) << document(end.ids[0]);
  EXPECT_EQ(profile_count(), 1u);
}

// Issue 10, defect 4: one item of 1.2 million custom fields (19 MB) once ran the profile script
// for over 5 s while Redis answered BUSY to everyone. It is refused now with its limit, and Redis
// answers a PING within 50 ms all along.
TEST_F(ImportE2E, AnItemOfAMillionFieldsIsRefusedWithItsLimitWhileRedisAnswers) {
  std::string body = R"({"matching": "email", "data": [{"data": {"email": "big@example.com")";
  body.reserve(20'000'000);
  for (int i = 0; i < 1'200'000; ++i) body += ",\"field_" + std::to_string(i) + "\":\"v\"";
  body += R"(}}, {"data": {"email": "small@example.com", "_fname": "S"}}]})";
  ASSERT_GT(body.size(), 19'000'000u);

  // A connection of its own that PINGs all along, and the job added by a plain XADD.
  redisContext* ping = redisConnectUnix(redis_.socket_path().c_str());
  ASSERT_TRUE(ping && !ping->err);
  redis_.command({"XADD", "herald:{default}:jobs", "*", "v", "1", "type", "import_and_start",
                  "task_id", "huge-1", "account", "acme", "body", body});
  body.clear();
  body.shrink_to_fit();
  const std::string items = "herald:{default}:task:huge-1:items";
  std::chrono::steady_clock::duration slowest{};
  std::string outcomes;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto sent = std::chrono::steady_clock::now();
    auto* r = static_cast<redisReply*>(redisCommand(ping, "PING"));
    const auto took = std::chrono::steady_clock::now() - sent;
    ASSERT_TRUE(r);
    EXPECT_EQ(std::string(r->str, r->len), "PONG");
    freeReplyObject(r);
    slowest = std::max(slowest, took);
    outcomes = redis_.command({"ZRANGE", items, "0", "-1"});
    if (lines(outcomes).size() == 2) break;
    std::this_thread::sleep_for(2ms);
  }
  redisFree(ping);
  const auto o = lines(outcomes);
  ASSERT_EQ(o.size(), 2u) << outcomes << heraldd_.log();
  EXPECT_TRUE(contains(o[0], R"("code":"limit_exceeded")")) << o[0];
  EXPECT_TRUE(contains(o[0], "data[0].data: at most 1000 fields a profile")) << o[0];
  EXPECT_TRUE(contains(o[0], "(limit max_profile_fields)")) << o[0];
  EXPECT_TRUE(contains(o[1], R"("code":"created")")) << o[1];
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count(), 50)
      << "a PING waited that long during the import";
  EXPECT_TRUE(index("e:big@example.com").empty()) << "nothing of the item is written";
  EXPECT_EQ(index("e:small@example.com").size(), 1u);

  // heraldd goes on serving a normal job.
  auto next = import(R"({"data": [{"data": {"email": "after@example.com"}}]})");
  EXPECT_EQ(next.status, "completed") << heraldd_.log();
  EXPECT_EQ(next.codes, std::vector<std::string>{"created"});
}

}  // namespace
}  // namespace herald::test
