// The LeadConverter-compatible routes over real HTTP on loopback against a real redis-server:
// broadcasting.sendMessageBatch from a JSON body, the seed's bracketed query string (Cyrillic
// percent-encoded) and a form body; bot.startWithVariables from the query string, a form and
// JSON; each call one `send` job with the messages as the provider takes them. Refusals (101
// items, an item without subscriber_id, an unknown token before its body is read, ...) name the
// field and enqueue nothing.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "herald/api/leadconverter_routes.hpp"
#include "herald/api/request.hpp"
#include "herald/queue/task_store.hpp"
#include "support/api_server.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/json_schema.hpp"

namespace {

using herald::test::http_request;
using herald::test::http_response;
using herald::test::json_doc;

const std::string jobs_key = "herald:{default}:jobs";
const std::string form_type = "application/x-www-form-urlencoded";

std::string send_path(const std::string& token) {
  return "/api/v1/" + token + "/broadcasting.sendMessageBatch";
}
std::string bot_path(const std::string& token) {
  return "/api/v1/" + token + "/bot.startWithVariables";
}

// One entry of the jobs stream: its fields.
struct stream_job {
  std::string type, account, task_id, body;
};

class leadconverter_api_test : public herald::test::api_server_fixture {
 protected:
  leadconverter_api_test() : api_server_fixture("herald-lc-api") {}

  virtual herald::api::leadconverter_routes_config config() {
    return {.send_provider = "lc", .bot_provider = "lcbot"};
  }

  void SetUp() override {
    start_client();
    store_ = std::make_unique<herald::queue::task_store>(*client_, herald::queue::queue_keys());
    herald::http::router routes;
    herald::api::add_leadconverter_routes(routes, *store_, *tokens_, config());
    auto check = [this](const herald::http::request_header& header) {
      if (auto refusal = herald::api::refuse_unknown_bearer(*tokens_, header)) return refusal;
      return herald::api::refuse_unknown_path_token(*tokens_, header);
    };
    serve(std::move(routes), check);
  }

  http_response call(const std::string& target, const std::string& body = {},
                     const std::string& type = {},
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (!type.empty()) headers.emplace_back("Content-Type", type);
    return http_request("127.0.0.1", port_, "POST", target, body, headers);
  }

  std::vector<stream_job> jobs() {
    std::vector<stream_job> out;
    std::istringstream in(redis_.command({"XRANGE", jobs_key, "-", "+"}));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
      if (lines[i] == "v") out.emplace_back();
      if (out.empty()) continue;
      if (lines[i] == "type") out.back().type = lines[i + 1];
      if (lines[i] == "account") out.back().account = lines[i + 1];
      if (lines[i] == "task_id") out.back().task_id = lines[i + 1];
      if (lines[i] == "body") out.back().body = lines[i + 1];
    }
    return out;
  }

  // The reply's task_id, after checking the success shape.
  std::string accepted(const http_response& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    json_doc d(r.body);
    EXPECT_EQ(d.str("/result"), "ok");
    EXPECT_EQ(d.integer("/error"), 0);
    EXPECT_EQ(d.str("/error_text"), "Successful operation");
    return d.str("/task_id");
  }

  // The refusal's message, after checking that both dialects say the same.
  std::string refused(const http_response& r, int status = 400,
                      const std::string& code = "invalid_request") {
    EXPECT_EQ(r.status, status) << r.body;
    json_doc d(r.body);
    EXPECT_EQ(d.str("/result"), "error");
    EXPECT_EQ(d.str("/code"), code);
    EXPECT_EQ(d.integer("/error"), status);
    EXPECT_EQ(d.str("/message"), d.str("/error_debug"));
    if (status == 400) {
      EXPECT_EQ(d.str("/error_text"), "Invalid request");
    }
    return d.str("/error_debug");
  }

  std::unique_ptr<herald::queue::task_store> store_;
};

