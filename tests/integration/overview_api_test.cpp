// GET /api/v1.1/overview over real HTTP against a real redis-server: the queue's figures, the
// consumers and the providers every heraldd published, the providers' recent errors only for a
// valid token, and one reading of Redis answering every request within cache_ttl.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "herald/api/overview_routes.hpp"
#include "herald/delivery/provider_health.hpp"
#include "herald/queue/task_store.hpp"
#include "support/api_server.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/json_schema.hpp"

namespace {

using namespace std::chrono_literals;
using herald::test::http_response;
using herald::test::json_doc;

class overview_api_test : public herald::test::api_server_fixture {
 protected:
  overview_api_test() : api_server_fixture("herald-overview") {}

  void serve_overview(std::chrono::milliseconds cache_ttl) {
    start_client();
    store_ = std::make_unique<herald::queue::task_store>(*client_, herald::queue::queue_keys{});
    herald::http::router routes;
    herald::api::add_overview_routes(routes, *store_, *client_, *tokens_,
                                     {.prefix = "herald", .cache_ttl = cache_ttl});
    serve(std::move(routes));
  }

  http_response overview(const std::string& token = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return herald::test::http_request("127.0.0.1", port_, "GET", "/api/v1.1/overview", {}, headers);
  }

  void enqueue(int count) {
    for (int i = 0; i < count; ++i) {
      herald::queue::new_job job;
      job.type = "noop";
      job.account = "acme";
      job.body = "{}";
      on_io(store_->enqueue(std::move(job)));
    }
  }

  // A provider's status as a heraldd publishes it, `age_ms` ago.
  void publish(const std::string& name, const std::string& instance, std::int64_t age_ms) {
    herald::delivery::provider_status s;
    s.name = name;
    s.kind = herald::delivery::provider_kind::leadconverter_messages;
    s.state = herald::delivery::circuit_breaker::state::open;
    s.rate_per_s = 25;
    s.sent = 7;
    s.failed = 2;
    s.recent_errors = {"http_500: upstream down"};
    redis_.command({"HSET", herald::delivery::health_key("herald"), name + "@" + instance,
                    herald::delivery::status_json(s, instance, herald::queue::now_ms() - age_ms)});
  }

  void add_dead_letter() {
    redis_.command({"XADD", store_->keys().dead(), "*", "task_id", "t1", "reason", "test"});
  }

  std::unique_ptr<herald::queue::task_store> store_;
};

TEST_F(overview_api_test, shows_the_queue_consumers_and_providers) {
  serve_overview(0ms);
  redis_.command({"XGROUP", "CREATE", store_->keys().jobs(), "workers", "0", "MKSTREAM"});
  enqueue(3);
  // A consumer takes one job and does not acknowledge it.
  redis_.command({"XREADGROUP", "GROUP", "workers", "heraldd-a", "COUNT", "1", "STREAMS",
                  store_->keys().jobs(), ">"});
  redis_.command({"ZADD", store_->keys().delayed(), "9999999999999", "later"});
  add_dead_letter();
  add_dead_letter();
  publish("lc", "heraldd-a", 1000);
  publish("gone", "heraldd-old", 60'000);  // stopped long ago: not shown

  const auto res = overview();
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("Content-Type"), "application/json");
  EXPECT_EQ(res.header("Cache-Control"), "no-store");
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 0);
  EXPECT_EQ(doc.str("/data/queue/stream"), store_->keys().jobs());
  EXPECT_EQ(doc.integer("/data/queue/length"), 3);
  EXPECT_EQ(doc.integer("/data/queue/waiting"), 2);
  EXPECT_EQ(doc.integer("/data/queue/pending"), 1);
  EXPECT_EQ(doc.integer("/data/queue/delayed"), 1);
  EXPECT_EQ(doc.integer("/data/queue/dead"), 2);
  EXPECT_EQ(doc.integer("/data/queue/consumers"), 1);
  ASSERT_EQ(doc.array_size("/data/consumers"), 1u);
  EXPECT_EQ(doc.str("/data/consumers/0/name"), "heraldd-a");
  EXPECT_EQ(doc.integer("/data/consumers/0/pending"), 1);
  EXPECT_TRUE(doc.has("/data/consumers/0/idle_ms"));
  ASSERT_EQ(doc.array_size("/data/providers"), 1u) << res.body;
  EXPECT_EQ(doc.str("/data/providers/0/name"), "lc");
  EXPECT_EQ(doc.str("/data/providers/0/kind"), "leadconverter_messages");
  EXPECT_EQ(doc.str("/data/providers/0/instance"), "heraldd-a");
  EXPECT_EQ(doc.str("/data/providers/0/state"), "open");
  EXPECT_EQ(doc.integer("/data/providers/0/sent"), 7);
  EXPECT_EQ(doc.integer("/data/providers/0/failed"), 2);
  EXPECT_TRUE(doc.has("/data/generated_at"));
  // Without a token, no provider's words.
  EXPECT_EQ(doc.array_size("/data/providers/0/recent_errors"), 0u);
  EXPECT_NE(res.body.find("\"recent_errors_shown\": false"), std::string::npos) << res.body;
  EXPECT_EQ(res.body.find("upstream down"), std::string::npos);

