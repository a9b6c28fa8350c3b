// Trigger definitions: the JSON read and written, every fault named by its field, the provider
// and channel checks, and template faults reported with their position.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "herald/triggers/demo.hpp"
#include "herald/triggers/files.hpp"
#include "herald/triggers/template_cache.hpp"
#include "herald/triggers/trigger.hpp"
#include "support/process.hpp"

namespace {

using herald::triggers::parse_trigger;
using herald::triggers::provider_kinds;
using herald::triggers::trigger;

const provider_kinds providers{{"lc", "leadconverter_messages"}, {"lcbot", "leadconverter_bot"},
                               {"tg", "chatbot_telegram"},       {"hook", "webhook"},
                               {"sandbox", "sandbox"},           {"mail", "smtp"}};

constexpr const char* full = R"({"id": 7, "name": "Привет", "db_id": 2, "enabled": false,
  "channel": "leadconverter", "provider": "lc", "resource_id": 3,
  "message": {"text": "Hi {lead._fname | default:\"friend\" | capitalize}", "file_uuid": "f-1",
              "buttons": [{"text": "Open", "url": "https://x.test/{lead.id}"}],
              "subject": "S", "html": "<b>{lead.email}</b>"},
  "bot": {"bot_id": 42, "variables": {"name": "{lead._fname}", "a": "x"}, "forced": true},
  "rate_per_s": 2.5})";

trigger parsed(const std::string& json) {
  auto r = parse_trigger(json);
  EXPECT_TRUE(r.value) << (r.error ? r.error->text() : "");
  return r.value ? *r.value : trigger{};
}

std::string parse_error(const std::string& json) {
  auto r = parse_trigger(json);
  EXPECT_FALSE(r.value) << json;
  return r.error ? r.error->text() : "";
}

std::string validate_error(const std::string& json) {
  auto t = parsed(json);
  auto e = herald::triggers::validate(t, providers);
  return e ? e->text() : "";
}

std::string with(const std::string& fields) {
  return R"({"id": 1, "name": "n", "channel": "leadconverter", "provider": "lc", )" + fields + "}";
}

TEST(TriggerParse, ReadsEveryField) {
  auto t = parsed(full);
  EXPECT_EQ(t.id, 7u);
  EXPECT_EQ(t.name, "Привет");
  EXPECT_EQ(t.db_id, 2);
  EXPECT_FALSE(t.enabled);
  EXPECT_EQ(t.channel, herald::triggers::channel::leadconverter);
  EXPECT_EQ(t.provider, "lc");
  EXPECT_EQ(t.resource_id, 3);
  EXPECT_EQ(t.message.text, "Hi {lead._fname | default:\"friend\" | capitalize}");
  EXPECT_EQ(t.message.file_uuid, "f-1");
  ASSERT_EQ(t.message.buttons.size(), 1u);
  EXPECT_EQ(t.message.buttons[0].url, "https://x.test/{lead.id}");
  ASSERT_TRUE(t.bot);
  EXPECT_EQ(t.bot->bot_id, "42");
  EXPECT_EQ(t.bot->variables.at("name"), "{lead._fname}");
  EXPECT_TRUE(t.bot->forced);
  EXPECT_EQ(t.rate_per_s, 2.5);
}

TEST(TriggerParse, DefaultsAndStringId) {
  auto t = parsed(R"({"id": "12", "name": "n", "channel": "sms", "provider": "hook"})");
  EXPECT_EQ(t.id, 12u);
  EXPECT_EQ(t.db_id, 1);
  EXPECT_TRUE(t.enabled);
  EXPECT_FALSE(t.resource_id);
  EXPECT_FALSE(t.bot);
  EXPECT_FALSE(t.rate_per_s);
}

TEST(TriggerParse, JsonRoundTrips) {
  auto t = parsed(full);
  auto json = herald::triggers::to_json(t);
  EXPECT_EQ(parsed(json), t) << json;
  EXPECT_EQ(herald::triggers::to_json(parsed(json)), json);
  auto minimal = parsed(R"({"id": 1, "name": "n", "channel": "email", "provider": "mail"})");
  EXPECT_EQ(parsed(herald::triggers::to_json(minimal)), minimal);
}

