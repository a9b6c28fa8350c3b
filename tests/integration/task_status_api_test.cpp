// The task routes (status, long-poll, cancel, items) over real HTTP on loopback against a real
// redis-server: the seed's reply shape, tokens, accounts kept apart, and wait=N.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "herald/api/task_routes.hpp"
#include "herald/auth/request_limit.hpp"
#include "herald/queue/task_store.hpp"
#include "support/api_server.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using herald::test::http_response;
using herald::test::json_doc;
using herald::test::wait_until;
using clock_type = std::chrono::steady_clock;

// The fixture's tokens: "secret" is acme's (acme_token), "s3cr3t-token" globex's (globex_token).
class task_status_api_test : public herald::test::api_server_fixture {
 protected:
  task_status_api_test() : api_server_fixture("herald-api") {}

  void SetUp() override {
    start_client("# test tokens\n");
    store_ = std::make_unique<herald::queue::task_store>(*client_, herald::queue::queue_keys{});

    herald::api::task_routes_config cfg;
    // Called on every turn of a held reply: tells the test the poller is waiting.
    cfg.draining = [this] {
      ++wait_turns_;
      return false;
    };
    herald::http::router routes;
    herald::api::add_task_routes(routes, *store_, *tokens_, cfg);
    serve(std::move(routes));
  }

  std::string enqueue(std::string account, std::uint64_t total = 3) {
    herald::queue::new_job job;
    job.type = "import_and_start";
    job.account = std::move(account);
    job.body = "{}";
    job.total = total;
    return on_io(store_->enqueue(std::move(job))).task_id;
  }

  // Writes fields of a task's hash, as a worker would: the first write makes the task's queued
  // record its hash (start.lua).
  void set_task(const std::string& task_id, std::vector<std::string> fields) {
    std::vector<std::string> args{"HSET", store_->keys().task(task_id)};
    const auto record = redis_.command({"HGET", store_->keys().queued(), task_id});
    if (auto t = herald::queue::parse_queued_record(task_id, record)) {
      redis_.command({"HDEL", store_->keys().queued(), task_id});
      args.insert(args.end(),
                  {"v", "1", "type", t->type, "account", t->account, "status", "queued", "total",
                   std::to_string(t->total), "created_at", std::to_string(t->created_at)});
    }
    args.insert(args.end(), fields.begin(), fields.end());
    redis_.command(args);
  }

  void add_outcome(const std::string& task_id, int index, const std::string& json) {
    redis_.command({"ZADD", store_->keys().items(task_id), std::to_string(index), json});
  }

  http_response get(const std::string& target, const std::string& token = acme_token) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return herald::test::http_request("127.0.0.1", port_, "GET", target, {}, headers);
  }

  http_response post_status(const std::string& task_id, const std::string& token = acme_token) {
    return post("/api/v1.1/tasks/status",
                R"({"token": ")" + token + R"(", "task_id": ")" + task_id + R"("})");
  }

  std::unique_ptr<herald::queue::task_store> store_;
  std::atomic<int> wait_turns_{0};
};

TEST(api_parse_wait, takes_whole_or_fractional_seconds_up_to_the_maximum) {
  using herald::api::parse_wait;
  EXPECT_EQ(parse_wait("2", 60s), 2000ms);
  EXPECT_EQ(parse_wait("0.5", 60s), 500ms);
  EXPECT_EQ(parse_wait("1.25", 60s), 1250ms);
  EXPECT_EQ(parse_wait("60", 60s), 60000ms);
  EXPECT_EQ(parse_wait("0.0001", 60s), 1ms);
  for (const char* bad :
       {"", "0", "0.0", "-1", "+1", "61", "60.001", "abc", "2s", "1e1", "nan", "inf", " 2", "2 "}) {
    EXPECT_EQ(parse_wait(bad, 60s), std::nullopt) << bad;
  }
}

