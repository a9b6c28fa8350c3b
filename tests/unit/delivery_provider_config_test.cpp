// A [provider.NAME] section read into provider_config: defaults and required keys per kind,
// and errors that name the section, the key and the value (never a secret).
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "herald/delivery/provider_config.hpp"

namespace herald::delivery {
namespace {

using namespace std::chrono_literals;

provider_values values(std::initializer_list<std::pair<std::string, std::string>> kv) {
  provider_values out;
  for (const auto& [k, v] : kv) out[k] = {v, "from test line " + std::to_string(out.size() + 1)};
  return out;
}

// The message parse_provider throws, or "" when it accepts.
std::string error_of(std::string_view name, const provider_values& v) {
  try {
    parse_provider(name, v);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(delivery_provider_config, leadconverter_messages_with_its_defaults) {
  auto p = parse_provider("lc", values({{"kind", "leadconverter_messages"},
                                        {"base_url", "https://api.example.com/"},
                                        {"token", "t0k3n"}}));
  EXPECT_EQ(p.name, "lc");
  EXPECT_EQ(p.kind, provider_kind::leadconverter_messages);
  EXPECT_EQ(p.base_url, "https://api.example.com") << "a trailing slash is dropped";
  EXPECT_EQ(p.token, "t0k3n");
  EXPECT_EQ(p.rate_per_s, 1000);
  EXPECT_EQ(p.burst, 1000u);
  EXPECT_EQ(p.concurrency, 4u);
  EXPECT_EQ(p.timeout, 10s);
  EXPECT_EQ(p.connect_timeout, 3s);
  EXPECT_EQ(p.max_attempts, 5u);
  EXPECT_EQ(p.linger, 50ms);
}

TEST(delivery_provider_config, every_kind_with_its_required_keys) {
  EXPECT_EQ(parse_provider("bot", values({{"kind", "leadconverter_bot"},
                                          {"base_url", "http://127.0.0.1:9000"},
                                          {"token", "x"}}))
                .kind,
            provider_kind::leadconverter_bot);
  auto chat = parse_provider("chat", values({{"kind", "chatbot_telegram"},
                                             {"url", "https://chat.example.com"},
                                             {"user", "u"},
                                             {"password", "p"}}));
  EXPECT_EQ(chat.base_url, "https://chat.example.com") << "url is base_url's other name";
  EXPECT_EQ(chat.user, "u");
  EXPECT_EQ(chat.password, "p");
  EXPECT_EQ(chat.rate_per_s, 30);
  auto hook = parse_provider(
      "hook",
      values({{"kind", "webhook"}, {"url", "https://hooks.example.com/in/"}, {"secret", "s"}}));
  EXPECT_EQ(hook.base_url, "https://hooks.example.com/in/") << "a webhook URL is kept as is";
  EXPECT_EQ(hook.secret, "s");
  auto sb = parse_provider("sandbox", values({{"kind", "sandbox"}}));
  EXPECT_EQ(sb.kind, provider_kind::sandbox);
  EXPECT_TRUE(sb.path.empty());
  EXPECT_EQ(parse_provider("sb2", values({{"kind", "sandbox"}, {"path", "/tmp/out.jsonl"}})).path,
            "/tmp/out.jsonl");
}

TEST(delivery_provider_config, every_numeric_key_can_be_set) {
  auto p = parse_provider("lc", values({{"kind", "leadconverter_messages"},
                                        {"base_url", "https://a.example"},
                                        {"token", "t"},
                                        {"rate_per_s", "200"},
                                        {"burst", "50"},
                                        {"concurrency", "8"},
                                        {"timeout_ms", "2500"},
                                        {"connect_timeout_ms", "500"},
                                        {"max_attempts", "3"},
                                        {"linger_ms", "0"}}));
  EXPECT_EQ(p.rate_per_s, 200);
  EXPECT_EQ(p.burst, 50u);
  EXPECT_EQ(p.concurrency, 8u);
  EXPECT_EQ(p.timeout, 2500ms);
  EXPECT_EQ(p.connect_timeout, 500ms);
  EXPECT_EQ(p.max_attempts, 3u);
  EXPECT_EQ(p.linger, 0ms);
  // The burst follows the rate unless set: one second's worth, a batch at least for LC.
  EXPECT_EQ(parse_provider("w", values({{"kind", "webhook"},
                                        {"url", "https://h.example"},
                                        {"secret", "s"},
                                        {"rate_per_s", "2.5"}}))
                .burst,
            3u);
  EXPECT_EQ(parse_provider("lc", values({{"kind", "leadconverter_messages"},
                                         {"base_url", "https://a.example"},
                                         {"token", "t"},
                                         {"rate_per_s", "10"}}))
                .burst,
            100u);
}

TEST(delivery_provider_config, a_bad_value_is_named_with_its_section_key_and_origin) {
  auto lc = [](std::string key, std::string value) {
    auto v = values(
        {{"kind", "leadconverter_messages"}, {"base_url", "https://a.example"}, {"token", "t"}});
    v[key] = {value, "from heraldd.conf line 9"};
    return error_of("lc", v);
  };
  EXPECT_EQ(lc("rate_per_s", "x"),
            "provider.lc: rate_per_s: must be a positive number up to 1000000, not \"x\" (from "
            "heraldd.conf line 9)");
  for (auto bad : {"0", "-5", "inf", "nan", "1e9", "", "10/s"})
    EXPECT_NE(lc("rate_per_s", bad).find("provider.lc: rate_per_s: must be"), std::string::npos)
        << bad;
  EXPECT_EQ(lc("burst", "0"),
            "provider.lc: burst: must be a whole number from 1 to 1000000, not \"0\" (from "
            "heraldd.conf line 9)");
  EXPECT_NE(lc("concurrency", "many").find("provider.lc: concurrency: must be a whole number"),
            std::string::npos);
  EXPECT_NE(lc("max_attempts", "0").find("provider.lc: max_attempts:"), std::string::npos);
  EXPECT_NE(lc("timeout_ms", "10s").find("provider.lc: timeout_ms: must be a whole number"),
            std::string::npos);
  EXPECT_NE(lc("linger_ms", "-1").find("provider.lc: linger_ms:"), std::string::npos);
  EXPECT_NE(lc("connect_timeout_ms", "20000").find("must not exceed timeout_ms (10000)"),
            std::string::npos);
  EXPECT_NE(lc("base_url", "ftp://a.example").find("base_url: must be an http:// or https://"),
            std::string::npos);
  EXPECT_NE(lc("base_url", "not a url").find("not \"not a url\""), std::string::npos);
}

TEST(delivery_provider_config, unknown_keys_unused_keys_and_missing_keys) {
  EXPECT_EQ(error_of("lc", values({{"kind", "sandbox"}, {"tokn", "x"}})),
            "provider.lc: unknown key \"tokn\" (the keys: kind, base_url, url, token, user, "
            "password, secret, rate_per_s, burst, concurrency, timeout_ms, connect_timeout_ms, "
            "max_attempts, linger_ms, path) (from test line 2)");
  EXPECT_EQ(error_of("sb", values({{"kind", "sandbox"}, {"token", "x"}})),
            "provider.sb: token: not used by kind sandbox (from test line 2)");
  EXPECT_EQ(error_of("lc", values({{"kind", "leadconverter_messages"}, {"token", "x"}})),
            "provider.lc: base_url: required for kind leadconverter_messages");
  EXPECT_EQ(error_of("lc", values({{"kind", "leadconverter_bot"}, {"base_url", "http://a.b"}})),
            "provider.lc: token: required for kind leadconverter_bot");
  EXPECT_EQ(error_of("h", values({{"kind", "webhook"}, {"secret", "s"}})),
            "provider.h: url: required for kind webhook");
  EXPECT_EQ(
      error_of("c",
               values({{"kind", "chatbot_telegram"}, {"base_url", "http://a.b"}, {"user", "u"}})),
      "provider.c: password: required for kind chatbot_telegram");
  EXPECT_NE(error_of("c", values({{"kind", "webhook"},
                                  {"base_url", "http://a.b"},
                                  {"url", "http://c.d"},
                                  {"secret", "s"}}))
                .find("provider.c: url: base_url is set too"),
            std::string::npos);
  EXPECT_EQ(error_of("x", values({{"rate_per_s", "1"}})),
            "provider.x: kind: required: one of leadconverter_messages, leadconverter_bot, "
            "chatbot_telegram, webhook, sandbox");
  EXPECT_EQ(error_of("x", values({{"kind", "carrier_pigeon"}})),
            "provider.x: kind: \"carrier_pigeon\" is not one of leadconverter_messages, "
            "leadconverter_bot, chatbot_telegram, webhook, sandbox (from test line 1)");
  EXPECT_NE(error_of("x", values({{"kind", "smtp"}})).find("smtp is not available yet"),
            std::string::npos);
}

TEST(delivery_provider_config, bad_section_names) {
  for (const std::string& name :
       std::vector<std::string>{"", "LC", "l c", "lc.x", "lc-1", std::string(65, 'a')}) {
    EXPECT_NE(error_of(name, values({{"kind", "sandbox"}}))
                  .find(": the name must have 1 to 64 lowercase letters, digits or '_'"),
              std::string::npos)
        << name;
  }
  EXPECT_EQ(error_of("lc_2", values({{"kind", "sandbox"}})), "");
}

TEST(delivery_provider_config, secrets_never_appear_in_errors) {
  const std::string secret = "s3cr3t-VALUE";
  EXPECT_EQ(error_of("sb", values({{"kind", "sandbox"}, {"password", secret}})).find(secret),
            std::string::npos);
  EXPECT_EQ(error_of("lc", values({{"kind", "leadconverter_messages"},
                                   {"base_url", "https://user:" + secret + "@a.example"},
                                   {"token", "t"}}))
                .find(secret),
            std::string::npos);
  EXPECT_NE(error_of("lc", values({{"kind", "leadconverter_messages"},
                                   {"base_url", "https://user:" + secret + "@a.example"},
                                   {"token", "t"}}))
                .find("must not carry credentials"),
            std::string::npos);
  EXPECT_EQ(error_of("lc", values({{"kind", "leadconverter_messages"},
                                   {"base_url", "https://a.example"},
                                   {"token", ""}})),
            "provider.lc: token: must not be empty (from test line 3)");
}

TEST(delivery_provider_config, to_ini_hides_secrets_and_reads_back) {
  auto p = parse_provider("chat", values({{"kind", "chatbot_telegram"},
                                          {"base_url", "https://chat.example.com"},
                                          {"user", "bob"},
                                          {"password", "hunter2"},
                                          {"rate_per_s", "12.5"}}));
  const auto ini = to_ini(p);
  EXPECT_EQ(ini,
            "[provider.chat]\n"
            "kind = chatbot_telegram\n"
            "base_url = https://chat.example.com\n"
            "user = bob\n"
            "password = ***\n"
            "rate_per_s = 12.5\n"
            "burst = 13\n"
            "concurrency = 16\n"
            "timeout_ms = 10000\n"
            "connect_timeout_ms = 3000\n"
            "max_attempts = 5\n");
  EXPECT_EQ(ini.find("hunter2"), std::string::npos);
  // Rates in plain decimals, as they are written.
  EXPECT_NE(
      to_ini(parse_provider("sb", values({{"kind", "sandbox"}}))).find("rate_per_s = 100000\n"),
      std::string::npos);
  EXPECT_NE(to_ini(parse_provider("sb", values({{"kind", "sandbox"}, {"rate_per_s", "0.001"}})))
                .find("rate_per_s = 0.001\n"),
            std::string::npos);
}

}  // namespace
}  // namespace herald::delivery