TEST(TriggerParse, NamesTheFieldOfEveryFault) {
  EXPECT_EQ(parse_error("[1]"), "a trigger must be a JSON object");
  EXPECT_NE(parse_error("{").find("not valid JSON"), std::string::npos);
  EXPECT_EQ(parse_error(R"({"name": "n", "channel": "sms", "provider": "lc"})"), "id: required");
  EXPECT_EQ(parse_error(R"({"id": 0})"), "id: must be a positive integer");
  EXPECT_EQ(parse_error(R"({"id": -3})"), "id: must be a positive integer");
  EXPECT_EQ(parse_error(R"({"id": "x1"})"), "id: must be a positive integer");
  EXPECT_EQ(parse_error(R"({"id": 1, "channel": "sms", "provider": "lc"})"), "name: required");
  EXPECT_EQ(parse_error(R"({"id": 1, "name": "", "channel": "sms", "provider": "lc"})"),
            "name: must not be empty");
  EXPECT_EQ(parse_error(R"({"id": 1, "name": 5})"), "name: must be a string");
  EXPECT_EQ(parse_error(R"({"id": 1, "name": "n", "provider": "lc"})"), "channel: required");
  EXPECT_EQ(parse_error(R"({"id": 1, "name": "n", "channel": "fax", "provider": "lc"})"),
            "channel: \"fax\" is not one of email, sms, push, telegram_bot, leadconverter");
  EXPECT_EQ(parse_error(R"({"id": 1, "name": "n", "channel": "sms"})"), "provider: required");
  EXPECT_EQ(parse_error(with(R"("db_id": 0)")), "db_id: must be a positive integer");
  EXPECT_EQ(parse_error(with(R"("enabled": "yes")")), "enabled: must be true or false");
  EXPECT_EQ(parse_error(with(R"("resource_id": -1)")),
            "resource_id: must be a non-negative integer");
  EXPECT_EQ(parse_error(with(R"("rate_per_s": 0)")), "rate_per_s: must be a positive number");
  EXPECT_EQ(parse_error(with(R"("message": 3)")), "message: must be an object");
  EXPECT_EQ(parse_error(with(R"("message": {"txt": "a"})")),
            "message.txt: unknown field; message takes text, file_uuid, buttons, subject and "
            "html");
  EXPECT_EQ(parse_error(with(R"("message": {"text": 1})")), "message.text: must be a string");
  EXPECT_EQ(parse_error(with(R"("message": {"buttons": {}})")),
            "message.buttons: must be an array of {text, url}");
  EXPECT_EQ(
      parse_error(with(R"("message": {"buttons": [{"text": "a", "url": "b"}, {"text": "a"}]})")),
      "message.buttons[1].url: required");
  EXPECT_EQ(parse_error(with(R"("bot": {"variables": {}})")), "bot.bot_id: required");
  EXPECT_EQ(parse_error(with(R"("bot": {"bot_id": "1", "variables": {"x": 1}})")),
            "bot.variables.x: must be a string (a template)");
  EXPECT_EQ(parse_error(with(R"("bot": {"bot_id": "1", "forced": 1})")),
            "bot.forced: must be true or false");
  EXPECT_EQ(parse_error(with(R"("colour": "red")")),
            "colour: unknown field; a trigger takes id, name, db_id, enabled, channel, provider, "
            "message, bot, rate_per_s and resource_id");
  // `account` only where a triggers_dir file may name it.
  EXPECT_NE(parse_error(with(R"("account": "acme")")).find("account: unknown field"),
            std::string::npos);
  auto r = parse_trigger(with(R"("account": "acme")"), {.account_field = true});
  ASSERT_TRUE(r.value);
  EXPECT_EQ(r.account, "acme");
  auto no_account = parse_trigger(with(R"("db_id": 1)"), {.account_field = true});
  ASSERT_TRUE(no_account.error);
  EXPECT_EQ(no_account.error->text(), "account: required");
}

