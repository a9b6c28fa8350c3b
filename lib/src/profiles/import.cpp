#include "herald/profiles/import.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "herald/common/json.hpp"
#include "herald/common/json_keys.hpp"
#include "herald/log/log.hpp"
#include "herald/profiles/normalize.hpp"
#include "herald/queue/handler.hpp"

namespace herald::profiles {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

[[noreturn]] void fail(std::string code, const std::string& path, std::string_view what) {
  throw item_error(std::move(code), path + ": " + std::string(what));
}

// A string, or an integer written as one (ids and addresses may come as either).
std::optional<std::string> read_text(element e) {
  std::string_view s;
  if (!e.get(s)) return std::string(trim(s));
  std::int64_t i = 0;
  if (!e.get(i)) return std::to_string(i);
  std::uint64_t u = 0;
  if (!e.get(u)) return std::to_string(u);
  return std::nullopt;
}

std::string require_text(element e, const std::string& path, const std::string& code) {
  auto t = read_text(e);
  if (!t || t->empty()) fail(code, path, "must be a non-empty string or an integer");
  return *t;
}

[[noreturn]] void over_limit(const std::string& path, const std::string& what, std::size_t limit,
                             std::string_view key, std::size_t got) {
  fail("limit_exceeded", path,
       "at most " + std::to_string(limit) + " " + what + " (limit " + std::string(key) + "), got "
           + std::to_string(got));
}

// A field's value within max_field_tags and max_field_bytes, checked before it is read.
void check_value_size(element e, const std::string& path, const import_limits& l) {
  std::string_view s;
  if (!e.get(s)) {
    if (s.size() > l.max_field_bytes)
      over_limit(path, "bytes a field value", l.max_field_bytes, "max_field_bytes", s.size());
    return;
  }
  array a;
  if (!e.get(a)) {
    const std::size_t n = a.size();
    if (n > l.max_field_tags)
      over_limit(path, "tags a field", l.max_field_tags, "max_field_tags", n);
    std::size_t bytes = 0;
    for (auto t : a)
      if (!t.get(s)) bytes += s.size();
    if (bytes > l.max_field_bytes)
      over_limit(path, "bytes a field value", l.max_field_bytes, "max_field_bytes", bytes);
  }
}

tag_list read_tags(element e, const std::string& path) {
  tag_list tags;
  std::string_view s;
  if (!e.get(s)) return split_tags(s);  // "tag_1, tag_2"
  array a;
  if (e.get(a)) fail("invalid_item", path, "must be a string or a list of strings");
  std::size_t i = 0;
  for (auto t : a) {
    if (t.get(s)) fail("invalid_item", path + "[" + std::to_string(i) + "]", "must be a string");
    if (!trim(s).empty()) tags.emplace_back(trim(s));
    ++i;
  }
  return tags;
}

field_value read_value(element e, const std::string& path) {
  switch (e.type()) {
    case element_type::BOOL:
      return bool(e.get_bool().value());
    case element_type::INT64:
      return std::int64_t(e.get_int64().value());
    case element_type::UINT64:
      return double(e.get_uint64().value());
    case element_type::DOUBLE:
      return e.get_double().value();
    case element_type::STRING:
      return std::string(e.get_string().value());
    case element_type::ARRAY:
      return read_tags(e, path);
    default:
      fail("invalid_item", path, "must be a string, a number, a bool or a list of strings");
  }
}

tag_list normalize_phones(const tag_list& in, const std::string& path) {
  tag_list out;
  for (const auto& p : in) {
    auto n = normalize_phone(p);
    if (!n) fail("invalid_phone", path, not_a_phone(p));
    if (std::find(out.begin(), out.end(), *n) == out.end()) out.push_back(*n);
  }
  return out;
}

// One member of an item's `data` that is a field: a value, null (unset) or an update function.
field_change read_field(std::string_view name, element e, const std::string& path,
                        const import_limits& limits) {
  check_value_size(e, path, limits);
  field_change c;
  c.name = name == "phone" ? "phones" : std::string(name);
  c.path = path;
  object fn;
  if (e.is_null()) {
    c.what = field_change::action::unset;
  } else if (!e.get(fn)) {
    std::string_view action;
    if (fn["action"].get(action))
      fail("invalid_item", path,
           "must be a string, a number, a bool, a list of strings or {\"action\", \"value\"}");
    element value;
    bool has_value = !fn["value"].get(value);
    if (has_value) check_value_size(value, path + ".value", limits);
    auto need_value = [&] {
      if (!has_value)
        fail("invalid_item", path + ".value", "required by action " + json_quote(action));
    };
    if (action == "set") {
      need_value();
      if (value.is_null())
        c.what = field_change::action::unset;
      else
        c.value = read_value(value, path + ".value");
    } else if (action == "unset") {
      c.what = field_change::action::unset;
    } else if (action == "incr" || action == "decr") {
      c.what = action == "incr" ? field_change::action::incr : field_change::action::decr;
      c.value = std::int64_t{1};
      if (has_value) {
        std::int64_t i = 0;
        double d = 0;
        if (!value.get(i))
          c.value = i;
        else if (!value.get(d))
          c.value = d;
        else
          fail("invalid_item", path + ".value", "must be a number");
      }
    } else if (action == "add_tags" || action == "remove_tags") {
      need_value();
      c.what =
          action == "add_tags" ? field_change::action::add_tags : field_change::action::remove_tags;
      c.value = read_tags(value, path + ".value");
    } else {
      fail("invalid_item", path + ".action",
           "unknown action " + json_quote(action)
               + "; one of set, unset, incr, decr, add_tags, remove_tags");
    }
  } else {
    c.value = read_value(e, path);
  }
  if (const auto* t = std::get_if<tag_list>(&c.value); t && t->size() > limits.max_field_tags)
    over_limit(path, "tags a field", limits.max_field_tags, "max_field_tags", t->size());

  using A = field_change::action;
  if (c.name == "email") {
    if (c.what == A::unset) return c;
    const auto* s = std::get_if<std::string>(&c.value);
    if (c.what != A::set || !s) fail("invalid_item", path, "must be a string (set or unset)");
    auto n = normalize_email(*s);
    if (!n) fail("invalid_email", path, not_an_email(*s));
    c.value = *n;
  } else if (c.name == "phones") {
    if (c.what == A::unset) return c;
    if (c.what == A::incr || c.what == A::decr)
      fail("invalid_item", path, "phones take set, unset, add_tags or remove_tags");
    tag_list phones;
    if (const auto* s = std::get_if<std::string>(&c.value))
      phones = {*s};
    else if (const auto* t = std::get_if<tag_list>(&c.value))
      phones = *t;
    else
      fail("invalid_item", path, "must be a phone number or a list of them");
    c.value = normalize_phones(phones, path);
  }
  return c;
}

subscription_change read_subscription(element e, const std::string& path) {
  const std::string code = "invalid_subscription";
  object o;
  if (e.get(o)) fail(code, path, "must be an object");
  subscription_change c;
  c.path = path;
  auto& s = c.sub;
  std::string_view channel_name;
  if (o["channel"].get(channel_name))
    fail(code, path + ".channel", "required: email, sms, push, telegram_bot or leadconverter");
  auto ch = parse_channel(channel_name);
  if (!ch)
    fail(code, path + ".channel",
         "unknown channel " + json_quote(channel_name)
             + "; one of email, sms (or phone), push, telegram_bot, leadconverter");
  s.ch = *ch;
  for (auto [k, v] : o) {
    std::string field_path = path + "." + std::string(k);
    if (k == "channel") continue;
    if (k == "resource_id") {
      auto t = read_text(v);
      std::int64_t id = -1;
      if (t) {
        auto [p, ec] = std::from_chars(t->data(), t->data() + t->size(), id);
        if (ec != std::errc() || p != t->data() + t->size()) id = -1;
      }
      if (id < 0) fail(code, field_path, "must be a non-negative integer");
      s.resource_id = id;
    } else if (k == "status") {
      std::string_view st;
      std::optional<subscription_status> parsed;
      if (!v.get(st)) parsed = parse_subscription_status(st);
      if (!parsed) fail(code, field_path, "must be active, unsubscribed or blocked");
      s.status = *parsed;
      c.status_given = true;
    } else if (k == "action") {
      std::string_view a;
      if (v.get(a) || a != "delete")
        fail(code, field_path, "the only action of a subscription is \"delete\"");
      c.remove = true;
    } else if (k == "email") {
      std::string_view raw;
      if (v.get(raw)) fail(code, field_path, "must be a string");
      auto n = normalize_email(raw);
      if (!n) fail(code, field_path, not_an_email(raw));
      s.email = *n;
    } else if (k == "phone") {
      auto raw = read_text(v);
      if (!raw) fail(code, field_path, "must be a phone number: a string or a number");
      auto n = normalize_phone(*raw);
      if (!n) fail(code, field_path, not_a_phone(*raw));
      s.phone = *n;
    } else if (k == "provider") {
      s.provider = require_text(v, field_path, code);
    } else if (k == "subscription_id") {
      s.subscription_id = require_text(v, field_path, code);
    } else if (k == "cc_data") {
      element id;
      if (v.type() != element_type::OBJECT || v["id"].get(id))
        fail(code, field_path + ".id", "required: the chat's id");
      s.cc_id = require_text(id, field_path + ".id", code);
    } else if (k == "subscriber_id") {
      s.subscriber_id = require_text(v, field_path, code);
    } else if (k == "user_id") {
      s.user_id = require_text(v, field_path, code);
    } else if (k == "channel_id") {
      s.channel_id = require_text(v, field_path, code);
    } else {
      // Anything else given with it: a scalar (a list, an object or null is not one).
      const auto t = v.type();
      if (t == element_type::ARRAY || t == element_type::OBJECT || t == element_type::NULL_VALUE)
        fail(code, field_path, "must be a string, a number or a bool");
      s.fields.emplace(std::string(k), read_value(v, field_path));
    }
  }
  // The channel's address.
  switch (s.ch) {
    case channel::email:
      if (s.email.empty()) fail(code, path + ".email", "required by channel email");
      break;
    case channel::sms:
      if (s.phone.empty()) fail(code, path + ".phone", "required by channel sms");
      break;
    case channel::push:
      if (s.provider.empty()) fail(code, path + ".provider", "required by channel push");
      if (s.subscription_id.empty())
        fail(code, path + ".subscription_id", "required by channel push");
      break;
    case channel::telegram_bot:
      if (s.cc_id.empty() && s.phone.empty())
        fail(code, path + ".cc_data.id", "required by channel telegram_bot (or phone)");
      break;
    case channel::leadconverter:
      if (s.subscriber_id.empty() && (s.user_id.empty() || s.channel_id.empty()))
        fail(code, path + ".subscriber_id",
             "required by channel leadconverter (or user_id and channel_id)");
      break;
  }
  return c;
}

void read_subscriptions(element e, const std::string& path, bool skip_invalid,
                        const import_limits& limits, profile_update& u) {
  array list;
  object fn;
  if (!e.get(fn)) {
    std::string_view action;
    if (fn["action"].get(action) || (action != "set" && action != "unset"))
      fail("invalid_item", path,
           "must be a list of subscriptions, {\"action\": \"set\", \"value\": [...]} or "
           "{\"action\": \"unset\"}");
    u.replace_subscriptions = true;
    if (action == "unset") return;
    if (fn["value"].get(list)) fail("invalid_item", path + ".value", "must be a list");
  } else if (e.get(list)) {
    fail("invalid_item", path, "must be a list of subscriptions");
  }
  if (list.size() > limits.max_profile_subscriptions)
    over_limit(path, "subscriptions a profile", limits.max_profile_subscriptions,
               "max_profile_subscriptions", list.size());
  std::size_t i = 0;
  for (auto s : list) {
    std::string sub_path = path + "[" + std::to_string(i++) + "]";
    try {
      u.subscriptions.push_back(read_subscription(s, sub_path));
    } catch (const item_error& err) {
      if (!skip_invalid) throw;
      u.warnings.push_back(std::string("subscription dropped: ") + err.what());
    }
  }
}

// The item's custom_data: the root's members, then the item's, the item's winning.
std::string merge_custom_data(std::optional<object> root, std::optional<object> item) {
  if (!root && !item) return {};
  std::string out = "{";
  bool first = true;
  auto add = [&](std::string_view k, element v) {
    if (!first) out += ',';
    first = false;
    out += json_quote(k) + ":" + simdjson::minify(v);
  };
  if (item)
    for (auto [k, v] : *item) add(k, v);
  if (root)
    for (auto [k, v] : *root) {
      element unused;
      if (!item || item->at_key(k).get(unused)) add(k, v);
    }
  return out + "}";
}

constexpr std::string_view item_keys[] = {"data",       "custom_data", "email",           "phone",
                                          "profile_id", "field_value", "subscription_id", "channel",
                                          "id"};

void read_match_keys(object item, object data, const import_item& it, const std::string& path,
                     match_query& q) {
  auto& k = q.keys;
  auto item_text = [&](std::string_view key) -> std::optional<std::string> {
    element e;
    if (item[key].get(e)) return std::nullopt;
    auto t = read_text(e);
    if (!t) fail("invalid_item", path + "." + std::string(key), "must be a string or an integer");
    return t;
  };
  const field_change* email_set = nullptr;
  const field_change* phones_set = nullptr;
  const field_change* custom_set = nullptr;
  for (const auto& c : it.update.fields) {
    bool sets = c.what == field_change::action::set || c.what == field_change::action::add_tags;
    if (c.name == "email" && sets) email_set = &c;
    if (c.name == "phones" && sets) phones_set = &c;
    if (!q.field_name.empty() && c.name == q.field_name && sets) custom_set = &c;
  }
  auto first_sub = [&](auto pred) -> const subscription* {
    for (const auto& sc : it.update.subscriptions)
      if (!sc.remove && pred(sc.sub)) return &sc.sub;
    return nullptr;
  };
  const bool subs_mode = q.mode == match_mode::email_sub || q.mode == match_mode::phone_sub
                         || q.mode == match_mode::email_phone_sub;

  if (auto e = item_text("email")) {
    auto n = normalize_email(*e);
    if (!n) fail("invalid_email", path + ".email", not_an_email(*e));
    k.email = *n;
  } else if (email_set) {
    k.email = std::get<std::string>(email_set->value);
  } else if (subs_mode) {
    if (auto* s = first_sub([](const subscription& s) { return s.ch == channel::email; }))
      k.email = s->email;
  }

  if (auto p = item_text("phone")) {
    auto n = normalize_phone(*p);
    if (!n) fail("invalid_phone", path + ".phone", not_a_phone(*p));
    k.phones = {*n};
  } else if (phones_set) {
    k.phones = std::get<tag_list>(phones_set->value);
  } else if (subs_mode) {
    if (auto* s = first_sub([](const subscription& s) { return s.ch == channel::sms; }))
      k.phones = {s->phone};
  }

  if (auto id = item_text("profile_id")) {
    k.profile_id = *id;
  } else {
    element e;
    if (!data["profile_id"].get(e)) k.profile_id = read_text(e).value_or("");
  }
  if (!k.profile_id.empty() && !is_profile_id(k.profile_id))
    fail("invalid_item", path + ".profile_id", "must be 24 lowercase hex characters");

  if (auto v = item_text("field_value")) {
    k.field_value = *v;
  } else if (custom_set) {
    if (const auto* tags = std::get_if<tag_list>(&custom_set->value)) {
      for (const auto& t : *tags) k.field_value += (k.field_value.empty() ? "" : ", ") + t;
    } else {
      k.field_value = index_text(custom_set->value);
    }
  }

  if (auto v = item_text("subscription_id")) {
    k.subscription_id = *v;
  } else if (auto* s = first_sub([](const subscription& s) { return s.ch == channel::push; })) {
    k.subscription_id = s->subscription_id;
  }

  auto ch = item_text("channel");
  auto id = item_text("id");
  if (ch) {
    k.sub_channel = parse_channel(*ch);
    if (!k.sub_channel)
      fail("invalid_item", path + ".channel", "unknown channel " + json_quote(*ch));
    if (id) {
      std::string why;
      auto key = subscription_key(*k.sub_channel, *id, why);
      if (!key) fail("invalid_item", path + ".id", why);
      k.sub_id = std::move(*key);
    }
  } else if (auto* s = first_sub([](const subscription& s) {
               return s.ch == channel::telegram_bot || s.ch == channel::leadconverter;
             })) {
    k.sub_channel = s->ch;
    k.sub_id = s->lookup_addresses().front();
  }

  if (auto missing = missing_key(q))
    fail("missing_key", path,
         "matching " + json_quote(to_string(q.mode)) + " needs " + *missing
             + (*missing == "field_name" ? std::string(" at the body's root")
                                         : " in the item or its data"));
}

import_item read_item(element e, std::size_t index, const import_options& o,
                      std::optional<object> root_custom_data, const import_limits& limits) {
  import_item it;
  it.index = index;
  it.query.mode = o.matching;
  it.query.resource_id = o.resource_id;
  it.query.field_name = o.field_name;
  const std::string path = "data[" + std::to_string(index) + "]";
  try {
    object item;
    if (e.get(item)) fail("invalid_item", path, "must be an object");
    // The size first, before anything walks the fields.
    object fields;
    if (!item["data"].get(fields) && fields.size() > limits.max_profile_fields + 3)
      over_limit(path + ".data", "fields a profile", limits.max_profile_fields,
                 "max_profile_fields", fields.size());
    if (auto dup = duplicate_key(e))
      fail("invalid_item", path + "." + *dup, "duplicate key; a key may appear once in an object");
    for (auto [k, v] : item) {
      if (std::find(std::begin(item_keys), std::end(item_keys), k) == std::end(item_keys))
        fail("invalid_item", path + "." + std::string(k),
             "unknown key; an item holds data, custom_data and its matching keys");
    }
    object data;
    if (o.match_only) {
      element given;
      if (!item["data"].get(given))
        fail("invalid_item", path + ".data",
             "a start item holds its matching keys and custom_data; import_and_start changes "
             "profiles");
      // An empty `data`: the item changes nothing and only its keys are read.
      static const simdjson::padded_string empty_object(std::string_view("{}"));
      thread_local simdjson::dom::parser empty_parser;
      if (empty_parser.parse(empty_object).get(data))
        throw std::logic_error("import: {} does not parse");
    } else if (item["data"].get(data)) {
      fail("invalid_item", path + ".data", "required: the profile's fields, an object");
    }
    std::optional<object> custom_data;
    object cd;
    element cde;
    if (!item["custom_data"].get(cde)) {
      if (cde.get(cd)) fail("invalid_item", path + ".custom_data", "must be an object");
      custom_data = cd;
    }
    for (auto [k, v] : data) {
      std::string field_path = path + ".data." + std::string(k);
      if (k.empty()) fail("invalid_item", field_path, "a field needs a name");
      if (k == "subscriptions") {
        read_subscriptions(v, field_path, o.skip_invalid_subscriptions, limits, it.update);
      } else if (k == "custom_data") {
        if (v.get(cd)) fail("invalid_item", field_path, "must be an object");
        if (!custom_data) custom_data = cd;
      } else if (k == "profile_id") {
        continue;  // a matching key, not a field
      } else {
        auto c = read_field(k, v, field_path, limits);
        if ((c.name == "_regip" || c.name == "_ip") && c.what == field_change::action::set) {
          if (const auto* ip = std::get_if<std::string>(&c.value))
            if (c.name == "_regip" || it.update.geo_ip.empty()) it.update.geo_ip = *ip;
        }
        it.update.fields.push_back(std::move(c));
      }
    }
    if (it.update.fields.size() > limits.max_profile_fields)
      over_limit(path + ".data", "fields a profile", limits.max_profile_fields,
                 "max_profile_fields", it.update.fields.size());
    read_match_keys(item, data, it, path, it.query);
    it.custom_data = merge_custom_data(root_custom_data, custom_data);
  } catch (const item_error& err) {
    it.error = err;
  }
  return it;
}

// A job's refusal is its dead-letter reason, logged at warn: the field's path (which may hold a
// key from outside) is masked, and so is every value echoed in `what` (see masked_quote()).
[[noreturn]] void bad(const std::string& field, std::string_view what) {
  throw queue::bad_job("body." + log::mask_personal(field) + ": " + std::string(what));
}

// An outside value quoted for a job's refusal, its emails and phones masked.
std::string masked_quote(std::string_view value) {
  return json_quote(log::mask_personal(value));
}

constexpr std::string_view body_keys[] = {
    "token",      "format",      "db_id",   "trigger_id",    "matching",
    "field_name", "resource_id", "data",    "skip_triggers", "skip_invalid_subscriptions",
    "detect_geo", "custom_data", "content", "timeout",       "attach",
};

}  // namespace

