// POST /api/v1.1/profiles/get over real HTTP on loopback against a real redis-server: a profile
// found by each kind of key, the reply's shape (validated against
// proto/schemas/profile.schema.json), accounts and databases kept apart, and every refusal naming
// what is wrong.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <simdjson.h>
#include <boost/asio/awaitable.hpp>

#include "herald/api/profile_routes.hpp"
#include "herald/profiles/store.hpp"
#include "support/api_server.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/json_schema.hpp"

namespace {

namespace asio = boost::asio;
namespace profiles = herald::profiles;
using herald::test::http_response;
using herald::test::json_doc;

// The fixture's tokens: "secret" is acme's (acme_token), "s3cr3t-token" globex's (globex_token).
constexpr auto route = "/api/v1.1/profiles/get";

profiles::subscription subscription(profiles::channel ch, std::int64_t resource_id) {
  profiles::subscription s;
  s.ch = ch;
  s.resource_id = resource_id;
  return s;
}

class profiles_api_test : public herald::test::api_server_fixture {
 protected:
  profiles_api_test() : api_server_fixture("herald-profiles-api") {}

  void SetUp() override {
    start_client();
    herald::http::router routes;
    herald::api::add_profile_routes(routes, *client_, *tokens_, {.prefix = "herald"});
    serve(std::move(routes));
  }

  // Stores `p` (a new id unless it has one) in the account's database, as an import would.
  std::string create(const std::string& account, std::int64_t db_id, profiles::profile p) {
    if (p.id.empty()) p.id = profiles::new_profile_id();
    p.created_at = p.updated_at = 1'763'870'000'000;
    auto write = [this, account, db_id, p]() -> asio::awaitable<profiles::write_result> {
      profiles::profile_store store(*client_, profiles::profile_keys("herald", account, db_id));
      co_return co_await store.create(p, {});
    };
    const auto result = on_io(write());
    EXPECT_TRUE(result.ok) << result.conflict;
    return p.id;
  }

  // acme's John, in its database 1: every kind of key finds him.
  std::string create_john(const std::string& account = "acme", std::int64_t db_id = 1) {
    profiles::profile p;
    p.fields = {{"_fname", std::string("John")},
                {"email", std::string("john@example.com")},
                {"phones", profiles::tag_list{"+79000000000"}},
                {"CRM_ID", std::string("0002")},
                {"visits", std::int64_t{3}},
                {"interests", profiles::tag_list{"books", "music"}}};
    auto email = subscription(profiles::channel::email, 1);
    email.email = "john.work@example.com";
    auto sms = subscription(profiles::channel::sms, 1);
    sms.phone = "+79000000009";
    auto bot = subscription(profiles::channel::telegram_bot, 2);
    bot.status = profiles::subscription_status::blocked;
    bot.cc_id = "42";
    auto push = subscription(profiles::channel::push, 3);
    push.provider = "fcm";
    push.subscription_id = "c9f2-77aa";
    p.subscriptions = {email, sms, bot, push};
    return create(account, db_id, std::move(p));
  }

  http_response post(const std::string& body,
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    return api_server_fixture::post(route, body, std::move(headers));
  }

  // The profile_id of a 200 reply to the lookup `keys` (JSON members without braces), with
  // acme's token; "" (and a failure) when the reply is not a profile.
  std::string found_id(const std::string& keys, const std::string& token = acme_token) {
    const auto res = post(R"({"token": ")" + token + "\", " + keys + "}");
    EXPECT_EQ(res.status, 200) << keys << ": " << res.body;
    if (res.status != 200) return {};
    return json_doc(res.body).str("/profile/profile_id");
  }

  // The error_debug of a 400 reply.
  std::string debug_of(const std::string& body) {
    return herald::test::invalid_request_debug(post(body));
  }
};