TEST_F(leadconverter_api_test, a_json_batch_becomes_one_send_job) {
  const std::string body = R"({"batch": [
    {"subscriber_id": 1, "file_uuid": "db0227be-c7c7-484e-8fa4-de9bcfd4723f"},
    {"subscriber_id": 2, "text": "Привет, это пример отправки текста и файла",
     "file_uuid": "26a2a5d1-37fc-4050-b0dc-67d9817cf476"},
    {"subscriber_id": "3", "text": "Привет, это пример отправки только текста"}]})";
  auto task_id = accepted(call(send_path(acme_token), body, "application/json"));
  ASSERT_FALSE(task_id.empty());
  auto all = jobs();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].type, "send");
  EXPECT_EQ(all[0].account, "acme");
  EXPECT_EQ(all[0].task_id, task_id);
  json_doc job(all[0].body);
  EXPECT_EQ(job.str("/provider"), "lc");
  ASSERT_EQ(job.array_size("/messages"), 3u);
  EXPECT_EQ(job.integer("/messages/0/subscriber_id"), 1);
  EXPECT_EQ(job.str("/messages/0/file_uuid"), "db0227be-c7c7-484e-8fa4-de9bcfd4723f");
  EXPECT_FALSE(job.has("/messages/0/text"));
  EXPECT_EQ(job.str("/messages/1/text"), "Привет, это пример отправки текста и файла");
  EXPECT_EQ(job.integer("/messages/2/subscriber_id"), 3) << "digits as a string: an integer";
  EXPECT_FALSE(job.has("/token"));

  auto task = on_io(store_->get(task_id, "acme"));
  ASSERT_TRUE(task);
  EXPECT_EQ(task->total, 3u);
  EXPECT_FALSE(on_io(store_->get(task_id, "globex"))) << "the path token's account owns it";
}

TEST_F(leadconverter_api_test, the_seeds_query_string_with_cyrillic) {
  const std::string query =
      "?batch[0][subscriber_id]=7365&batch[0][file_uuid]=db0227be-c7c7-484e-8fa4-de9bcfd4723f"
      "&batch[1][subscriber_id]=7366&batch[1][text]=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82%2C+"
      "%D0%BC%D0%B8%D1%80";
  auto task_id = accepted(call(send_path(globex_token) + query));
  ASSERT_FALSE(task_id.empty());
  auto all = jobs();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].account, "globex");
  json_doc job(all[0].body);
  ASSERT_EQ(job.array_size("/messages"), 2u);
  EXPECT_EQ(job.integer("/messages/0/subscriber_id"), 7365);
  EXPECT_EQ(job.str("/messages/0/file_uuid"), "db0227be-c7c7-484e-8fa4-de9bcfd4723f");
  EXPECT_EQ(job.integer("/messages/1/subscriber_id"), 7366);
  EXPECT_EQ(job.str("/messages/1/text"), "Привет, мир");
}

TEST_F(leadconverter_api_test, a_form_body) {
  auto task_id = accepted(call(send_path(acme_token),
                               "batch%5B0%5D%5Bsubscriber_id%5D=42&batch%5B0%5D%5Btext%5D=a+b%2Bc",
                               form_type));
  ASSERT_FALSE(task_id.empty());
  auto all = jobs();
  ASSERT_EQ(all.size(), 1u);
  json_doc job(all[0].body);
  EXPECT_EQ(job.integer("/messages/0/subscriber_id"), 42);
  EXPECT_EQ(job.str("/messages/0/text"), "a b+c");
}

TEST_F(leadconverter_api_test, over_100_items_are_refused_naming_the_limit) {
  std::string body = R"({"batch": [)";
  std::string query = "?";
  for (int i = 0; i < 101; ++i) {
    body += (i ? "," : "") + std::string(R"({"subscriber_id": )") + std::to_string(i + 1)
            + R"(, "text": "x"})";
    query += (i ? "&" : "") + std::string("batch[") + std::to_string(i) + "][subscriber_id]="
             + std::to_string(i + 1) + "&batch[" + std::to_string(i) + "][text]=x";
  }
  body += "]}";
  EXPECT_EQ(refused(call(send_path(acme_token), body, "application/json"), 400, "batch_too_large"),
            "batch: at most 100 items a sendMessageBatch, got 101");
  EXPECT_EQ(refused(call(send_path(acme_token) + query), 400, "batch_too_large"),
            "batch: at most 100 items a sendMessageBatch, got 101");
  EXPECT_EQ(refused(call(send_path(acme_token) + "?batch[99999999][subscriber_id]=1")),
            "batch[99999999][subscriber_id]: index over 10000");
  EXPECT_TRUE(jobs().empty());
}