std::string_view to_string(field_change::action a) {
  switch (a) {
    case field_change::action::set:
      return "set";
    case field_change::action::unset:
      return "unset";
    case field_change::action::incr:
      return "incr";
    case field_change::action::decr:
      return "decr";
    case field_change::action::add_tags:
      return "add_tags";
    case field_change::action::remove_tags:
      return "remove_tags";
  }
  return "set";
}

void check_profile_limits(const profile& p, const import_limits& limits, const std::string& path) {
  if (p.fields.size() > limits.max_profile_fields)
    over_limit(path + ".data", "fields a profile (with those it holds)", limits.max_profile_fields,
               "max_profile_fields", p.fields.size());
  for (const auto& [name, value] : p.fields)
    if (const auto* t = std::get_if<tag_list>(&value); t && t->size() > limits.max_field_tags)
      over_limit(path + ".data." + name, "tags a field (with those it holds)",
                 limits.max_field_tags, "max_field_tags", t->size());
  if (p.subscriptions.size() > limits.max_profile_subscriptions)
    over_limit(path + ".data.subscriptions", "subscriptions a profile (with those it holds)",
               limits.max_profile_subscriptions, "max_profile_subscriptions",
               p.subscriptions.size());
  const auto entries = index_entries(p).size();
  if (entries > limits.max_profile_index_entries)
    over_limit(path + ".data", "index entries a profile (indexed fields, tags, subscriptions)",
               limits.max_profile_index_entries, "max_profile_index_entries", entries);
}

