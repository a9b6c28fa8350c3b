#include "herald/profiles/profile.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>
#include <stdexcept>

#include "herald/common/json.hpp"
#include "herald/profiles/normalize.hpp"
#include "herald/queue/task.hpp"

namespace herald::profiles {

namespace {

constexpr std::size_t max_indexed_value = 512;

void append_number(std::string& out, double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  (void)ec;
  out.append(buf, end);
}

void append_key(std::string& out, bool& first, std::string_view key) {
  if (!first) out += ',';
  first = false;
  out += '"';
  append_json_escaped(out, key);
  out += "\":";
}

void append_fields(std::string& out, bool& first, const field_map& fields) {
  for (const auto& [name, value] : fields) {
    append_key(out, first, name);
    append_json(out, value);
  }
}

[[noreturn]] void bad_doc(std::string_view what) {
  throw std::runtime_error("profile document: " + std::string(what));
}

field_value read_value(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::BOOL:
      return bool(e.get_bool().value());
    case simdjson::dom::element_type::INT64:
      return std::int64_t(e.get_int64().value());
    case simdjson::dom::element_type::UINT64:
      return double(e.get_uint64().value());
    case simdjson::dom::element_type::DOUBLE:
      return e.get_double().value();
    case simdjson::dom::element_type::STRING:
      return std::string(e.get_string().value());
    case simdjson::dom::element_type::ARRAY: {
      tag_list tags;
      simdjson::dom::array a = e.get_array().value();
      for (auto t : a) {
        std::string_view s;
        if (t.get(s)) bad_doc("a tag list holds something else than strings");
        tags.emplace_back(s);
      }
      return tags;
    }
    default:
      bad_doc("a field of an unknown type");
  }
}

std::string read_string(simdjson::dom::element e) {
  std::string_view s;
  if (!e.get(s)) return std::string(s);
  if (e.is_int64()) return std::to_string(e.get_int64().value());
  if (e.is_uint64()) return std::to_string(e.get_uint64().value());
  bad_doc("an address is not a string");
}

}  // namespace

void append_json(std::string& out, const field_value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out += std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          append_number(out, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out += '"';
          append_json_escaped(out, x);
          out += '"';
        } else {
          out += '[';
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i) out += ',';
            out += '"';
            append_json_escaped(out, x[i]);
            out += '"';
          }
          out += ']';
        }
      },
      v);
}

std::string index_text(const field_value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return std::string(trim(*s));
  if (std::holds_alternative<tag_list>(v)) return {};
  std::string out;
  append_json(out, v);
  return out;
}

std::string_view to_string(channel c) {
  switch (c) {
    case channel::email:
      return "email";
    case channel::sms:
      return "sms";
    case channel::push:
      return "push";
    case channel::telegram_bot:
      return "telegram_bot";
    case channel::leadconverter:
      return "leadconverter";
  }
  return "email";
}

std::optional<channel> parse_channel(std::string_view s) {
  if (s == "phone") return channel::sms;
  for (auto c :
       {channel::email, channel::sms, channel::push, channel::telegram_bot, channel::leadconverter})
    if (to_string(c) == s) return c;
  return std::nullopt;
}

std::string_view to_string(subscription_status s) {
  switch (s) {
    case subscription_status::active:
      return "active";
    case subscription_status::unsubscribed:
      return "unsubscribed";
    case subscription_status::blocked:
      return "blocked";
  }
  return "active";
}

std::optional<subscription_status> parse_subscription_status(std::string_view s) {
  for (auto st : {subscription_status::active, subscription_status::unsubscribed,
                  subscription_status::blocked})
    if (to_string(st) == s) return st;
  return std::nullopt;
}

std::string subscription::address_key() const {
  switch (ch) {
    case channel::email:
      return email;
    case channel::sms:
      return phone;
    case channel::push:
      return provider + "/" + subscription_id;
    case channel::telegram_bot:
      return cc_id.empty() ? "phone/" + phone : "id/" + cc_id;
    case channel::leadconverter:
      return subscriber_id.empty() ? "user/" + user_id + "/" + channel_id : "sub/" + subscriber_id;
  }
  return {};
}

std::vector<std::string> subscription::lookup_addresses() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& s) {
    if (!s.empty()) out.push_back(s);
  };
  switch (ch) {
    case channel::email:
      add(email);
      break;
    case channel::sms:
      add(phone);
      break;
    case channel::push:
      add(subscription_id);
      break;
    case channel::telegram_bot:
      add(cc_id);
      add(phone);
      break;
    case channel::leadconverter:
      add(subscriber_id);
      if (!user_id.empty()) add(user_id + "/" + channel_id);
      break;
  }
  return out;
}

void subscription::append_json(std::string& out) const {
  out += "{\"channel\":\"";
  out += to_string(ch);
  out += "\",\"resource_id\":" + std::to_string(resource_id);
  out += ",\"status\":\"";
  out += to_string(status);
  out += '"';
  auto add = [&](std::string_view name, const std::string& v) {
    if (v.empty()) return;
    out += ",\"";
    out += name;
    out += "\":";
    out += json_quote(v);
  };
  add("email", email);
  add("phone", phone);
  add("provider", provider);
  add("subscription_id", subscription_id);
  if (!cc_id.empty()) out += ",\"cc_data\":{\"id\":" + json_quote(cc_id) + "}";
  add("subscriber_id", subscriber_id);
  add("user_id", user_id);
  add("channel_id", channel_id);
  bool first = false;
  append_fields(out, first, fields);
  out += '}';
}

const std::string* profile::email() const {
  auto it = fields.find("email");
  return it == fields.end() ? nullptr : std::get_if<std::string>(&it->second);
}

const tag_list* profile::phones() const {
  auto it = fields.find("phones");
  return it == fields.end() ? nullptr : std::get_if<tag_list>(&it->second);
}

