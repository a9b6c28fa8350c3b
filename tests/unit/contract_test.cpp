// proto/ and the code agree: example jobs are valid and accepted by their handlers, the job
// types the schema lists are the registered ones, and status and profile replies match their
// schemas.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <set>

#include "herald/api/replies.hpp"
#include "herald/profiles/import_handler.hpp"
#include "herald/profiles/profile.hpp"
#include "herald/queue/handler.hpp"
#include "herald/queue/task.hpp"
#include "herald/triggers/jobs.hpp"
#include "support/json_schema.hpp"
#include "support/process.hpp"

namespace herald::queue {
namespace {

const std::filesystem::path proto = test::proto_dir();
using test::validate_json;

// The examples whose file name starts with `prefix` and ends with `suffix`.
std::vector<std::filesystem::path> examples(std::string_view prefix, std::string_view suffix) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(proto / "examples")) {
    const auto name = e.path().filename().string();
    if (name.starts_with(prefix) && name.ends_with(suffix)) out.push_back(e.path());
  }
  return out;
}

TEST(Contract, ExampleJobsMatchTheSchemaAndTheirHandlersAcceptThem) {
  auto jobs = examples("", ".job.json");
  ASSERT_GE(jobs.size(), 2u);
  auto [code, complaints] = validate_json(proto / "schemas/job.schema.json", jobs);
  EXPECT_EQ(code, 0) << complaints;

  handler_registry handlers;
  add_builtin_handlers(handlers);
  herald::profiles::add_import_handler(handlers, {});
  herald::triggers::trigger_job_settings trigger_jobs;
  trigger_jobs.providers = {{"sandbox", "sandbox"}};
  herald::triggers::add_trigger_handlers(handlers, trigger_jobs);
  for (const auto& path : jobs) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc, body;
    std::string_view type;
    std::uint64_t items = 0;
    ASSERT_FALSE(parser.load(path.string()).get(doc)) << path;
    ASSERT_FALSE(doc["type"].get(type)) << path;
    ASSERT_FALSE(doc["body"].get(body)) << path;
    // noop and sleep count `items`; import_and_start and start their `data` list, send its
    // `messages`.
    simdjson::dom::array data;
    if (!body["data"].get(data))
      items = data.size();
    else if (!body["messages"].get(data))
      items = data.size();
    else
      ASSERT_FALSE(body["items"].get(items)) << path;
    const job_handler* h = handlers.find(type);
    ASSERT_TRUE(h) << path << ": no handler for " << type;
    std::string text = simdjson::minify(body);
    EXPECT_EQ(h->prepare(text)->total(), items) << path;
  }
}

TEST(Contract, TheSchemaListsExactlyTheRegisteredJobTypes) {
  simdjson::dom::parser parser;
  simdjson::dom::element schema;
  simdjson::dom::array types_listed;
  ASSERT_FALSE(parser.load((proto / "schemas/job.schema.json").string()).get(schema));
  ASSERT_FALSE(schema["properties"]["type"]["enum"].get(types_listed));
  std::set<std::string> listed;
  for (auto t : types_listed) {
    std::string_view name;
    ASSERT_FALSE(t.get(name));
    listed.insert(std::string(name));
  }
  handler_registry handlers;
  add_builtin_handlers(handlers);
  herald::profiles::add_import_handler(handlers, {});
  herald::triggers::add_trigger_handlers(handlers, {});
  auto types = handlers.types();
  EXPECT_EQ(listed, std::set<std::string>(types.begin(), types.end()));
}

