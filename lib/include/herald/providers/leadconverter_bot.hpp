// LeadConverter's bot.startWithVariables: starts a bot for one subscriber after setting its
// variables, one form-encoded call a message (seed 002).
#pragma once

#include "herald/providers/provider.hpp"

namespace herald::providers {

class leadconverter_bot final : public provider {
 public:
  explicit leadconverter_bot(delivery::provider_config config);

  std::optional<provider_error> check(const message& m) const override;
  // POST with an application/x-www-form-urlencoded body: subscriber_id (or user_id and
  // channel_id), bot_id, variable[NAME]=VALUE in order, forced=true|false.
  outbound::http_request request(std::span<const message* const> batch) const override;
  std::string logged_url() const override;

 private:
  std::string url_;
};

}  // namespace herald::providers