TEST_F(profiles_api_test, finds_a_profile_by_email_with_the_documented_reply) {
  const auto id = create_john();
  const auto res = post(R"({"token": "secret", "email": " John@Example.COM "})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("Content-Type"), "application/json");
  const json_doc doc(res.body);
  EXPECT_EQ(doc.integer("/error"), 0);
  EXPECT_EQ(doc.str("/error_text"), "Successful operation");
  EXPECT_EQ(doc.str("/profile/profile_id"), id);
  EXPECT_EQ(doc.integer("/profile/db_id"), 1);
  EXPECT_EQ(doc.str("/profile/created_at"), "2025-11-23T03:53:20.000Z");
  EXPECT_EQ(doc.str("/profile/fields/_fname"), "John");
  EXPECT_EQ(doc.str("/profile/fields/email"), "john@example.com");
  EXPECT_EQ(doc.str("/profile/fields/phones/0"), "+79000000000");
  EXPECT_EQ(doc.integer("/profile/fields/visits"), 3);
  EXPECT_EQ(doc.array_size("/profile/fields/interests"), 2u);
  ASSERT_EQ(doc.array_size("/profile/subscriptions"), 4u);
  EXPECT_EQ(doc.str("/profile/subscriptions/2/channel"), "telegram_bot");
  EXPECT_EQ(doc.str("/profile/subscriptions/2/status"), "blocked");
  EXPECT_EQ(doc.str("/profile/subscriptions/2/cc_data/id"), "42");

  // The same with the token as a Bearer header.
  const auto bearer = post(R"({"email": "john@example.com"})",
                           {{"Authorization", std::string("Bearer ") + acme_token}});
  EXPECT_EQ(bearer.status, 200);
  EXPECT_EQ(bearer.body, res.body);

  // The profile the route really sends matches the contract's schema.
  {
    simdjson::dom::parser parser;
    simdjson::dom::element profile;
    ASSERT_EQ(parser.parse(res.body).at_pointer("/profile").get(profile), simdjson::SUCCESS);
    std::ofstream(dir_ / "profile.json") << simdjson::minify(profile);
  }
  const auto [code, complaints] = herald::test::validate_json(
      herald::test::proto_dir() / "schemas/profile.schema.json", {dir_ / "profile.json"});
  EXPECT_EQ(code, 0) << complaints;
}

TEST_F(profiles_api_test, finds_it_by_every_kind_of_key) {
  const auto id = create_john();
  // email: the profile's email or an email subscription's.
  EXPECT_EQ(found_id(R"("email": "john.work@example.com")"), id);
  EXPECT_EQ(found_id(R"("matching": "email_sub", "email": "john.work@example.com")"), id);
  EXPECT_EQ(found_id(R"("matching": "email_profile", "email": "john@example.com")"), id);
  EXPECT_EQ(found_id(R"("format": "json", "email": "john@example.com")"), id);
  // phone: its phones (written any common way) or an sms subscription's.
  EXPECT_EQ(found_id(R"("matching": "phone", "phone": "+7 (900) 000-00-00")"), id);
  EXPECT_EQ(found_id(R"("matching": "phone", "phone": 79000000009)"), id);
  EXPECT_EQ(found_id(R"("matching": "phone_sub", "phone": "+79000000009")"), id);
  EXPECT_EQ(found_id(R"("matching": "email_phone", "phone": "+79000000000")"), id);
  EXPECT_EQ(found_id(R"("matching": "profile_id", "profile_id": ")" + id + "\""), id);
  // custom: a field's value (a number as JSON writes it), or every tag given.
  EXPECT_EQ(found_id(R"("matching": "custom", "field_name": "CRM_ID", "field_value": "0002")"), id);
  EXPECT_EQ(found_id(R"("matching": "custom", "field_name": "visits", "field_value": 3)"), id);
  EXPECT_EQ(
      found_id(R"("matching": "custom", "field_name": "interests", "field_value": "music, books")"),
      id);
  // subscriptions by their address, in any resource or in theirs.
  EXPECT_EQ(found_id(R"("matching": "push_sub", "subscription_id": "c9f2-77aa")"), id);
  EXPECT_EQ(found_id(R"("matching": "custom_sub", "channel": "telegram_bot", "id": 42)"), id);
  EXPECT_EQ(
      found_id(
          R"("matching": "custom_sub", "channel": "telegram_bot", "id": "42", "resource_id": 2)"),
      id);
  EXPECT_EQ(found_id(R"("db_id": 1, "matching": "email_sub", "email": "john.work@example.com",
                        "resource_id": 1)"),
            id);
}

