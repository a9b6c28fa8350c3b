// delivery::dispatcher against the fake providers on loopback and a real redis-server: each
// provider kind end to end (the seeds' refusals and Cyrillic variables included), coalescing of
// concurrent deliveries into batches of 100, retries through injected faults, a provider down
// for a while behind its circuit breaker, and one rate limit shared by two dispatchers.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/common/gather.hpp"
#include "herald/delivery/dispatcher.hpp"
#include "herald/delivery/provider_health.hpp"
#include "herald/outbound/http_client.hpp"
#include "herald/redis/client.hpp"
#include "support/fake_providers.hpp"
#include "support/herald_cli.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::delivery {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using providers::message;
using test::run_awaitable;

provider_config lc_config(const test::fake_provider& fake, std::string name = "lc") {
  provider_config c;
  c.name = std::move(name);
  c.kind = provider_kind::leadconverter_messages;
  c.base_url = fake.base_url();
  c.token = "TOKEN-1";
  c.concurrency = 4;
  c.timeout = 2s;
  c.linger = 100ms;
  return c;
}

message to_subscriber(std::size_t i, std::string text = "") {
  message m;
  m.key = "task:" + std::to_string(i);
  m.item = i;
  m.subscriber_id = std::to_string(1000 + i);
  m.text = text.empty() ? "Привет, " + std::to_string(i) : std::move(text);
  return m;
}

std::size_t count_sent(const std::vector<delivery_result>& r) {
  std::size_t n = 0;
  for (const auto& x : r) n += x.sent();
  return n;
}

// One heraldd thread's worth: an event loop, its Redis connection, a dispatcher.
class delivery_test : public ::testing::Test {
 protected:
  void SetUp() override {
    redis::client_config cfg;
    cfg.url = server_.url();
    redis_ = std::make_unique<redis::client>(io_.get_executor(), cfg);
    redis_->start();
  }
  void TearDown() override {
    if (dispatcher_) dispatcher_->stop();
    redis_->stop();
    io_.restart();
    io_.run_for(50ms);
    dispatcher_.reset();
    io_.restart();
    io_.run_for(20ms);
  }

  dispatcher& make(std::vector<provider_config> providers, breaker_policy breaker = {},
                   dispatcher_settings settings = {}) {
    settings.state_dir = dir_.path();
    if (settings.backoff_initial == 200ms) settings.backoff_initial = 20ms;
    settings.backoff_max = std::min(settings.backoff_max, std::chrono::milliseconds(2000));
    health_ = std::make_shared<provider_health>(breaker);
    dispatcher_ = std::make_unique<dispatcher>(io_.get_executor(), *redis_, "herald",
                                               std::move(providers), health_, settings);
    return *dispatcher_;
  }

  std::vector<delivery_result> deliver(std::string name, std::vector<message> m,
                                       std::chrono::milliseconds timeout = 60s) {
    return run_awaitable(io_, dispatcher_->deliver(name, std::move(m)), timeout);
  }

  test::redis_server server_;
  test::temp_dir dir_{"herald-delivery"};
  asio::io_context io_;
  std::unique_ptr<redis::client> redis_;
  std::shared_ptr<provider_health> health_;
  std::unique_ptr<dispatcher> dispatcher_;
};

TEST_F(delivery_test, sandbox_appends_one_json_line_a_message) {
  provider_config c;
  c.name = "sandbox";
  c.kind = provider_kind::sandbox;
  auto& d = make({c});
  ASSERT_NE(d.find("sandbox"), nullptr);
  EXPECT_EQ(d.find("nope"), nullptr);
  std::vector<message> m;
  for (std::size_t i = 0; i < 3; ++i) m.push_back(to_subscriber(i, "Текст " + std::to_string(i)));
  auto r = deliver("sandbox", m);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(count_sent(r), 3u);
  std::ifstream in(dir_ / "sandbox.sandbox.jsonl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NE(lines[i].find("\"provider\":\"sandbox\""), std::string::npos) << lines[i];
    EXPECT_NE(lines[i].find("\"key\":\"task:" + std::to_string(i) + "\""), std::string::npos)
        << lines[i];
    EXPECT_NE(lines[i].find("\"text\":\"Текст " + std::to_string(i) + "\""), std::string::npos)
        << lines[i];
  }
  EXPECT_EQ(health_->status("sandbox", circuit_breaker::clock::now())->sent, 3u);
}

