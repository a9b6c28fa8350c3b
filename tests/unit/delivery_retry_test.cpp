// Retry classification and backoff: which outcomes are retried, how long a retry waits
// (full jitter, never before Retry-After), and what an item fails with after max_attempts.
#include "herald/delivery/retry.hpp"

#include <gtest/gtest.h>

#include <set>

namespace herald::delivery {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using tr = attempt_outcome::transport;

// A fixed wall clock: Sun, 06 Nov 1994 08:49:37 GMT.
const std::chrono::system_clock::time_point now =
    std::chrono::sys_days(std::chrono::year(1994) / 11 / 6) + 8h + 49min + 37s;

retry_policy policy(unsigned max_attempts = 5) {
  retry_policy p;
  p.max_attempts = max_attempts;
  p.backoff = {100ms, 10s, backoff_policy::jitter::full};
  return p;
}

attempt_outcome http(int status) {
  attempt_outcome o;
  o.http_status = status;
  return o;
}

attempt_outcome transport(tr t, std::string message = "") {
  attempt_outcome o;
  o.failure = t;
  o.transport_message = std::move(message);
  return o;
}

TEST(delivery_retry, a_2xx_without_an_error_is_delivered) {
  for (int status : {200, 201, 202, 204}) {
    auto d = decide(http(status), 1, policy(), 0, now);
    EXPECT_TRUE(d.delivered()) << status;
    EXPECT_FALSE(d.provider_fault);
  }
}

TEST(delivery_retry, transport_failures_are_retried_except_tls) {
  for (auto t : {tr::dns, tr::connect, tr::timeout, tr::connection_lost}) {
    auto d = decide(transport(t, "boom"), 1, policy(), 0, now);
    EXPECT_TRUE(d.retry()) << to_string(t);
    EXPECT_TRUE(d.provider_fault);
    EXPECT_EQ(d.code, to_string(t));
    EXPECT_EQ(d.message, "boom");
  }
  auto tls = decide(transport(tr::tls, "certificate verify failed"), 1, policy(), 0, now);
  EXPECT_TRUE(tls.failed());
  EXPECT_EQ(tls.code, "tls_error");
  EXPECT_EQ(tls.message, "certificate verify failed");
  EXPECT_EQ(decide(transport(tr::timeout), 1, policy(), 0, now).message, "timeout");
}

TEST(delivery_retry, 5xx_and_429_are_retried_other_4xx_never) {
  for (int status : {500, 502, 503, 504, 599}) {
    auto d = decide(http(status), 1, policy(), 0, now);
    EXPECT_TRUE(d.retry()) << status;
    EXPECT_TRUE(d.provider_fault) << status;
    EXPECT_EQ(d.code, "http_" + std::to_string(status));
  }
  auto limited = decide(http(429), 1, policy(), 0, now);
  EXPECT_TRUE(limited.retry());
  EXPECT_FALSE(limited.provider_fault) << "a 429 says the provider is up";
  for (int status : {400, 401, 403, 404, 408, 409, 413, 422}) {
    auto d = decide(http(status), 1, policy(), 0, now);
    EXPECT_TRUE(d.failed()) << status;
    EXPECT_FALSE(d.provider_fault) << status;
    EXPECT_EQ(d.code, "http_" + std::to_string(status));
    EXPECT_EQ(d.message, "HTTP " + std::to_string(status));
  }
  EXPECT_TRUE(decide(http(302), 1, policy(), 0, now).failed());
  auto weird = decide(http(101), 1, policy(), 0, now);
  EXPECT_TRUE(weird.failed());
  EXPECT_EQ(weird.code, "bad_response");
}

TEST(delivery_retry, an_error_response_body_gives_the_message) {
  auto o = http(400);
  o.body_excerpt = "subscriber_id is required";
  auto d = decide(o, 1, policy(), 0, now);
  EXPECT_EQ(d.code, "http_400");
  EXPECT_EQ(d.message, "subscriber_id is required");
  o.error = attempt_outcome::provider_error{"E_NO_SUBSCRIBER", "no such subscriber", false};
  d = decide(o, 1, policy(), 0, now);
  EXPECT_EQ(d.code, "E_NO_SUBSCRIBER");
  EXPECT_EQ(d.message, "no such subscriber");
}

TEST(delivery_retry, a_provider_error_inside_a_200_is_classified) {
  auto o = http(200);
  o.error = attempt_outcome::provider_error{"blocked", "the subscriber blocked the bot", false};
  auto d = decide(o, 1, policy(), 0, now);
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.code, "blocked");
  EXPECT_EQ(d.message, "the subscriber blocked the bot");
  EXPECT_FALSE(d.provider_fault);

  o.error = attempt_outcome::provider_error{"busy", "try later", true};
  d = decide(o, 1, policy(), 0, now);
  EXPECT_TRUE(d.retry());
  EXPECT_EQ(d.code, "busy");
  EXPECT_TRUE(d.provider_fault);
}

TEST(delivery_retry, after_max_attempts_it_fails_with_the_providers_code_and_message) {
  auto o = http(503);
  o.error = attempt_outcome::provider_error{"overloaded", "come back later", true};
  EXPECT_TRUE(decide(o, 2, policy(3), 0, now).retry());
  auto d = decide(o, 3, policy(3), 0, now);
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.code, "overloaded");
  EXPECT_EQ(d.message, "come back later");
  EXPECT_EQ(d.after, 0ms);
  EXPECT_TRUE(decide(transport(tr::connect), 3, policy(3), 0, now).failed());
  EXPECT_TRUE(decide(http(200), 3, policy(3), 0, now).delivered()) << "the last may succeed";
  EXPECT_TRUE(decide(http(429), 1, policy(1), 0, now).failed()) << "one attempt: no retry";
}

