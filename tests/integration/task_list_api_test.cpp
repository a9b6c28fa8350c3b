// tasks/list over real HTTP on loopback against a real redis-server: an account's tasks newest
// first as tasks/status shows them, filtered by status, type and creation time, paginated, in
// its POST and GET forms, with bad filters refused naming the field.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "herald/api/task_routes.hpp"
#include "herald/common/time.hpp"
#include "herald/queue/task_store.hpp"
#include "support/api_server.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/json_schema.hpp"

namespace {

using herald::test::http_response;
using herald::test::json_doc;

// The fixture's tokens: "secret" is acme's (acme_token), "s3cr3t-token" globex's.
class task_list_api_test : public herald::test::api_server_fixture {
 protected:
  static constexpr std::uint64_t max_scan = 40;

  task_list_api_test() : api_server_fixture("herald-list") {}

  void SetUp() override {
    start_client();
    store_ = std::make_unique<herald::queue::task_store>(*client_, herald::queue::queue_keys{});
    herald::api::task_routes_config cfg;
    cfg.max_list_scan = max_scan;
    cfg.default_list_limit = 10;
    cfg.max_list_limit = 50;
    herald::http::router routes;
    herald::api::add_task_routes(routes, *store_, *tokens_, cfg);
    serve(std::move(routes));
  }

  // Enqueues `count` jobs of `type` for `account` in one call; their task ids, oldest first.
  std::vector<std::string> enqueue(const std::string& account, int count = 1,
                                   const std::string& type = "noop") {
    std::vector<herald::queue::new_job> jobs;
    for (int i = 0; i < count; ++i) {
      herald::queue::new_job job;
      job.type = type;
      job.account = account;
      job.body = "{}";
      job.total = 4;
      jobs.push_back(std::move(job));
    }
    std::vector<std::string> ids;
    for (auto& e : on_io(store_->enqueue(std::move(jobs)))) ids.push_back(e.task_id);
    return ids;
  }

  // Writes fields of a task's hash, as a worker would (the queued record becomes the hash).
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

  http_response list(const std::string& body, const std::string& token = acme_token) {
    return post("/api/v1.1/tasks/list", body, {{"Authorization", "Bearer " + token}});
  }

  http_response get(const std::string& target, const std::string& token = acme_token) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return herald::test::http_request("127.0.0.1", port_, "GET", target, {}, headers);
  }

  // The task ids a list reply holds, in its order.
  static std::vector<std::string> ids_of(const http_response& res) {
    const json_doc doc(res.body);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < doc.array_size("/data/tasks"); ++i)
      ids.push_back(doc.str("/data/tasks/" + std::to_string(i) + "/task_id"));
    return ids;
  }

  std::unique_ptr<herald::queue::task_store> store_;
};