TEST_F(delivery_test, leadconverter_messages_end_to_end_with_the_seed_refusals) {
  test::fake_leadconverter lc("TOKEN-1");
  auto cfg = lc_config(lc);
  cfg.linger = 20ms;
  make({cfg});
  std::vector<message> m;
  for (std::size_t i = 0; i < 5; ++i) m.push_back(to_subscriber(i));
  m[2].subscriber_id = "not-a-number";
  m[3].text.clear();
  m[3].file_uuid = "db0227be-c7c7-484e-8fa4-de9bcfd4723f";
  auto r = deliver("lc", m);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_TRUE(r[0].sent());
  EXPECT_TRUE(r[1].sent());
  EXPECT_FALSE(r[2].sent());
  EXPECT_EQ(r[2].code, "invalid_subscriber_id");
  EXPECT_EQ(r[2].attempts, 0u) << "refused without a call";
  EXPECT_TRUE(r[3].sent());
  EXPECT_TRUE(r[4].sent());
  EXPECT_EQ(lc.calls(), 1u) << "the four valid messages went in one batch";
  auto got = lc.deliveries();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].key, "1000");
  EXPECT_EQ(got[0].text, "Привет, 0");
  EXPECT_EQ(got[2].fields["file_uuid"], "db0227be-c7c7-484e-8fa4-de9bcfd4723f");

  // A wrong token: refused (401), not retried, and the token appears nowhere in the result.
  auto wrong = lc_config(lc, "lc2");
  wrong.token = "WRONG-TOKEN";
  dispatcher_->stop();
  make({wrong});
  auto refused = deliver("lc2", {to_subscriber(9)});
  ASSERT_FALSE(refused[0].sent());
  EXPECT_EQ(refused[0].code, "invalid_token");
  EXPECT_EQ(refused[0].attempts, 1u);
  EXPECT_EQ(refused[0].message.find("WRONG-TOKEN"), std::string::npos) << refused[0].message;
}

TEST_F(delivery_test, the_fake_leadconverter_refuses_what_the_seed_refuses) {
  test::fake_leadconverter lc("TOKEN-1");
  outbound::http_client http(io_.get_executor(), {});
  auto post = [&](std::string path, std::string body) {
    outbound::http_request r;
    r.method = "POST";
    r.url = lc.base_url() + path;
    r.headers.push_back({"Content-Type", "application/json"});
    r.body = std::move(body);
    return run_awaitable(io_, http.request(std::move(r)));
  };
  std::string batch = R"({"batch":[)";
  for (int i = 0; i < 101; ++i)
    batch += (i ? "," : "") + std::string(R"({"subscriber_id":1,"text":"x"})");
  batch += "]}";
  auto big = post("/api/v1/TOKEN-1/broadcasting.sendMessageBatch", batch);
  EXPECT_EQ(big.status, 400);
  EXPECT_NE(big.body.find("batch_too_large"), std::string::npos);
  auto no_id = post("/api/v1/TOKEN-1/broadcasting.sendMessageBatch", R"({"batch":[{"text":"x"}]})");
  EXPECT_EQ(no_id.status, 400);
  auto token = post("/api/v1/OTHER/broadcasting.sendMessageBatch",
                    R"({"batch":[{"subscriber_id":1,"text":"x"}]})");
  EXPECT_EQ(token.status, 401);
  // bot.startWithVariables takes its parameters from the query string too.
  auto query = post(
      "/api/v1/TOKEN-1/bot.startWithVariables?subscriber_id=5&bot_id=7&"
      "variable%5Bname%5D=%D0%AE%D0%BB%D1%8F&forced=true",
      "");
  EXPECT_EQ(query.status, 200) << query.body;
  EXPECT_EQ(lc.deliveries().back().fields["variable.name"], "Юля");
  EXPECT_EQ(lc.refused(), 3u);
  http.stop();
  io_.restart();
  io_.run_for(20ms);
}