void apply(profile& p, const profile_update& u) {
  using A = field_change::action;
  for (const auto& c : u.fields) {
    auto it = p.fields.find(c.name);
    switch (c.what) {
      case A::set:
        p.fields.insert_or_assign(c.name, c.value);
        break;
      case A::unset:
        if (it != p.fields.end()) p.fields.erase(it);
        break;
      case A::incr:
      case A::decr: {
        const double sign = c.what == A::incr ? 1 : -1;
        field_value current = std::int64_t{0};
        if (it != p.fields.end()) current = it->second;
        const auto* ci = std::get_if<std::int64_t>(&current);
        const auto* cd = std::get_if<double>(&current);
        if (!ci && !cd)
          fail("invalid_update", c.path,
               std::string(to_string(c.what)) + " needs a number; the field holds something else");
        const auto* si = std::get_if<std::int64_t>(&c.value);
        const auto* sd = std::get_if<double>(&c.value);
        field_value next;
        std::int64_t r = 0;
        if (ci && si
            && !(c.what == A::incr ? __builtin_add_overflow(*ci, *si, &r)
                                   : __builtin_sub_overflow(*ci, *si, &r))) {
          next = r;
        } else {
          double a = ci ? double(*ci) : *cd;
          double b = si ? double(*si) : (sd ? *sd : 0.0);
          // JSON cannot write infinity: a document holding it would never read back.
          if (!std::isfinite(a + sign * b))
            fail("invalid_update", c.path,
                 std::string(to_string(c.what)) + " would leave the field beyond a double's range");
          next = a + sign * b;
        }
        p.fields.insert_or_assign(c.name, std::move(next));
        break;
      }
      case A::add_tags:
      case A::remove_tags: {
        tag_list tags;
        if (it != p.fields.end()) {
          const auto* t = std::get_if<tag_list>(&it->second);
          if (!t)
            fail("invalid_update", c.path,
                 std::string(to_string(c.what)) + " needs a list; the field holds something else");
          tags = *t;
        }
        for (const auto& tag : std::get<tag_list>(c.value)) {
          auto pos = std::find(tags.begin(), tags.end(), tag);
          if (c.what == A::add_tags && pos == tags.end()) tags.push_back(tag);
          if (c.what == A::remove_tags && pos != tags.end()) tags.erase(pos);
        }
        if (tags.empty())
          p.fields.erase(c.name);
        else
          p.fields.insert_or_assign(c.name, std::move(tags));
        break;
      }
    }
  }
  if (u.replace_subscriptions) p.subscriptions.clear();
  for (const auto& sc : u.subscriptions) {
    const auto key = sc.sub.address_key();
    auto pos = std::find_if(p.subscriptions.begin(), p.subscriptions.end(), [&](const auto& s) {
      return s.ch == sc.sub.ch && s.resource_id == sc.sub.resource_id && s.address_key() == key;
    });
    if (sc.remove) {
      if (pos != p.subscriptions.end()) p.subscriptions.erase(pos);
      continue;
    }
    if (pos == p.subscriptions.end()) {
      p.subscriptions.push_back(sc.sub);
      continue;
    }
    // The same address: what was given overwrites, the rest stays.
    auto& s = *pos;
    if (sc.status_given) s.status = sc.sub.status;
    for (auto [field, value] : {std::pair{&s.email, &sc.sub.email},
                                {&s.phone, &sc.sub.phone},
                                {&s.provider, &sc.sub.provider},
                                {&s.subscription_id, &sc.sub.subscription_id},
                                {&s.cc_id, &sc.sub.cc_id},
                                {&s.subscriber_id, &sc.sub.subscriber_id},
                                {&s.user_id, &sc.sub.user_id},
                                {&s.channel_id, &sc.sub.channel_id}})
      if (!value->empty()) *field = *value;
    for (const auto& [name, value] : sc.sub.fields) s.fields.insert_or_assign(name, value);
  }
}