TEST(Contract, TimestampsAreUtcIso8601WithMilliseconds) {
  EXPECT_EQ(herald::queue::iso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(herald::queue::iso8601(1796235656699), "2026-12-02T18:20:56.699Z");
  EXPECT_EQ(herald::queue::iso8601(951782400000), "2000-02-29T00:00:00.000Z");  // a leap day
  EXPECT_EQ(herald::queue::iso8601(253402300799999), "9999-12-31T23:59:59.999Z");
  // Every day from 1970 to 2200 at some time of it, beside gmtime_r and strftime.
  for (std::int64_t ms = 0; ms < 7258118400000; ms += 86'400'000 + 3'723'017) {
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
    ASSERT_EQ(herald::queue::iso8601(ms), buf) << ms;
  }
}

TEST(Contract, StatusRepliesMatchTheirSchema) {
  test::temp_dir dir("herald-contract");
  std::vector<std::filesystem::path> replies = examples("task-status", ".reply.json");
  task_record queued{
      .task_id = "t-1", .type = "noop", .account = "acme", .total = 5, .created_at = 1795411152132};
  task_record done = queued;
  done.status = task_status::completed;
  done.processed = done.total;
  done.sent = 3;
  done.started_at = done.created_at + 5;
  done.finished_at = done.started_at + 10;
  done.expires_at = done.finished_at + 1000;
  task_record failed = queued;
  failed.status = task_status::failed;
  failed.error_text = "body.items: must be a non-negative integer \"quoted\"";
  failed.run_at = done.created_at + 60'000;
  std::vector<item_outcome> outcomes{{0, item_outcome::kind::sent, "61e947333f62fc26d384452c"},
                                     {1, item_outcome::kind::failed, "", "bad", "why"}};
  int n = 0;
  for (const auto* t : {&queued, &done, &failed}) {
    auto path = dir / ("reply-" + std::to_string(n++) + ".json");
    std::ofstream(path) << status_reply_json(*t, outcomes);
    replies.push_back(path);
  }
  auto [code, complaints] = validate_json(proto / "schemas/task-status.schema.json", replies);
  EXPECT_EQ(code, 0) << complaints;

  // And the schema can fail: a reply without data is refused.
  auto broken = dir / "broken.json";
  std::ofstream(broken) << R"({"error": 0, "error_text": "Successful operation"})";
  EXPECT_EQ(validate_json(proto / "schemas/task-status.schema.json", {broken}).first, 1);
}

// The profile of a profiles/get reply, written alone to `path` for the profile schema; the
// envelope around it checked here.
void write_reply_profile(std::string_view reply, const std::filesystem::path& path) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc, profile;
  ASSERT_FALSE(parser.parse(reply.data(), reply.size()).get(doc)) << reply;
  std::int64_t error = -1;
  std::string_view error_text;
  EXPECT_FALSE(doc["error"].get(error)) << reply;
  EXPECT_EQ(error, 0) << reply;
  EXPECT_FALSE(doc["error_text"].get(error_text)) << reply;
  EXPECT_EQ(error_text, "Successful operation") << reply;
  ASSERT_FALSE(doc["profile"].get(profile)) << reply;
  std::ofstream(path) << simdjson::minify(profile);
}