TEST_F(task_status_api_test, status_has_the_seed_shape) {
  const auto id = enqueue("acme", 2);
  set_task(id, {"status", "completed", "processed", "2", "sent", "2", "started_at", "1700000000000",
                "finished_at", "1700000001000"});
  add_outcome(id, 0, R"({"index":0,"profile_id":"61e947333f62fc26d384452c","outcome":"sent"})");
  add_outcome(id, 1, R"({"index":1,"profile_id":"61e947333f62fc26d384452e","outcome":"sent"})");

  const auto res = post_status(id);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("Content-Type"), "application/json");
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 0);
  EXPECT_EQ(doc.str("/error_text"), "Successful operation");
  EXPECT_EQ(doc.str("/data/status"), "completed");
  EXPECT_EQ(doc.integer("/data/progress"), 100);
  EXPECT_EQ(doc.integer("/data/result/error"), 0);
  EXPECT_EQ(doc.str("/data/result/error_text"), "");
  ASSERT_EQ(doc.array_size("/data/result/result"), 2u);
  EXPECT_EQ(doc.str("/data/result/result/0/profile_id"), "61e947333f62fc26d384452c");
  EXPECT_EQ(doc.str("/data/result/result/1/profile_id"), "61e947333f62fc26d384452e");
  EXPECT_EQ(doc.integer("/data/total"), 2);
  EXPECT_EQ(doc.integer("/data/processed"), 2);
  EXPECT_EQ(doc.integer("/data/sent"), 2);
  EXPECT_EQ(doc.str("/data/finished_at"), "2023-11-14T22:13:21.000Z");
  EXPECT_TRUE(doc.has("/data/created_at"));

  // The same reply with the token as a Bearer header, and from the pollers' GET.
  const auto bearer = post("/api/v1.1/tasks/status", R"({"task_id": ")" + id + R"("})",
                           {{"Authorization", std::string("Bearer ") + acme_token}});
  EXPECT_EQ(bearer.status, 200);
  EXPECT_EQ(bearer.body, res.body);
  const auto polled = get("/tasks/status?task_id=" + id);
  EXPECT_EQ(polled.status, 200);
  EXPECT_EQ(polled.body, res.body);
}

TEST_F(task_status_api_test, status_shows_progress_and_a_failure) {
  const auto id = enqueue("acme", 3);
  set_task(id, {"status", "processing", "processed", "1"});
  {
    const json_doc doc(post_status(id).body);
    EXPECT_EQ(doc.str("/data/status"), "processing");
    EXPECT_EQ(doc.integer("/data/progress"), 33);
    EXPECT_EQ(doc.array_size("/data/result/result"), 0u);
  }
  set_task(id, {"status", "failed", "error_text", "trigger 13 does not exist"});
  const auto res = post_status(id);
  EXPECT_EQ(res.status, 200);
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 0);
  EXPECT_EQ(doc.str("/data/status"), "failed");
  EXPECT_NE(doc.integer("/data/result/error"), 0);
  EXPECT_EQ(doc.str("/data/result/error_text"), "trigger 13 does not exist");
}

TEST_F(task_status_api_test, a_missing_or_wrong_token_is_401_and_never_echoed) {
  const auto id = enqueue("acme");
  const std::vector<http_response> replies{
      post("/api/v1.1/tasks/status", R"({"task_id": ")" + id + R"("})"),
      post_status(id, "not-a-real-token"),
      post("/api/v1.1/tasks/status", R"({"task_id": ")" + id + R"("})",
           {{"Authorization", "Bearer not-a-real-token"}}),
      get("/tasks/status?task_id=" + id, ""),
      get("/tasks/status?task_id=" + id, "not-a-real-token"),
      post("/api/v1.1/tasks/cancel",
           R"({"token": "not-a-real-token", "task_id": ")" + id + R"("})"),
      post("/api/v1.1/tasks/items", R"({"token": "not-a-real-token", "task_id": ")" + id + R"("})"),
  };
  for (const auto& res : replies) herald::test::expect_unauthorized(res, "not-a-real-token");
  // Nothing was cancelled by the refused request.
  EXPECT_EQ(json_doc(post_status(id).body).str("/data/status"), "queued");
}

