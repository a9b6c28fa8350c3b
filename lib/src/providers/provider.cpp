#include "herald/providers/provider.hpp"

#include <simdjson.h>

#include <cmath>

#include "herald/common/json.hpp"

#include "herald/providers/chatbot_telegram.hpp"
#include "herald/providers/leadconverter_bot.hpp"
#include "herald/providers/leadconverter_messages.hpp"
#include "herald/providers/webhook.hpp"

namespace herald::providers {

namespace {

namespace dom = simdjson::dom;
using delivery::attempt_outcome;
using outbound::errc;

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
    s.replace(pos, what.size(), with);
}

std::string text_of(dom::element e) {
  if (e.is_string()) return std::string(std::string_view(e));
  if (e.is_null()) return {};
  return simdjson::minify(e);
}

std::optional<double> seconds_of(dom::element e) {
  if (e.is_int64()) return static_cast<double>(int64_t(e));
  if (e.is_uint64()) return static_cast<double>(uint64_t(e));
  if (e.is_double()) return double(e);
  if (e.is_string()) {
    try {
      return std::stod(std::string(std::string_view(e)));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string provider::redact(std::string text) const {
  for (const std::string* secret : {&config_.token, &config_.password, &config_.secret}) {
    replace_all(text, *secret, "***");
    // The token also travels URL-encoded.
    if (!secret->empty()) replace_all(text, form_encode(*secret), "***");
  }
  return text;
}

call_reply provider::classify(const outbound::http_response& response, std::size_t) const {
  call_reply r;
  r.call = transport_outcome(response);
  if (r.call.failure == attempt_outcome::transport::none) read_error_body(response.body, r.call);
  r.call.body_excerpt = redact(std::move(r.call.body_excerpt));
  r.call.transport_message = redact(std::move(r.call.transport_message));
  if (r.call.error) r.call.error->message = redact(std::move(r.call.error->message));
  return r;
}

std::unique_ptr<provider> make_provider(const delivery::provider_config& config) {
  switch (config.kind) {
    case delivery::provider_kind::leadconverter_messages:
      return std::make_unique<leadconverter_messages>(config);
    case delivery::provider_kind::leadconverter_bot:
      return std::make_unique<leadconverter_bot>(config);
    case delivery::provider_kind::chatbot_telegram:
      return std::make_unique<chatbot_telegram>(config);
    case delivery::provider_kind::webhook:
      return std::make_unique<webhook>(config);
    case delivery::provider_kind::sandbox:
      return nullptr;
  }
  return nullptr;
}

attempt_outcome transport_outcome(const outbound::http_response& response) {
  attempt_outcome o;
  if (response.error) {
    using tr = attempt_outcome::transport;
    switch (static_cast<errc>(response.error.value())) {
      case errc::dns:
        o.failure = tr::dns;
        break;
      case errc::connect_failed:
        o.failure = tr::connect;
        break;
      case errc::connect_timeout:
      case errc::timeout:
        o.failure = tr::timeout;
        break;
      case errc::tls:
        o.failure = tr::tls;
        break;
      default:
        o.failure = response.request_sent ? tr::connection_lost : tr::connect;
        break;
    }
    o.transport_message =
        response.error_message.empty()
            ? std::string(outbound::name(static_cast<errc>(response.error.value())))
            : response.error_message;
    return o;
  }
  o.http_status = response.status;
  if (auto ra = response.retry_after()) o.retry_after = std::string(*ra);
  if (response.status < 200 || response.status >= 300) {
    o.body_excerpt = response.body.substr(0, 200);
  }
  return o;
}

void read_error_body(std::string_view body, attempt_outcome& outcome) {
  if (body.empty()) return;
  dom::parser parser;
  dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || !root.is_object())
    return;
  dom::object o(root);
  provider_error err;
  bool failed = false;
  dom::element e;
  if (o["error"].get(e) == simdjson::SUCCESS && !e.is_null() && !(e.is_bool() && !bool(e))) {
    failed = true;
    if (e.is_object()) {
      dom::element f;
      if (e["code"].get(f) == simdjson::SUCCESS) err.code = text_of(f);
      if (e["message"].get(f) == simdjson::SUCCESS) err.message = text_of(f);
      if (e["retryable"].get(f) == simdjson::SUCCESS && f.is_bool()) err.retryable = bool(f);
    } else {
      err.message = text_of(e);
    }
  }
  if (o["ok"].get(e) == simdjson::SUCCESS && e.is_bool() && !bool(e)) failed = true;
  if (o["success"].get(e) == simdjson::SUCCESS && e.is_bool() && !bool(e)) failed = true;
  if (o["result"].get(e) == simdjson::SUCCESS && e.is_string()) {
    const std::string_view r(e);
    if (r == "error" || r == "fail" || r == "failed") failed = true;
  }
  if (failed) {
    if (err.code.empty() && o["code"].get(e) == simdjson::SUCCESS) err.code = text_of(e);
    if (err.code.empty() && o["error_code"].get(e) == simdjson::SUCCESS) err.code = text_of(e);
    if (err.message.empty() && o["message"].get(e) == simdjson::SUCCESS) err.message = text_of(e);
    if (err.message.empty() && o["description"].get(e) == simdjson::SUCCESS)
      err.message = text_of(e);
    if (o["retryable"].get(e) == simdjson::SUCCESS && e.is_bool()) err.retryable = bool(e);
    if (err.code.empty()) err.code = "provider_error";
    if (err.message.empty()) err.message = "the provider reported an error";
  }
  std::optional<double> retry_s;
  if (o["retry_after"].get(e) == simdjson::SUCCESS) retry_s = seconds_of(e);
  if (!retry_s && o["parameters"]["retry_after"].get(e) == simdjson::SUCCESS)
    retry_s = seconds_of(e);
  if (retry_s && std::isfinite(*retry_s) && *retry_s >= 0 && *retry_s < 86400) {
    outcome.body_retry_after =
        std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*retry_s * 1000)));
    // A delay to wait says a later attempt may succeed.
    if (failed) err.retryable = true;
  }
  if (failed && outcome.http_status >= 200 && outcome.http_status < 300) outcome.error = err;
  if (failed && (outcome.http_status < 200 || outcome.http_status >= 300)) outcome.error = err;
}

