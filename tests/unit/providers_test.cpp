// The providers' wire formats without sockets: parse_send_item's shapes and refusals, each
// kind's request, and how replies (errors inside a 200, retry_after in a body, per-item errors
// of a batch) read to the retry decision.
#include <gtest/gtest.h>

#include <stdexcept>

#include "herald/delivery/retry.hpp"
#include "herald/providers/chatbot_telegram.hpp"
#include "herald/providers/leadconverter_bot.hpp"
#include "herald/providers/leadconverter_messages.hpp"
#include "herald/providers/message.hpp"
#include "herald/providers/webhook.hpp"

namespace herald::providers {
namespace {

using delivery::provider_kind;

std::string refusal(provider_kind kind, std::string_view json, std::size_t index = 3) {
  try {
    parse_send_item(kind, json, index);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

delivery::provider_config config(provider_kind kind) {
  delivery::provider_config c;
  c.name = "p";
  c.kind = kind;
  c.base_url = "https://api.example.com/";
  c.token = "SECRET-TOKEN";
  c.user = "12345";
  c.password = "pa55word";
  c.secret = "hmac-key";
  return c;
}

outbound::http_response response(int status, std::string body) {
  outbound::http_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(providers_parse_send_item, leadconverter_messages_shape) {
  auto m = parse_send_item(provider_kind::leadconverter_messages,
                           R"({"subscriber_id": 7365, "text": "Привет", "file_uuid": "db02"})", 0);
  EXPECT_EQ(m.subscriber_id, "7365");
  EXPECT_EQ(m.text, "Привет");
  ASSERT_TRUE(m.file_uuid);
  EXPECT_EQ(*m.file_uuid, "db02");
  EXPECT_EQ(refusal(provider_kind::leadconverter_messages, R"({"text": "x"})"),
            "messages[3].subscriber_id: required");
  EXPECT_EQ(
      refusal(provider_kind::leadconverter_messages, R"({"subscriber_id": "abc", "text": "x"})"),
      "messages[3].subscriber_id: must be an integer");
  EXPECT_EQ(refusal(provider_kind::leadconverter_messages, R"({"subscriber_id": 1})"),
            "messages[3].text: required unless file_uuid is given");
  EXPECT_EQ(refusal(provider_kind::leadconverter_messages, R"([1])"),
            "messages[3]: must be an object");
  EXPECT_EQ(refusal(provider_kind::leadconverter_messages,
                    R"({"subscriber_id": 1, "text": "a", "text": "b"})"),
            "messages[3].text: duplicate key; a key may appear once in an object");
}

TEST(providers_parse_send_item, leadconverter_bot_shape) {
  auto m = parse_send_item(provider_kind::leadconverter_bot,
                           R"({"user_id": "u1", "channel_id": "c1", "bot_id": 12,
                               "variables": {"name": "Иван", "n": 3}, "forced": true})",
                           0);
  EXPECT_EQ(m.user_id, "u1");
  EXPECT_EQ(m.channel_id, "c1");
  EXPECT_EQ(m.bot_id, "12");
  ASSERT_EQ(m.variables.size(), 2u);
  EXPECT_EQ(m.variables[0], (std::pair<std::string, std::string>{"name", "Иван"}));
  EXPECT_EQ(m.variables[1].second, "3");
  EXPECT_TRUE(m.forced);
  EXPECT_EQ(refusal(provider_kind::leadconverter_bot, R"({"subscriber_id": 1})"),
            "messages[3].bot_id: required");
  EXPECT_EQ(refusal(provider_kind::leadconverter_bot, R"({"user_id": "u", "bot_id": 1})"),
            "messages[3].channel_id: required with user_id");
  EXPECT_EQ(refusal(provider_kind::leadconverter_bot,
                    R"({"subscriber_id": 1, "bot_id": 1, "forced": "yes"})"),
            "messages[3].forced: must be true or false");
}

TEST(providers_parse_send_item, chatbot_shape) {
  auto m = parse_send_item(provider_kind::chatbot_telegram,
                           R"({"botId": "b1", "number": "+79001234567", "text": "Текст",
                               "buttons": [{"text": "Открыть", "url": "https://x"}]})",
                           0);
  EXPECT_EQ(m.bot_id, "b1");
  EXPECT_EQ(m.number, "79001234567");
  ASSERT_EQ(m.buttons.size(), 1u);
  EXPECT_EQ(m.buttons[0].text, "Открыть");
  EXPECT_EQ(refusal(provider_kind::chatbot_telegram,
                    R"({"subscriberId": "s", "botId": "b", "number": "1", "text": "x"})"),
            "messages[3].botId: subscriberId and botId exclude each other; give one");
  EXPECT_EQ(refusal(provider_kind::chatbot_telegram, R"({"botId": "b", "text": "x"})"),
            "messages[3].number: required with botId");
  EXPECT_EQ(refusal(provider_kind::chatbot_telegram, R"({"subscriberId": "s"})"),
            "messages[3].text: required");
  EXPECT_EQ(refusal(provider_kind::chatbot_telegram,
                    R"({"subscriberId": "s", "text": "x", "buttons": [{"text": "t"}]})"),
            "messages[3].buttons[0].url: required");
}

TEST(providers_parse_send_item, webhook_takes_any_object_as_given) {
  auto m = parse_send_item(provider_kind::webhook, R"({ "a" : [1, 2], "b": "Юля" })", 0);
  EXPECT_EQ(m.raw_json, R"({"a":[1,2],"b":"Юля"})");
  EXPECT_EQ(refusal(provider_kind::sandbox, R"("text")"), "messages[3]: must be an object");
}

TEST(providers_parse_send_item, text_over_the_limit_names_it) {
  std::string text(4097, 'a');
  EXPECT_EQ(refusal(provider_kind::chatbot_telegram,
                    R"({"subscriberId": "s", "text": ")" + text + R"("})"),
            "messages[3].text: over 4096 characters");
  // Cyrillic letters are one character each, two bytes.
  std::string cyr;
  for (int i = 0; i < 4096; ++i) cyr += "я";
  EXPECT_EQ(refusal(provider_kind::chatbot_telegram,
                    R"({"subscriberId": "s", "text": ")" + cyr + R"("})"),
            "(accepted)");
}

TEST(providers_leadconverter_messages, batch_request_and_redacted_url) {
  leadconverter_messages p(config(provider_kind::leadconverter_messages));
  message a, b;
  a.subscriber_id = "1";
  a.text = "Привет \"друг\"";
  b.subscriber_id = "2";
  b.file_uuid = "f-1";
  const message* batch[] = {&a, &b};
  auto r = p.request(batch);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://api.example.com/api/v1/SECRET-TOKEN/broadcasting.sendMessageBatch");
  EXPECT_EQ(
      r.body,
      R"({"batch":[{"subscriber_id":1,"text":"Привет \"друг\""},{"subscriber_id":2,"file_uuid":"f-1"}]})");
  EXPECT_EQ(p.logged_url(), "https://api.example.com/api/v1/***/broadcasting.sendMessageBatch");
  EXPECT_EQ(p.max_batch(), 100u);
  message bad;
  bad.subscriber_id = "x12";
  bad.text = "t";
  ASSERT_TRUE(p.check(bad));
  EXPECT_EQ(p.check(bad)->code, "invalid_subscriber_id");
  EXPECT_FALSE(p.check(a));
}

