// Where a request's token is found (Authorization: Bearer, the body's "token") and how
// herald::api::authenticate answers a missing, unknown or malformed one.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "herald/api/request.hpp"
#include "herald/auth/request_token.hpp"
#include "herald/auth/tokens.hpp"

namespace {

namespace bhttp = boost::beast::http;
using herald::auth::bearer_token;
using herald::auth::body_token;
using herald::http::request;

request with_authorization(std::string value) {
  request req{bhttp::verb::get, "/tasks/status?task_id=t1", 11};
  req.set(bhttp::field::authorization, value);
  return req;
}

// body_token's error for `json`, and the token (copied out of the document) when there is one.
std::pair<simdjson::error_code, std::string> token_of(const std::string& json) {
  herald::api::json_body body;
  EXPECT_FALSE(body.parse(json)) << json;
  std::string_view token;
  const auto error = body_token(body.object()).get(token);
  return {error, std::string(token)};
}

TEST(auth_bearer_token, takes_the_token_of_a_bearer_authorization) {
  EXPECT_EQ(bearer_token(with_authorization("Bearer abc.DEF-123")), "abc.DEF-123");
  EXPECT_EQ(bearer_token(with_authorization("bearer abc")), "abc");
  EXPECT_EQ(bearer_token(with_authorization("BEARER   abc  ")), "abc");
  EXPECT_EQ(bearer_token(with_authorization("Bearer\tabc")), "abc");
}

TEST(auth_bearer_token, finds_nothing_without_a_bearer_token) {
  EXPECT_EQ(bearer_token(request{bhttp::verb::get, "/", 11}), std::nullopt);
  EXPECT_EQ(bearer_token(with_authorization("")), std::nullopt);
  EXPECT_EQ(bearer_token(with_authorization("Bearer")), std::nullopt);
  EXPECT_EQ(bearer_token(with_authorization("Bearer   ")), std::nullopt);
  EXPECT_EQ(bearer_token(with_authorization("Bearerabc")), std::nullopt);
  EXPECT_EQ(bearer_token(with_authorization("Basic YWxhZGRpbjpvcGVuc2VzYW1l")), std::nullopt);
}

TEST(auth_body_token, reads_the_token_field_of_a_json_object) {
  using result = std::pair<simdjson::error_code, std::string>;
  EXPECT_EQ(token_of(R"({"token": "abc", "task_id": "t1"})"), result(simdjson::SUCCESS, "abc"));
  EXPECT_EQ(token_of(R"({"task_id": "t1"})").first, simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(token_of(R"({"token": null})").first, simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(token_of(R"({"token": ""})").first, simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(token_of(R"({"token": 42})").first, simdjson::INCORRECT_TYPE);
  EXPECT_EQ(token_of(R"({"token": ["abc"]})").first, simdjson::INCORRECT_TYPE);
}

TEST(api_json_body, refuses_what_is_not_a_json_object_naming_the_body) {
  herald::api::json_body body;
  for (const std::string text : {"", "  ", "{", "[1, 2]", "\"text\"", "{\"a\": 1,}"}) {
    const auto refusal = body.parse(text);
    ASSERT_TRUE(refusal) << text;
    EXPECT_EQ(refusal->result(), bhttp::status::bad_request) << text;
    EXPECT_NE(refusal->body().find(R"("error_debug": "body: )"), std::string::npos)
        << refusal->body();
    EXPECT_NE(refusal->body().find(R"("error": 400)"), std::string::npos) << refusal->body();
  }
  EXPECT_FALSE(body.parse(R"({"token": "abc"})"));
}

TEST(api_json_body, refuses_a_repeated_key_naming_it) {
  herald::api::json_body body;
  auto refusal = body.parse(R"({"task_id": "a", "limit": 3, "limit": 1000000000000})");
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->result(), bhttp::status::bad_request);
  EXPECT_NE(refusal->body().find("limit: duplicate key"), std::string::npos) << refusal->body();
  refusal = body.parse(R"({"data": [{"email": "a@b.c"}, {"email": "x@y.z", "email": "q@r.s"}]})");
  ASSERT_TRUE(refusal);
  EXPECT_NE(refusal->body().find("data[1].email: duplicate key"), std::string::npos)
      << refusal->body();
  // An escaped spelling of the same key is the same key.
  refusal = body.parse(R"({"token": "a", "\u0074oken": "b"})");
  ASSERT_TRUE(refusal);
  EXPECT_NE(refusal->body().find("token: duplicate key"), std::string::npos) << refusal->body();
  EXPECT_FALSE(body.parse(R"({"a": {"x": 1}, "b": {"x": 2}})"));
}

class api_authenticate : public ::testing::Test {
 protected:
  // "secret" belongs to acme, "s3cr3t-token" to globex.
  herald::auth::token_table tokens_{
      std::vector<herald::auth::token_entry>{{"acme", herald::auth::hash_token("secret")},
                                             {"globex", herald::auth::hash_token("s3cr3t-token")}}};
  herald::http::response refusal_;

  std::optional<std::string> authenticate(const request& req, const std::string* json) {
    herald::api::json_body body;
    if (json) {
      EXPECT_FALSE(body.parse(*json));
    }
    return herald::api::authenticate(tokens_, req, json ? &body : nullptr, refusal_);
  }
};

TEST_F(api_authenticate, takes_the_body_token_or_the_bearer_header) {
  const std::string json = R"({"token": "secret"})";
  EXPECT_EQ(authenticate(request{bhttp::verb::post, "/", 11}, &json), "acme");
  EXPECT_EQ(authenticate(with_authorization("Bearer secret"), &json), "acme");  // the same twice
  const std::string without = R"({"task_id": "t1"})";
  EXPECT_EQ(authenticate(with_authorization("Bearer s3cr3t-token"), &without), "globex");
  EXPECT_EQ(authenticate(with_authorization("Bearer s3cr3t-token"), nullptr), "globex");
}

TEST_F(api_authenticate, answers_401_without_quoting_the_token) {
  EXPECT_EQ(authenticate(request{bhttp::verb::get, "/", 11}, nullptr), std::nullopt);
  EXPECT_EQ(refusal_.result(), bhttp::status::unauthorized);
  EXPECT_EQ(refusal_[bhttp::field::www_authenticate], "Bearer");
  EXPECT_NE(refusal_.body().find(R"("error": 401)"), std::string::npos) << refusal_.body();
  EXPECT_NE(refusal_.body().find(R"("error_text": "Unauthorized")"), std::string::npos);
  EXPECT_NE(refusal_.body().find(R"("error_debug": "token: required)"), std::string::npos);

  const std::string json = R"({"token": "wrong-token-value"})";
  EXPECT_EQ(authenticate(request{bhttp::verb::post, "/", 11}, &json), std::nullopt);
  EXPECT_EQ(refusal_.result(), bhttp::status::unauthorized);
  EXPECT_EQ(refusal_.body().find("wrong-token-value"), std::string::npos) << refusal_.body();
  EXPECT_EQ(authenticate(with_authorization("Bearer wrong-token-value"), nullptr), std::nullopt);
  EXPECT_EQ(refusal_.result(), bhttp::status::unauthorized);
  EXPECT_EQ(refusal_.body().find("wrong-token-value"), std::string::npos) << refusal_.body();
}

// Issue 10, defect 8: a body token silently overrode a different Bearer token.
TEST_F(api_authenticate, a_body_token_and_a_bearer_token_that_differ_are_a_bad_request) {
  const std::string json = R"({"token": "secret"})";
  for (const std::string bearer : {"s3cr3t-token", "wrong-token-value"}) {
    EXPECT_EQ(authenticate(with_authorization("Bearer " + bearer), &json), std::nullopt) << bearer;
    EXPECT_EQ(refusal_.result(), bhttp::status::bad_request);
    EXPECT_NE(refusal_.body().find(R"("error_debug": "token: the body's \"token\" and the )"
                                   R"(Authorization: Bearer token differ; send one")"),
              std::string::npos)
        << refusal_.body();
    EXPECT_EQ(refusal_.body().find(bearer), std::string::npos) << refusal_.body();
    EXPECT_EQ(refusal_.body().find("secret"), std::string::npos) << refusal_.body();
  }
}

TEST_F(api_authenticate, two_authorization_headers_are_a_bad_request) {
  request req = with_authorization("Bearer secret");
  req.insert(bhttp::field::authorization, "Bearer s3cr3t-token");
  EXPECT_EQ(authenticate(req, nullptr), std::nullopt);
  EXPECT_EQ(refusal_.result(), bhttp::status::bad_request);
  EXPECT_NE(refusal_.body().find(R"("error_debug": "Authorization: given more than once)"),
            std::string::npos)
      << refusal_.body();
}

TEST_F(api_authenticate, an_unknown_bearer_token_is_refused_from_the_header_alone) {
  using herald::api::refuse_unknown_bearer;
  const auto refused = refuse_unknown_bearer(tokens_, with_authorization("Bearer nope-token"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result(), bhttp::status::unauthorized);
  EXPECT_EQ(refused->body().find("nope-token"), std::string::npos) << refused->body();
  EXPECT_FALSE(refuse_unknown_bearer(tokens_, with_authorization("Bearer secret")));
  // No Bearer token: the body may carry one, read later.
  EXPECT_FALSE(refuse_unknown_bearer(tokens_, request{bhttp::verb::post, "/", 11}));
  EXPECT_FALSE(refuse_unknown_bearer(tokens_, with_authorization("Basic YWxhZGRpbg==")));
}

TEST_F(api_authenticate, a_token_that_is_not_a_string_is_a_bad_request) {
  const std::string json = R"({"token": 12345})";
  EXPECT_EQ(authenticate(with_authorization("Bearer secret"), &json), std::nullopt);
  EXPECT_EQ(refusal_.result(), bhttp::status::bad_request);
  EXPECT_NE(refusal_.body().find(R"("error_debug": "token: must be a string")"), std::string::npos)
      << refusal_.body();
}

}  // namespace