TEST_F(task_status_api_test, an_account_over_its_request_limit_gets_429_with_retry_after) {
  const auto id = enqueue("acme");
  const auto theirs = enqueue("globex");
  // Set before the first request reaches the server.
  tokens_->set_request_limit(std::make_shared<herald::auth::request_limit>(2.0, 3));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post_status(id).status, 200) << i;
  const auto over = post_status(id);
  ASSERT_EQ(over.status, 429) << over.body;
  EXPECT_EQ(over.header("Retry-After"), "1");
  json_doc doc(over.body);
  EXPECT_EQ(doc.integer("/error"), 429);
  EXPECT_EQ(doc.str("/error_text"), "Too many requests");
  EXPECT_EQ(doc.str("/error_debug"),
            "token: this account is over its API limit of 2 requests a second; retry after 1 s");
  EXPECT_EQ(over.body.find(acme_token), std::string::npos);
  EXPECT_EQ(get("/tasks/status?task_id=" + id).status, 429);
  // Another account has its own allowance; a bad token is still 401, not 429.
  EXPECT_EQ(post_status(theirs, globex_token).status, 200);
  EXPECT_EQ(post_status(id, "not-a-real-token").status, 401);
  // Half a second later (2 a second), one more request goes.
  std::this_thread::sleep_for(520ms);
  EXPECT_EQ(post_status(id).status, 200);
  EXPECT_EQ(post_status(id).status, 429);
}

TEST_F(task_status_api_test, another_accounts_task_answers_exactly_like_an_unknown_one) {
  const auto theirs = enqueue("globex");
  const std::string unknown = "00000000-0000-4000-8000-000000000000";

  const auto foreign = post_status(theirs);
  const auto missing = post_status(unknown);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(foreign.body, missing.body);
  EXPECT_EQ(foreign.headers, missing.headers);
  const json_doc doc(foreign.body);
  EXPECT_EQ(doc.integer("/error"), 404);
  EXPECT_EQ(doc.str("/error_text"), "Task not found");

  const auto foreign_get = get("/tasks/status?task_id=" + theirs + "&wait=2");
  EXPECT_EQ(foreign_get.status, 404);
  EXPECT_EQ(foreign_get.body, missing.body);
  EXPECT_EQ(get("/tasks/status?task_id=" + unknown).body, missing.body);

  for (const std::string route : {"/api/v1.1/tasks/cancel", "/api/v1.1/tasks/items"}) {
    const auto f = post(route, R"({"token": "secret", "task_id": ")" + theirs + R"("})");
    const auto m = post(route, R"({"token": "secret", "task_id": ")" + unknown + R"("})");
    EXPECT_EQ(f.status, 404) << route;
    EXPECT_EQ(f.body, missing.body) << route;
    EXPECT_EQ(m.body, missing.body) << route;
  }
  // Their owner still sees it, untouched.
  const auto own = post_status(theirs, globex_token);
  EXPECT_EQ(own.status, 200);
  EXPECT_EQ(json_doc(own.body).str("/data/status"), "queued");
}

