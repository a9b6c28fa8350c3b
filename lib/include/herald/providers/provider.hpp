// A networked provider kind's wire format: the HTTP request that carries one message (or, for a
// batching kind, up to max_batch() of them) and what the provider's reply means for each. Pure:
// no sockets and no clock; the delivery dispatcher does the I/O and the retrying.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/delivery/provider_config.hpp"
#include "herald/delivery/retry.hpp"
#include "herald/outbound/http_client.hpp"
#include "herald/providers/message.hpp"

namespace herald::providers {

using provider_error = delivery::attempt_outcome::provider_error;

// What one call's reply means.
struct call_reply {
  // The call as a whole: delivered (2xx, no error), or how it failed.
  delivery::attempt_outcome call;
  // A batching kind: errors the provider gave for single items of a call it otherwise took,
  // by the item's index in the call. Those items alone failed (or, retryable, go again).
  std::vector<std::pair<std::size_t, provider_error>> item_errors;
};

class provider {
 public:
  virtual ~provider() = default;

  // Messages one call carries at most (1 unless the kind batches).
  virtual std::size_t max_batch() const { return 1; }
  // An error no call can fix, found before calling (an address the kind cannot take): the
  // message fails at once with it. Nothing when the message may go.
  virtual std::optional<provider_error> check(const message& m) const = 0;
  // The request for `batch` (1..max_batch() messages, each passed check()).
  virtual outbound::http_request request(std::span<const message* const> batch) const = 0;
  // What the reply to request(batch) of `n` messages means.
  virtual call_reply classify(const outbound::http_response& response, std::size_t n) const;

  const delivery::provider_config& config() const { return config_; }
  // The URL the kind posts to, as logs may show it (a token in it written ***).
  virtual std::string logged_url() const { return config_.base_url; }
  // `text` with every secret of this provider (token, password, secret) written ***.
  std::string redact(std::string text) const;

 protected:
  explicit provider(delivery::provider_config config) : config_(std::move(config)) {}
  delivery::provider_config config_;
};

// The wire format of `config.kind`; null for sandbox, which writes a file instead.
std::unique_ptr<provider> make_provider(const delivery::provider_config& config);

// The transport part of an outcome: how the HTTP client's failure reads to retry::decide, or
// the status, Retry-After and an excerpt of the body of a response.
delivery::attempt_outcome transport_outcome(const outbound::http_response& response);

// A JSON reply body read for the conventions providers use to report an error inside it:
// {"error": "text" | {"code", "message", "retryable"}}, {"ok": false, ...},
// {"result": "error", "code", "message"}, and a retry delay in `retry_after` (seconds) or
// `parameters.retry_after` (Telegram's shape). Sets outcome.error and outcome.body_retry_after.
void read_error_body(std::string_view body, delivery::attempt_outcome& outcome);

// `s` form-URL-encoded (application/x-www-form-urlencoded: space as '+', UTF-8 bytes as %XX).
std::string form_encode(std::string_view s);

// The base URL without a trailing '/'.
std::string trim_base(std::string_view base_url);

// Whether `s` is a non-empty run of decimal digits.
bool is_integer_text(std::string_view s);

}  // namespace herald::providers

namespace herald::providers {

// The message as one JSON object, as webhook posts it and sandbox writes it: its raw_json as
// given when set (a `send` job's item), otherwise {"key", "item", "profile_id"?, the address
// fields that are set, "text", "file_uuid"?, "subject"?, "html"?, "buttons"?, "variables"?,
// "forced"?}.
std::string message_json(const message& m);

}  // namespace herald::providers
