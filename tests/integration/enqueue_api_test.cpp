// The enqueue routes (import_and_start_batch_task, start_batch_task, start_batch) over real HTTP
// on loopback against a real redis-server: the seeds' bodies accepted and their reply shapes,
// refusals naming the field and item with nothing enqueued, the items limit, Idempotency-Key,
// tokens and accounts, and start_batch waiting for its task (which the test ends as a worker
// would) up to sync_timeout.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "herald/api/enqueue_routes.hpp"
#include "herald/profiles/import_handler.hpp"
#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/triggers/jobs.hpp"
#include "herald/triggers/store.hpp"
#include "herald/triggers/trigger.hpp"
#include "support/api_server.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using herald::test::http_response;
using herald::test::invalid_request_debug;
using herald::test::json_doc;
using herald::test::wait_until;
using clock_type = std::chrono::steady_clock;

constexpr auto import_route = "/api/v1.1/campaigns/triggers/import_and_start_batch_task";
constexpr auto start_task_route = "/api/v1.1/campaigns/triggers/start_batch_task";
constexpr auto start_batch_route = "/api/v1.1/campaigns/triggers/start_batch";

// Seed 004's request with matching by email, as the seed writes it (token included).
constexpr auto seed_004_email = R"({
"token": "abcdefghijklmnqrstuvwxyz",
"matching": "email",
"data": [
{
"data": {
"_fname": "John",
"_lname": "Lambert",
"email": "profile4@example.com",
"phones": "+79000000000",
"subscriptions": [
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
},
{
"data": {
"_fname": "Tom",
"_lname": "Hard",
"email": "profile3@example.com",
"phones": "+79000000001",
"subscriptions": [
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
}
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

// Seed 004's request with matching by a custom field.
constexpr auto seed_004_custom = R"({
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

// Seed 001's requests (start_batch), by email and by a custom field.
constexpr auto seed_001_email = R"({
"token": "abcdefghijklmnqrstuvwxyz",
"trigger_id": 8,
"format": "json",
"matching": "email",
"data": [
{
"email": "example1@example.com"
},
{
"email": "example2@example.com"
}
]
})";

constexpr auto seed_001_custom = R"({
"token": "abcdefghijklmnqrstuvwxyz",
"trigger_id": 96,
"format": "json",
"skip_triggers": false,
"matching": "custom",
"field_name": "Custom_ID",
"data": [
{
"field_value": "003"
},
{
"field_value": "002"
}
]
})";

// Seed 001's XML request by email.
constexpr auto seed_001_xml = R"(<xml>
<token>abcdefghijklmnqrstuvwxyz</token>
<trigger_id>85</trigger_id>
<format>xml</format>
<matching>email</matching>
<data>
<email>example3@example.com</email>
</data>
<data>
<email>example4@example.com</email>
</data>
</xml>)";

// `text` with every occurrence of `from` replaced by `to`.
std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

// The seed's body with `token` as the token.
std::string with_token(std::string_view seed, std::string_view token) {
  return replace_all(std::string(seed), "abcdefghijklmnqrstuvwxyz", token);
}

// An import_and_start body of `n` items (profiles pN@example.com) with `extra` root members.
std::string import_body(int n, const std::string& token, const std::string& extra = {}) {
  std::string data;
  for (int i = 0; i < n; ++i) {
    if (i) data += ", ";
    data += R"({"data": {"email": "p)" + std::to_string(i) + R"(@example.com"}})";
  }
  return R"({"token": ")" + token + R"(", "skip_triggers": true)" + extra + R"(, "data": [)" + data
         + "]}";
}

class enqueue_api_test : public herald::test::api_server_fixture {
 protected:
  enqueue_api_test() : api_server_fixture("herald-enqueue-api") {
    cfg_.limits.sync_timeout = 20s;
    cfg_.limits.api_max_items = 50;
  }