TEST_F(task_status_api_test, bad_input_is_400_naming_the_field) {
  const auto id = enqueue("acme");
  const auto debug_of = herald::test::invalid_request_debug;
  const std::string status = "/api/v1.1/tasks/status";
  EXPECT_TRUE(debug_of(post(status, "{\"token\": ")).starts_with("body: not valid JSON"));
  EXPECT_TRUE(debug_of(post(status, "")).starts_with("body: "));
  EXPECT_EQ(debug_of(post(status, "[1]")), "body: expected a JSON object");
  EXPECT_EQ(debug_of(post(status, R"({"token": "secret"})")), "task_id: required");
  EXPECT_EQ(debug_of(post(status, R"({"token": "secret", "task_id": null})")), "task_id: required");
  EXPECT_EQ(debug_of(post(status, R"({"token": "secret", "task_id": 7})")),
            "task_id: must be a string");
  EXPECT_EQ(debug_of(post(status, R"({"token": "secret", "task_id": "a/b"})")),
            "task_id: must be 1 to 64 characters of A-Za-z0-9_-");
  EXPECT_EQ(debug_of(post(status, R"({"token": 5, "task_id": "x"})")), "token: must be a string");

  EXPECT_TRUE(debug_of(get("/tasks/status")).starts_with("task_id: required"));
  EXPECT_TRUE(debug_of(get("/tasks/status?task_id=a%2Fb")).starts_with("task_id: must be"));
  EXPECT_TRUE(
      debug_of(get("/tasks/status?task_id=" + id + "&task_id=" + id)).starts_with("task_id: "));
  for (const std::string wait : {"0", "-1", "abc", "61", "", "1e3"}) {
    const auto debug = debug_of(get("/tasks/status?task_id=" + id + "&wait=" + wait));
    EXPECT_EQ(debug,
              "wait: must be a number of seconds greater than 0 and at most 60, such as 2 "
              "or 0.5")
        << wait;
  }

  const std::string items = "/api/v1.1/tasks/items";
  const std::string base = R"({"token": "secret", "task_id": ")" + id + "\"";
  EXPECT_EQ(debug_of(post(items, base + R"(, "limit": 0})")),
            "limit: must be an integer from 1 to 1000");
  EXPECT_EQ(debug_of(post(items, base + R"(, "limit": 1001})")),
            "limit: must be an integer from 1 to 1000");
  EXPECT_EQ(debug_of(post(items, base + R"(, "limit": "10"})")),
            "limit: must be an integer from 1 to 1000");
  EXPECT_TRUE(debug_of(post(items, base + R"(, "offset": -1})")).starts_with("offset: "));
  EXPECT_TRUE(debug_of(post(items, base + R"(, "offset": 1.5})")).starts_with("offset: "));
  // Issue 10, defect 8: unknown parameters were ignored.
  for (const std::string field : {"page", "cursor", "outcome"}) {
    EXPECT_EQ(
        debug_of(post(items, base + ", \"" + field + "\": 2}")),
        field + ": unknown field; tasks/items takes token, format, task_id, offset and limit");
  }
  EXPECT_EQ(debug_of(post(items, base + R"(, "format": "yaml"})")),
            "format: must be \"json\" or \"xml\"");
  EXPECT_EQ(post(items, base + R"(, "format": "json", "offset": 0, "limit": 5})").status, 200);
}

