// Running a trigger for one profile: the subscription it picks, the active / unsubscribed /
// blocked rules with `forced`, the address each provider kind takes, rendering (Cyrillic case
// mapping included), the size limit, and the message JSON a scheduled send keeps.
#include <gtest/gtest.h>

#include <string>

#include "herald/providers/message_json.hpp"
#include "herald/triggers/runner.hpp"

namespace {

using herald::delivery::provider_kind;
using herald::profiles::channel;
using herald::profiles::profile;
using herald::profiles::subscription;
using herald::profiles::subscription_status;
using herald::triggers::compile_trigger;
using herald::triggers::compiled_trigger;
using herald::triggers::item_plan;
using herald::triggers::plan_item;
using herald::triggers::render_inputs;
using herald::triggers::trigger;

trigger lc_trigger(std::string text) {
  trigger t;
  t.id = 13;
  t.channel = channel::leadconverter;
  t.provider = "lc";
  t.resource_id = 1;
  t.message.text = std::move(text);
  return t;
}

subscription lc_sub(std::string id, subscription_status st = subscription_status::active,
                    std::int64_t resource = 1) {
  subscription s;
  s.ch = channel::leadconverter;
  s.resource_id = resource;
  s.status = st;
  s.subscriber_id = std::move(id);
  return s;
}

profile person(std::string fname) {
  profile p;
  p.id = "6606e08f10bcdd88297057a7";
  p.fields.emplace("_fname", std::move(fname));
  p.fields.emplace("email", std::string("ivan@example.com"));
  return p;
}

item_plan plan(const trigger& t, const profile& p, provider_kind kind, render_inputs inputs = {}) {
  compiled_trigger c;
  auto err = compile_trigger(t, c);
  EXPECT_FALSE(err) << (err ? err->text() : "");
  return plan_item(t, c, kind, p, inputs, "task-1", 4);
}

TEST(TriggerRunner, RendersCyrillicAndAddressesTheSubscriber) {
  auto p = person("иван");
  p.subscriptions.push_back(lc_sub("7365"));
  auto r = plan(lc_trigger("Привет, {lead._fname | upper}! {lead._fname | capitalize}"), p,
                provider_kind::leadconverter_messages);
  ASSERT_EQ(r.what, item_plan::kind::send) << r.code << " " << r.message;
  EXPECT_EQ(r.send.text, "Привет, ИВАН! Иван");
  EXPECT_EQ(r.send.subscriber_id, "7365");
  EXPECT_EQ(r.send.key, "task-1:4");
  EXPECT_EQ(r.send.item, 4u);
  EXPECT_EQ(r.send.profile_id, p.id);
}

TEST(TriggerRunner, SubscriptionRules) {
  auto t = lc_trigger("hi");
  auto p = person("a");
  EXPECT_EQ(plan(t, p, provider_kind::leadconverter_messages).code, "no_subscription");
  // Another resource is not the trigger's.
  p.subscriptions.push_back(lc_sub("1", subscription_status::active, 2));
  EXPECT_EQ(plan(t, p, provider_kind::leadconverter_messages).code, "no_subscription");
  p.subscriptions.push_back(lc_sub("2", subscription_status::blocked));
  EXPECT_EQ(plan(t, p, provider_kind::leadconverter_messages).code, "blocked");
  p.subscriptions.push_back(lc_sub("3", subscription_status::unsubscribed));
  auto r = plan(t, p, provider_kind::leadconverter_messages);
  EXPECT_EQ(r.what, item_plan::kind::skip);
  EXPECT_EQ(r.code, "unsubscribed");
  // forced reaches an unsubscribed subscription, never a blocked one.
  t.bot = herald::triggers::bot_start{"42", {}, true};
  r = plan(t, p, provider_kind::leadconverter_bot);
  ASSERT_EQ(r.what, item_plan::kind::send) << r.code;
  EXPECT_EQ(r.send.subscriber_id, "3");
  EXPECT_TRUE(r.send.forced);
  EXPECT_EQ(r.send.bot_id, "42");
  // An active subscription wins over the others.
  p.subscriptions.push_back(lc_sub("4"));
  EXPECT_EQ(plan(t, p, provider_kind::leadconverter_bot).send.subscriber_id, "4");
  t.enabled = false;
  EXPECT_EQ(plan(t, p, provider_kind::leadconverter_bot).code, "trigger_disabled");
}

TEST(TriggerRunner, AddressTheKindNeeds) {
  auto t = lc_trigger("hi");
  auto p = person("a");
  auto s = lc_sub("");
  s.user_id = "u1";
  s.channel_id = "c1";
  p.subscriptions.push_back(s);
  auto r = plan(t, p, provider_kind::leadconverter_messages);
  EXPECT_EQ(r.what, item_plan::kind::fail);
  EXPECT_EQ(r.code, "invalid_address");
  EXPECT_NE(r.message.find("data[4]"), std::string::npos) << r.message;
  t.bot = herald::triggers::bot_start{"42", {{"name", "{lead._fname | upper}"}}, false};
  r = plan(t, p, provider_kind::leadconverter_bot);
  ASSERT_EQ(r.what, item_plan::kind::send) << r.message;
  EXPECT_EQ(r.send.user_id, "u1");
  EXPECT_EQ(r.send.channel_id, "c1");
  ASSERT_EQ(r.send.variables.size(), 1u);
  EXPECT_EQ(r.send.variables[0], (std::pair<std::string, std::string>{"name", "A"}));

  // telegram_bot: the chat-bot API's subscriberId, else the bot and the number without '+'.
  trigger tg = lc_trigger("hi");
  tg.channel = channel::telegram_bot;
  tg.provider = "tg";
  profile q = person("b");
  subscription ts;
  ts.ch = channel::telegram_bot;
  ts.resource_id = 1;
  ts.phone = "+79000000001";
  q.subscriptions.push_back(ts);
  r = plan(tg, q, provider_kind::chatbot_telegram);
  ASSERT_EQ(r.what, item_plan::kind::send) << r.message;
  EXPECT_EQ(r.send.number, "79000000001");
  EXPECT_EQ(r.send.bot_id, "1");
  EXPECT_TRUE(r.send.subscriber_id.empty());
  q.subscriptions[0].cc_id = "abc";
  r = plan(tg, q, provider_kind::chatbot_telegram);
  EXPECT_EQ(r.send.subscriber_id, "abc");
}

TEST(TriggerRunner, ContentCustomDataAndButtons) {
  auto t = lc_trigger("{apicontent.page} {custom_data.order | default:\"-\"}");
  t.message.buttons.push_back({"Open {lead._fname}", "https://x.test/{lead.id}"});
  auto p = person("Пётр");
  p.subscriptions.push_back(lc_sub("9"));
  simdjson::dom::parser a, b;
  render_inputs in;
  in.content = a.parse(std::string_view(R"({"page": "registration_form"})")).value();
  in.custom_data = b.parse(std::string_view(R"({"order": 12})")).value();
  auto r = plan(t, p, provider_kind::leadconverter_messages, in);
  ASSERT_EQ(r.what, item_plan::kind::send);
  EXPECT_EQ(r.send.text, "registration_form 12");
  ASSERT_EQ(r.send.buttons.size(), 1u);
  EXPECT_EQ(r.send.buttons[0].text, "Open Пётр");
  EXPECT_EQ(r.send.buttons[0].url, "https://x.test/" + p.id);
  // Without them, the default applies and a missing variable renders empty.
  r = plan(t, p, provider_kind::leadconverter_messages);
  EXPECT_EQ(r.send.text, " -");
}

TEST(TriggerRunner, OverTheProvidersLimitFailsTheItemNamingIt) {
  auto t = lc_trigger("{lead.long}");
  auto p = person("a");
  p.fields.emplace("long", std::string(5000, 'x'));
  p.subscriptions.push_back(lc_sub("9"));
  auto r = plan(t, p, provider_kind::leadconverter_messages);
  EXPECT_EQ(r.what, item_plan::kind::fail);
  EXPECT_EQ(r.code, "size_limit_exceeded");
  EXPECT_NE(r.message.find(std::to_string(
                herald::providers::max_text_chars(provider_kind::leadconverter_messages))),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("message.text"), std::string::npos) << r.message;
}

TEST(ScheduledMessageJson, ReadsBackEqual) {
  herald::providers::message m;
  m.key = "t:3";
  m.item = 3;
  m.profile_id = "p";
  m.subscriber_id = "7";
  m.text = "Привет \"ты\"\n";
  m.file_uuid = "f";
  m.buttons = {{"a", "b"}};
  m.variables = {{"v", "1"}, {"w", "два"}};
  m.forced = true;
  m.raw_json = R"({"x":1})";
  std::string json;
  herald::providers::append_json(json, m);
  simdjson::dom::parser parser;
  auto back = herald::providers::message_from_json(parser.parse(json).value());
  EXPECT_EQ(back.key, m.key);
  EXPECT_EQ(back.item, m.item);
  EXPECT_EQ(back.text, m.text);
  EXPECT_EQ(back.file_uuid, m.file_uuid);
  EXPECT_EQ(back.buttons, m.buttons);
  EXPECT_EQ(back.variables, m.variables);
  EXPECT_TRUE(back.forced);
  EXPECT_EQ(back.raw_json, m.raw_json);
  EXPECT_EQ(back.subscriber_id, "7");
}

}  // namespace
