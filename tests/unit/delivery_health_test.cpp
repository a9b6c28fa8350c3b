// provider_health without Redis: one breaker a provider shared by every caller, counters, the
// JSON each heraldd publishes and reads back; `herald providers`' command line and output.
#include <gtest/gtest.h>

#include <span>

#include "herald/cli/command_line.hpp"
#include "herald/cli/output.hpp"
#include "herald/delivery/provider_health.hpp"

namespace herald::delivery {
namespace {

using namespace std::chrono_literals;

provider_config named(std::string name, provider_kind kind) {
  provider_config c;
  c.name = std::move(name);
  c.kind = kind;
  c.rate_per_s = 20;
  c.token = "SECRET";
  return c;
}

TEST(delivery_health, one_breaker_a_provider_for_every_caller) {
  breaker_policy p;
  p.consecutive_failures = 2;
  p.cool_down = 1s;
  provider_health h(p);
  h.add(named("a", provider_kind::leadconverter_bot));
  h.add(named("b", provider_kind::webhook));
  const auto t = circuit_breaker::clock::now();
  auto x = h.admit("a", t);
  auto y = h.admit("a", t);
  ASSERT_TRUE(x.admitted && y.admitted);
  h.on_failure("a", x, t, "http_500: boom");
  h.on_failure("a", y, t, "http_500: boom");
  EXPECT_EQ(h.state("a", t), circuit_breaker::state::open);
  EXPECT_FALSE(h.admit("a", t).admitted) << "a second caller (another thread) is refused too";
  EXPECT_EQ(h.state("b", t), circuit_breaker::state::closed) << "each provider its own";
  EXPECT_EQ(h.state("a", t + 1100ms), circuit_breaker::state::half_open);
  h.count("a", 3, 1, 2);
  auto s = h.status("a", t);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->sent, 3u);
  EXPECT_EQ(s->failed, 1u);
  EXPECT_EQ(s->retries, 2u);
  EXPECT_EQ(s->times_opened, 1u);
  ASSERT_EQ(s->recent_errors.size(), 2u);
  EXPECT_EQ(s->recent_errors.back(), "http_500: boom");
  EXPECT_FALSE(h.status("nope", t));
  EXPECT_THROW(h.admit("nope", t), std::invalid_argument);
  EXPECT_EQ(h.statuses(t).size(), 2u);
}

TEST(delivery_health, status_json_reads_back) {
  provider_status s;
  s.name = "lc";
  s.kind = provider_kind::leadconverter_messages;
  s.state = circuit_breaker::state::half_open;
  s.rate_per_s = 12.5;
  s.sent = 10;
  s.failed = 2;
  s.recent_errors = {"timeout: \"slow\""};
  const auto json = status_json(s, "host-1:w1", 1700000000000);
  auto back = parse_status_json(json);
  ASSERT_TRUE(back) << json;
  EXPECT_EQ(back->instance, "host-1:w1");
  EXPECT_EQ(back->updated_at_ms, 1700000000000);
  EXPECT_EQ(back->status.name, "lc");
  EXPECT_EQ(back->status.kind, provider_kind::leadconverter_messages);
  EXPECT_EQ(back->status.state, circuit_breaker::state::half_open);
  EXPECT_DOUBLE_EQ(back->status.rate_per_s, 12.5);
  EXPECT_EQ(back->status.sent, 10u);
  EXPECT_EQ(back->status.recent_errors, s.recent_errors);
  EXPECT_FALSE(parse_status_json("not json"));
  EXPECT_EQ(health_key("herald"), "herald:{providers}:health");
}

TEST(delivery_health, herald_providers_lists_the_fresh_entries) {
  const std::vector<std::string_view> words = {"providers", "--json"};
  auto cl = cli::parse_command_line(words);
  EXPECT_EQ(cl.command, cli::command_kind::providers);
  EXPECT_TRUE(cl.json);
  const std::vector<std::string_view> stray = {"providers", "x"};
  EXPECT_THROW(cli::parse_command_line(stray), cli::cli_error);

  provider_status a;
  a.name = "tg";
  a.kind = provider_kind::chatbot_telegram;
  a.state = circuit_breaker::state::open;
  a.rate_per_s = 30;
  a.recent_errors = {"http_500: down"};
  provider_status b;
  b.name = "old";
  const std::int64_t now = 1'700'000'100'000;
  auto fresh = fresh_providers(
      {status_json(a, "h1", now - 2000), status_json(b, "h2", now - 11'000), "garbage"}, now);
  ASSERT_EQ(fresh.size(), 1u);
  const auto text = cli::format_providers(fresh);
  EXPECT_NE(text.find("tg"), std::string::npos) << text;
  EXPECT_NE(text.find("chatbot_telegram"), std::string::npos) << text;
  EXPECT_NE(text.find("open"), std::string::npos) << text;
  EXPECT_NE(text.find("recent errors of tg (h1):\n  http_500: down"), std::string::npos) << text;
  EXPECT_EQ(cli::providers_json(fresh).front(), '[');
  EXPECT_NE(cli::format_providers({}).find("no providers"), std::string::npos);
}

}  // namespace
}  // namespace herald::delivery