TEST_F(delivery_test, leadconverter_bot_sets_cyrillic_variables) {
  test::fake_leadconverter lc("TOKEN-1");
  provider_config c = lc_config(lc, "bot");
  c.kind = provider_kind::leadconverter_bot;
  make({c});
  message a;
  a.key = "t:0";
  a.subscriber_id = "7365";
  a.bot_id = "12";
  a.variables = {{"name", "ИВАН"}, {"city", "Санкт-Петербург & область"}};
  a.forced = true;
  message b;
  b.key = "t:1";
  b.item = 1;
  b.user_id = "tg-55";
  b.channel_id = "ch-1";
  b.bot_id = "12";
  b.variables = {{"name", "Юля"}};
  auto r = deliver("bot", {a, b});
  EXPECT_EQ(count_sent(r), 2u);
  auto got = lc.deliveries();
  ASSERT_EQ(got.size(), 2u);
  std::map<std::string, test::fake_delivery> by_key;
  for (auto& g : got) by_key[g.key] = g;
  EXPECT_EQ(by_key["7365"].fields["variable.name"], "ИВАН");
  EXPECT_EQ(by_key["7365"].fields["variable.city"], "Санкт-Петербург & область");
  EXPECT_EQ(by_key["7365"].fields["forced"], "true");
  EXPECT_EQ(by_key["7365"].fields["bot_id"], "12");
  EXPECT_EQ(by_key["tg-55@ch-1"].fields["variable.name"], "Юля");
  EXPECT_EQ(by_key["tg-55@ch-1"].fields["forced"], "false");
}

TEST_F(delivery_test, chatbot_telegram_with_its_refusals) {
  test::fake_chatbot bot("12345", "pa55");
  provider_config c;
  c.name = "tg";
  c.kind = provider_kind::chatbot_telegram;
  c.base_url = bot.base_url();
  c.user = "12345";
  c.password = "pa55";
  c.concurrency = 2;
  provider_config wrong = c;
  wrong.name = "tg_wrong";
  wrong.password = "nope";
  make({c, wrong});
  message a;
  a.key = "t:0";
  a.subscriber_id = "sub-1";
  a.text = "Здравствуйте, Иван";
  a.buttons = {{"Открыть", "https://example.com"}};
  message b;
  b.key = "t:1";
  b.bot_id = "bot-9";
  b.number = "79001234567";
  b.text = "Второе";
  auto r = deliver("tg", {a, b});
  EXPECT_EQ(count_sent(r), 2u);
  std::map<std::string, test::fake_delivery> by_key;
  for (auto& g : bot.deliveries()) by_key[g.key] = g;
  EXPECT_EQ(by_key["sub-1"].text, "Здравствуйте, Иван");
  EXPECT_EQ(by_key["sub-1"].fields["button0.text"], "Открыть");
  EXPECT_EQ(by_key["bot-9:79001234567"].text, "Второе");

  auto refused = deliver("tg_wrong", {a});
  ASSERT_FALSE(refused[0].sent());
  EXPECT_EQ(refused[0].code, "unauthorized");
  EXPECT_EQ(refused[0].attempts, 1u) << "a 401 is not retried";

  // The fake itself refuses subscriberId together with botId.
  outbound::http_client http(io_.get_executor(), {});
  outbound::http_request both;
  both.method = "POST";
  both.url = bot.base_url() + "/v1/telegram/bot/sendMessage/";
  both.body =
      R"({"subscriberId":"s","botId":"b","number":"1","text":"x","auth":{"user":"12345","pass":"pa55"}})";
  auto resp = run_awaitable(io_, http.request(both));
  EXPECT_EQ(resp.status, 400);
  http.stop();
}