TEST(TriggerValidate, ProviderConfiguredAndFittingTheChannel) {
  EXPECT_EQ(validate_error(with(R"("message": {"text": "hi"})")), "");
  auto unknown = validate_error(
      R"({"id": 1, "name": "n", "channel": "sms", "provider": "nope", "message": {"text": "x"}})");
  EXPECT_EQ(unknown.rfind("provider: \"nope\" is not a configured provider (configured: ", 0), 0u)
      << unknown;
  EXPECT_EQ(
      validate_error(
          R"({"id": 1, "name": "n", "channel": "sms", "provider": "lc", "message": {"text": "x"}})"),
      "provider: \"lc\" is a leadconverter_messages provider, which cannot deliver to "
      "channel sms");
  EXPECT_EQ(
      validate_error(
          R"({"id": 1, "name": "n", "channel": "email", "provider": "tg", "message": {"text": "x"}})"),
      "provider: \"tg\" is a chatbot_telegram provider, which cannot deliver to channel "
      "email");
  EXPECT_EQ(
      validate_error(
          R"({"id": 1, "name": "n", "channel": "push", "provider": "mail", "message": {"text": "x"}})"),
      "provider: \"mail\" is a smtp provider, which cannot deliver to channel push");
  for (const char* ok :
       {R"("channel": "telegram_bot", "provider": "tg")",
        R"("channel": "email", "provider": "mail")", R"("channel": "push", "provider": "hook")",
        R"("channel": "sms", "provider": "sandbox")"}) {
    EXPECT_EQ(validate_error(std::string(R"({"id": 1, "name": "n", )") + ok
                             + R"(, "message": {"text": "x"}})"),
              "")
        << ok;
  }
  EXPECT_EQ(validate_error(R"({"id": 1, "name": "n", "channel": "leadconverter",
                              "provider": "lcbot", "message": {"text": "x"}})"),
            "bot: required: provider \"lcbot\" is a leadconverter_bot, which starts a bot");
  EXPECT_EQ(validate_error(R"({"id": 1, "name": "n", "channel": "leadconverter",
                              "provider": "lcbot", "bot": {"bot_id": "5"}})"),
            "");
  EXPECT_EQ(validate_error(with(R"("message": {})")),
            "message: nothing to send: give message.text, message.html, message.file_uuid or bot");
  EXPECT_NE(herald::triggers::validate(parsed(with(R"("message": {"text": "x"})")), {}),
            std::nullopt);
  EXPECT_NE(herald::triggers::validate(parsed(with(R"("message": {"text": "x"})")), {})
                ->reason.find("none is configured"),
            std::string::npos);
}

TEST(TriggerValidate, TemplateFaultsWithFieldAndPosition) {
  EXPECT_EQ(validate_error(with(R"("message": {"text": "Hello {lead.x | uper}"})"))
                .rfind("message.text: line 1, column 17: unknown filter `uper`", 0),
            0u)
      << validate_error(with(R"("message": {"text": "Hello {lead.x | uper}"})"));
  EXPECT_EQ(validate_error(with(R"("message": {"text": "a\nb {nope.x}"})"))
                .rfind("message.text: line 2, column 4: ", 0),
            0u);
  EXPECT_EQ(validate_error(with(R"("message": {"text": "x", "subject": "{lead."})"))
                .rfind("message.subject: line 1, column ", 0),
            0u);
  EXPECT_EQ(validate_error(with(R"("message": {"text": "x", "html": "a } b"})"))
                .rfind("message.html: line 1, column 3: ", 0),
            0u);
  EXPECT_EQ(validate_error(with(R"("message": {"text": "x", "buttons": [{"text": "ok", "url": "u"},
                                  {"text": "{}", "url": "u"}]})"))
                .rfind("message.buttons[1].text: line 1, column 1: ", 0),
            0u);
  EXPECT_EQ(
      validate_error(
          with(
              R"("message": {"text": "x", "buttons": [{"text": "ok", "url": "{lead.id | date}"}]})"))
          .rfind("message.buttons[0].url: line 1, column ", 0),
      0u);
  EXPECT_EQ(validate_error(with(R"("bot": {"bot_id": "1", "variables": {"v": "{lead.a | x}"}})"))
                .rfind("bot.variables.v: line 1, column 11: unknown filter `x`", 0),
            0u)
      << validate_error(with(R"("bot": {"bot_id": "1", "variables": {"v": "{lead.a | x}"}})"));
}

TEST(TriggerCompile, EveryTemplateCompiled) {
  herald::triggers::compiled_trigger c;
  ASSERT_EQ(herald::triggers::compile_trigger(parsed(full), c), std::nullopt);
  EXPECT_EQ(c.text.source_text(), "Hi {lead._fname | default:\"friend\" | capitalize}");
  EXPECT_TRUE(c.text.has_variables());
  EXPECT_EQ(c.html.source_text(), "<b>{lead.email}</b>");
  ASSERT_EQ(c.buttons.size(), 1u);
  EXPECT_EQ(c.buttons[0].second.source_text(), "https://x.test/{lead.id}");
  ASSERT_EQ(c.variables.size(), 2u);
  EXPECT_EQ(c.variables[0].first, "a");
  EXPECT_EQ(c.variables[1].second.source_text(), "{lead._fname}");
}

