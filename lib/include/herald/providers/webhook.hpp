// A customer's own endpoint: each message POSTed as JSON, with its idempotency key and an
// HMAC-SHA256 signature of the body (key: the provider's `secret`) in headers.
#pragma once

#include "herald/providers/provider.hpp"

namespace herald::providers {

class webhook final : public provider {
 public:
  explicit webhook(delivery::provider_config config);

  std::optional<provider_error> check(const message&) const override { return std::nullopt; }
  // Body: message_json(m). Headers: Content-Type: application/json, Idempotency-Key: <key>,
  // X-Herald-Signature: sha256=<hex HMAC-SHA256 of the body>.
  outbound::http_request request(std::span<const message* const> batch) const override;
};

// The X-Herald-Signature value of `body`: "sha256=" and 64 lowercase hex digits.
std::string webhook_signature(std::string_view secret, std::string_view body);

}  // namespace herald::providers
