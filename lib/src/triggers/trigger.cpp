#include "herald/triggers/trigger.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include "herald/common/json.hpp"

namespace herald::triggers {

namespace {

using element = simdjson::dom::element;
using element_type = simdjson::dom::element_type;

constexpr std::string_view trigger_fields[] = {"id",         "name",       "db_id",   "enabled",
                                               "channel",    "provider",   "message", "bot",
                                               "rate_per_s", "resource_id"};
constexpr std::string_view message_fields[] = {"text", "file_uuid", "buttons", "subject", "html"};
constexpr std::string_view button_fields[] = {"text", "url"};
constexpr std::string_view bot_fields[] = {"bot_id", "variables", "forced"};

template <std::size_t N>
std::string list_of(const std::string_view (&names)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? " and " : ", ";
    out += names[i];
  }
  return out;
}

template <std::size_t N>
bool known(const std::string_view (&names)[N], std::string_view key) {
  for (auto n : names)
    if (n == key) return true;
  return false;
}

struct reader {
  std::optional<trigger_error> error;

  bool fail(std::string field, std::string reason) {
    if (!error) error = trigger_error{std::move(field), std::move(reason)};
    return false;
  }

  // An object's keys are all among `names` (`account` too when allowed).
  template <std::size_t N>
  bool only(simdjson::dom::object obj, const std::string& prefix,
            const std::string_view (&names)[N], bool account = false) {
    for (auto [key, value] : obj) {
      (void)value;
      if (known(names, key) || (account && key == "account")) continue;
      return fail(
          prefix + std::string(key),
          "unknown field; "
              + (prefix.empty() ? std::string("a trigger") : prefix.substr(0, prefix.size() - 1))
              + " takes " + list_of(names));
    }
    return true;
  }

  bool string_field(simdjson::dom::object obj, const std::string& field, std::string_view key,
                    std::optional<std::string>& out, std::size_t max_bytes) {
    element e;
    if (obj[key].get(e) != simdjson::SUCCESS || e.is_null()) return true;
    std::string_view s;
    if (e.get(s) != simdjson::SUCCESS) return fail(field, "must be a string");
    if (s.size() > max_bytes)
      return fail(field, "longer than " + std::to_string(max_bytes) + " bytes");
    out = std::string(s);
    return true;
  }

  bool required_string(simdjson::dom::object obj, const std::string& field, std::string_view key,
                       std::string& out, std::size_t max_bytes) {
    std::optional<std::string> s;
    if (!string_field(obj, field, key, s, max_bytes)) return false;
    if (!s) return fail(field, "required");
    if (s->empty()) return fail(field, "must not be empty");
    out = std::move(*s);
    return true;
  }

  // An integer, or a string of its digits; in [min, max].
  bool integer_field(simdjson::dom::object obj, const std::string& field, std::string_view key,
                     std::optional<std::int64_t>& out, std::int64_t min) {
    element e;
    if (obj[key].get(e) != simdjson::SUCCESS || e.is_null()) return true;
    const std::string rule =
        min == 0 ? "must be a non-negative integer" : "must be a positive integer";
    std::int64_t v = 0;
    std::string_view s;
    if (e.get(s) == simdjson::SUCCESS) {
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || p != s.data() + s.size() || s.empty() || s[0] == '-')
        return fail(field, rule);
    } else if (e.get(v) != simdjson::SUCCESS) {
      return fail(field, rule);
    }
    if (v < min) return fail(field, rule);
    out = v;
    return true;
  }

  bool bool_field(simdjson::dom::object obj, const std::string& field, std::string_view key,
                  bool& out) {
    element e;
    if (obj[key].get(e) != simdjson::SUCCESS || e.is_null()) return true;
    if (e.get(out) != simdjson::SUCCESS) return fail(field, "must be true or false");
    return true;
  }