TEST_F(delivery_test, webhook_is_signed_and_keyed) {
  test::fake_webhook hook("hmac-secret");
  provider_config c;
  c.name = "hook";
  c.kind = provider_kind::webhook;
  c.base_url = hook.base_url() + "/hooks/herald";
  c.secret = "hmac-secret";
  provider_config wrong = c;
  wrong.name = "hook_wrong";
  wrong.secret = "other";
  make({c, wrong});
  std::vector<message> m;
  for (std::size_t i = 0; i < 10; ++i) {
    auto x = to_subscriber(i);
    x.email = "user" + std::to_string(i) + "@example.com";
    m.push_back(x);
  }
  auto r = deliver("hook", m);
  EXPECT_EQ(count_sent(r), 10u);
  EXPECT_EQ(hook.distinct(), 10u);
  EXPECT_EQ(hook.deliveries()[0].fields["email"].empty(), false);
  auto refused = deliver("hook_wrong", {m[0]});
  EXPECT_FALSE(refused[0].sent());
  EXPECT_EQ(refused[0].code, "bad_signature");
}

TEST_F(delivery_test, concurrent_deliveries_coalesce_into_batches_of_100) {
  test::fake_leadconverter lc("TOKEN-1");
  lc.reject("1077", "subscriber_blocked");
  auto cfg = lc_config(lc);
  cfg.linger = 200ms;
  auto& d = make({cfg});
  std::vector<message> a, b, c;
  std::size_t i = 0;
  for (; i < 30; ++i) a.push_back(to_subscriber(i));
  for (; i < 100; ++i) b.push_back(to_subscriber(i));
  for (; i < 350; ++i) c.push_back(to_subscriber(i));
  std::vector<asio::awaitable<std::vector<delivery_result>>> calls;
  calls.push_back(d.deliver("lc", a));
  calls.push_back(d.deliver("lc", b));
  calls.push_back(d.deliver("lc", c));
  auto results = run_awaitable(io_, gather(std::move(calls)));
  ASSERT_EQ(results.size(), 3u);
  std::size_t sent = 0, failed = 0;
  for (auto& g : results) {
    ASSERT_TRUE(g.value);
    for (auto& x : *g.value) {
      sent += x.sent();
      if (!x.sent()) {
        ++failed;
        EXPECT_EQ(x.code, "subscriber_blocked");
      }
    }
  }
  EXPECT_EQ(sent, 349u);
  EXPECT_EQ(failed, 1u) << "the rejected item fails alone";
  EXPECT_FALSE((*results[1].value)[77 - 30].sent()) << "item 77 is subscriber 1077";
  const auto st = d.stats("lc");
  std::printf("coalescing: %llu calls for 350 messages, %llu full\n",
              static_cast<unsigned long long>(st.calls),
              static_cast<unsigned long long>(st.full_calls));
  EXPECT_EQ(st.messages, 350u);
  EXPECT_EQ(st.calls, 4u) << "three full batches and the last 50 after linger";
  EXPECT_GE(st.full_calls, 3u);
  EXPECT_EQ(lc.distinct(), 349u);
}

TEST_F(delivery_test, an_item_the_batch_reply_marks_retryable_goes_again_alone) {
  test::fake_leadconverter lc("TOKEN-1");
  lc.reject_retryable("1003", 2);
  auto cfg = lc_config(lc);
  cfg.linger = 10ms;
  make({cfg});
  std::vector<message> m;
  for (std::size_t i = 0; i < 10; ++i) m.push_back(to_subscriber(i));
  auto r = deliver("lc", m);
  EXPECT_EQ(count_sent(r), 10u);
  EXPECT_EQ(r[3].attempts, 3u) << "twice refused as retryable, then sent";
  EXPECT_EQ(r[4].attempts, 1u);
  EXPECT_EQ(lc.count_of("1003"), 1u);
  EXPECT_EQ(lc.calls(), 3u);
  EXPECT_EQ(lc.call_sizes(), (std::vector<std::size_t>{9, 0, 1}));
}

