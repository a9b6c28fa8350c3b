// LeadConverter's broadcasting.sendMessageBatch: up to 100 messages, each to one subscriber, in
// one JSON call (seed 000). The per-item reply shape is in proto/providers.md.
#pragma once

#include "herald/providers/provider.hpp"

namespace herald::providers {

class leadconverter_messages final : public provider {
 public:
  static constexpr std::size_t batch_limit = 100;

  explicit leadconverter_messages(delivery::provider_config config);

  std::size_t max_batch() const override { return batch_limit; }
  std::optional<provider_error> check(const message& m) const override;
  outbound::http_request request(std::span<const message* const> batch) const override;
  // 2xx: {"result": "ok", "errors": [{"index": 3, "code": "...", "message": "...",
  // "retryable"?: false}]}: the items named failed, the others were sent.
  call_reply classify(const outbound::http_response& response, std::size_t n) const override;
  std::string logged_url() const override;

 private:
  std::string url_;
};

}  // namespace herald::providers