TEST_F(profiles_api_test, what_matches_nothing_is_404) {
  create_john();
  const auto unknown = post(R"({"token": "secret", "email": "nobody@example.com"})");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  const json_doc doc(unknown.body);
  EXPECT_EQ(doc.integer("/error"), 404);
  EXPECT_EQ(doc.str("/error_text"), "Profile not found");
  EXPECT_TRUE(doc.str("/error_debug").starts_with("profile: ")) << unknown.body;
  EXPECT_FALSE(doc.has("/profile"));

  // Every miss answers the same, whatever the mode or the database.
  for (const std::string keys : {
           R"("matching": "profile_id", "profile_id": "000000000000000000000000")",
           R"("db_id": 2, "email": "john@example.com")",
           R"("matching": "custom", "field_name": "interests", "field_value": "books, cars")",
           R"("matching": "custom", "field_name": "CRM_ID", "field_value": "0003")",
           R"("matching": "email_profile", "email": "john.work@example.com")",
           R"("matching": "email_sub", "email": "john.work@example.com", "resource_id": 9)",
           R"("matching": "custom_sub", "channel": "telegram_bot", "id": "42", "resource_id": 1)",
           R"("matching": "custom_sub", "channel": "leadconverter", "id": "42")",
       }) {
    const auto res = post(R"({"token": "secret", )" + keys + "}");
    EXPECT_EQ(res.status, 404) << keys;
    EXPECT_EQ(res.body, unknown.body) << keys;
  }
}

TEST_F(profiles_api_test, another_accounts_profile_answers_exactly_like_a_missing_one) {
  const auto acme_john = create_john("acme");
  const auto missing = post(R"({"token": "s3cr3t-token", "email": "nobody@example.com"})");
  ASSERT_EQ(missing.status, 404);

  // globex asks for acme's John by each key: nothing.
  for (const std::string& keys : {
           std::string(R"("email": "john@example.com")"),
           R"("matching": "profile_id", "profile_id": ")" + acme_john + "\"",
           std::string(R"("matching": "custom", "field_name": "CRM_ID", "field_value": "0002")"),
       }) {
    const auto res = post(R"({"token": "s3cr3t-token", )" + keys + "}");
    EXPECT_EQ(res.status, 404) << keys;
    EXPECT_EQ(res.body, missing.body) << keys;
    EXPECT_EQ(res.headers, missing.headers) << keys;
  }
  const auto bearer = post(R"({"email": "john@example.com"})",
                           {{"Authorization", std::string("Bearer ") + globex_token}});
  EXPECT_EQ(bearer.body, missing.body);

  // Its own John, with the same email, is its own; acme still finds its one.
  const auto globex_john = create_john("globex");
  EXPECT_EQ(found_id(R"("email": "john@example.com")", globex_token), globex_john);
  EXPECT_EQ(found_id(R"("email": "john@example.com")", acme_token), acme_john);
  EXPECT_NE(acme_john, globex_john);
}

TEST_F(profiles_api_test, each_database_is_its_own) {
  const auto first = create_john("acme", 1);
  const auto second = create_john("acme", 2);
  EXPECT_EQ(found_id(R"("email": "john@example.com")"), first);
  EXPECT_EQ(found_id(R"("db_id": 2, "email": "john@example.com")"), second);
  EXPECT_EQ(json_doc(post(R"({"token": "secret", "db_id": 2, "email": "john@example.com"})").body)
                .integer("/profile/db_id"),
            2);
}

TEST_F(profiles_api_test, a_missing_or_wrong_token_is_401_and_never_echoed) {
  create_john();
  const std::vector<http_response> replies{
      post(R"({"email": "john@example.com"})"),
      post(R"({"token": "not-a-real-token", "email": "john@example.com"})"),
      post(R"({"token": "", "email": "john@example.com"})"),
      post(R"({"email": "john@example.com"})", {{"Authorization", "Bearer not-a-real-token"}}),
      post(R"({"email": "john@example.com"})", {{"Authorization", "Basic c2VjcmV0"}}),
  };
  for (const auto& res : replies) {
    herald::test::expect_unauthorized(res, "not-a-real-token");
    EXPECT_FALSE(json_doc(res.body).has("/profile"));
  }
}