TEST_F(task_status_api_test, status_answers_an_xml_request_in_the_seeds_xml_shape) {
  const auto id = enqueue("acme", 2);
  set_task(id, {"status", "completed", "processed", "2", "sent", "2"});
  add_outcome(id, 0, R"({"index":0,"profile_id":"61e947333f62fc26d384452c","outcome":"sent"})");
  const auto res = post("/api/v1.1/tasks/status",
                        "<xml>\n<token>secret</token>\n<task_id>" + id + "</task_id>\n</xml>",
                        {{"Content-Type", "application/xml"}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("Content-Type"), "application/xml; charset=utf-8");
  EXPECT_TRUE(res.body.starts_with("<xml>\n<data>\n<task_id>" + id
                                   + "</task_id>\n"
                                     "<type>import_and_start</type>\n<status>completed</status>\n"
                                     "<progress>100</progress>\n<result>\n<error>0</error>\n"
                                     "<error_text></error_text>\n<result>\n"
                                     "<profile_id>61e947333f62fc26d384452c</profile_id>\n"
                                     "</result>\n</result>\n<total>2</total>\n"))
      << res.body;
  EXPECT_TRUE(
      res.body.ends_with("</data>\n<error>0</error>\n<error_text>Successful operation"
                         "</error_text>\n</xml>\n"))
      << res.body;
  // The same from a JSON body asking "format": "xml".
  const auto json_in = post("/api/v1.1/tasks/status",
                            R"({"token": "secret", "format": "xml", "task_id": ")" + id + "\"}");
  EXPECT_EQ(json_in.body, res.body);
  // An unknown task, in XML too.
  const auto unknown =
      post("/api/v1.1/tasks/status", "<xml><token>secret</token><task_id>nope</task_id></xml>",
           {{"Content-Type", "application/xml"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body,
            "<xml>\n<error>404</error>\n<error_debug>task_id: no such task</error_debug>\n"
            "<error_text>Task not found</error_text>\n</xml>\n");
  // tasks/items pages in XML, its offset and limit read as integers.
  const auto items = post("/api/v1.1/tasks/items",
                          "<xml><token>secret</token><format>xml</format><task_id>" + id
                              + "</task_id><offset>0</offset><limit>5</limit></xml>",
                          {{"Content-Type", "application/xml"}});
  EXPECT_EQ(items.status, 200) << items.body;
  EXPECT_NE(items.body.find("<items>\n<index>0</index>\n"), std::string::npos) << items.body;
  EXPECT_NE(items.body.find("<limit>5</limit>"), std::string::npos) << items.body;
}

// Issue 10, defect 8: a body token silently overrode a different Bearer token.
TEST_F(task_status_api_test, a_body_token_and_a_different_bearer_token_are_refused) {
  const auto id = enqueue("acme");
  const std::string body = R"({"token": "secret", "task_id": ")" + id + R"("})";
  const auto differ =
      post("/api/v1.1/tasks/status", body, {{"Authorization", "Bearer s3cr3t-token"}});
  EXPECT_EQ(herald::test::invalid_request_debug(differ),
            "token: the body's \"token\" and the Authorization: Bearer token differ; send one");
  EXPECT_EQ(differ.body.find("s3cr3t-token"), std::string::npos);
  EXPECT_EQ(post("/api/v1.1/tasks/status", body, {{"Authorization", "Bearer secret"}}).status, 200);
}

TEST_F(task_status_api_test, wait_answers_as_soon_as_processed_changes) {
  const auto id = enqueue("acme", 4);
  set_task(id, {"status", "processing", "processed", "1"});

  const auto started = clock_type::now();
  auto reply = std::async(std::launch::async,
                          [&] { return get("/tasks/status?task_id=" + id + "&wait=2"); });
  // The poller has read the task and is waiting: change it as a worker would.
  ASSERT_TRUE(wait_until([&] { return wait_turns_ > 0; }, 5s));
  set_task(id, {"processed", "2"});
  const auto res = reply.get();
  const auto took = clock_type::now() - started;

  EXPECT_EQ(res.status, 200) << res.body;
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/data/processed"), 2);
  EXPECT_EQ(doc.integer("/data/progress"), 50);
  EXPECT_LT(took, 1s) << "the held reply did not answer the change at once";
}

TEST_F(task_status_api_test, wait_answers_as_soon_as_the_status_changes) {
  const auto id = enqueue("acme", 4);
  auto reply = std::async(std::launch::async,
                          [&] { return get("/tasks/status?task_id=" + id + "&wait=2"); });
  ASSERT_TRUE(wait_until([&] { return wait_turns_ > 0; }, 5s));
  const auto changed = clock_type::now();
  set_task(id, {"status", "processing", "started_at", "1700000000000"});
  const auto res = reply.get();
  EXPECT_LT(clock_type::now() - changed, 1s);
  EXPECT_EQ(json_doc(res.body).str("/data/status"), "processing");
}

TEST_F(task_status_api_test, wait_answers_after_the_wait_when_nothing_changes) {
  const auto id = enqueue("acme", 4);
  set_task(id, {"status", "processing", "processed", "1"});
  // Another field changing does not end the wait: only status and processed do.
  const auto started = clock_type::now();
  auto reply = std::async(std::launch::async,
                          [&] { return get("/tasks/status?task_id=" + id + "&wait=1.5"); });
  ASSERT_TRUE(wait_until([&] { return wait_turns_ > 0; }, 5s));
  set_task(id, {"last_error", "provider timed out"});
  const auto res = reply.get();
  const auto took = clock_type::now() - started;
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(json_doc(res.body).integer("/data/processed"), 1);
  EXPECT_GE(took, 1500ms);
  EXPECT_LT(took, 2500ms);
}

TEST_F(task_status_api_test, wait_on_a_finished_task_answers_at_once) {
  const auto id = enqueue("acme", 1);
  set_task(id, {"status", "completed", "processed", "1"});
  const auto started = clock_type::now();
  const auto res = get("/tasks/status?task_id=" + id + "&wait=2");
  EXPECT_LT(clock_type::now() - started, 1s);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(json_doc(res.body).str("/data/status"), "completed");
  EXPECT_EQ(wait_turns_, 0);
}

TEST_F(task_status_api_test, cancel_cancels_once_and_reports_a_final_status_it_had) {
  const auto id = enqueue("acme");
  const std::string body = R"({"token": "secret", "task_id": ")" + id + R"("})";
  const auto res = post("/api/v1.1/tasks/cancel", body);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(
      res.body,
      R"({"error": 0, "error_text": "Successful operation", "data": {"status": "cancelled"}})");
  EXPECT_EQ(json_doc(post_status(id).body).str("/data/status"), "cancelled");
  EXPECT_EQ(post("/api/v1.1/tasks/cancel", body).body, res.body);

  const auto done = enqueue("acme");
  set_task(done, {"status", "completed"});
  const auto late = post("/api/v1.1/tasks/cancel", R"({"task_id": ")" + done + R"("})",
                         {{"Authorization", "Bearer secret"}});
  EXPECT_EQ(late.status, 200);
  EXPECT_EQ(json_doc(late.body).str("/data/status"), "completed");
}

TEST_F(task_status_api_test, items_pages_through_the_outcomes) {
  const auto id = enqueue("acme", 10);
  add_outcome(id, 0, R"({"index":0,"profile_id":"61e947333f62fc26d384452c","outcome":"sent"})");
  add_outcome(id, 5, R"({"index":5,"outcome":"skipped","code":"no_subscription"})");
  add_outcome(id, 7,
              R"({"index":7,"outcome":"failed","code":"provider_error","message":"HTTP 500"})");
  const std::string base = R"({"token": "secret", "task_id": ")" + id + "\"";

  const auto all = post("/api/v1.1/tasks/items", base + "}");
  ASSERT_EQ(all.status, 200) << all.body;
  {
    const json_doc doc(all.body);
    EXPECT_EQ(doc.integer("/error"), 0);
    EXPECT_EQ(doc.str("/error_text"), "Successful operation");
    EXPECT_EQ(doc.integer("/data/offset"), 0);
    EXPECT_EQ(doc.integer("/data/limit"), 100);
    EXPECT_EQ(doc.integer("/data/total"), 10);
    ASSERT_EQ(doc.array_size("/data/items"), 3u);
    EXPECT_EQ(doc.str("/data/items/0/profile_id"), "61e947333f62fc26d384452c");
    EXPECT_EQ(doc.str("/data/items/0/outcome"), "sent");
    EXPECT_EQ(doc.integer("/data/items/1/index"), 5);
    EXPECT_EQ(doc.str("/data/items/1/code"), "no_subscription");
    EXPECT_EQ(doc.str("/data/items/2/outcome"), "failed");
    EXPECT_EQ(doc.str("/data/items/2/message"), "HTTP 500");
  }
  const json_doc page(post("/api/v1.1/tasks/items", base + R"(, "offset": 5, "limit": 2})").body);
  EXPECT_EQ(page.integer("/data/offset"), 5);
  EXPECT_EQ(page.integer("/data/limit"), 2);
  ASSERT_EQ(page.array_size("/data/items"), 1u);
  EXPECT_EQ(page.integer("/data/items/0/index"), 5);
  const json_doc past(post("/api/v1.1/tasks/items", base + R"(, "offset": 8})").body);
  EXPECT_EQ(past.array_size("/data/items"), 0u);
}

TEST_F(task_status_api_test, redis_down_is_503) {
  const auto id = enqueue("acme");
  redis_.kill9();
  const auto res = post_status(id);
  herald::test::expect_redis_unavailable(res);
  EXPECT_EQ(json_doc(res.body).str("/error_text"), "Service unavailable");
  // The token is checked before Redis is asked: a bad one is still 401.
  EXPECT_EQ(post_status(id, "wrong").status, 401);
}

}  // namespace