  void SetUp() override {
    start_client();
    store_ = std::make_unique<herald::queue::task_store>(*client_, herald::queue::queue_keys{});
    triggers_ = std::make_unique<herald::triggers::trigger_store>(*client_);
    herald::triggers::trigger_job_settings jobs;
    herald::profiles::import_settings import;
    import.followup = herald::triggers::trigger_followup(jobs);
    herald::profiles::add_import_handler(handlers_, import);
    herald::triggers::add_trigger_handlers(handlers_, jobs);

    auto cfg = cfg_;
    cfg.draining = [this] { return draining_.load(); };
    herald::http::router routes;
    herald::api::add_enqueue_routes(routes, *store_, *triggers_, handlers_, *tokens_, cfg);
    serve(std::move(routes));
    // The seeds' triggers are acme's; globex has one of its own.
    for (int id : {8, 13, 85, 96, 455}) add_trigger("acme", id);
    add_trigger("globex", 77);
  }

  void add_trigger(const std::string& account, int id) {
    const auto parsed = herald::triggers::parse_trigger(
        R"({"id": )" + std::to_string(id)
        + R"(, "name": "t", "channel": "email", "provider": "sandbox", "message": {"text": "Привет, {lead._fname}"}})");
    ASSERT_TRUE(parsed.value) << parsed.error->text();
    on_io(triggers_->add(account, *parsed.value));
  }

  long long stream_length() { return redis_.integer({"XLEN", store_->keys().jobs()}); }

  // The fields of the stream's newest entry.
  std::map<std::string, std::string> newest_entry() {
    std::istringstream lines(
        redis_.command({"XREVRANGE", store_->keys().jobs(), "+", "-", "COUNT", "1"}));
    std::string id, name, value;
    std::getline(lines, id);
    std::map<std::string, std::string> fields;
    while (std::getline(lines, name) && std::getline(lines, value)) fields[name] = value;
    return fields;
  }

  // The task_id of a 200 enqueue reply, checking its shape: exactly the seed's three members.
  std::string task_id_of(const http_response& res) {
    EXPECT_EQ(res.status, 200) << res.body;
    const json_doc doc(res.body);
    EXPECT_EQ(doc.integer("/error"), 0);
    EXPECT_EQ(doc.str("/error_text"), "Successful operation");
    const auto id = doc.str("/task_id");
    EXPECT_TRUE(herald::queue::valid_task_id(id)) << id;
    EXPECT_EQ(res.body,
              R"({"error": 0, "error_text": "Successful operation", "task_id": ")" + id + "\"}");
    return id;
  }

  // Ends a queued task as a worker would: its queued record (a task enqueued with an
  // idempotency key has its hash at once) becomes its hash, with `fields`.
  void finish_task(const std::string& task_id, std::vector<std::string> fields) {
    std::vector<std::string> args{"HSET", store_->keys().task(task_id)};
    const auto record = redis_.command({"HGET", store_->keys().queued(), task_id});
    if (auto t = herald::queue::parse_queued_record(task_id, record)) {
      redis_.command({"HDEL", store_->keys().queued(), task_id});
      args.insert(args.end(),
                  {"v", "1", "type", t->type, "account", t->account, "total",
                   std::to_string(t->total), "created_at", std::to_string(t->created_at)});
    } else {
      ASSERT_EQ(redis_.command({"HGET", store_->keys().task(task_id), "status"}), "queued");
    }
    args.insert(args.end(), fields.begin(), fields.end());
    redis_.command(args);
  }

  void add_outcome(const std::string& task_id, int index, const std::string& json) {
    redis_.command({"ZADD", store_->keys().items(task_id), std::to_string(index), json});
  }

  // Posts start_batch on a thread of its own; the task it enqueued, once it is in the stream.
  std::future<http_response> start_batch_async(const std::string& body, std::string& task_id) {
    auto reply =
        std::async(std::launch::async, [this, body] { return post(start_batch_route, body); });
    EXPECT_TRUE(wait_until([&] { return stream_length() == 1; }, 10s));
    task_id = newest_entry()["task_id"];
    return reply;
  }

  herald::api::enqueue_routes_config cfg_;
  std::unique_ptr<herald::queue::task_store> store_;
  std::unique_ptr<herald::triggers::trigger_store> triggers_;
  herald::queue::handler_registry handlers_;
  std::atomic<bool> draining_{false};
};

