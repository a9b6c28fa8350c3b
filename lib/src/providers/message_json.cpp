#include "herald/providers/message_json.hpp"

#include <stdexcept>

#include "herald/common/json.hpp"

namespace herald::providers {

namespace {

void field(std::string& out, std::string_view name, const std::string& value) {
  if (value.empty()) return;
  out += ",\"";
  out += name;
  out += "\":";
  out += json_quote(value);
}

std::string text(simdjson::dom::element e, std::string_view name) {
  std::string_view s;
  if (e[name].get(s)) return {};
  return std::string(s);
}

void append_pairs(std::string& out, std::string_view name,
                  const std::vector<std::pair<std::string, std::string>>& pairs) {
  if (pairs.empty()) return;
  out += ",\"";
  out += name;
  out += "\":[";
  for (std::size_t i = 0; i < pairs.size(); ++i)
    out += (i ? ",[" : "[") + json_quote(pairs[i].first) + "," + json_quote(pairs[i].second) + "]";
  out += ']';
}

}  // namespace

void append_json(std::string& out, const message& m) {
  out += "{\"item\":" + std::to_string(m.item);
  field(out, "key", m.key);
  field(out, "profile_id", m.profile_id);
  field(out, "subscriber_id", m.subscriber_id);
  field(out, "user_id", m.user_id);
  field(out, "channel_id", m.channel_id);
  field(out, "bot_id", m.bot_id);
  field(out, "number", m.number);
  field(out, "channel", m.channel);
  field(out, "email", m.email);
  field(out, "phone", m.phone);
  field(out, "text", m.text);
  if (m.file_uuid) out += ",\"file_uuid\":" + json_quote(*m.file_uuid);
  std::vector<std::pair<std::string, std::string>> buttons;
  for (const auto& b : m.buttons) buttons.emplace_back(b.text, b.url);
  append_pairs(out, "buttons", buttons);
  field(out, "subject", m.subject);
  field(out, "html", m.html);
  append_pairs(out, "variables", m.variables);
  if (m.forced) out += ",\"forced\":true";
  field(out, "raw", m.raw_json);
  out += '}';
}

message message_from_json(simdjson::dom::element e) {
  if (!e.is_object()) throw std::runtime_error("a scheduled message is not a JSON object");
  message m;
  std::uint64_t item = 0;
  if (e["item"].get(item)) throw std::runtime_error("a scheduled message has no item index");
  m.item = item;
  m.key = text(e, "key");
  m.profile_id = text(e, "profile_id");
  m.subscriber_id = text(e, "subscriber_id");
  m.user_id = text(e, "user_id");
  m.channel_id = text(e, "channel_id");
  m.bot_id = text(e, "bot_id");
  m.number = text(e, "number");
  m.channel = text(e, "channel");
  m.email = text(e, "email");
  m.phone = text(e, "phone");
  m.text = text(e, "text");
  std::string_view s;
  if (!e["file_uuid"].get(s)) m.file_uuid = std::string(s);
  auto pairs = [&](std::string_view name, auto add) {
    simdjson::dom::array a;
    if (e[name].get(a)) return;
    for (auto p : a) {
      std::string_view first, second;
      if (p.at(0).get(first) || p.at(1).get(second))
        throw std::runtime_error("a scheduled message's " + std::string(name) + " is malformed");
      add(std::string(first), std::string(second));
    }
  };
  pairs("buttons", [&](std::string a, std::string b) {
    m.buttons.push_back({std::move(a), std::move(b)});
  });
  m.subject = text(e, "subject");
  m.html = text(e, "html");
  pairs("variables", [&](std::string a, std::string b) {
    m.variables.emplace_back(std::move(a), std::move(b));
  });
  bool forced = false;
  if (!e["forced"].get(forced)) m.forced = forced;
  m.raw_json = text(e, "raw");
  return m;
}

}  // namespace herald::providers
