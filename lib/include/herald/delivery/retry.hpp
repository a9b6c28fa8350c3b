// What to do after one attempt to deliver: it was delivered, it should be tried again after a
// delay, or it has failed for good. Pure: the caller supplies the outcome, the attempt number,
// the random value and the wall clock (for an HTTP-date Retry-After); nothing here does I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "herald/common/backoff.hpp"

namespace herald::delivery {

// How an attempt ended, as the HTTP client and the provider's reply parser saw it.
struct attempt_outcome {
  // A failure below HTTP: no usable response arrived.
  enum class transport {
    none,             // a response arrived (see http_status)
    dns,              // the host name did not resolve
    connect,          // the connection was refused, reset or unreachable before the request
    tls,              // the TLS handshake or the certificate check failed
    timeout,          // the connect or the request timeout passed
    connection_lost,  // the connection broke after the request was sent, before the response
  };
  transport failure = transport::none;
  std::string transport_message;  // the client's own words for it, e.g. curl's error buffer

  int http_status = 0;                     // when failure == none
  std::optional<std::string> retry_after;  // the Retry-After header, verbatim
  std::string body_excerpt;                // a short, secret-free part of an error response

  // An error the provider reported inside a response it otherwise answered with success (or
  // inside an error response, when its body said more than the status).
  struct provider_error {
    std::string code;
    std::string message;
    bool retryable = false;  // the provider says a later attempt may succeed
  };
  std::optional<provider_error> error;
  // A `retry_after` the body carried, already converted by the provider's parser.
  std::optional<std::chrono::milliseconds> body_retry_after;
};

struct retry_policy {
  // Attempts of one item, the first included; after the last the item fails.
  unsigned max_attempts = 5;
  // The ceiling of the first backoff and the cap of every one; full jitter (uniform in
  // [0, ceiling]) spreads a herd of retries best.
  backoff_policy backoff{std::chrono::milliseconds(200), std::chrono::seconds(30),
                         backoff_policy::jitter::full};
};

struct retry_decision {
  enum class kind { delivered, retry, fail };
  kind what = kind::delivered;
  std::chrono::milliseconds after{0};  // retry: not before this long from now
  std::string code;                    // retry, fail: why (the provider's code when it gave one)
  std::string message;                 // retry, fail: in words
  // The outcome says the provider is unwell (unreachable, timing out, 5xx): the circuit
  // breaker counts it. A 4xx, a 429 or a delivery says the provider is up.
  bool provider_fault = false;

  bool delivered() const { return what == kind::delivered; }
  bool retry() const { return what == kind::retry; }
  bool failed() const { return what == kind::fail; }
};

// Decides what follows attempt `attempt` (1-based) of an item. Retried: connect and DNS
// errors, timeouts, lost connections, 5xx, 429 and errors the provider marks retryable; never
// other 4xx, TLS failures (a certificate does not fix itself) or non-retryable provider
// errors. A retry waits the full-jitter backoff of `random`, and never less than the
// Retry-After header or the body's retry_after. After `policy.max_attempts` a retryable
// outcome fails too, with the provider's code and message. `now` is the wall clock, used only
// for a Retry-After given as an HTTP-date.
retry_decision decide(const attempt_outcome& outcome, unsigned attempt, const retry_policy& policy,
                      std::uint64_t random, std::chrono::system_clock::time_point now);

// The full-jitter backoff before the attempt after `attempt` (1-based): uniform in
// [0, min(initial·2^(attempt-1), max)], picked by `random`.
std::chrono::milliseconds full_jitter_backoff(const backoff_policy& policy, unsigned attempt,
                                              std::uint64_t random);

// A Retry-After value as a delay from `now`: delta-seconds ("120") or an HTTP-date (IMF-fixdate
// "Sun, 06 Nov 1994 08:49:37 GMT", or the obsolete RFC 850 and asctime forms). A date in the
// past is a delay of zero; nothing when the value is neither.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

std::string_view to_string(attempt_outcome::transport t);

}  // namespace herald::delivery