TEST_F(enqueue_api_test, import_task_takes_seed_004_by_email_and_answers_its_task_id) {
  const auto id = task_id_of(post(import_route, with_token(seed_004_email, acme_token)));
  ASSERT_EQ(stream_length(), 1);
  auto entry = newest_entry();
  EXPECT_EQ(entry["task_id"], id);
  EXPECT_EQ(entry["type"], "import_and_start");
  EXPECT_EQ(entry["account"], "acme");
  // The job's body is the request's, less the token.
  EXPECT_EQ(entry["body"].find("token"), std::string::npos) << entry["body"];
  EXPECT_NE(entry["body"].find(R"("trigger_id":13)"), std::string::npos) << entry["body"];
  EXPECT_NE(entry["body"].find(R"("attach":[{"data":"data:text/csv;base64,5LuK5pel44GvCg==")"),
            std::string::npos);
  const auto task = on_io(store_->get(id, "acme"));
  ASSERT_TRUE(task);
  EXPECT_EQ(task->status, herald::queue::task_status::queued);
  EXPECT_EQ(task->type, "import_and_start");
  EXPECT_EQ(task->total, 2u);
}

TEST_F(enqueue_api_test, import_task_takes_seed_004_by_custom_field_without_its_format) {
  const auto id = task_id_of(post(import_route, with_token(seed_004_custom, acme_token)));
  auto entry = newest_entry();
  EXPECT_EQ(entry["task_id"], id);
  EXPECT_EQ(entry["body"].find("format"), std::string::npos) << entry["body"];
  EXPECT_NE(entry["body"].find(R"("field_name":"New_field_1")"), std::string::npos);
}

TEST_F(enqueue_api_test, cyrillic_values_are_enqueued_byte_for_byte) {
  const std::string body =
      R"({"token": "secret", "trigger_id": 13, "content": {"page": "Регистрация"},
    "data": [{"data": {"_fname": "Иван", "_lname": "Петров", "email": "ivan@example.com",
    "Город": "Москва"}}]})";
  const auto id = task_id_of(post(import_route, body));
  const auto entry = newest_entry();
  EXPECT_EQ(entry.at("task_id"), id);
  for (const char* text : {"\"Иван\"", "\"Петров\"", "\"Город\":\"Москва\"", "\"Регистрация\""})
    EXPECT_NE(entry.at("body").find(text), std::string::npos) << text << " in " << entry.at("body");
}

TEST_F(enqueue_api_test, start_task_takes_seed_001s_bodies_with_a_bearer_token) {
  const std::string bearer = std::string("Bearer ") + acme_token;
  // The seed's body carries its own token: here the Bearer header brings it instead.
  auto without_token = [](std::string_view seed) {
    return replace_all(std::string(seed), "\"token\": \"abcdefghijklmnqrstuvwxyz\",\n", "");
  };
  const auto a = task_id_of(
      post(start_task_route, without_token(seed_001_email), {{"Authorization", bearer}}));
  EXPECT_EQ(newest_entry()["type"], "start");
  EXPECT_EQ(newest_entry()["account"], "acme");
  const auto b = task_id_of(post(start_task_route, with_token(seed_001_custom, acme_token)));
  EXPECT_NE(a, b);
  EXPECT_EQ(stream_length(), 2);
  const auto task = on_io(store_->get(b, "acme"));
  ASSERT_TRUE(task);
  EXPECT_EQ(task->type, "start");
  EXPECT_EQ(task->total, 2u);
}