  bool read_message(element e, message& out) {
    simdjson::dom::object obj;
    if (e.get(obj) != simdjson::SUCCESS) return fail("message", "must be an object");
    if (!only(obj, "message.", message_fields)) return false;
    if (!string_field(obj, "message.text", "text", out.text, max_template_bytes)) return false;
    if (!string_field(obj, "message.file_uuid", "file_uuid", out.file_uuid, 256)) return false;
    if (!string_field(obj, "message.subject", "subject", out.subject, max_template_bytes))
      return false;
    if (!string_field(obj, "message.html", "html", out.html, max_template_bytes)) return false;
    element buttons;
    if (obj["buttons"].get(buttons) == simdjson::SUCCESS && !buttons.is_null()) {
      simdjson::dom::array list;
      if (buttons.get(list) != simdjson::SUCCESS)
        return fail("message.buttons", "must be an array of {text, url}");
      if (list.size() > max_buttons)
        return fail("message.buttons", "at most " + std::to_string(max_buttons) + " buttons");
      std::size_t i = 0;
      for (element b : list) {
        const std::string field = "message.buttons[" + std::to_string(i++) + "]";
        simdjson::dom::object bo;
        if (b.get(bo) != simdjson::SUCCESS) return fail(field, "must be an object {text, url}");
        if (!only(bo, field + ".", button_fields)) return false;
        button btn;
        if (!required_string(bo, field + ".text", "text", btn.text, max_template_bytes))
          return false;
        if (!required_string(bo, field + ".url", "url", btn.url, max_template_bytes)) return false;
        out.buttons.push_back(std::move(btn));
      }
    }
    return true;
  }

  bool read_bot(element e, bot_start& out) {
    simdjson::dom::object obj;
    if (e.get(obj) != simdjson::SUCCESS) return fail("bot", "must be an object");
    if (!only(obj, "bot.", bot_fields)) return false;
    // bot_id: a string, or an integer written as one.
    element id;
    if (obj["bot_id"].get(id) != simdjson::SUCCESS || id.is_null())
      return fail("bot.bot_id", "required");
    std::string_view s;
    if (id.get(s) == simdjson::SUCCESS) {
      out.bot_id = std::string(s);
    } else if (id.type() == element_type::INT64 || id.type() == element_type::UINT64) {
      out.bot_id = simdjson::minify(id);
    } else {
      return fail("bot.bot_id", "must be a string or an integer");
    }
    if (out.bot_id.empty()) return fail("bot.bot_id", "must not be empty");
    if (out.bot_id.size() > 256) return fail("bot.bot_id", "longer than 256 bytes");
    element vars;
    if (obj["variables"].get(vars) == simdjson::SUCCESS && !vars.is_null()) {
      simdjson::dom::object vo;
      if (vars.get(vo) != simdjson::SUCCESS)
        return fail("bot.variables", "must be an object {name: template}");
      for (auto [key, value] : vo) {
        const std::string field = "bot.variables." + std::string(key);
        if (key.empty()) return fail("bot.variables", "a variable name must not be empty");
        std::string_view t;
        if (value.get(t) != simdjson::SUCCESS) return fail(field, "must be a string (a template)");
        if (t.size() > max_template_bytes)
          return fail(field, "longer than " + std::to_string(max_template_bytes) + " bytes");
        if (!out.variables.emplace(std::string(key), std::string(t)).second)
          return fail(field, "given twice");
      }
      if (out.variables.size() > max_variables)
        return fail("bot.variables", "at most " + std::to_string(max_variables) + " variables");
    }
    return bool_field(obj, "bot.forced", "forced", out.forced);
  }

