#include "herald/providers/leadconverter_bot.hpp"

namespace herald::providers {

namespace {
constexpr std::string_view method = "/bot.startWithVariables";
}

leadconverter_bot::leadconverter_bot(delivery::provider_config config)
    : provider(std::move(config)),
      url_(trim_base(config_.base_url) + "/api/v1/" + form_encode(config_.token)
           + std::string(method)) {}

std::string leadconverter_bot::logged_url() const {
  return trim_base(config_.base_url) + "/api/v1/***" + std::string(method);
}

std::optional<provider_error> leadconverter_bot::check(const message& m) const {
  if (m.subscriber_id.empty() && (m.user_id.empty() || m.channel_id.empty()))
    return provider_error{"invalid_address",
                          "leadconverter_bot needs subscriber_id, or user_id and channel_id",
                          false};
  if (!m.subscriber_id.empty() && !is_integer_text(m.subscriber_id))
    return provider_error{"invalid_subscriber_id",
                          "subscriber_id must be an integer for leadconverter_bot", false};
  if (m.bot_id.empty())
    return provider_error{"invalid_bot_id", "leadconverter_bot needs a bot_id", false};
  return std::nullopt;
}

outbound::http_request leadconverter_bot::request(std::span<const message* const> batch) const {
  const message& m = *batch.front();
  outbound::http_request r;
  r.method = "POST";
  r.url = url_;
  r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  std::string& b = r.body;
  auto field = [&b](std::string_view name, std::string_view value) {
    if (!b.empty()) b += '&';
    b += name;
    b += '=';
    b += form_encode(value);
  };
  if (!m.subscriber_id.empty()) {
    field("subscriber_id", m.subscriber_id);
  } else {
    field("user_id", m.user_id);
    field("channel_id", m.channel_id);
  }
  field("bot_id", m.bot_id);
  for (const auto& [name, value] : m.variables) {
    field(form_encode("variable[" + name + "]"), value);
  }
  field("forced", m.forced ? "true" : "false");
  return r;
}

}  // namespace herald::providers