TEST_F(enqueue_api_test, bad_input_is_400_naming_the_field_and_item_and_enqueues_nothing) {
  struct refusal {
    const char* route;
    std::string body;
    std::string debug_starts_with;
  };
  const std::vector<refusal> cases{
      {import_route, R"({"token": "secret", "skip_triggers": true, "data": [
        {"data": {"email": "a@example.com"}}, {"data": {"email": 42}}]})",
       "data[1].data.email: "},
      {import_route, R"({"token": "secret", "skip_triggers": true, "data": [
        {"data": {"email": "a@example.com"}}, {"data": {"email": "b@example.com"}},
        {"data": {"email": "not an email"}}]})",
       "data[2].data.email: "},
      {import_route, R"({"token": "secret", "matching": "nope", "data": []})", "matching: "},
      {import_route, R"({"token": "secret", "frobnicate": 1})", "frobnicate: unknown field"},
      {import_route, R"({"token": "secret", "format": "yaml"})",
       "format: must be \"json\" or \"xml\""},
      {import_route, R"({"token": "secret", "data": "x"})", "data: "},
      {import_route, "[1, 2]", "body: "},
      {import_route, "{\"token\": \"secret\", ", "body: not valid JSON"},
      {start_task_route, R"({"token": "secret", "trigger_id": 8, "data": [
        {"email": "a@example.com"}, {"email": "b@example.com"}, {"email": 5}]})",
       "data[2].email: "},
      {start_task_route, R"({"token": "secret", "data": [{"email": "a@example.com"}]})",
       "trigger_id: required"},
      {start_batch_route, R"({"token": "secret", "trigger_id": 8, "data": [{"data": {}}]})",
       "data[0]"},
  };
  for (const auto& c : cases) {
    const auto res = post(c.route, c.body);
    const auto debug = invalid_request_debug(res);
    EXPECT_TRUE(debug.starts_with(c.debug_starts_with))
        << c.route << " " << c.body << "\n -> " << res.body;
    EXPECT_EQ(stream_length(), 0) << c.body;
  }
}

TEST_F(enqueue_api_test, more_items_than_api_max_items_is_400_naming_the_limit) {
  const auto over = post(import_route, import_body(51, acme_token));
  EXPECT_EQ(invalid_request_debug(over),
            "data: at most 50 items a request (api_max_items), got 51");
  std::string items;
  for (int i = 0; i < 52; ++i) items += std::string(i ? ", " : "") + R"({"email": "a@b.c"})";
  const auto start_over =
      post(start_task_route, R"({"token": "secret", "trigger_id": 8, "data": [)" + items + "]}");
  EXPECT_EQ(invalid_request_debug(start_over),
            "data: at most 50 items a request (api_max_items), got 52");
  EXPECT_EQ(stream_length(), 0);
  const auto id = task_id_of(post(import_route, import_body(50, acme_token)));
  EXPECT_EQ(on_io(store_->get(id, "acme"))->total, 50u);
}

TEST_F(enqueue_api_test, an_idempotency_key_repeat_answers_the_same_task_and_enqueues_nothing) {
  const auto body = import_body(2, acme_token);
  const auto first = post(import_route, body, {{"Idempotency-Key", "order-7"}});
  const auto id = task_id_of(first);
  EXPECT_FALSE(first.has_header("Idempotent-Replayed"));
  const auto again = post(import_route, body, {{"Idempotency-Key", "order-7"}});
  EXPECT_EQ(task_id_of(again), id);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(stream_length(), 1);

  // Another key, or another account's same key, is another job.
  EXPECT_NE(task_id_of(post(import_route, body, {{"Idempotency-Key", "order-8"}})), id);
  EXPECT_NE(task_id_of(
                post(import_route, import_body(2, globex_token), {{"Idempotency-Key", "order-7"}})),
            id);
  EXPECT_EQ(stream_length(), 3);

  // 200 characters (Cyrillic ones are two bytes each) are allowed; 201 are not.
  std::string longest;
  for (int i = 0; i < 200; ++i) longest += "я";
  task_id_of(post(import_route, body, {{"Idempotency-Key", longest}}));
  EXPECT_EQ(invalid_request_debug(post(import_route, body, {{"Idempotency-Key", longest + "я"}})),
            "Idempotency-Key: must be 1 to 200 characters, got 201");
  EXPECT_EQ(stream_length(), 4);
}