TEST_F(leadconverter_api_test, an_item_without_subscriber_id_is_refused_naming_its_index) {
  EXPECT_EQ(refused(call(send_path(acme_token),
                         R"({"batch": [{"subscriber_id": 1, "text": "a"},
                                       {"subscriber_id": 2, "text": "b"}, {"text": "c"}]})",
                         "application/json")),
            "batch[2].subscriber_id: required");
  EXPECT_EQ(refused(call(send_path(acme_token),
                         "batch[0][subscriber_id]=1&batch[0][text]=a&batch[1][text]=b", form_type)),
            "batch[1].subscriber_id: required");
  EXPECT_EQ(refused(call(send_path(acme_token) + "?batch[0][subscriber_id]=x&batch[0][text]=a")),
            "batch[0].subscriber_id: must be an integer, not \"x\"");
  EXPECT_EQ(refused(call(send_path(acme_token) + "?batch[0][subscriber_id]=1")),
            "batch[0].text: required unless file_uuid is given");
  EXPECT_EQ(refused(call(send_path(acme_token) + "?batch[0][subscriber_id]=1&batch[0][txt]=a")),
            "batch[0].txt: unknown field; an item takes subscriber_id, text and file_uuid");
  EXPECT_EQ(refused(call(send_path(acme_token), R"({"batch": []})", "application/json")),
            "batch: empty; give 1 to 100 items");
  EXPECT_EQ(refused(call(send_path(acme_token), R"({"items": []})", "application/json")),
            "items: unknown field; sendMessageBatch takes batch: [{subscriber_id, text?, "
            "file_uuid?}]");
  EXPECT_EQ(refused(call(send_path(acme_token), R"({"batch": [{"subscriber_id": 1, "text": 5}]})",
                         "application/json")),
            "batch[0].text: must be a string");
  EXPECT_EQ(refused(call(send_path(acme_token) + "?batch[0][subscriber_id]=1&batch[0][text]=%D0")),
            "batch[0][text]: the value is not valid UTF-8");
  EXPECT_EQ(refused(call(send_path(acme_token) + "?batch[0][subscriber_id]=1",
                         R"({"batch": [{"subscriber_id": 1, "text": "a"}]})", "application/json")),
            "batch: given both in the query string and the body");
  EXPECT_TRUE(refused(call(send_path(acme_token), "{\"batch\": [", "application/json"))
                  .starts_with("body: not valid JSON ("));
  const std::string long_text(4097, 'x');
  EXPECT_EQ(refused(call(send_path(acme_token),
                         R"({"batch": [{"subscriber_id": 1, "text": ")" + long_text + R"("}]})",
                         "application/json")),
            "batch[0].text: over 4096 characters");
  EXPECT_TRUE(jobs().empty());
}

TEST_F(leadconverter_api_test, a_body_neither_json_nor_a_form_is_415) {
  EXPECT_EQ(
      refused(call(send_path(acme_token), "batch", "text/plain"), 415, "unsupported_media_type")
          .substr(0, 35),
      "Content-Type: \"text/plain\" is not t");
  EXPECT_TRUE(jobs().empty());
}

