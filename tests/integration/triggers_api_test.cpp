// The trigger routes over real HTTP on loopback against a real redis-server: add, update, get,
// list and delete with their reply shapes, bad triggers refused with the field (and a template
// fault's position), versions, and accounts kept apart (another account's trigger answers
// byte for byte like an unknown one).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "herald/api/trigger_routes.hpp"
#include "herald/triggers/store.hpp"
#include "support/api_server.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"

namespace {

using herald::test::http_response;
using herald::test::json_doc;

const std::string base = "/api/v1.1/campaigns/triggers/";

std::string trigger_json(int id, const std::string& text, const std::string& provider = "lc") {
  return R"({"id": )" + std::to_string(id) + R"(, "name": "welcome", "channel": "leadconverter",
             "provider": ")"
         + provider + R"(", "message": {"text": ")" + text + R"("}})";
}

class triggers_api_test : public herald::test::api_server_fixture {
 protected:
  triggers_api_test() : api_server_fixture("herald-triggers-api") {}

  void SetUp() override {
    start_client();
    store_ = std::make_unique<herald::triggers::trigger_store>(*client_);
    herald::http::router routes;
    herald::api::trigger_routes_config cfg;
    cfg.providers = [] {
      return herald::triggers::provider_kinds{{"lc", "leadconverter_messages"},
                                              {"tg", "chatbot_telegram"}};
    };
    herald::api::add_trigger_routes(routes, *store_, *tokens_, cfg);
    serve(std::move(routes));
  }

  http_response call(const std::string& route, const std::string& fields,
                     const std::string& token = acme_token) {
    std::string body = "{\"token\": \"" + token + "\"";
    if (!fields.empty()) body += ", " + fields;
    body += "}";
    return post(base + route, body);
  }

  http_response add(int id, const std::string& text, const std::string& token = acme_token) {
    return call("add", "\"trigger\": " + trigger_json(id, text), token);
  }

  std::unique_ptr<herald::triggers::trigger_store> store_;
};

TEST_F(triggers_api_test, AddGetUpdateListDelete) {
  auto r = add(7, "Hi {lead._fname}");
  ASSERT_EQ(r.status, 200) << r.body;
  json_doc added(r.body);
  EXPECT_EQ(added.integer("/error"), 0);
  EXPECT_EQ(added.str("/error_text"), "Successful operation");
  EXPECT_EQ(added.integer("/trigger/id"), 7);
  EXPECT_EQ(added.integer("/trigger/version"), 1);
  EXPECT_EQ(added.str("/trigger/message/text"), "Hi {lead._fname}");
  EXPECT_GT(added.integer("/trigger/created_at"), 1'600'000'000);

  auto again = add(7, "x");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(json_doc(again.body).integer("/error"), 409);

  auto u = call("update", "\"trigger\": " + trigger_json(7, "v2"));
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(json_doc(u.body).integer("/trigger/version"), 2);

  auto g = call("get", R"("id": 7)");
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(json_doc(g.body).str("/trigger/message/text"), "v2");
  auto g1 = call("get", R"("id": "7", "version": 1)");
  ASSERT_EQ(g1.status, 200) << g1.body;
  EXPECT_EQ(json_doc(g1.body).str("/trigger/message/text"), "Hi {lead._fname}");

  ASSERT_EQ(add(3, "three").status, 200);
  auto l = call("list", "");
  ASSERT_EQ(l.status, 200) << l.body;
  json_doc list(l.body);
  ASSERT_EQ(list.array_size("/triggers"), 2u);
  EXPECT_EQ(list.integer("/triggers/0/id"), 3);
  EXPECT_EQ(list.integer("/triggers/1/version"), 2);

  auto d = call("delete", R"("id": 7)");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(
      d.body,
      R"({"error": 0, "error_text": "Successful operation", "trigger": {"id": 7, "deleted": true}})");
  EXPECT_EQ(call("get", R"("id": 7)").status, 404);
  EXPECT_EQ(call("get", R"("id": 7, "version": 1)").status, 404);
  EXPECT_EQ(call("delete", R"("id": 7)").status, 404);
  EXPECT_EQ(json_doc(call("list", "").body).array_size("/triggers"), 1u);
}

TEST_F(triggers_api_test, BadTriggersRefusedWithTheField) {
  auto r = add(1, "Hello {lead.x | uper}");
  ASSERT_EQ(r.status, 400) << r.body;
  auto debug = herald::test::invalid_request_debug(r);
  EXPECT_EQ(debug.rfind("message.text: line 1, column 17: unknown filter `uper`", 0), 0u) << debug;

  auto unknown_provider = call("add", "\"trigger\": " + trigger_json(1, "x", "nope"));
  EXPECT_EQ(herald::test::invalid_request_debug(unknown_provider)
                .rfind("provider: \"nope\" is not a configured provider", 0),
            0u);
  auto misfit = call("add", R"("trigger": {"id": 1, "name": "n", "channel": "sms", "provider": "tg",
                                           "message": {"text": "x"}})");
  EXPECT_EQ(herald::test::invalid_request_debug(misfit),
            "provider: \"tg\" is a chatbot_telegram provider, which cannot deliver to channel sms");
  EXPECT_EQ(herald::test::invalid_request_debug(call("add", R"("trigger": {"id": 1})")),
            "name: required");
  EXPECT_EQ(herald::test::invalid_request_debug(call("add", "")),
            "trigger: required (the trigger's definition, an object)");
  EXPECT_EQ(herald::test::invalid_request_debug(call("get", "")), "id: required");
  EXPECT_EQ(herald::test::invalid_request_debug(call("get", R"("id": -1)")),
            "id: must be a positive integer");
  EXPECT_EQ(herald::test::invalid_request_debug(call("list", R"("db": 1)")),
            "db: unknown field; triggers/list takes token");
  // Nothing was written by any of them.
  EXPECT_EQ(json_doc(call("list", "").body).array_size("/triggers"), 0u);
  // A bad update leaves the trigger as it was.
  ASSERT_EQ(add(2, "fine").status, 200);
  EXPECT_EQ(call("update", "\"trigger\": " + trigger_json(2, "{bad.root}")).status, 400);
  EXPECT_EQ(json_doc(call("get", R"("id": 2)").body).integer("/trigger/version"), 1);
}