  bool read(simdjson::dom::object obj, parse_options options, trigger& t,
            std::optional<std::string>& account) {
    if (!only(obj, "", trigger_fields, options.account_field)) return false;
    if (options.account_field) {
      std::string a;
      if (!required_string(obj, "account", "account", a, 64)) return false;
      account = std::move(a);
    }
    std::optional<std::int64_t> id;
    if (!integer_field(obj, "id", "id", id, 1)) return false;
    if (!id) return fail("id", "required");
    t.id = static_cast<std::uint64_t>(*id);
    if (!required_string(obj, "name", "name", t.name, max_name_bytes)) return false;
    std::optional<std::int64_t> db_id;
    if (!integer_field(obj, "db_id", "db_id", db_id, 1)) return false;
    if (db_id) t.db_id = *db_id;
    if (!bool_field(obj, "enabled", "enabled", t.enabled)) return false;
    std::string ch;
    if (!required_string(obj, "channel", "channel", ch, 64)) return false;
    auto c = parse_channel(ch);
    if (!c)
      return fail("channel", "\"" + ch + "\" is not one of email, sms, push, telegram_bot, "
                                         "leadconverter");
    t.channel = *c;
    if (!required_string(obj, "provider", "provider", t.provider, 64)) return false;
    if (!integer_field(obj, "resource_id", "resource_id", t.resource_id, 0)) return false;
    element e;
    if (obj["message"].get(e) == simdjson::SUCCESS && !e.is_null()) {
      if (!read_message(e, t.message)) return false;
    }
    if (obj["bot"].get(e) == simdjson::SUCCESS && !e.is_null()) {
      bot_start b;
      if (!read_bot(e, b)) return false;
      t.bot = std::move(b);
    }
    if (obj["rate_per_s"].get(e) == simdjson::SUCCESS && !e.is_null()) {
      double r = 0;
      if (e.get(r) != simdjson::SUCCESS || !std::isfinite(r) || r <= 0)
        return fail("rate_per_s", "must be a positive number");
      t.rate_per_s = r;
    }
    return true;
  }
};

void append_string(std::string& out, std::string_view key, std::string_view value) {
  out += json_quote(key);
  out += ": ";
  out += json_quote(value);
}

std::string number_text(double d) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
  (void)ec;
  return std::string(buf, p);
}

}  // namespace

std::optional<channel> parse_channel(std::string_view text) {
  if (text == "phone") return std::nullopt;
  return profiles::parse_channel(text);
}

parse_result parse_trigger(simdjson::dom::element json, parse_options options) {
  parse_result result;
  simdjson::dom::object obj;
  if (json.get(obj) != simdjson::SUCCESS) {
    result.error = trigger_error{"", "a trigger must be a JSON object"};
    return result;
  }
  reader r;
  trigger t;
  if (r.read(obj, options, t, result.account))
    result.value = std::move(t);
  else
    result.error = std::move(r.error);
  return result;
}

parse_result parse_trigger(std::string_view json_text, parse_options options) {
  simdjson::dom::parser parser;
  element root;
  if (auto error = parser.parse(json_text.data(), json_text.size()).get(root)) {
    parse_result result;
    result.error =
        trigger_error{"", std::string("not valid JSON (") + simdjson::error_message(error) + ")"};
    return result;
  }
  return parse_trigger(root, options);
}

std::string to_json(const trigger& t) {
  std::string out = "{\"id\": " + std::to_string(t.id) + ", ";
  append_string(out, "name", t.name);
  out += ", \"db_id\": " + std::to_string(t.db_id);
  out += t.enabled ? ", \"enabled\": true, " : ", \"enabled\": false, ";
  append_string(out, "channel", to_string(t.channel));
  out += ", ";
  append_string(out, "provider", t.provider);
  if (t.resource_id) out += ", \"resource_id\": " + std::to_string(*t.resource_id);
  out += ", \"message\": {";
  bool first = true;
  auto member = [&](std::string_view key, const std::optional<std::string>& v) {
    if (!v) return;
    if (!first) out += ", ";
    first = false;
    append_string(out, key, *v);
  };
  member("text", t.message.text);
  member("file_uuid", t.message.file_uuid);
  if (!t.message.buttons.empty()) {
    if (!first) out += ", ";
    first = false;
    out += "\"buttons\": [";
    for (std::size_t i = 0; i < t.message.buttons.size(); ++i) {
      if (i > 0) out += ", ";
      out += '{';
      append_string(out, "text", t.message.buttons[i].text);
      out += ", ";
      append_string(out, "url", t.message.buttons[i].url);
      out += '}';
    }
    out += ']';
  }
  member("subject", t.message.subject);
  member("html", t.message.html);
  out += '}';
  if (t.bot) {
    out += ", \"bot\": {";
    append_string(out, "bot_id", t.bot->bot_id);
    out += ", \"variables\": {";
    bool first_var = true;
    for (const auto& [name, tmpl] : t.bot->variables) {
      if (!first_var) out += ", ";
      first_var = false;
      append_string(out, name, tmpl);
    }
    out += t.bot->forced ? "}, \"forced\": true}" : "}, \"forced\": false}";
  }
  if (t.rate_per_s) out += ", \"rate_per_s\": " + number_text(*t.rate_per_s);
  out += '}';
  return out;
}