TEST_F(enqueue_api_test, a_missing_or_unknown_token_is_401_and_enqueues_nothing) {
  for (const char* route : {import_route, start_task_route, start_batch_route}) {
    herald::test::expect_unauthorized(post(route, R"({"trigger_id": 8, "data": []})"), "none");
    herald::test::expect_unauthorized(post(route, with_token(seed_001_email, "wrong-token")),
                                      "wrong-token");
    herald::test::expect_unauthorized(
        post(route, R"({"trigger_id": 8, "data": []})", {{"Authorization", "Bearer wrong-token"}}),
        "wrong-token");
  }
  EXPECT_EQ(stream_length(), 0);
}

TEST_F(enqueue_api_test, another_accounts_trigger_answers_exactly_like_an_unknown_one) {
  // Trigger 77 is globex's; 78 is nobody's.
  const auto body = [](int trigger) {
    return R"({"token": "secret", "trigger_id": )" + std::to_string(trigger)
           + R"(, "data": [{"email": "a@example.com"}]})";
  };
  const auto foreign = post(start_task_route, body(77));
  EXPECT_EQ(foreign.status, 404) << foreign.body;
  const json_doc doc(foreign.body);
  EXPECT_EQ(doc.str("/error_text"), "Trigger not found");
  EXPECT_EQ(doc.str("/error_debug"), "trigger_id: the account has no trigger 77");
  const auto unknown = post(start_task_route, body(78));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(replace_all(unknown.body, "78", "77"), foreign.body);
  EXPECT_EQ(post(import_route, R"({"token": "secret", "trigger_id": 77, "data": [
                   {"data": {"email": "a@example.com"}}]})")
                .body,
            foreign.body);
  EXPECT_EQ(stream_length(), 0);
  // globex's own token starts it.
  task_id_of(post(start_task_route, replace_all(body(77), "secret", globex_token)));
  EXPECT_EQ(newest_entry()["account"], "globex");
  // skip_triggers imports without a trigger: its trigger_id is not looked up.
  task_id_of(post(import_route, import_body(1, acme_token, R"(, "trigger_id": 78)")));
}

TEST_F(enqueue_api_test, start_batch_waits_for_its_task_and_answers_the_profiles_reached) {
  std::string id;
  auto reply = start_batch_async(with_token(seed_001_email, acme_token), id);
  ASSERT_FALSE(id.empty());
  // It is still waiting: the task has not ended.
  EXPECT_EQ(reply.wait_for(200ms), std::future_status::timeout);
  add_outcome(id, 1, R"({"index":1,"profile_id":"66101437dc4594c2934da6da","outcome":"sent"})");
  add_outcome(id, 0, R"({"index":0,"profile_id":"6606e08f10bcdd88297057a7","outcome":"sent"})");
  add_outcome(id, 2, R"({"index":2,"outcome":"skipped","code":"not_found"})");
  finish_task(id, {"status", "completed", "processed", "2", "sent", "2"});
  const auto res = reply.get();
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body, R"({"error": 0, "error_text": "Successful operation", "result": [)"
                      R"({"profile_id": "6606e08f10bcdd88297057a7"}, )"
                      R"({"profile_id": "66101437dc4594c2934da6da"}], "task_id": ")"
                          + id + "\"}");
}

TEST_F(enqueue_api_test, start_batch_answers_a_failed_task_with_its_error) {
  std::string id;
  auto reply = start_batch_async(with_token(seed_001_email, acme_token), id);
  finish_task(id, {"status", "failed", "error_text", "dead-lettered: body.data: broken"});
  const auto res = reply.get();
  EXPECT_EQ(res.status, 500) << res.body;
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 500);
  EXPECT_EQ(doc.str("/error_text"), "Task failed");
  EXPECT_EQ(doc.str("/error_debug"), "dead-lettered: body.data: broken");
  EXPECT_EQ(doc.str("/task_id"), id);
}