TEST_F(task_list_api_test, lists_the_accounts_tasks_newest_first_as_status_shows_them) {
  const auto ours = enqueue("acme", 3);
  enqueue("globex", 2);
  set_task(ours[1], {"status", "processing", "processed", "1", "started_at", "1700000000000"});

  const auto res = list("{}");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("Content-Type"), "application/json");
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 0);
  EXPECT_EQ(doc.str("/error_text"), "Successful operation");
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{ours[2], ours[1], ours[0]}));
  EXPECT_EQ(doc.integer("/data/total"), 3);
  EXPECT_EQ(doc.integer("/data/offset"), 0);
  EXPECT_EQ(doc.integer("/data/limit"), 10);  // the configured default
  EXPECT_NE(res.body.find("\"total_exact\": true"), std::string::npos) << res.body;
  // Each task as tasks/status shows it, without the profile list a listing does not read.
  EXPECT_EQ(doc.str("/data/tasks/1/status"), "processing");
  EXPECT_EQ(doc.integer("/data/tasks/1/progress"), 25);
  EXPECT_EQ(doc.integer("/data/tasks/1/processed"), 1);
  EXPECT_EQ(doc.integer("/data/tasks/1/total"), 4);
  EXPECT_EQ(doc.str("/data/tasks/1/started_at"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(doc.str("/data/tasks/0/type"), "noop");
  EXPECT_EQ(doc.str("/data/tasks/0/status"), "queued");
  EXPECT_EQ(doc.integer("/data/tasks/0/result/error"), 0);
  EXPECT_FALSE(doc.has("/data/tasks/0/result/result"));
  EXPECT_TRUE(doc.has("/data/tasks/0/created_at"));
  // The reply matches the contract's schema.
  std::ofstream(dir_ / "list.json") << res.body;
  const auto [code, complaints] = herald::test::validate_json(
      herald::test::proto_dir() / "schemas/task-list.schema.json", {dir_ / "list.json"});
  EXPECT_EQ(code, 0) << complaints;

  // The other account sees its own two and none of ours.
  const auto theirs = list("{}", globex_token);
  ASSERT_EQ(theirs.status, 200) << theirs.body;
  EXPECT_EQ(ids_of(theirs).size(), 2u);
  for (const auto& id : ours) EXPECT_EQ(theirs.body.find(id), std::string::npos);
}

TEST_F(task_list_api_test, filters_by_status_type_and_creation_time) {
  const auto noops = enqueue("acme", 3);
  const auto sleeps = enqueue("acme", 2, "sleep");
  set_task(noops[0], {"status", "completed", "processed", "4", "created_at", "1700000000000"});
  set_task(noops[1], {"status", "failed", "created_at", "1700000100000"});
  set_task(noops[2], {"status", "processing", "created_at", "1700000200000"});
  set_task(sleeps[0], {"status", "completed", "created_at", "1700000300000"});
  set_task(sleeps[1], {"created_at", "1700000400000"});

  auto res = list(R"({"status": "completed"})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{sleeps[0], noops[0]}));
  EXPECT_EQ(json_doc(res.body).integer("/data/total"), 2);

  res = list(R"({"status": ["failed", "processing"]})");
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{noops[2], noops[1]}));
  res = list(R"({"status": "failed, processing"})");
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{noops[2], noops[1]}));

  res = list(R"({"type": "sleep"})");
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{sleeps[1], sleeps[0]}));
  res = list(R"({"type": "sleep", "status": "queued"})");
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{sleeps[1]}));

  // Both bounds inclusive; milliseconds, digits in a string, or ISO-8601 with an offset.
  res = list(R"({"created_from": 1700000100000, "created_to": "1700000300000"})");
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{sleeps[0], noops[2], noops[1]}));
  res = list(R"({"created_from": "2023-11-15T00:16:40+02:00"})");  // 1700000200000
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{sleeps[1], sleeps[0], noops[2]}));
  res = list(R"({"created_to": "2023-11-14T22:13:20Z", "type": ["noop", "send"]})");
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{noops[0]}));
  res = list(R"({"status": "cancelled"})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(ids_of(res).empty());
  EXPECT_EQ(json_doc(res.body).integer("/data/total"), 0);
}

TEST_F(task_list_api_test, pages_through_the_matching_tasks) {
  const auto ids = enqueue("acme", 7);  // oldest first
  set_task(ids[3], {"status", "completed"});
  auto res = list(R"({"offset": 2, "limit": 3})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{ids[4], ids[3], ids[2]}));
  json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/data/offset"), 2);
  EXPECT_EQ(doc.integer("/data/limit"), 3);
  EXPECT_EQ(doc.integer("/data/total"), 7);

  // Offsets count matching tasks only.
  res = list(R"({"status": "queued", "offset": 3, "limit": 2})");
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{ids[2], ids[1]}));
  EXPECT_EQ(json_doc(res.body).integer("/data/total"), 6);
  res = list(R"({"offset": 7})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(ids_of(res).empty());
  EXPECT_EQ(json_doc(res.body).integer("/data/total"), 7);
}

TEST_F(task_list_api_test, a_listing_reads_at_most_max_list_scan_ids) {
  const auto ids = enqueue("acme", static_cast<int>(max_scan) + 5);
  const auto res = list(R"({"limit": 2})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(ids_of(res), (std::vector<std::string>{ids[ids.size() - 1], ids[ids.size() - 2]}));
  EXPECT_EQ(json_doc(res.body).integer("/data/total"), static_cast<std::int64_t>(max_scan));
  EXPECT_NE(res.body.find("\"total_exact\": false"), std::string::npos) << res.body;
}

TEST_F(task_list_api_test, the_get_form_takes_the_same_filters_with_a_bearer_token) {
  const auto ids = enqueue("acme", 4);
  set_task(ids[1], {"status", "completed", "created_at", "1700000000000"});
  set_task(ids[2], {"status", "completed", "created_at", "1700000001000"});
  const auto posted =
      list(R"({"status": "completed", "created_from": "2023-11-14T22:13:20Z", "limit": 1})");
  const auto got =
      get("/api/v1.1/tasks/list?status=completed&created_from=2023-11-14T22%3A13%3A20Z&limit=1");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, posted.body);
  EXPECT_EQ(ids_of(got), (std::vector<std::string>{ids[2]}));
  EXPECT_EQ(json_doc(got.body).integer("/data/total"), 2);

  const auto all = get("/api/v1.1/tasks/list");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(ids_of(all).size(), 4u);
  EXPECT_EQ(get("/api/v1.1/tasks/list", "").status, 401);
  EXPECT_EQ(get("/api/v1.1/tasks/list", "wrong-token").status, 401);
  EXPECT_EQ(list("{}", "wrong-token").status, 401);
}