TEST_F(leadconverter_api_test, an_unknown_token_is_401_before_the_body_is_read) {
  for (const std::string& path : {send_path("wrong-token"), bot_path("wrong-token")}) {
    herald::test::raw_connection conn("127.0.0.1", port_);
    ASSERT_TRUE(conn.send("POST " + path
                          + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: 100000\r\n\r\n"));
    auto res = conn.read_response(std::chrono::seconds(5));
    ASSERT_TRUE(res) << "no answer before the body was sent";
    EXPECT_EQ(res->status, 401);
    EXPECT_EQ(res->header("Connection"), "close");
    json_doc d(res->body);
    EXPECT_EQ(d.str("/result"), "error");
    EXPECT_EQ(d.str("/code"), "invalid_token");
    herald::test::expect_unauthorized(*res, "wrong-token");
  }
  // Without a body (a query string only), the handler refuses it the same way.
  auto res = call(send_path("wrong-token") + "?batch[0][subscriber_id]=1&batch[0][text]=a");
  herald::test::expect_unauthorized(res, "wrong-token");
  res = call(bot_path("wrong-token") + "?bot_id=1&subscriber_id=1");
  herald::test::expect_unauthorized(res, "wrong-token");
  EXPECT_TRUE(jobs().empty());
}

TEST_F(leadconverter_api_test, an_idempotency_key_returns_the_first_task) {
  const std::string target = send_path(acme_token) + "?batch[0][subscriber_id]=1&batch[0][text]=a";
  auto first_reply = call(target, {}, {}, {{"Idempotency-Key", "order-77"}});
  auto again_reply = call(target, {}, {}, {{"Idempotency-Key", "order-77"}});
  EXPECT_EQ(accepted(first_reply), accepted(again_reply));
  EXPECT_FALSE(first_reply.has_header("Idempotent-Replayed"));
  EXPECT_EQ(again_reply.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(jobs().size(), 1u);
  EXPECT_EQ(refused(call(target, {}, {}, {{"Idempotency-Key", std::string(201, 'k')}})),
            "Idempotency-Key: must be 1 to 200 characters, got 201");
  EXPECT_EQ(jobs().size(), 1u);
}

TEST_F(leadconverter_api_test, bot_start_from_the_query_string) {
  auto task_id = accepted(call(bot_path(acme_token)
                               + "?bot_id=12&subscriber_id=7365&variable[var_1]=qwe"
                                 "&variable[var_2]=123&forced=true"));
  ASSERT_FALSE(task_id.empty());
  auto all = jobs();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].type, "send");
  json_doc job(all[0].body);
  EXPECT_EQ(job.str("/provider"), "lcbot");
  ASSERT_EQ(job.array_size("/messages"), 1u);
  EXPECT_EQ(job.integer("/messages/0/subscriber_id"), 7365);
  EXPECT_EQ(job.str("/messages/0/bot_id"), "12");
  EXPECT_EQ(job.str("/messages/0/variables/var_1"), "qwe");
  EXPECT_EQ(job.str("/messages/0/variables/var_2"), "123");
  EXPECT_NE(all[0].body.find(R"("forced": true)"), std::string::npos) << all[0].body;
  EXPECT_LT(all[0].body.find("var_1"), all[0].body.find("var_2")) << "in the request's order";
}

TEST_F(leadconverter_api_test, bot_start_from_a_form_and_from_json) {
  accepted(call(bot_path(acme_token),
                "user_id=tg-555&channel_id=ch-1&bot_id=9&variable%5B%D0%B8%D0%BC%D1%8F%5D="
                "%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F.",
                form_type));
  accepted(call(bot_path(acme_token),
                R"({"bot_id": 10, "subscriber_id": 8, "variable": {"name": "Анна", "n": 3},
                    "forced": false})",
                "application/json"));
  auto all = jobs();
  ASSERT_EQ(all.size(), 2u);
  json_doc form(all[0].body);
  EXPECT_EQ(form.str("/messages/0/user_id"), "tg-555");
  EXPECT_EQ(form.str("/messages/0/channel_id"), "ch-1");
  EXPECT_EQ(form.str("/messages/0/variables/имя"), "Иван П.");
  EXPECT_FALSE(form.has("/messages/0/subscriber_id"));
  json_doc json(all[1].body);
  EXPECT_EQ(json.integer("/messages/0/subscriber_id"), 8);
  EXPECT_EQ(json.str("/messages/0/bot_id"), "10");
  EXPECT_EQ(json.str("/messages/0/variables/name"), "Анна");
  EXPECT_EQ(json.integer("/messages/0/variables/n"), 3);
}