bool kind_fits(std::string_view kind, channel c) {
  if (kind == "webhook" || kind == "sandbox") return true;
  if (kind == "leadconverter_messages" || kind == "leadconverter_bot")
    return c == channel::leadconverter;
  if (kind == "chatbot_telegram") return c == channel::telegram_bot;
  if (kind == "smtp") return c == channel::email;
  return false;
}

std::optional<trigger_error> compile_trigger(const trigger& t, compiled_trigger& out) {
  auto one = [](const std::string& field, const std::string& text,
                templates::compiled_template& into) -> std::optional<trigger_error> {
    auto r = templates::compile(text);
    if (!r) return trigger_error{field, r.error->message()};
    into = std::move(*r.tmpl);
    return std::nullopt;
  };
  compiled_trigger c;
  if (t.message.text)
    if (auto e = one("message.text", *t.message.text, c.text)) return e;
  if (t.message.subject)
    if (auto e = one("message.subject", *t.message.subject, c.subject)) return e;
  if (t.message.html)
    if (auto e = one("message.html", *t.message.html, c.html)) return e;
  for (std::size_t i = 0; i < t.message.buttons.size(); ++i) {
    const std::string field = "message.buttons[" + std::to_string(i) + "]";
    templates::compiled_template text, url;
    if (auto e = one(field + ".text", t.message.buttons[i].text, text)) return e;
    if (auto e = one(field + ".url", t.message.buttons[i].url, url)) return e;
    c.buttons.emplace_back(std::move(text), std::move(url));
  }
  if (t.bot) {
    for (const auto& [name, text] : t.bot->variables) {
      templates::compiled_template v;
      if (auto e = one("bot.variables." + name, text, v)) return e;
      c.variables.emplace_back(name, std::move(v));
    }
  }
  out = std::move(c);
  return std::nullopt;
}

std::optional<trigger_error> validate(const trigger& t, const provider_kinds& providers) {
  auto p = providers.find(t.provider);
  if (p == providers.end()) {
    std::string names;
    for (const auto& [name, kind] : providers) {
      (void)kind;
      names += names.empty() ? name : ", " + name;
    }
    return trigger_error{
        "provider", "\"" + t.provider + "\" is not a configured provider ("
                        + (names.empty() ? "none is configured" : "configured: " + names) + ")"};
  }
  if (!kind_fits(p->second, t.channel)) {
    return trigger_error{"provider", "\"" + t.provider + "\" is a " + p->second
                                         + " provider, which cannot deliver to channel "
                                         + std::string(to_string(t.channel))};
  }
  if (p->second == "leadconverter_bot" && !t.bot)
    return trigger_error{"bot", "required: provider \"" + t.provider
                                    + "\" is a leadconverter_bot, which starts a bot"};
  if (!t.bot && !t.message.text && !t.message.file_uuid && !t.message.html)
    return trigger_error{"message",
                         "nothing to send: give message.text, message.html, "
                         "message.file_uuid or bot"};
  compiled_trigger unused;
  return compile_trigger(t, unused);
}

}  // namespace herald::triggers