TEST_F(profiles_api_test, bad_input_is_400_naming_the_field) {
  create_john();
  EXPECT_TRUE(debug_of(R"({"token": )").starts_with("body: not valid JSON"));
  EXPECT_EQ(debug_of("[1]"), "body: expected a JSON object");
  EXPECT_EQ(debug_of(R"({"token": 5, "email": "john@example.com"})"), "token: must be a string");

  const std::string t = R"({"token": "secret", )";
  // matching: an unknown mode lists the valid ones.
  EXPECT_EQ(debug_of(t + R"("matching": "fuzzy", "email": "john@example.com"})"),
            "matching: unknown mode \"fuzzy\"; one of email, email_profile, email_sub, phone, "
            "phone_sub, profile_id, push_sub, custom, custom_sub, email_phone, email_phone_sub");
  EXPECT_EQ(debug_of(t + R"("matching": 1, "email": "john@example.com"})"),
            "matching: must be a string");
  // The key the mode needs.
  EXPECT_EQ(debug_of(t + R"("phone": "+79000000000"})"),
            "email: required by matching \"email\" (the default; \"matching\" looks up by "
            "another key)");
  EXPECT_EQ(debug_of(t + R"("matching": "phone", "email": "john@example.com"})"),
            "phone: required by matching \"phone\"");
  EXPECT_EQ(debug_of(t + R"("matching": "custom", "field_value": "0002"})"),
            "field_name: required by matching \"custom\"");
  EXPECT_EQ(debug_of(t + R"("matching": "custom", "field_name": "CRM_ID"})"),
            "field_value: required by matching \"custom\"");
  EXPECT_EQ(debug_of(t + R"("matching": "custom_sub", "channel": "telegram_bot"})"),
            "id: required by matching \"custom_sub\"");
  EXPECT_EQ(debug_of(t + R"("matching": "email_phone"})"),
            "email or phone: required by matching \"email_phone\"");
  // Keys that are not what they should be.
  EXPECT_EQ(debug_of(t + R"("email": "john.example.com"})"),
            "email: \"john.example.com\" is not a valid email address");
  EXPECT_EQ(debug_of(t + R"("email": 42})"), "email: must be a string");
  EXPECT_EQ(debug_of(t + R"("matching": "phone", "phone": "12-34"})"),
            "phone: \"12-34\" is not a phone number (+ and 10 to 15 digits)");
  EXPECT_EQ(debug_of(t + R"("matching": "phone", "phone": ["+79000000000"]})"),
            "phone: must be a string or an integer");
  EXPECT_EQ(debug_of(t + R"("matching": "profile_id", "profile_id": "../p"})"),
            "profile_id: must be 24 lowercase hex characters");
  EXPECT_EQ(debug_of(t + R"("matching": "custom_sub", "channel": "fax", "id": "1"})"),
            "channel: unknown channel \"fax\"; one of email, sms (or phone), push, telegram_bot, "
            "leadconverter");
  EXPECT_TRUE(debug_of(t + R"("matching": "custom", "field_name": "email", "field_value": "x"})")
                  .starts_with("field_name: \"email\" is not a custom field"));
  EXPECT_EQ(debug_of(t + R"("matching": "custom", "field_name": "tags", "field_value": {}})"),
            "field_value: must be a string, a number or a bool");
  // db_id and resource_id.
  for (const std::string db : {"0", "-1", "1.5", "\"1\"", "true", "9223372036854775808"}) {
    EXPECT_EQ(debug_of(t + R"("db_id": )" + db + R"(, "email": "john@example.com"})"),
              "db_id: must be a positive integer")
        << db;
  }
  EXPECT_EQ(debug_of(t + R"("resource_id": -1, "email": "john@example.com"})"),
            "resource_id: must be a non-negative integer");
  // A misspelt key is not silently ignored.
  EXPECT_TRUE(debug_of(t + R"("emial": "john@example.com"})")
                  .starts_with("emial: unknown field; profiles/get takes token, format, db_id"));
  // The seeds' "format": "json" is fine; XML is not served.
  EXPECT_EQ(debug_of(t + R"("format": "xml", "email": "john@example.com"})"),
            "format: only \"json\" is supported (XML replies are not served)");
}

TEST_F(profiles_api_test, redis_down_is_503) {
  create_john();
  redis_.kill9();
  const auto res = post(R"({"token": "secret", "email": "john@example.com"})");
  herald::test::expect_redis_unavailable(res);
  // The token is checked before Redis is asked.
  EXPECT_EQ(post(R"({"token": "wrong", "email": "john@example.com"})").status, 401);
}

}  // namespace