void add_match_keys(profile& p, const match_query& q, const profile_update& u) {
  auto given = [&](std::string_view name) {
    return std::any_of(u.fields.begin(), u.fields.end(),
                       [&](const field_change& c) { return c.name == name; });
  };
  const auto& k = q.keys;
  const bool email = q.mode == match_mode::email || q.mode == match_mode::email_profile
                     || q.mode == match_mode::email_phone;
  const bool phones = q.mode == match_mode::phone || q.mode == match_mode::email_phone;
  if (email && !k.email.empty() && !given("email")) p.fields.insert_or_assign("email", k.email);
  if (phones && !k.phones.empty() && !given("phones"))
    p.fields.insert_or_assign("phones", tag_list(k.phones));
  if (q.mode == match_mode::custom && !q.field_name.empty() && !given(q.field_name)
      && is_custom_field(q.field_name)) {
    auto value = trim(k.field_value);
    if (!value.empty()) p.fields.insert_or_assign(q.field_name, std::string(value));
  }
}

namespace {

// `timeout {days, hours, minutes}` (and `seconds`, Herald's own, for short delays): each a
// non-negative integer, in all at most 366 days.
std::chrono::milliseconds read_timeout(object t) {
  constexpr std::int64_t max_seconds = 366LL * 24 * 3600;
  std::int64_t seconds = 0;
  for (auto [k, v] : t) {
    std::int64_t per = 0;
    if (k == "days")
      per = 24 * 3600;
    else if (k == "hours")
      per = 3600;
    else if (k == "minutes")
      per = 60;
    else if (k == "seconds")
      per = 1;
    else
      bad("timeout." + std::string(k),
          "unknown field; timeout holds days, hours, minutes and seconds");
    std::int64_t n = -1;
    auto text = read_text(v);
    if (text) {
      auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
      if (ec != std::errc() || p != text->data() + text->size()) n = -1;
    }
    if (n < 0 || n > max_seconds)
      bad("timeout." + std::string(k), "must be a non-negative integer");
    seconds += n * per;
  }
  if (seconds > max_seconds) bad("timeout", "at most 366 days");
  return std::chrono::seconds(seconds);
}

}  // namespace