TEST_F(triggers_api_test, TokensRequired) {
  auto r = post(base + "list", "{}");
  herald::test::expect_unauthorized(r, "no-token-was-given");
  herald::test::expect_unauthorized(call("list", "", "wrong-token"), "wrong-token");
  // Bearer works as the body's token does.
  auto bearer = post(base + "list", "{}", {{"Authorization", std::string("Bearer ") + acme_token}});
  EXPECT_EQ(bearer.status, 200) << bearer.body;
}

TEST_F(triggers_api_test, AnotherAccountsTriggerIsNotFound) {
  ASSERT_EQ(add(5, "acme's").status, 200);
  // globex sees nothing of it, and each refusal is the unknown trigger's, byte for byte.
  const auto unknown_get = call("get", R"("id": 999)", globex_token);
  ASSERT_EQ(unknown_get.status, 404);
  const auto foreign_get = call("get", R"("id": 5)", globex_token);
  EXPECT_EQ(foreign_get.status, 404);
  EXPECT_EQ(foreign_get.body, unknown_get.body);
  EXPECT_EQ(json_doc(call("list", "", globex_token).body).array_size("/triggers"), 0u);
  const auto foreign_update =
      call("update", "\"trigger\": " + trigger_json(5, "globex's"), globex_token);
  const auto unknown_update =
      call("update", "\"trigger\": " + trigger_json(999, "globex's"), globex_token);
  EXPECT_EQ(foreign_update.status, 404);
  EXPECT_EQ(foreign_update.body, unknown_update.body);
  const auto foreign_delete = call("delete", R"("id": 5)", globex_token);
  EXPECT_EQ(foreign_delete.status, 404);
  EXPECT_EQ(foreign_delete.body, call("delete", R"("id": 999)", globex_token).body);
  // acme's trigger is untouched.
  auto mine = json_doc(call("get", R"("id": 5)").body);
  EXPECT_EQ(mine.str("/trigger/message/text"), "acme's");
  EXPECT_EQ(mine.integer("/trigger/version"), 1);
  // globex may have its own trigger 5; acme's stays its own.
  ASSERT_EQ(add(5, "globex's", globex_token).status, 200);
  EXPECT_EQ(json_doc(call("get", R"("id": 5)").body).str("/trigger/message/text"), "acme's");
}

TEST_F(triggers_api_test, RedisDownAnswers503) {
  redis_.kill9();
  herald::test::expect_redis_unavailable(call("list", ""));
}

}  // namespace