TEST(Contract, ProfileRepliesMatchTheProfileSchema) {
  test::temp_dir dir("herald-contract");
  const auto schema = proto / "schemas/profile.schema.json";
  std::vector<std::filesystem::path> profiles;
  const auto replies = examples("profile-get", ".reply.json");
  ASSERT_FALSE(replies.empty());
  for (const auto& path : replies) {
    std::ifstream in(path);
    const std::string example((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    const auto copy = dir.path() / path.filename();
    write_reply_profile(example, copy);
    profiles.push_back(copy);
  }

  // What the code writes: proto/profiles.md's document, and one with every channel, each read
  // back from its stored form and put in the reply the route sends.
  auto doc = profiles::profile::from_doc("691f3a2c9e4b7d01a3c5e7f9",
                                         R"({"c": 1763870000000, "u": 1763870000000,
          "f": {"_fname": "John", "email": "john@example.com", "phones": ["+79000000000"],
                "CRM_ID": "0002", "interests": ["books", "music"]},
          "s": [{"channel": "email", "resource_id": 1, "status": "active",
                 "email": "john@example.com"},
                {"channel": "telegram_bot", "resource_id": 2, "status": "blocked",
                 "cc_data": {"id": "42"}}]})");
  profiles::profile every;
  every.id = profiles::new_profile_id();
  every.created_at = 1795411152132;
  every.updated_at = every.created_at + 1;
  every.fields = {{"email", std::string("a@example.com")},
                  {"phones", profiles::tag_list{"+79000000000", "+79000000001"}},
                  {"visits", std::int64_t{3}},
                  {"score", 2.5},
                  {"vip", true},
                  {"note", std::string("say \"hi\"\n")},
                  {"tags", profiles::tag_list{}}};
  auto sub = [](profiles::channel ch, auto&& fill) {
    profiles::subscription s;
    s.ch = ch;
    s.resource_id = 7;
    fill(s);
    return s;
  };
  every.subscriptions = {
      sub(profiles::channel::email, [](auto& s) { s.email = "a@example.com"; }),
      sub(profiles::channel::sms,
          [](auto& s) {
            s.phone = "+79000000000";
            s.status = profiles::subscription_status::unsubscribed;
          }),
      sub(profiles::channel::push,
          [](auto& s) {
            s.provider = "fcm";
            s.subscription_id = "abc";
            s.fields.emplace("platform", std::string("android"));
          }),
      sub(profiles::channel::telegram_bot, [](auto& s) { s.phone = "+79000000001"; }),
      sub(profiles::channel::leadconverter,
          [](auto& s) {
            s.user_id = "5";
            s.channel_id = "9";
            s.fields.emplace("score", std::int64_t{1});
          }),
  };
  int n = 0;
  for (const auto* p : {&doc, &every}) {
    const auto reply = api::ok_reply("profile", p->to_json(3)).body();
    const auto path = dir / ("profile-" + std::to_string(n++) + ".json");
    write_reply_profile(reply, path);
    profiles.push_back(path);
  }
  auto [code, complaints] = validate_json(schema, profiles);
  EXPECT_EQ(code, 0) << complaints;

  // And the schema can fail: a bad id, a subscription without its channel's address.
  auto broken_id = dir / "broken-id.json";
  std::ofstream(broken_id) << R"({"profile_id": "X", "db_id": 1,
      "created_at": "2025-11-20T15:53:48.123Z", "updated_at": "2025-11-20T15:53:48.123Z",
      "fields": {}, "subscriptions": []})";
  auto broken_sub = dir / "broken-sub.json";
  std::ofstream(broken_sub) << R"({"profile_id": "691f3a2c9e4b7d01a3c5e7f9", "db_id": 1,
      "created_at": "2025-11-20T15:53:48.123Z", "updated_at": "2025-11-20T15:53:48.123Z",
      "fields": {}, "subscriptions": [{"channel": "sms", "resource_id": 1, "status": "active"}]})";
  for (const auto& broken : {broken_id, broken_sub})
    EXPECT_EQ(validate_json(schema, {broken}).first, 1) << broken;
}

// The dashboard's JSON routes: their examples match their schemas, and the schemas can fail.
TEST(Contract, TaskListAndOverviewExamplesMatchTheirSchemas) {
  for (const char* name : {"task-list", "overview"}) {
    const auto schema = proto / "schemas" / (std::string(name) + ".schema.json");
    const auto replies = examples(name, ".reply.json");
    ASSERT_EQ(replies.size(), 1u) << name;
    auto [code, complaints] = validate_json(schema, replies);
    EXPECT_EQ(code, 0) << name << ": " << complaints;
    const auto broken =
        std::filesystem::path(::testing::TempDir()) / (std::string(name) + "-broken.json");
    std::ofstream(broken) << R"({"error": 0, "error_text": "Successful operation", "data": {}})";
    EXPECT_EQ(validate_json(schema, {broken}).first, 1) << name;
  }
}

}  // namespace
}  // namespace herald::queue
