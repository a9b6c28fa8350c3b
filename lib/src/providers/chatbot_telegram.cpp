#include "herald/providers/chatbot_telegram.hpp"

#include "herald/common/json.hpp"

namespace herald::providers {

chatbot_telegram::chatbot_telegram(delivery::provider_config config)
    : provider(std::move(config)),
      url_(trim_base(config_.base_url) + "/v1/telegram/bot/sendMessage/") {}

std::optional<provider_error> chatbot_telegram::check(const message& m) const {
  if (m.subscriber_id.empty() && (m.bot_id.empty() || m.number.empty()))
    return provider_error{"invalid_address",
                          "chatbot_telegram needs subscriberId, or botId and number", false};
  if (m.text.empty()) return provider_error{"empty_message", "a message needs a text", false};
  return std::nullopt;
}

outbound::http_request chatbot_telegram::request(std::span<const message* const> batch) const {
  const message& m = *batch.front();
  outbound::http_request r;
  r.method = "POST";
  r.url = url_;
  r.headers.push_back({"Content-Type", "application/json"});
  std::string& b = r.body;
  auto member = [&b](std::string_view name, std::string_view value) {
    b += '"';
    b += name;
    b += "\":\"";
    append_json_escaped(b, value);
    b += "\",";
  };
  b += '{';
  if (!m.subscriber_id.empty()) {
    member("subscriberId", m.subscriber_id);
  } else {
    member("botId", m.bot_id);
    member("number", m.number.front() == '+' ? m.number.substr(1) : m.number);
  }
  member("text", m.text);
  if (!m.buttons.empty()) {
    b += "\"buttons\":[";
    for (std::size_t i = 0; i < m.buttons.size(); ++i) {
      if (i) b += ',';
      b += "{\"text\":";
      b += json_quote(m.buttons[i].text);
      b += ",\"url\":";
      b += json_quote(m.buttons[i].url);
      b += '}';
    }
    b += "],";
  }
  b += "\"auth\":{\"user\":";
  b += json_quote(config_.user);
  b += ",\"pass\":";
  b += json_quote(config_.password);
  b += "}}";
  return r;
}

}  // namespace herald::providers
