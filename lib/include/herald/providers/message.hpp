// One message to deliver, rendered: what a trigger produced for one profile, or one item of a
// `send` job read from its provider's own shape. Provider-neutral: each provider kind reads the
// fields it sends and ignores the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/delivery/provider_config.hpp"

namespace herald::providers {

struct button {
  std::string text;
  std::string url;
  bool operator==(const button&) const = default;
};

struct message {
  // `task_id:item_index`: sent wherever the provider accepts an idempotency key (webhook's
  // Idempotency-Key header), and what a fake provider counts distinct deliveries by.
  std::string key;
  std::uint64_t item = 0;  // the item's index in its task
  std::string profile_id;  // empty for a `send` job's items

  // The address, as the provider kind takes it:
  //   leadconverter_*:  subscriber_id, or user_id + channel_id (bot only)
  //   chatbot_telegram: subscriber_id (its subscriberId), or bot_id + number
  //   webhook, sandbox: whichever are set, and channel/email/phone
  std::string subscriber_id;
  std::string user_id, channel_id;
  std::string bot_id;   // leadconverter_bot: the bot to start; chatbot_telegram: botId
  std::string number;   // chatbot_telegram with bot_id: the phone, without '+'
  std::string channel;  // the subscription's channel (profiles::to_string), for webhook/sandbox
  std::string email, phone;

  // The content.
  std::string text;
  std::optional<std::string> file_uuid;
  std::vector<button> buttons;
  std::string subject, html;                                   // email
  std::vector<std::pair<std::string, std::string>> variables;  // leadconverter_bot, in order
  bool forced = false;                                         // leadconverter_bot

  // A `send` job's item for webhook or sandbox: its JSON object, delivered as given.
  std::string raw_json;
};

// The longest text (in Unicode code points) a provider kind takes; a rendered text over it fails
// its item with templates::errc::size_limit_exceeded, naming the limit.
std::size_t max_text_chars(delivery::provider_kind kind);

// Reads item `index` of a `send` job for a provider of `kind` from its JSON text, in that
// provider's own message shape (SPEC.md section 3):
//   leadconverter_messages: {"subscriber_id": 7365, "text"?: "...", "file_uuid"?: "..."}
//   leadconverter_bot:      {"subscriber_id" | "user_id" + "channel_id", "bot_id",
//                            "variables"?: {"name": "value"}, "forced"?: false}
//   chatbot_telegram:       {"subscriberId" | "botId" + "number", "text", "buttons"?: [...]}
//   webhook, sandbox:       any JSON object
// Throws std::invalid_argument naming the item and the field:
// `messages[3].subscriber_id: required`.
message parse_send_item(delivery::provider_kind kind, std::string_view item_json,
                        std::size_t index);

}  // namespace herald::providers