test::fault_plan noisy() {
  test::fault_plan f;
  f.error_500 = 0.20;
  f.drop = 0.05;
  f.delay = 0.02;
  f.delay_by = 700ms;  // past the 300 ms request timeout
  f.too_many = 0.05;
  f.retry_after_s = 1;
  return f;
}

breaker_policy lenient_breaker() {
  breaker_policy b;
  b.consecutive_failures = 10;
  b.failure_ratio = 1.1;  // a run alone opens it
  b.cool_down = 50ms;
  b.max_cool_down = 200ms;
  return b;
}

TEST_F(delivery_test, through_faults_every_webhook_message_is_delivered_once) {
  test::fake_webhook hook("k");
  hook.set_faults(noisy());
  provider_config c;
  c.name = "hook";
  c.kind = provider_kind::webhook;
  c.base_url = hook.base_url() + "/in";
  c.secret = "k";
  c.concurrency = 16;
  c.timeout = 300ms;
  c.connect_timeout = 300ms;
  c.max_attempts = 15;
  auto& d = make({c}, lenient_breaker());
  std::vector<message> m;
  for (std::size_t i = 0; i < 400; ++i) m.push_back(to_subscriber(i));
  const auto started = std::chrono::steady_clock::now();
  auto r = deliver("hook", m, 120s);
  const auto took = std::chrono::steady_clock::now() - started;
  const auto st = d.stats("hook");
  std::printf(
      "faults (webhook): 400 messages in %lld ms, %llu calls, %llu faults injected, %llu retries, "
      "%llu duplicates answered, longest call %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
      static_cast<unsigned long long>(hook.calls()), static_cast<unsigned long long>(hook.faults()),
      static_cast<unsigned long long>(st.retries),
      static_cast<unsigned long long>(hook.duplicates()),
      static_cast<long long>(st.longest_call.count() / 1000));
  EXPECT_EQ(count_sent(r), 400u);
  for (const auto& x : r) EXPECT_TRUE(x.sent()) << x.code << ": " << x.message;
  EXPECT_EQ(hook.distinct(), 400u);
  EXPECT_EQ(hook.delivered(), 400u) << "the webhook dedupes by Idempotency-Key";
  EXPECT_EQ(hook.early_retries(), 0u) << "no retry before its Retry-After";
  EXPECT_GT(hook.faults(), 60u) << "the faults were injected";
  EXPECT_LE(st.longest_call, std::chrono::microseconds(400ms)) << "no request outlived its timeout";
}

TEST_F(delivery_test, through_faults_every_batch_item_is_delivered) {
  test::fake_leadconverter lc("TOKEN-1");
  lc.set_faults(noisy());
  auto c = lc_config(lc);
  c.timeout = 300ms;
  c.connect_timeout = 300ms;
  c.max_attempts = 15;
  c.linger = 20ms;
  auto& d = make({c}, lenient_breaker());
  std::vector<message> m;
  for (std::size_t i = 0; i < 3000; ++i) m.push_back(to_subscriber(i));
  auto r = deliver("lc", m, 120s);
  const auto st = d.stats("lc");
  std::printf(
      "faults (batches): 3000 messages, %llu calls (%llu full), %llu faults, %llu retries, "
      "%zu deliveries at the fake, %llu repeated\n",
      static_cast<unsigned long long>(lc.calls()), static_cast<unsigned long long>(st.full_calls),
      static_cast<unsigned long long>(lc.faults()), static_cast<unsigned long long>(st.retries),
      lc.delivered(), static_cast<unsigned long long>(lc.duplicates()));
  EXPECT_EQ(count_sent(r), 3000u);
  EXPECT_EQ(lc.distinct(), 3000u);
  EXPECT_EQ(lc.early_retries(), 0u);
  EXPECT_LE(st.longest_call, std::chrono::microseconds(400ms));
  // Repeats come only from answers delayed past the timeout (the fake took the batch).
  EXPECT_LE(lc.duplicates(), 100u * 5);
}