TEST(providers_leadconverter_messages, per_item_errors_and_errors_in_a_200) {
  leadconverter_messages p(config(provider_kind::leadconverter_messages));
  auto ok = p.classify(
      response(
          200,
          R"({"result":"ok","errors":[{"index":1,"code":"blocked","message":"no"},{"index":9}]})"),
      3);
  EXPECT_FALSE(ok.call.error);
  ASSERT_EQ(ok.item_errors.size(), 1u) << "an index past the batch is ignored";
  EXPECT_EQ(ok.item_errors[0].first, 1u);
  EXPECT_EQ(ok.item_errors[0].second.code, "blocked");

  auto err = p.classify(
      response(
          200,
          R"({"result":"error","code":"quota","message":"token SECRET-TOKEN over quota","retry_after":2.5})"),
      3);
  ASSERT_TRUE(err.call.error);
  EXPECT_EQ(err.call.error->code, "quota");
  EXPECT_EQ(err.call.error->message, "token *** over quota") << "the token never shows";
  ASSERT_TRUE(err.call.body_retry_after);
  EXPECT_EQ(err.call.body_retry_after->count(), 2500);
  auto d = delivery::decide(err.call, 1, {}, 0, std::chrono::system_clock::now());
  EXPECT_TRUE(d.retry()) << "a retry_after in the body makes it retryable";
  EXPECT_GE(d.after.count(), 2500);

  auto plain = p.classify(response(200, R"({"result":"error","code":"bad"})"), 1);
  EXPECT_TRUE(delivery::decide(plain.call, 1, {}, 0, std::chrono::system_clock::now()).failed());

  auto malformed = p.classify(
      response(400, R"({"result":"error","code":"batch_too_large","message":"max 100"})"), 101);
  auto d400 = delivery::decide(malformed.call, 1, {}, 0, std::chrono::system_clock::now());
  EXPECT_TRUE(d400.failed());
  EXPECT_EQ(d400.code, "batch_too_large");
}