subscription* profile::find_subscription(channel ch, std::int64_t resource_id,
                                         std::string_view key) {
  for (auto& s : subscriptions)
    if (s.ch == ch && s.resource_id == resource_id && s.address_key() == key) return &s;
  return nullptr;
}

std::string profile::to_doc() const {
  std::string out = "{\"c\":" + std::to_string(created_at) + ",\"u\":" + std::to_string(updated_at);
  out += ",\"f\":{";
  bool first = true;
  append_fields(out, first, fields);
  out += "},\"s\":[";
  for (std::size_t i = 0; i < subscriptions.size(); ++i) {
    if (i) out += ',';
    subscriptions[i].append_json(out);
  }
  out += "]}";
  return out;
}

profile profile::from_doc(std::string id, std::string_view doc) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(doc.data(), doc.size()).get(root)) bad_doc("not JSON");
  profile p;
  p.id = std::move(id);
  if (root["c"].get(p.created_at) || root["u"].get(p.updated_at)) bad_doc("no times");
  simdjson::dom::object f;
  if (root["f"].get(f)) bad_doc("no fields");
  for (auto [k, v] : f) p.fields.emplace(std::string(k), read_value(v));
  simdjson::dom::array subs;
  if (root["s"].get(subs)) bad_doc("no subscriptions");
  for (auto se : subs) {
    simdjson::dom::object so;
    if (se.get(so)) bad_doc("a subscription is not an object");
    subscription s;
    for (auto [k, v] : so) {
      if (k == "channel") {
        auto c = parse_channel(read_string(v));
        if (!c) bad_doc("unknown channel");
        s.ch = *c;
      } else if (k == "resource_id") {
        if (v.get(s.resource_id)) bad_doc("resource_id");
      } else if (k == "status") {
        auto st = parse_subscription_status(read_string(v));
        if (!st) bad_doc("unknown status");
        s.status = *st;
      } else if (k == "email") {
        s.email = read_string(v);
      } else if (k == "phone") {
        s.phone = read_string(v);
      } else if (k == "provider") {
        s.provider = read_string(v);
      } else if (k == "subscription_id") {
        s.subscription_id = read_string(v);
      } else if (k == "cc_data") {
        s.cc_id = read_string(v["id"]);
      } else if (k == "subscriber_id") {
        s.subscriber_id = read_string(v);
      } else if (k == "user_id") {
        s.user_id = read_string(v);
      } else if (k == "channel_id") {
        s.channel_id = read_string(v);
      } else {
        s.fields.emplace(std::string(k), read_value(v));
      }
    }
    p.subscriptions.push_back(std::move(s));
  }
  return p;
}

std::string profile::to_json(std::int64_t db_id) const {
  std::string out = "{\"profile_id\":\"" + id + "\",\"db_id\":" + std::to_string(db_id);
  out += ",\"created_at\":\"" + queue::iso8601(created_at) + "\",\"updated_at\":\""
         + queue::iso8601(updated_at) + "\",\"fields\":{";
  bool first = true;
  append_fields(out, first, fields);
  out += "},\"subscriptions\":[";
  for (std::size_t i = 0; i < subscriptions.size(); ++i) {
    if (i) out += ',';
    subscriptions[i].append_json(out);
  }
  out += "]}";
  return out;
}

bool is_custom_field(std::string_view name) {
  return !name.empty() && name.front() != '_' && name != "email" && name != "phones";
}

std::string email_entry(std::string_view email) {
  return "e:" + std::string(email);
}
std::string phone_entry(std::string_view phone) {
  return "p:" + std::string(phone);
}
std::string subscription_entry(channel ch, std::optional<std::int64_t> resource_id,
                               std::string_view address) {
  std::string out = "s:";
  out += to_string(ch);
  out += ':';
  out += resource_id ? std::to_string(*resource_id) : std::string("*");
  out += ':';
  out += address;
  return out;
}
std::string custom_entry(std::string_view field, std::string_view text) {
  return "c:" + std::to_string(field.size()) + ":" + std::string(field) + ":" + std::string(text);
}
std::string tag_entry(std::string_view field, std::string_view tag) {
  return "t:" + std::to_string(field.size()) + ":" + std::string(field) + ":" + std::string(tag);
}

std::vector<std::string> index_entries(const profile& p) {
  std::vector<std::string> out;
  if (const auto* e = p.email(); e && !e->empty()) out.push_back(email_entry(*e));
  if (const auto* phones = p.phones())
    for (const auto& ph : *phones) out.push_back(phone_entry(ph));
  for (const auto& s : p.subscriptions) {
    for (const auto& a : s.lookup_addresses()) {
      out.push_back(subscription_entry(s.ch, s.resource_id, a));
      out.push_back(subscription_entry(s.ch, std::nullopt, a));
    }
  }
  for (const auto& [name, value] : p.fields) {
    if (!is_custom_field(name)) continue;
    if (const auto* tags = std::get_if<tag_list>(&value)) {
      for (const auto& t : *tags) {
        auto tag = trim(t);
        if (!tag.empty() && tag.size() <= max_indexed_value) out.push_back(tag_entry(name, tag));
      }
    } else {
      auto text = index_text(value);
      if (!text.empty() && text.size() <= max_indexed_value)
        out.push_back(custom_entry(name, text));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string new_profile_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  auto secs = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  std::uint64_t r = rng();
  std::string out(24, '0');
  for (int i = 7; i >= 0; --i, secs >>= 4) out[i] = hex[secs & 15];
  for (int i = 23; i >= 8; --i, r >>= 4) out[i] = hex[r & 15];
  return out;
}

bool is_profile_id(std::string_view s) {
  return s.size() == 24 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace herald::profiles