TEST_F(enqueue_api_test, start_batch_answers_a_cancelled_task_as_such) {
  std::string id;
  auto reply = start_batch_async(with_token(seed_001_email, acme_token), id);
  EXPECT_EQ(on_io(store_->cancel(id, "acme")), herald::queue::task_status::cancelled);
  const auto res = reply.get();
  EXPECT_EQ(res.status, 409) << res.body;
  EXPECT_EQ(json_doc(res.body).str("/error_text"), "Task cancelled");
  EXPECT_EQ(json_doc(res.body).str("/task_id"), id);
}

TEST_F(enqueue_api_test, start_batch_answers_at_once_while_draining) {
  draining_ = true;
  const auto started = clock_type::now();
  const auto res = post(start_batch_route, with_token(seed_001_email, acme_token));
  EXPECT_LT(clock_type::now() - started, 5s);
  EXPECT_EQ(res.status, 202) << res.body;
  const json_doc doc(res.body);
  EXPECT_EQ(doc.str("/error_text"), "Task is still running");
  EXPECT_EQ(doc.str("/task_id"), newest_entry()["task_id"]);
  EXPECT_EQ(doc.str("/status"), "queued");
}

TEST_F(enqueue_api_test, an_xml_request_is_read_as_its_json_and_answered_in_xml) {
  const std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<xml>
<token>secret</token>
<trigger_id>13</trigger_id>
<format>xml</format>
<matching>email</matching>
<data><data><_fname>Иван</_fname><email>ivan@example.com</email>
<subscriptions><channel>email</channel><email>ivan@example.com</email><resource_id>1</resource_id></subscriptions>
</data></data>
</xml>)";
  const auto res = post(import_route, xml, {{"Content-Type", "application/xml"}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("Content-Type"), "application/xml; charset=utf-8");
  const auto id = newest_entry()["task_id"];
  EXPECT_EQ(res.body,
            "<xml>\n<error>0</error>\n<error_text>Successful operation</error_text>\n"
            "<task_id>"
                + id + "</task_id>\n</xml>\n");
  // The job is the one the JSON body would make: one item, its subscription a list.
  const auto body = newest_entry()["body"];
  EXPECT_EQ(body, R"({"trigger_id":13,"matching":"email","data":[{"data":{"_fname":"Иван",)"
                  R"("email":"ivan@example.com","subscriptions":[{"channel":"email",)"
                  R"("email":"ivan@example.com","resource_id":"1"}]}}]})");
  EXPECT_EQ(on_io(store_->get(id, "acme"))->total, 1u);

  // "format": "xml" in a JSON body answers XML too.
  const auto json_in = post(import_route, import_body(1, acme_token, R"(, "format": "xml")"));
  EXPECT_EQ(json_in.status, 200);
  EXPECT_TRUE(json_in.body.starts_with("<xml>\n<error>0</error>\n")) << json_in.body;
  // And an XML request asking <format>json</format> answers JSON.
  const auto json_out =
      post(import_route, replace_all(xml, "<format>xml</format>", "<format>json</format>"),
           {{"Content-Type", "text/xml; charset=utf-8"}});
  EXPECT_EQ(json_out.header("Content-Type"), "application/json");
  task_id_of(json_out);
}

