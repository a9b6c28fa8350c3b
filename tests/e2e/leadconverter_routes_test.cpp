// The LeadConverter-compatible routes through the built heraldd, on a real redis-server, to a
// fake LeadConverter on loopback: a broadcasting.sendMessageBatch call with the seed's bracketed
// query string (Cyrillic percent-encoded) is delivered to the provider as the seed's batch, a
// bot.startWithVariables form reaches the fake's bot endpoint with its variables, and heraldd's
// log shows the paths with the token written *** (and never the token).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "herald/auth/tokens.hpp"
#include "support/fake_providers.hpp"
#include "support/heraldd.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/secrets.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

constexpr auto api_token = "lc-route-token-3f9a1c";
constexpr auto lc_token = "lc-provider-token-88e2";

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

class LeadConverterRoutes : public ::testing::Test {
 protected:
  LeadConverterRoutes() : dir_("herald-lc-routes-e2e") {
    secret(api_token);
    std::ofstream(dir_ / "tokens") << "acme " << auth::hash_token_hex(api_token) << "\n";
    // One provider of each LeadConverter kind and no api_*_provider keys: each route takes the
    // only provider of its kind.
    heraldd_.emplace(heraldd_process::options{
        .redis_url = redis_.url(),
        .extra_env = {"HERALD_TOKENS_FILE=" + (dir_ / "tokens").string(), "HERALD_LOG_LEVEL=debug",
                      "HERALD_PROVIDER_LC_KIND=leadconverter_messages",
                      "HERALD_PROVIDER_LC_BASE_URL=" + lc_.base_url(),
                      std::string("HERALD_PROVIDER_LC_TOKEN=") + lc_token,
                      "HERALD_PROVIDER_LC_LINGER_MS=20",
                      "HERALD_PROVIDER_LCBOT_KIND=leadconverter_bot",
                      "HERALD_PROVIDER_LCBOT_BASE_URL=" + lc_.base_url(),
                      std::string("HERALD_PROVIDER_LCBOT_TOKEN=") + lc_token},
        .extra_args = {},
        .wait_until_listening = true});
  }
  ~LeadConverterRoutes() override {
    EXPECT_EQ(heraldd_->terminate(), 0) << heraldd_->log();
    const auto log = heraldd_->log();
    for (const char* s : {api_token, lc_token})
      EXPECT_FALSE(contains(log, s)) << s << " in the log:\n" << log;
  }

  http_response post(const std::string& target, const std::string& body = {},
                     const std::string& type = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!type.empty()) headers.emplace_back("Content-Type", type);
    return http_request("127.0.0.1", heraldd_->port(), "POST", target, body, headers, 30s);
  }

  // Waits until the task has ended; its status reply.
  json_doc finished(const std::string& task_id) {
    std::string body;
    EXPECT_TRUE(wait_until(
        [&] {
          auto r = heraldd_->get("/tasks/status?task_id=" + task_id,
                                 {{"Authorization", std::string("Bearer ") + api_token}});
          body = r.body;
          if (r.status != 200) return false;
          auto status = json_doc(r.body).str("/data/status");
          return status != "queued" && status != "processing";
        },
        20s))
        << body << heraldd_->log();
    return json_doc(body);
  }

  temp_dir dir_;
  redis_server redis_;
  fake_leadconverter lc_{lc_token};
  std::optional<heraldd_process> heraldd_;
};

TEST_F(LeadConverterRoutes, the_seeds_query_string_is_delivered_to_leadconverter) {
  const std::string target =
      std::string("/api/v1/") + api_token
      + "/broadcasting.sendMessageBatch?batch[0][subscriber_id]=7365"
        "&batch[0][file_uuid]=db0227be-c7c7-484e-8fa4-de9bcfd4723f&batch[1][subscriber_id]=7366"
        "&batch[1][text]=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82%2C+%D0%BC%D0%B8%D1%80";
  auto r = post(target);
  ASSERT_EQ(r.status, 200) << r.body << heraldd_->log();
  json_doc reply(r.body);
  EXPECT_EQ(reply.str("/result"), "ok");
  const auto task_id = reply.str("/task_id");

  auto status = finished(task_id);
  EXPECT_EQ(status.str("/data/status"), "completed");
  EXPECT_EQ(status.integer("/data/sent"), 2);
  ASSERT_TRUE(wait_until([&] { return lc_.delivered() >= 2; }, 10s));
  std::map<std::string, fake_delivery> by_subscriber;
  for (auto& d : lc_.deliveries()) by_subscriber[d.key] = d;
  ASSERT_EQ(by_subscriber.size(), 2u);
  EXPECT_EQ(by_subscriber["7365"].fields["file_uuid"], "db0227be-c7c7-484e-8fa4-de9bcfd4723f");
  EXPECT_EQ(by_subscriber["7366"].text, "Привет, мир");
  EXPECT_EQ(lc_.refused(), 0u);

  // The access log shows the route with its token hidden, and the query string not at all.
  const auto log = heraldd_->log();
  EXPECT_TRUE(contains(log, "POST /api/v1/***/broadcasting.sendMessageBatch 200")) << log;
  EXPECT_FALSE(contains(log, "batch[0]")) << log;
}

