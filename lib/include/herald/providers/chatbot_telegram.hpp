// The chat-bot API's Telegram sendMessage: one JSON call a message, to a subscriber of a bot or
// to a phone number through a bot, authorised by the account's user and password (seed 003).
#pragma once

#include "herald/providers/provider.hpp"

namespace herald::providers {

class chatbot_telegram final : public provider {
 public:
  explicit chatbot_telegram(delivery::provider_config config);

  std::optional<provider_error> check(const message& m) const override;
  // {"subscriberId"} or {"botId", "number"}, "text", "buttons"?, "auth": {"user", "pass"}.
  outbound::http_request request(std::span<const message* const> batch) const override;

 private:
  std::string url_;
};

}  // namespace herald::providers