std::string form_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
        || c == '.' || c == '_' || c == '*') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string trim_base(std::string_view base_url) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  return std::string(base_url);
}

bool is_integer_text(std::string_view s) {
  return !s.empty() && s.size() <= 19
         && s.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace herald::providers

namespace herald::providers {

std::string message_json(const message& m) {
  if (!m.raw_json.empty()) return m.raw_json;
  std::string b;
  b.reserve(128 + m.text.size() + m.html.size());
  b += "{\"key\":";
  b += json_quote(m.key);
  b += ",\"item\":";
  b += std::to_string(m.item);
  auto member = [&b](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    b += ",\"";
    b += name;
    b += "\":";
    b += json_quote(value);
  };
  member("profile_id", m.profile_id);
  member("subscriber_id", m.subscriber_id);
  member("user_id", m.user_id);
  member("channel_id", m.channel_id);
  member("bot_id", m.bot_id);
  member("number", m.number);
  member("channel", m.channel);
  member("email", m.email);
  member("phone", m.phone);
  b += ",\"text\":";
  b += json_quote(m.text);
  if (m.file_uuid) member("file_uuid", *m.file_uuid);
  member("subject", m.subject);
  member("html", m.html);
  if (!m.buttons.empty()) {
    b += ",\"buttons\":[";
    for (std::size_t i = 0; i < m.buttons.size(); ++i) {
      if (i) b += ',';
      b += "{\"text\":" + json_quote(m.buttons[i].text) + ",\"url\":" + json_quote(m.buttons[i].url)
           + "}";
    }
    b += ']';
  }
  if (!m.variables.empty()) {
    b += ",\"variables\":{";
    for (std::size_t i = 0; i < m.variables.size(); ++i) {
      if (i) b += ',';
      b += json_quote(m.variables[i].first) + ":" + json_quote(m.variables[i].second);
    }
    b += '}';
  }
  if (m.forced) b += ",\"forced\":true";
  b += '}';
  return b;
}

}  // namespace herald::providers