TEST_F(delivery_test, a_provider_down_for_a_while_opens_the_circuit_and_nothing_fails) {
  test::fake_chatbot bot("u", "p");
  provider_config c;
  c.name = "tg";
  c.kind = provider_kind::chatbot_telegram;
  c.base_url = bot.base_url();
  c.user = "u";
  c.password = "p";
  c.concurrency = 8;
  c.timeout = 1s;
  c.max_attempts = 3;  // few: without the breaker's pause they would run out
  breaker_policy b;
  b.consecutive_failures = 3;
  b.failure_ratio = 1.1;
  b.cool_down = 200ms;
  b.max_cool_down = 800ms;
  auto& d = make({c}, b);
  std::vector<message> m;
  for (std::size_t i = 0; i < 200; ++i) {
    message x;
    x.key = "t:" + std::to_string(i);
    x.subscriber_id = "s" + std::to_string(i);
    x.text = "Сообщение " + std::to_string(i);
    m.push_back(x);
  }
  bot.down_for(3s);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = deliver("tg", m, 60s);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 3s) << "nothing got through the outage";
  EXPECT_LE(took, 6s) << "delivered soon after the provider came back";
  const auto status = health_->status("tg", circuit_breaker::clock::now());
  std::printf(
      "outage of 3 s: %llu calls while down (probes %llu, opened %llu times), %llu calls "
      "in all for 200 messages\n",
      static_cast<unsigned long long>(bot.calls_while_down()),
      static_cast<unsigned long long>(status->probes),
      static_cast<unsigned long long>(status->times_opened),
      static_cast<unsigned long long>(bot.calls()));
  for (const auto& x : r) EXPECT_TRUE(x.sent()) << x.code << ": " << x.message;
  EXPECT_EQ(bot.distinct(), 200u);
  EXPECT_GE(status->times_opened, 1u);
  EXPECT_EQ(status->state, circuit_breaker::state::closed);
  EXPECT_FALSE(status->recent_errors.empty());
  // 8 in flight when it went down, then about one probe a cool-down (200, 400, 800, 800... ms).
  EXPECT_LE(bot.calls_while_down(), 25u);
  (void)d;
}

// One heraldd's thread: its own event loop, Redis connection and dispatcher.
struct instance {
  std::string redis_url;
  provider_config provider;
  std::string prefix;
  std::size_t messages;
  std::size_t sent = 0;
  std::string error;

  void run() {
    asio::io_context io;
    redis::client_config cfg;
    cfg.url = redis_url;
    redis::client redis(io.get_executor(), cfg);
    redis.start();
    {
      dispatcher d(io.get_executor(), redis, "herald", {provider},
                   std::make_shared<provider_health>());
      std::vector<message> m;
      for (std::size_t i = 0; i < messages; ++i) {
        message x = to_subscriber(i);
        x.key = prefix + ":" + std::to_string(i);
        m.push_back(x);
      }
      try {
        sent = count_sent(run_awaitable(io, d.deliver(provider.name, m), 60s));
      } catch (const std::exception& e) {
        error = e.what();
      }
      d.stop();
      redis.stop();
      io.restart();
      io.run_for(50ms);
    }
    io.restart();
    io.run_for(20ms);
  }
};