TEST(providers_transport, client_failures_read_as_transport_outcomes) {
  outbound::http_response r;
  r.error = outbound::errc::timeout;
  r.request_sent = true;
  EXPECT_EQ(transport_outcome(r).failure, delivery::attempt_outcome::transport::timeout);
  r.error = outbound::errc::connection_dropped;
  EXPECT_EQ(transport_outcome(r).failure, delivery::attempt_outcome::transport::connection_lost);
  r.error = outbound::errc::connect_failed;
  EXPECT_EQ(transport_outcome(r).failure, delivery::attempt_outcome::transport::connect);
  auto ra = response(429, "");
  ra.headers.push_back({"Retry-After", "3"});
  auto o = transport_outcome(ra);
  ASSERT_TRUE(o.retry_after);
  EXPECT_EQ(*o.retry_after, "3");
}

TEST(providers_leadconverter_bot, form_body_with_cyrillic_variables) {
  leadconverter_bot p(config(provider_kind::leadconverter_bot));
  message m;
  m.subscriber_id = "7365";
  m.bot_id = "42";
  m.variables = {{"name", "Иван Петров"}, {"a&b", "x=y"}};
  m.forced = true;
  const message* one[] = {&m};
  auto r = p.request(one);
  EXPECT_EQ(r.url, "https://api.example.com/api/v1/SECRET-TOKEN/bot.startWithVariables");
  EXPECT_EQ(r.headers.at(0).value, "application/x-www-form-urlencoded");
  EXPECT_EQ(r.body,
            "subscriber_id=7365&bot_id=42&variable%5Bname%5D=%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F%D0%B5"
            "%D1%82%D1%80%D0%BE%D0%B2&variable%5Ba%26b%5D=x%3Dy&forced=true");
  message u;
  u.user_id = "u 1";
  u.channel_id = "c";
  u.bot_id = "1";
  const message* two[] = {&u};
  EXPECT_EQ(p.request(two).body, "user_id=u+1&channel_id=c&bot_id=1&forced=false");
  message none;
  none.bot_id = "1";
  EXPECT_EQ(p.check(none)->code, "invalid_address");
}

TEST(providers_chatbot, json_body_with_auth) {
  chatbot_telegram p(config(provider_kind::chatbot_telegram));
  message m;
  m.bot_id = "b1";
  m.number = "79001234567";
  m.text = "Привет";
  m.buttons = {{"Открыть", "https://x"}};
  const message* one[] = {&m};
  auto r = p.request(one);
  EXPECT_EQ(r.url, "https://api.example.com/v1/telegram/bot/sendMessage/");
  EXPECT_EQ(
      r.body,
      R"({"botId":"b1","number":"79001234567","text":"Привет","buttons":[{"text":"Открыть","url":"https://x"}],"auth":{"user":"12345","pass":"pa55word"}})");
  auto reply = p.classify(
      response(401,
               R"({"ok":false,"error":{"code":"unauthorized","message":"pass pa55word wrong"}})"),
      1);
  ASSERT_TRUE(reply.call.error);
  EXPECT_EQ(reply.call.error->message, "pass *** wrong");
  EXPECT_EQ(reply.call.body_excerpt.find("pa55word"), std::string::npos);
}

TEST(providers_webhook, signed_body_and_idempotency_key) {
  webhook p(config(provider_kind::webhook));
  message m;
  m.key = "task-1:7";
  m.item = 7;
  m.profile_id = "p1";
  m.email = "a@example.com";
  m.text = "Здравствуйте";
  const message* one[] = {&m};
  auto r = p.request(one);
  EXPECT_EQ(r.url, "https://api.example.com/");
  EXPECT_EQ(
      r.body,
      R"({"key":"task-1:7","item":7,"profile_id":"p1","email":"a@example.com","text":"Здравствуйте"})");
  std::string key, sig;
  for (const auto& h : r.headers) {
    if (h.name == "Idempotency-Key") key = h.value;
    if (h.name == "X-Herald-Signature") sig = h.value;
  }
  EXPECT_EQ(key, "task-1:7");
  EXPECT_EQ(sig, webhook_signature("hmac-key", r.body));
  // RFC 4231 test case 2.
  EXPECT_EQ(webhook_signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  message raw;
  raw.key = "k";
  raw.raw_json = R"({"any":1})";
  const message* two[] = {&raw};
  EXPECT_EQ(p.request(two).body, R"({"any":1})");
}

}  // namespace
}  // namespace herald::providers
