#include "herald/providers/leadconverter_messages.hpp"

#include <simdjson.h>

#include "herald/common/json.hpp"

namespace herald::providers {

namespace {
constexpr std::string_view method = "/broadcasting.sendMessageBatch";
}

leadconverter_messages::leadconverter_messages(delivery::provider_config config)
    : provider(std::move(config)),
      url_(trim_base(config_.base_url) + "/api/v1/" + form_encode(config_.token)
           + std::string(method)) {}

std::string leadconverter_messages::logged_url() const {
  return trim_base(config_.base_url) + "/api/v1/***" + std::string(method);
}

std::optional<provider_error> leadconverter_messages::check(const message& m) const {
  if (!is_integer_text(m.subscriber_id))
    return provider_error{"invalid_subscriber_id",
                          "subscriber_id must be an integer for leadconverter_messages", false};
  if (m.text.empty() && (!m.file_uuid || m.file_uuid->empty()))
    return provider_error{"empty_message", "a message needs a text or a file_uuid", false};
  return std::nullopt;
}

outbound::http_request leadconverter_messages::request(
    std::span<const message* const> batch) const {
  outbound::http_request r;
  r.method = "POST";
  r.url = url_;
  r.headers.push_back({"Content-Type", "application/json"});
  std::string& b = r.body;
  b.reserve(32 + batch.size() * 96);
  b += "{\"batch\":[";
  bool first = true;
  for (const message* m : batch) {
    if (!first) b += ',';
    first = false;
    b += "{\"subscriber_id\":";
    b += m->subscriber_id;  // digits only: check()
    if (!m->text.empty()) {
      b += ",\"text\":\"";
      append_json_escaped(b, m->text);
      b += '"';
    }
    if (m->file_uuid && !m->file_uuid->empty()) {
      b += ",\"file_uuid\":\"";
      append_json_escaped(b, *m->file_uuid);
      b += '"';
    }
    b += '}';
  }
  b += "]}";
  return r;
}

call_reply leadconverter_messages::classify(const outbound::http_response& response,
                                            std::size_t n) const {
  call_reply r = provider::classify(response, n);
  if (r.call.failure != delivery::attempt_outcome::transport::none || r.call.http_status < 200
      || r.call.http_status >= 300 || r.call.error)
    return r;
  namespace dom = simdjson::dom;
  dom::parser parser;
  dom::element root;
  dom::array errors;
  if (parser.parse(response.body.data(), response.body.size()).get(root) != simdjson::SUCCESS
      || root["errors"].get(errors) != simdjson::SUCCESS)
    return r;
  for (dom::element e : errors) {
    std::uint64_t index = 0;
    if (e["index"].get(index) != simdjson::SUCCESS || index >= n) continue;
    provider_error err{"rejected", "the provider rejected the item", false};
    std::string_view s;
    if (e["code"].get(s) == simdjson::SUCCESS) err.code = std::string(s);
    if (e["message"].get(s) == simdjson::SUCCESS) err.message = redact(std::string(s));
    bool retryable = false;
    if (e["retryable"].get(retryable) == simdjson::SUCCESS) err.retryable = retryable;
    r.item_errors.emplace_back(static_cast<std::size_t>(index), std::move(err));
  }
  return r;
}

}  // namespace herald::providers