TEST_F(task_list_api_test, bad_filters_are_400_naming_the_field) {
  enqueue("acme");
  const std::pair<std::string, std::string> cases[] = {
      {R"({"status": "done"})", "status: must be one of queued"},
      {R"({"status": ""})", "status: must be one of queued"},
      {R"({"status": ["completed", 3]})", "status[1]: must be a string"},
      {R"({"status": ["completed", "finished"]})", "status[1]: must be one of queued"},
      {R"({"status": 7})", "status: must be a string or an array of strings"},
      {R"({"type": "No Such Type!"})", "type: must be a job type"},
      {R"({"created_from": "yesterday"})", "created_from: must be an ISO-8601 time"},
      {R"({"created_to": -5})", "created_to: must be an ISO-8601 time"},
      {R"({"created_to": "2023-02-30T00:00:00Z"})", "created_to: must be an ISO-8601 time"},
      {R"({"created_from": 2000, "created_to": 1000})", "created_to: earlier than created_from"},
      {R"({"offset": -1})", "offset: must be a non-negative integer"},
      {R"({"limit": 0})", "limit: must be an integer from 1 to 50"},
      {R"({"limit": 51})", "limit: must be an integer from 1 to 50"},
      {R"({"limit": "ten"})", "limit: must be an integer from 1 to 50"},
      {R"({"format": "xml"})", "format: only \"json\" is supported"},
      {R"({"task_id": "x"})", "task_id: unknown field; tasks/list takes token"},
  };
  for (const auto& [body, debug] : cases) {
    const auto res = list(body);
    EXPECT_EQ(res.status, 400) << body << ": " << res.body;
    EXPECT_EQ(herald::test::invalid_request_debug(res).rfind(debug, 0), 0u)
        << body << ": " << res.body;
  }
  const std::pair<std::string, std::string> queries[] = {
      {"status=done", "status: must be one of queued"},
      {"limit=abc", "limit: must be an integer from 1 to 50"},
      {"limit=5&limit=6", "limit: given more than once"},
      {"sort=asc", "sort: unknown field"},
      {"token=secret", "token: not taken in a query string"},
      {"created_from=2023-11-14T22:13:20%2B02:00&created_to=1", "created_to: earlier than"},
  };
  for (const auto& [query, debug] : queries) {
    const auto res = get("/api/v1.1/tasks/list?" + query);
    EXPECT_EQ(res.status, 400) << query << ": " << res.body;
    EXPECT_EQ(herald::test::invalid_request_debug(res).rfind(debug, 0), 0u)
        << query << ": " << res.body;
  }
}

TEST(common_time, parses_iso8601_and_milliseconds) {
  EXPECT_EQ(herald::parse_timestamp("1700000000000"), 1'700'000'000'000);
  EXPECT_EQ(herald::parse_timestamp("2023-11-14T22:13:20Z"), 1'700'000'000'000);
  EXPECT_EQ(herald::parse_timestamp("2023-11-14T22:13:20.250Z"), 1'700'000'000'250);
  EXPECT_EQ(herald::parse_timestamp("2023-11-15T03:43:20+05:30"), 1'700'000'000'000);
  EXPECT_EQ(herald::parse_timestamp("2023-11-14T17:13:20-0500"), 1'700'000'000'000);
  for (const char* bad : {"", "yesterday", "2023-13-01T00:00Z", "2023-11-14", "12ab", "-5",
                          "2023-11-14T22:13:20Zjunk", "99999999999999999999"})
    EXPECT_EQ(herald::parse_timestamp(bad), std::nullopt) << bad;
}

TEST_F(task_list_api_test, redis_down_is_503) {
  enqueue("acme");
  redis_.kill9();
  herald::test::expect_redis_unavailable(list("{}"));
}

}  // namespace