import_body parse_import_body(std::string_view body, const import_limits& limits, bool match_only) {
  // A parser of its own, freed on return: a thread-local one would keep the memory of the
  // largest body it ever read (several times the body's size).
  simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc))
    throw queue::bad_job(std::string("body: not valid JSON (") + simdjson::error_message(err)
                         + ")");
  object root;
  if (doc.get(root)) throw queue::bad_job("body: must be a JSON object");
  bool seen[std::size(body_keys)] = {};
  for (auto [k, v] : root) {
    auto known = std::find(std::begin(body_keys), std::end(body_keys), k);
    if (known == std::end(body_keys)) bad(std::string(k), "unknown field");
    auto& once = seen[known - std::begin(body_keys)];
    if (once) bad(std::string(k), "duplicate key; a key may appear once in an object");
    once = true;
    // The items are checked one by one (read_item), so that one bad item fails alone.
    if (k != "data")
      if (auto dup = duplicate_key(v))
        bad(std::string(k) + "." + *dup, "duplicate key; a key may appear once in an object");
  }

  import_body job;
  job.limits = limits;
  auto& o = job.options;
  o.match_only = match_only;
  auto int_field = [&](std::string_view name, std::int64_t min) -> std::optional<std::int64_t> {
    element e;
    if (root[name].get(e)) return std::nullopt;
    auto t = read_text(e);
    std::int64_t v = 0;
    bool ok = false;
    if (t) {
      auto [p, ec] = std::from_chars(t->data(), t->data() + t->size(), v);
      ok = ec == std::errc() && p == t->data() + t->size() && v >= min;
    }
    if (!ok) bad(std::string(name), "must be an integer, at least " + std::to_string(min));
    return v;
  };
  auto bool_field = [&](std::string_view name) {
    element e;
    if (root[name].get(e)) return false;
    bool b = false;
    if (e.get(b)) bad(std::string(name), "must be true or false");
    return b;
  };
  o.db_id = int_field("db_id", 1).value_or(1);
  o.trigger_id = int_field("trigger_id", 1);
  o.resource_id = int_field("resource_id", 0);
  o.skip_triggers = bool_field("skip_triggers");
  o.skip_invalid_subscriptions = bool_field("skip_invalid_subscriptions");
  o.detect_geo = bool_field("detect_geo");
  element e;
  if (!root["matching"].get(e)) {
    std::string_view m;
    if (e.get(m)) bad("matching", "must be a string");
    auto mode = parse_match_mode(m);
    if (!mode)
      bad("matching", "unknown mode " + masked_quote(m) + "; one of " + match_mode_names());
    o.matching = *mode;
  }
  if (!root["field_name"].get(e)) {
    std::string_view f;
    if (e.get(f) || trim(f).empty()) bad("field_name", "must be a non-empty string");
    o.field_name = std::string(trim(f));
  }
  if (o.matching == match_mode::custom && o.field_name.empty())
    bad("field_name", "required by matching \"custom\"");
  // Standard fields, email and phones are not indexed as custom fields: nothing would match.
  if (o.matching == match_mode::custom && !is_custom_field(o.field_name))
    bad("field_name", masked_quote(o.field_name)
                          + " is not a custom field; matching \"custom\" searches custom fields "
                            "(not standard _fields, email or phones)");
  if (!root["custom_data"].get(e)) {
    if (e.type() != element_type::OBJECT) bad("custom_data", "must be an object");
    job.custom_data = simdjson::minify(e);
  }
  for (std::string_view name : {"content", "timeout"}) {
    if (!root[name].get(e) && e.type() != element_type::OBJECT)
      bad(std::string(name), "must be an object");
  }
  if (!root["content"].get(e)) job.content = simdjson::minify(e);
  if (!root["timeout"].get(e)) o.timeout = read_timeout(e.get_object().value_unsafe());
  if (match_only && !o.trigger_id) bad("trigger_id", "required: the trigger to start");
  if (match_only && o.skip_triggers) bad("skip_triggers", "a start job only starts its trigger");
  if (root["data"].get(e)) return job;
  array data;
  if (e.get(data)) bad("data", "must be a list of items");
  if (data.size() > limits.max_items)
    bad("data", "at most " + std::to_string(limits.max_items) + " items a job, got "
                    + std::to_string(data.size()));
  job.items.reserve(data.size());
  for (auto item : data) job.items.push_back(simdjson::minify(item));
  return job;
}

import_item read_import_item(const import_body& body, std::size_t index) {
  thread_local simdjson::dom::parser item_parser, custom_data_parser;
  std::optional<object> custom_data;
  if (!body.custom_data.empty()) {
    object cd;
    if (custom_data_parser.parse(body.custom_data).get(cd))
      throw std::logic_error("import: the body's custom_data no longer parses");
    custom_data = cd;
  }
  const auto& text = body.items.at(index);
  element item;
  if (item_parser.parse(text).get(item)) throw std::logic_error("import: an item no longer parses");
  return read_item(item, index, body.options, custom_data, body.limits);
}

import_job parse_import_job(std::string_view text, const import_limits& limits) {
  auto body = parse_import_body(text, limits);
  import_job job{body.options, {}};
  job.items.reserve(body.items.size());
  for (std::size_t i = 0; i < body.items.size(); ++i)
    job.items.push_back(read_import_item(body, i));
  return job;
}

}  // namespace herald::profiles
