#include "herald/providers/message.hpp"

#include <simdjson.h>

#include <stdexcept>

#include "herald/common/json_keys.hpp"

namespace herald::providers {

namespace {

using delivery::provider_kind;
namespace dom = simdjson::dom;

[[noreturn]] void refuse(std::size_t index, std::string_view field, std::string_view what) {
  std::string m = "messages[" + std::to_string(index) + "]";
  if (!field.empty()) m += "." + std::string(field);
  m += ": ";
  m += what;
  throw std::invalid_argument(m);
}

// An identifier given as a JSON integer or a string: its text. Nothing when absent.
std::optional<std::string> id_field(dom::object o, std::string_view name, std::size_t index,
                                    bool integer_only) {
  dom::element e;
  if (o[name].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  if (e.is_int64()) return std::to_string(int64_t(e));
  if (e.is_uint64()) return std::to_string(uint64_t(e));
  if (e.is_string()) {
    std::string s{std::string_view(e)};
    if (s.empty()) refuse(index, name, "must not be empty");
    if (integer_only && s.find_first_not_of("0123456789") != std::string::npos)
      refuse(index, name, "must be an integer");
    return s;
  }
  refuse(index, name, integer_only ? "must be an integer" : "must be a string or an integer");
}

std::optional<std::string> string_field(dom::object o, std::string_view name, std::size_t index) {
  dom::element e;
  if (o[name].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  if (!e.is_string()) refuse(index, name, "must be a string");
  return std::string(std::string_view(e));
}

std::vector<button> buttons_field(dom::object o, std::size_t index) {
  std::vector<button> out;
  dom::element e;
  if (o["buttons"].get(e) != simdjson::SUCCESS || e.is_null()) return out;
  if (!e.is_array()) refuse(index, "buttons", "must be an array of {text, url}");
  std::size_t i = 0;
  for (dom::element b : dom::array(e)) {
    const std::string field = "buttons[" + std::to_string(i) + "]";
    if (!b.is_object()) refuse(index, field, "must be an object {text, url}");
    dom::object bo(b);
    auto text = string_field(bo, "text", index);
    auto url = string_field(bo, "url", index);
    if (!text || text->empty()) refuse(index, field + ".text", "required");
    if (!url || url->empty()) refuse(index, field + ".url", "required");
    out.push_back({std::move(*text), std::move(*url)});
    ++i;
  }
  return out;
}

}  // namespace

std::size_t max_text_chars(provider_kind kind) {
  switch (kind) {
    case provider_kind::leadconverter_messages:
    case provider_kind::chatbot_telegram:
      return 4096;  // a Telegram message, the messengers' common limit
    case provider_kind::leadconverter_bot:
      return 4096;  // each variable's value
    case provider_kind::webhook:
    case provider_kind::sandbox:
      return 65536;
  }
  return 4096;
}

message parse_send_item(provider_kind kind, std::string_view item_json, std::size_t index) {
  dom::parser parser;
  dom::element root;
  if (parser.parse(item_json.data(), item_json.size()).get(root) != simdjson::SUCCESS)
    refuse(index, "", "not valid JSON");
  if (!root.is_object()) refuse(index, "", "must be an object");
  if (auto dup = duplicate_key(root))
    throw std::invalid_argument(
        duplicate_key_message("messages[" + std::to_string(index) + "]", *dup));
  dom::object o(root);
  message m;
  m.item = index;
  switch (kind) {
    case provider_kind::leadconverter_messages: {
      auto id = id_field(o, "subscriber_id", index, true);
      if (!id) refuse(index, "subscriber_id", "required");
      m.subscriber_id = std::move(*id);
      if (auto t = string_field(o, "text", index)) m.text = std::move(*t);
      m.file_uuid = string_field(o, "file_uuid", index);
      if (m.text.empty() && (!m.file_uuid || m.file_uuid->empty()))
        refuse(index, "text", "required unless file_uuid is given");
      break;
    }
    case provider_kind::leadconverter_bot: {
      if (auto id = id_field(o, "subscriber_id", index, true)) m.subscriber_id = std::move(*id);
      if (auto u = id_field(o, "user_id", index, false)) m.user_id = std::move(*u);
      if (auto c = id_field(o, "channel_id", index, false)) m.channel_id = std::move(*c);
      if (m.subscriber_id.empty()) {
        if (m.user_id.empty()) refuse(index, "subscriber_id", "required (or user_id + channel_id)");
        if (m.channel_id.empty()) refuse(index, "channel_id", "required with user_id");
      }
      auto bot = id_field(o, "bot_id", index, false);
      if (!bot) refuse(index, "bot_id", "required");
      m.bot_id = std::move(*bot);
      dom::element vars;
      if (o["variables"].get(vars) == simdjson::SUCCESS && !vars.is_null()) {
        if (!vars.is_object()) refuse(index, "variables", "must be an object of name: value");
        for (auto [k, v] : dom::object(vars)) {
          const std::string field = "variables." + std::string(k);
          if (k.empty()) refuse(index, "variables", "a variable's name must not be empty");
          std::string value;
          if (v.is_string()) {
            value = std::string(std::string_view(v));
          } else if (v.is_int64() || v.is_uint64() || v.is_double() || v.is_bool()) {
            value = simdjson::minify(v);
          } else {
            refuse(index, field, "must be a string, a number or a boolean");
          }
          m.variables.emplace_back(std::string(k), std::move(value));
        }
      }
      dom::element forced;
      if (o["forced"].get(forced) == simdjson::SUCCESS && !forced.is_null()) {
        if (!forced.is_bool()) refuse(index, "forced", "must be true or false");
        m.forced = bool(forced);
      }
      break;
    }
    case provider_kind::chatbot_telegram: {
      if (auto id = id_field(o, "subscriberId", index, false)) m.subscriber_id = std::move(*id);
      if (auto b = id_field(o, "botId", index, false)) m.bot_id = std::move(*b);
      if (auto n = id_field(o, "number", index, false)) m.number = std::move(*n);
      if (!m.subscriber_id.empty() && !m.bot_id.empty())
        refuse(index, "botId", "subscriberId and botId exclude each other; give one");
      if (m.subscriber_id.empty()) {
        if (m.bot_id.empty()) refuse(index, "subscriberId", "required (or botId + number)");
        if (m.number.empty()) refuse(index, "number", "required with botId");
        if (m.number.front() == '+') m.number.erase(0, 1);
      }
      auto t = string_field(o, "text", index);
      if (!t || t->empty()) refuse(index, "text", "required");
      m.text = std::move(*t);
      m.buttons = buttons_field(o, index);
      break;
    }
    case provider_kind::webhook:
    case provider_kind::sandbox:
      m.raw_json = simdjson::minify(root);
      break;
  }
  if (m.text.size() > max_text_chars(kind) * 4) {
    // A cheap upper bound first: code points are at most 4 bytes.
    refuse(index, "text", "over " + std::to_string(max_text_chars(kind)) + " characters");
  }
  std::size_t points = 0;
  for (unsigned char c : m.text) points += (c & 0xC0) != 0x80;
  if (points > max_text_chars(kind))
    refuse(index, "text", "over " + std::to_string(max_text_chars(kind)) + " characters");
  return m;
}

}  // namespace herald::providers