TEST_F(enqueue_api_test, xml_refusals_are_xml_and_enqueue_nothing) {
  const auto bad_item =
      post(import_route, R"(<xml><token>secret</token><skip_triggers>true</skip_triggers>
<data><data><email>a@example.com</email></data></data><data><data><email>nope</email></data></data></xml>)",
           {{"Content-Type", "application/xml"}});
  EXPECT_EQ(bad_item.status, 400);
  EXPECT_TRUE(
      bad_item.body.starts_with("<xml>\n<error>400</error>\n<error_debug>data[1].data.email: "))
      << bad_item.body;
  EXPECT_TRUE(bad_item.body.ends_with("<error_text>Invalid request</error_text>\n</xml>\n"))
      << bad_item.body;

  const auto laughs = post(import_route, R"(<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><token>secret</token><data><data><email>&lol3;</email></data></data></xml>)",
                           {{"Content-Type", "application/xml"}});
  EXPECT_EQ(laughs.status, 400);
  EXPECT_NE(laughs.body.find("<error_debug>body: a DOCTYPE is refused"), std::string::npos)
      << laughs.body;
  const auto external = post(start_batch_route, R"(<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><token>secret</token><trigger_id>8</trigger_id><data><email>&xxe;</email></data></xml>)",
                             {{"Content-Type", "application/xml"}});
  EXPECT_EQ(external.status, 400);
  EXPECT_NE(external.body.find("<error_debug>body: a DOCTYPE is refused"), std::string::npos)
      << external.body;
  EXPECT_EQ(external.body.find("root:"), std::string::npos);  // nothing of /etc/passwd
  const auto unauthorized = post(start_task_route, "<xml><token>wrong</token></xml>",
                                 {{"Content-Type", "application/xml"}});
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_TRUE(unauthorized.body.starts_with("<xml>\n<error>401</error>\n")) << unauthorized.body;
  EXPECT_EQ(stream_length(), 0);
}

TEST_F(enqueue_api_test, start_batch_answers_seed_001s_xml_request_in_xml) {
  std::string id;
  auto reply = std::async(std::launch::async, [this] {
    return post(start_batch_route, with_token(seed_001_xml, acme_token),
                {{"Content-Type", "application/xml"}});
  });
  ASSERT_TRUE(wait_until([&] { return stream_length() == 1; }, 10s));
  id = newest_entry()["task_id"];
  add_outcome(id, 0, R"({"index":0,"profile_id":"66101437dc4594c2934da6da","outcome":"sent"})");
  add_outcome(id, 1, R"({"index":1,"profile_id":"6606e08f10bcdd88297057a7","outcome":"sent"})");
  finish_task(id, {"status", "completed", "processed", "2", "sent", "2"});
  const auto res = reply.get();
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body,
            "<xml>\n<error>0</error>\n<error_text>Successful operation</error_text>\n"
            "<result>\n<profile_id>66101437dc4594c2934da6da</profile_id>\n</result>\n"
            "<result>\n<profile_id>6606e08f10bcdd88297057a7</profile_id>\n</result>\n"
            "<task_id>"
                + id + "</task_id>\n</xml>\n");
}

class enqueue_api_short_wait_test : public enqueue_api_test {
 protected:
  enqueue_api_short_wait_test() { cfg_.limits.sync_timeout = 300ms; }
};

TEST_F(enqueue_api_short_wait_test, start_batch_past_sync_timeout_answers_202_with_the_task_id) {
  const auto started = clock_type::now();
  const auto res = post(start_batch_route, with_token(seed_001_custom, acme_token),
                        {{"Idempotency-Key", "batch-1"}});
  EXPECT_GE(clock_type::now() - started, 300ms);
  ASSERT_EQ(res.status, 202) << res.body;
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 0);
  EXPECT_EQ(doc.str("/error_text"), "Task is still running");
  EXPECT_EQ(doc.str("/status"), "queued");
  EXPECT_EQ(doc.integer("/progress"), 0);
  const auto id = doc.str("/task_id");
  EXPECT_EQ(newest_entry()["task_id"], id);

  // The same key later waits for the same task, now ended.
  finish_task(id, {"status", "completed", "processed", "2"});
  add_outcome(id, 0, R"({"index":0,"profile_id":"6606e08f10bcdd88297057a7","outcome":"sent"})");
  const auto again = post(start_batch_route, with_token(seed_001_custom, acme_token),
                          {{"Idempotency-Key", "batch-1"}});
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(json_doc(again.body).str("/result/0/profile_id"), "6606e08f10bcdd88297057a7");
  EXPECT_EQ(stream_length(), 1);
}

}  // namespace