TEST_F(LeadConverterRoutes, a_bot_start_reaches_the_bot_endpoint_with_its_variables) {
  auto r = post(std::string("/api/v1/") + api_token + "/bot.startWithVariables",
                "subscriber_id=7365&bot_id=12&variable%5Bvar_1%5D=qwe&variable%5Bvar_2%5D=123"
                "&variable%5B%D0%B8%D0%BC%D1%8F%5D=%D0%98%D0%B2%D0%B0%D0%BD&forced=true",
                "application/x-www-form-urlencoded");
  ASSERT_EQ(r.status, 200) << r.body << heraldd_->log();
  auto status = finished(json_doc(r.body).str("/task_id"));
  EXPECT_EQ(status.str("/data/status"), "completed");
  EXPECT_EQ(status.integer("/data/sent"), 1);
  ASSERT_TRUE(wait_until([&] { return lc_.delivered() >= 1; }, 10s));
  auto d = lc_.deliveries().at(0);
  EXPECT_EQ(d.key, "7365");
  EXPECT_EQ(d.fields["bot_id"], "12");
  EXPECT_EQ(d.fields["forced"], "true");
  EXPECT_EQ(d.fields["variable.var_1"], "qwe");
  EXPECT_EQ(d.fields["variable.var_2"], "123");
  EXPECT_EQ(d.fields["variable.имя"], "Иван");
  EXPECT_TRUE(contains(heraldd_->log(), "POST /api/v1/***/bot.startWithVariables 200"));
}

TEST_F(LeadConverterRoutes, an_unknown_token_is_refused_and_not_logged) {
  const std::string wrong = secret("not-a-token-e41b");
  auto r = post("/api/v1/" + wrong + "/broadcasting.sendMessageBatch",
                R"({"batch": [{"subscriber_id": 1, "text": "x"}]})", "application/json");
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(json_doc(r.body).str("/code"), "invalid_token");
  EXPECT_FALSE(contains(r.body, wrong));
  const auto log = heraldd_->log();
  EXPECT_TRUE(contains(log, "POST /api/v1/***/broadcasting.sendMessageBatch 401")) << log;
  EXPECT_FALSE(contains(log, wrong)) << log;
  EXPECT_EQ(lc_.calls(), 0u);
}

TEST(LeadConverterRoutesConfig, a_route_provider_of_the_wrong_kind_stops_heraldd) {
  temp_dir dir("herald-lc-conf");
  auto conf = dir / "heraldd.conf";
  std::ofstream(conf) << "http_listen = 127.0.0.1:0\napi_bot_provider = lc\n[provider.lc]\n"
                         "kind = leadconverter_messages\nbase_url = https://lc.example\n"
                         "token = t0k3n-lc\n";
  const std::string expected =
      "api_bot_provider: provider \"lc\" is of kind leadconverter_messages; this route needs a "
      "leadconverter_bot provider";
  child_process check({HERALD_HERALDD, "--config", conf.string(), "--check-config"}, {},
                      dir / "check.log");
  EXPECT_EQ(check.wait_for(10s), 2) << check.log();
  EXPECT_TRUE(contains(check.log(), expected)) << check.log();
  child_process run(
      {HERALD_HERALDD, "--config", conf.string(), "--redis-url", "redis://127.0.0.1:1"}, {},
      dir / "run.log");
  EXPECT_EQ(run.wait_for(10s), 2) << run.log();
  EXPECT_TRUE(contains(run.log(), expected)) << run.log();
  EXPECT_FALSE(contains(run.log() + check.log(), "t0k3n-lc"));
}

}  // namespace
}  // namespace herald::test