TEST(delivery_retry, full_jitter_spans_zero_to_the_ceiling) {
  const backoff_policy p{100ms, 1000ms, backoff_policy::jitter::full};
  EXPECT_EQ(full_jitter_backoff(p, 1, 0), 0ms);
  EXPECT_EQ(full_jitter_backoff(p, 1, 100), 100ms);  // random % 101
  EXPECT_EQ(full_jitter_backoff(p, 1, 101), 0ms);
  EXPECT_EQ(full_jitter_backoff(p, 2, 200), 200ms);
  EXPECT_EQ(full_jitter_backoff(p, 3, 400), 400ms);
  EXPECT_EQ(full_jitter_backoff(p, 4, 800), 800ms);
  EXPECT_EQ(full_jitter_backoff(p, 5, 1000), 1000ms) << "capped at max";
  EXPECT_EQ(full_jitter_backoff(p, 60, 1000), 1000ms);
  EXPECT_EQ(full_jitter_backoff(p, 5, 1001), 0ms);
  EXPECT_EQ(full_jitter_backoff(p, 0, 100), 100ms) << "attempt 0 reads as the first";

  // Over many random values: every delay within [0, ceiling], and both ends reached.
  std::set<long long> seen;
  for (std::uint64_t r = 0; r < 5000; ++r) {
    auto d = full_jitter_backoff(p, 3, r * 2654435761u).count();
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 400);
    seen.insert(d);
  }
  EXPECT_GT(seen.size(), 300u) << "the jitter spreads";
}

TEST(delivery_retry, a_retry_waits_the_backoff_of_its_attempt) {
  auto d = decide(http(500), 3, policy(), 400, now);  // ceiling 100ms·2² = 400ms
  EXPECT_TRUE(d.retry());
  EXPECT_EQ(d.after, 400ms);
  EXPECT_EQ(decide(http(500), 3, policy(), 401, now).after, 0ms);
}

TEST(delivery_retry, never_before_retry_after_in_seconds) {
  auto o = http(429);
  o.retry_after = "7";
  auto d = decide(o, 1, policy(), 50, now);
  EXPECT_TRUE(d.retry());
  EXPECT_EQ(d.after, 7s);
  // A backoff longer than Retry-After wins: Retry-After is a floor.
  o.retry_after = "0";
  EXPECT_EQ(decide(o, 1, policy(), 50, now).after, 50ms);
  // Honoured on a 503 too.
  auto u = http(503);
  u.retry_after = " 2 ";
  EXPECT_EQ(decide(u, 1, policy(), 0, now).after, 2s);
}

TEST(delivery_retry, never_before_retry_after_as_an_http_date) {
  auto o = http(503);
  o.retry_after = "Sun, 06 Nov 1994 08:50:07 GMT";  // now + 30s
  EXPECT_EQ(decide(o, 1, policy(), 0, now).after, 30s);
  o.retry_after = "Sun, 06 Nov 1994 08:00:00 GMT";  // in the past: the backoff alone
  EXPECT_EQ(decide(o, 1, policy(), 70, now).after, 70ms);
}

TEST(delivery_retry, never_before_retry_after_in_the_body) {
  auto o = http(200);
  o.error = attempt_outcome::provider_error{"flood", "too many requests", true};
  o.body_retry_after = 12s;
  EXPECT_EQ(decide(o, 1, policy(), 0, now).after, 12s);
  // Both given: the later one.
  o.retry_after = "20";
  EXPECT_EQ(decide(o, 1, policy(), 0, now).after, 20s);
  o.retry_after = "3";
  EXPECT_EQ(decide(o, 1, policy(), 0, now).after, 12s);
}

TEST(delivery_retry, a_bad_retry_after_falls_back_to_the_backoff) {
  auto o = http(429);
  for (const char* bad : {"", "soon", "-5", "1.5", "Sun, 06 Nov 1994 25:00:00 GMT",
                          "Sun, 31 Feb 1994 08:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 UTC"}) {
    o.retry_after = bad;
    EXPECT_EQ(decide(o, 1, policy(), 42, now).after, 42ms) << bad;
  }
}

TEST(delivery_retry, retry_after_forms) {
  EXPECT_EQ(parse_retry_after("120", now), 120s);
  EXPECT_EQ(parse_retry_after("0", now), 0ms);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", now), 1s);
  EXPECT_EQ(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", now), 24h);
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now), 1min) << "RFC 850";
  // A two-digit year: within 50 years ahead it is this century's, beyond it the last one's.
  EXPECT_EQ(parse_retry_after("Thursday, 06-Nov-25 08:49:37 GMT", now),
            std::chrono::sys_days(std::chrono::year(2025) / 11 / 6) + 8h + 49min + 37s - now);
  EXPECT_EQ(parse_retry_after("Thursday, 06-Nov-93 08:49:37 GMT", now), 0ms);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:51:37 1994", now), 2min);
  EXPECT_EQ(parse_retry_after("Sun Nov 16 08:49:37 1994", now), 24h * 10);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), 0ms) << "past: zero";
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("tomorrow", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Xyz 1994 08:49:37 GMT", now));
  // Absurdly many digits still mean "a long time", not "now".
  EXPECT_GT(*parse_retry_after("99999999999999999999999", now), 24h * 365 * 1000);
}

}  // namespace
}  // namespace herald::delivery