TEST_F(leadconverter_api_test, bot_start_refusals_name_the_parameter) {
  EXPECT_EQ(refused(call(bot_path(acme_token) + "?subscriber_id=1")),
            "bot_id: required: the bot to start");
  EXPECT_EQ(refused(call(bot_path(acme_token) + "?bot_id=1")),
            "subscriber_id: required (or user_id and channel_id)");
  EXPECT_EQ(refused(call(bot_path(acme_token) + "?bot_id=1&user_id=u")),
            "channel_id: required with user_id");
  EXPECT_EQ(refused(call(bot_path(acme_token) + "?bot_id=1&subscriber_id=1&user_id=u")),
            "user_id: give subscriber_id, or user_id and channel_id, not both");
  EXPECT_EQ(refused(call(bot_path(acme_token) + "?bot_id=1&subscriber_id=1&forced=maybe")),
            "forced: must be true or false");
  EXPECT_EQ(refused(call(bot_path(acme_token) + "?bot_id=1&subscriber_id=1&variable=x")),
            "variable: must be named values: variable[NAME]=VALUE");
  EXPECT_EQ(refused(call(bot_path(acme_token) + "?bot_id=1&subscriber_id=1&variable[a][b]=x")),
            "variable[a]: must be a string, a number or a boolean");
  EXPECT_EQ(refused(call(bot_path(acme_token) + "?bot_id=1&subscriber_id=1&vars[a]=x")),
            "vars: unknown field; bot.startWithVariables takes bot_id, subscriber_id or user_id "
            "and channel_id, variable[NAME] and forced");
  EXPECT_TRUE(jobs().empty());
}

TEST_F(leadconverter_api_test, the_jobs_match_the_contracts_schema) {
  accepted(call(send_path(acme_token)
                + "?batch[0][subscriber_id]=7365&batch[0][text]=%D0%AF"
                  "&batch[1][subscriber_id]=7366&batch[1][file_uuid]=f"));
  accepted(
      call(bot_path(acme_token), "user_id=u1&channel_id=c1&bot_id=3&variable[a]=b", form_type));
  std::vector<std::filesystem::path> files;
  for (const auto& j : jobs()) {
    files.push_back(dir_ / ("job" + std::to_string(files.size()) + ".json"));
    std::ofstream(files.back()) << R"({"type": ")" << j.type << R"(", "body": )" << j.body << "}";
  }
  ASSERT_EQ(files.size(), 2u);
  const auto [code, complaints] =
      herald::test::validate_json(herald::test::proto_dir() / "schemas/job.schema.json", files);
  EXPECT_EQ(code, 0) << complaints;
}

class leadconverter_api_unconfigured_test : public leadconverter_api_test {
 protected:
  herald::api::leadconverter_routes_config config() override { return {}; }
};

TEST_F(leadconverter_api_unconfigured_test, a_route_without_a_provider_says_which_key_to_set) {
  EXPECT_EQ(refused(call(send_path(acme_token) + "?batch[0][subscriber_id]=1&batch[0][text]=a"),
                    503, "not_configured"),
            "broadcasting.sendMessageBatch: no provider is configured for this route; set "
            "api_send_provider to a leadconverter_messages provider");
  EXPECT_EQ(
      refused(call(bot_path(acme_token) + "?bot_id=1&subscriber_id=1"), 503, "not_configured"),
      "bot.startWithVariables: no provider is configured for this route; set "
      "api_bot_provider to a leadconverter_bot provider");
  // The token is checked first: a stranger learns nothing of the configuration.
  herald::test::expect_unauthorized(call(bot_path("nope") + "?bot_id=1&subscriber_id=1"), "nope");
  EXPECT_TRUE(jobs().empty());
}

}  // namespace