TEST(TemplateCache, CompilesOncePerVersionAndStaysBounded) {
  herald::triggers::template_cache cache(2);
  auto t = parsed(full);
  auto a = cache.get("acme", t.id, 1, t);
  ASSERT_TRUE(a.value);
  EXPECT_EQ(cache.get("acme", t.id, 1, t).value, a.value);  // the same compiled form
  EXPECT_EQ(cache.compiles(), 1u);
  auto other_account = cache.get("globex", t.id, 1, t);
  EXPECT_NE(other_account.value, a.value);
  auto v2 = cache.get("acme", t.id, 2, t);
  EXPECT_NE(v2.value, a.value);
  EXPECT_EQ(cache.compiles(), 3u);
  EXPECT_EQ(cache.size(), 2u);  // bounded: the least recently used went
  cache.get("acme", t.id, 1, t);
  EXPECT_EQ(cache.compiles(), 4u);
  auto bad = parsed(with(R"("message": {"text": "{lead.x | uper}"})"));
  auto r = cache.get("acme", 99, 1, bad);
  EXPECT_FALSE(r.value);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->field, "message.text");
}

TEST(TriggerDemo, CompiledInEqualsDeployFile) {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/deploy/triggers/demo.json");
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_FALSE(text.str().empty());
  EXPECT_EQ(herald::triggers::demo_triggers_json(), text.str());
  auto demo = herald::triggers::demo_triggers({{"sandbox", "sandbox"}});
  EXPECT_TRUE(demo.faults.empty()) << demo.faults.front();
  ASSERT_EQ(demo.triggers.size(), 2u);
  EXPECT_EQ(demo.triggers[0].account, "default");
  EXPECT_EQ(demo.triggers[0].definition.id, 13u);
  EXPECT_EQ(demo.triggers[1].origin, "demo.json[1]");
  // Without the sandbox provider, each is refused naming its place and field.
  auto refused = herald::triggers::demo_triggers({});
  EXPECT_TRUE(refused.triggers.empty());
  ASSERT_EQ(refused.faults.size(), 2u);
  EXPECT_EQ(refused.faults[0].rfind("demo.json[0]: provider: ", 0), 0u) << refused.faults[0];
}

TEST(TriggerFiles, EachFaultNamesFileAndFieldAndTheRestLoad) {
  herald::test::temp_dir dir("herald-trigger-files");
  auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  const std::string ok =
      R"("name": "n", "channel": "sms", "provider": "sandbox", "message": {"text": "x"})";
  write("a.json",
        R"([{"account": "acme", "id": 1, )" + ok + R"(}, {"account": "acme", "id": 2, "name": "n",
      "channel": "sms", "provider": "sandbox", "message": {"text": "{lead.a | nope}"}}])");
  write("b.json", R"({"id": 3, )" + ok + "}");
  write("c.json", R"({"account": "bad account", "id": 4, )" + ok + "}");
  write("d.json", R"({"account": "globex", "id": 1, )" + ok + "}");
  write("e.json", R"({"account": "acme", "id": 1, )" + ok + "}");
  write("f.json", "[1");
  write("ignored.txt", "{");
  auto files = herald::triggers::read_trigger_dir(dir.path(), {{"sandbox", "sandbox"}});
  ASSERT_EQ(files.triggers.size(), 2u);
  EXPECT_EQ(files.triggers[0].origin, "a.json[0]");
  EXPECT_EQ(files.triggers[1].account, "globex");
  ASSERT_EQ(files.faults.size(), 5u);
  EXPECT_EQ(files.faults[0].rfind("a.json[1]: message.text: line 1, column ", 0), 0u)
      << files.faults[0];
  EXPECT_EQ(files.faults[1], "b.json: account: required");
  EXPECT_EQ(files.faults[2].rfind("c.json: account: \"bad account\" is not an account name", 0),
            0u);
  EXPECT_EQ(files.faults[3].rfind("f.json: not valid JSON", 0), 0u) << files.faults[3];
  EXPECT_EQ(files.faults[4],
            "e.json: id: trigger 1 of account acme is given twice; the first one is kept");
  auto missing = herald::triggers::read_trigger_dir(dir / "nope", {});
  ASSERT_EQ(missing.faults.size(), 1u);
  EXPECT_NE(missing.faults[0].find("cannot read the directory"), std::string::npos);
}

}  // namespace