TEST_F(delivery_test, two_dispatchers_share_one_rate_limit) {
  test::fake_webhook hook("k");
  provider_config c;
  c.name = "hook";
  c.kind = provider_kind::webhook;
  c.base_url = hook.base_url() + "/in";
  c.secret = "k";
  c.concurrency = 16;
  c.rate_per_s = 200;
  c.burst = 20;
  instance a{server_.url(), c, "a", 650};
  instance b{server_.url(), c, "b", 650};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread ta([&] { a.run(); });
  std::thread tb([&] { b.run(); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(b.error, "");
  EXPECT_EQ(a.sent + b.sent, 1300u);
  std::size_t in_window = 0, from_a = 0;
  for (const auto& d : hook.deliveries()) {
    if (d.at < t0 + 5s) {
      ++in_window;
      from_a += d.key.rfind("a:", 0) == 0;
    }
  }
  std::printf(
      "rate limit: %zu deliveries in the first 5 s at 200/s (burst 20) from two "
      "dispatchers, %zu of them from the first\n",
      in_window, from_a);
  EXPECT_GE(in_window, 900u);
  EXPECT_LE(in_window, 1100u);
  EXPECT_GT(from_a, 200u) << "both got a share";
  EXPECT_LT(from_a, 800u) << "both got a share";
}

TEST_F(delivery_test, provider_health_is_published_for_herald_providers) {
  test::fake_chatbot bot("u", "p");
  bot.set_down(true);
  provider_config sandbox;
  sandbox.name = "sandbox";
  sandbox.kind = provider_kind::sandbox;
  provider_config tg;
  tg.name = "tg";
  tg.kind = provider_kind::chatbot_telegram;
  tg.base_url = bot.base_url();
  tg.user = "u";
  tg.password = "SECRET-PASS";
  tg.rate_per_s = 30;
  tg.burst = 30;
  tg.concurrency = 1;
  breaker_policy b;
  b.consecutive_failures = 1;
  b.cool_down = 10s;
  make({sandbox, tg}, b);
  EXPECT_EQ(count_sent(deliver("sandbox", {to_subscriber(1), to_subscriber(2)})), 2u);
  // One failure opens tg's breaker; the message then waits (its deliver() does not complete).
  message m;
  m.key = "t:0";
  m.subscriber_id = "s";
  m.text = "x";
  asio::co_spawn(io_, dispatcher_->deliver("tg", {m}), [](std::exception_ptr, auto) {});
  health_publisher publisher(io_.get_executor(), *redis_, "herald", "host-1", health_, 100ms);
  publisher.start();
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (bot.calls() == 0 && std::chrono::steady_clock::now() < until) io_.run_for(20ms);
  io_.restart();
  io_.run_for(300ms);
  ASSERT_EQ(health_->state("tg", circuit_breaker::clock::now()), circuit_breaker::state::open);

  const auto fields = server_.command({"HKEYS", health_key("herald")});
  EXPECT_NE(fields.find("sandbox@host-1"), std::string::npos) << fields;
  EXPECT_NE(fields.find("tg@host-1"), std::string::npos) << fields;

  test::temp_dir dir("herald-providers-cli");
  test::herald_cli cli(dir, {"HERALD_REDIS_URL=" + server_.url(), "HERALD_CONFIG=/dev/null"});
  auto table = cli.run({"providers"});
  EXPECT_EQ(table.code, 0) << table.err;
  std::printf("%s", table.out.c_str());
  EXPECT_TRUE(test::contains(table.out, "sandbox")) << table.out;
  EXPECT_TRUE(test::contains(table.out, "chatbot_telegram")) << table.out;
  EXPECT_TRUE(test::contains(table.out, "open")) << table.out;
  EXPECT_TRUE(test::contains(table.out, "host-1")) << table.out;
  EXPECT_TRUE(test::contains(table.out, "recent errors of tg")) << table.out;
  EXPECT_FALSE(test::contains(table.out, "SECRET-PASS")) << table.out;
  auto json = cli.run({"providers", "--json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_TRUE(test::contains(json.out, R"("name":"tg")")) << json.out;
  EXPECT_TRUE(test::contains(json.out, R"("state":"open")")) << json.out;
  EXPECT_TRUE(test::contains(json.out, R"("sent":2)")) << json.out;

  // An entry not refreshed for over 10 s is not listed.
  publisher.stop();
  const std::string stale = status_json(provider_status{.name = "gone"}, "old-host", 1000);
  server_.command({"HSET", health_key("herald"), "gone@old-host", stale});
  auto again = cli.run({"providers"});
  EXPECT_FALSE(test::contains(again.out, "old-host")) << again.out;
}

TEST_F(delivery_test, a_trigger_limit_below_the_provider_paces_its_messages) {
  test::fake_webhook hook("k");
  provider_config c;
  c.name = "hook";
  c.kind = provider_kind::webhook;
  c.base_url = hook.base_url() + "/in";
  c.secret = "k";
  make({c});
  std::vector<message> m;
  for (std::size_t i = 0; i < 25; ++i) m.push_back(to_subscriber(i));
  delivery_options own;
  own.rate_per_s = 10;  // burst 10: 10 at once, then 15 at 10/s
  own.rate_key = "herald:{trigger.t1}:rate";
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_awaitable(io_, dispatcher_->deliver("hook", m, own));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(count_sent(r), 25u);
  EXPECT_GE(took, 1300ms);
  EXPECT_LE(took, 3s);
}

TEST_F(delivery_test, messages_wait_while_redis_cannot_be_asked_for_the_rate_limit) {
  test::fake_webhook hook("k");
  provider_config c;
  c.name = "hook";
  c.kind = provider_kind::webhook;
  c.base_url = hook.base_url() + "/in";
  c.secret = "k";
  c.rate_per_s = 1000;
  c.burst = 100;
  dispatcher_settings s;
  s.redis_retry = 50ms;
  make({c}, {}, s);
  server_.kill9();
  std::vector<message> m;
  for (std::size_t i = 0; i < 5; ++i) m.push_back(to_subscriber(i));
  std::optional<std::vector<delivery_result>> done;
  asio::co_spawn(io_, dispatcher_->deliver("hook", m),
                 [&](std::exception_ptr e, std::vector<delivery_result> r) {
                   if (!e) done = std::move(r);
                 });
  io_.run_for(700ms);
  EXPECT_FALSE(done) << "nothing completes, nothing fails while Redis is away";
  EXPECT_EQ(hook.calls(), 0u);
  server_.start();
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!done && std::chrono::steady_clock::now() < until) {
    io_.restart();
    io_.run_for(50ms);
  }
  ASSERT_TRUE(done);
  EXPECT_EQ(count_sent(*done), 5u);
  EXPECT_EQ(hook.distinct(), 5u);
}

TEST_F(delivery_test, stop_ends_waiting_deliveries_with_delivery_stopped) {
  test::fake_chatbot bot("u", "p");
  bot.set_down(true);
  provider_config c;
  c.name = "tg";
  c.kind = provider_kind::chatbot_telegram;
  c.base_url = bot.base_url();
  c.user = "u";
  c.password = "p";
  breaker_policy b;
  b.consecutive_failures = 1;
  b.cool_down = 10s;
  make({c}, b);
  message m;
  m.key = "t:0";
  m.subscriber_id = "s";
  m.text = "x";
  bool stopped = false, finished = false;
  asio::co_spawn(io_, dispatcher_->deliver("tg", {m}),
                 [&](std::exception_ptr e, std::vector<delivery_result>) {
                   finished = true;
                   try {
                     if (e) std::rethrow_exception(e);
                   } catch (const delivery_stopped&) {
                     stopped = true;
                   }
                 });
  io_.run_for(300ms);
  EXPECT_FALSE(finished) << "the message waits behind the open breaker";
  dispatcher_->stop();
  io_.restart();
  io_.run_for(100ms);
  EXPECT_TRUE(finished);
  EXPECT_TRUE(stopped);
  EXPECT_THROW(run_awaitable(io_, dispatcher_->deliver("tg", {m})), delivery_stopped);
}

}  // namespace
}  // namespace herald::delivery
