// A trigger: an account's campaign definition (SPEC.md section 2, "Triggers"), as a plain type
// read from and written to JSON, and the checks a trigger passes before it is saved: its fields,
// its provider (configured, and of a kind that fits its channel) and every template it holds
// (each compiles, or the fault is reported with the field and its line and column).
//
// JSON shape (proto/triggers.md):
//   {"id": 7, "name": "welcome", "db_id": 1, "enabled": true, "channel": "leadconverter",
//    "provider": "lc", "resource_id": 3,
//    "message": {"text": "Hi {lead._fname | default:\"friend\"}", "file_uuid": "...",
//                "buttons": [{"text": "Open", "url": "https://x/{lead.id}"}],
//                "subject": "...", "html": "..."},
//    "bot": {"bot_id": "42", "variables": {"name": "{lead._fname}"}, "forced": false},
//    "rate_per_s": 50}
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "herald/profiles/profile.hpp"
#include "herald/templates/template.hpp"

namespace herald::triggers {

// A trigger's channel is a profile subscription's (the one it picks to send through).
using profiles::channel;
using profiles::to_string;
// The five channel names (not the seeds' `phone` alias a profile's subscriptions accept).
std::optional<channel> parse_channel(std::string_view text);

struct button {
  std::string text;  // a template
  std::string url;   // a template
  bool operator==(const button&) const = default;
};

struct message {
  std::optional<std::string> text;       // a template
  std::optional<std::string> file_uuid;  // a file the provider already holds
  std::vector<button> buttons;
  std::optional<std::string> subject;  // a template (email)
  std::optional<std::string> html;     // a template (email)
  bool operator==(const message&) const = default;
};

struct bot_start {
  std::string bot_id;
  // Variable name -> template, in name order.
  std::map<std::string, std::string> variables;
  bool forced = false;  // also reaches `unsubscribed` subscriptions
  bool operator==(const bot_start&) const = default;
};

struct trigger {
  std::uint64_t id = 0;  // positive; unique in its account
  std::string name;
  std::int64_t db_id = 1;  // the profile database it runs on
  bool enabled = true;
  triggers::channel channel = triggers::channel::leadconverter;
  std::string provider;  // a configured provider's name
  std::optional<std::int64_t> resource_id;
  triggers::message message;
  std::optional<bot_start> bot;
  std::optional<double> rate_per_s;  // positive: the trigger's own limit, below its provider's
  bool operator==(const trigger&) const = default;
};

// What is wrong with a trigger: the field ("message.buttons[1].url", "provider") and why.
struct trigger_error {
  std::string field;
  std::string reason;
  std::string text() const { return field.empty() ? reason : field + ": " + reason; }
};

// Limits of a trigger's fields.
inline constexpr std::size_t max_name_bytes = 256;
inline constexpr std::size_t max_buttons = 20;
inline constexpr std::size_t max_variables = 100;
inline constexpr std::size_t max_template_bytes = 64 * 1024;

struct parse_options {
  // Accepted, and handed back in `account`: a triggers_dir file names each trigger's account.
  bool account_field = false;
};

struct parse_result {
  std::optional<trigger> value;
  std::optional<trigger_error> error;  // set exactly when value is not
  std::optional<std::string> account;  // the "account" field, with parse_options::account_field
};

// Reads one trigger object. Unknown fields are refused by name, so a misspelt key is not
// silently ignored; `id` may be an integer or a string of digits, as the seeds send it.
parse_result parse_trigger(simdjson::dom::element json, parse_options options = {});
parse_result parse_trigger(std::string_view json_text, parse_options options = {});

// The canonical JSON of a trigger (the shape above, absent optionals left out, keys in a fixed
// order); parse_trigger reads it back to an equal trigger.
std::string to_json(const trigger& t);

// The configured providers a trigger may name: name -> kind (delivery::to_string of a
// provider_kind, or "smtp").
using provider_kinds = std::map<std::string, std::string, std::less<>>;

// Whether a provider of `kind` can deliver on `c`: leadconverter_messages and leadconverter_bot
// to leadconverter, chatbot_telegram to telegram_bot, smtp to email, webhook and sandbox to any.
bool kind_fits(std::string_view kind, channel c);

// A trigger's templates, compiled: what a running trigger renders per message.
struct compiled_trigger {
  templates::compiled_template text, subject, html;
  std::vector<std::pair<templates::compiled_template, templates::compiled_template>> buttons;
  std::vector<std::pair<std::string, templates::compiled_template>> variables;  // bot
};

// Compiles every template of `t`, or names the first that does not compile:
// `message.text: line 1, column 16: unknown filter ...`.
std::optional<trigger_error> compile_trigger(const trigger& t, compiled_trigger& out);

// Everything save time checks beyond the parse: the provider is configured and fits the channel,
// the message has something to send, every template compiles. The first fault, or nothing.
std::optional<trigger_error> validate(const trigger& t, const provider_kinds& providers);

}  // namespace herald::triggers