  const auto with_token = overview(acme_token);
  ASSERT_EQ(with_token.status, 200) << with_token.body;
  const json_doc full(with_token.body);
  ASSERT_EQ(full.array_size("/data/providers/0/recent_errors"), 1u);
  EXPECT_EQ(full.str("/data/providers/0/recent_errors/0"), "http_500: upstream down");
  EXPECT_NE(with_token.body.find("\"recent_errors_shown\": true"), std::string::npos);
  // Both replies match the contract's schema.
  std::ofstream(dir_ / "anonymous.json") << res.body;
  std::ofstream(dir_ / "with-token.json") << with_token.body;
  const auto [code, complaints] =
      herald::test::validate_json(herald::test::proto_dir() / "schemas/overview.schema.json",
                                  {dir_ / "anonymous.json", dir_ / "with-token.json"});
  EXPECT_EQ(code, 0) << complaints;

  herald::test::expect_unauthorized(overview("not-a-token"), "not-a-token");
}

TEST_F(overview_api_test, before_any_heraldd_the_figures_are_zero) {
  serve_overview(0ms);
  const auto res = overview();
  ASSERT_EQ(res.status, 200) << res.body;
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/data/queue/length"), 0);
  EXPECT_EQ(doc.integer("/data/queue/dead"), 0);
  EXPECT_EQ(doc.array_size("/data/consumers"), 0u);
  EXPECT_EQ(doc.array_size("/data/providers"), 0u);
}

TEST_F(overview_api_test, one_reading_answers_every_request_within_cache_ttl) {
  serve_overview(1h);
  add_dead_letter();
  const auto first = overview();
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(json_doc(first.body).integer("/data/queue/dead"), 1);
  add_dead_letter();
  publish("lc", "heraldd-a", 0);
  // Still the first reading, with and without a token.
  const auto second = overview();
  EXPECT_EQ(second.body, first.body);
  const auto with_token = overview(acme_token);
  ASSERT_EQ(with_token.status, 200);
  EXPECT_EQ(json_doc(with_token.body).integer("/data/queue/dead"), 1);
  EXPECT_EQ(json_doc(with_token.body).array_size("/data/providers"), 0u);
}

TEST_F(overview_api_test, a_new_reading_once_the_last_is_older_than_cache_ttl) {
  serve_overview(0ms);
  add_dead_letter();
  EXPECT_EQ(json_doc(overview().body).integer("/data/queue/dead"), 1);
  add_dead_letter();
  EXPECT_EQ(json_doc(overview().body).integer("/data/queue/dead"), 2);
}

TEST_F(overview_api_test, redis_down_is_503) {
  serve_overview(0ms);
  redis_.kill9();
  herald::test::expect_redis_unavailable(overview());
}

}  // namespace
