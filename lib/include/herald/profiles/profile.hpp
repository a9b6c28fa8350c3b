// A subscriber profile as Herald keeps it (proto/profiles.md): fields, phones, subscriptions,
// and the index entries that find it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace herald::profiles {

// A field's value: string, number, bool or a tag list (custom fields); `phones` is a tag list of
// E.164 numbers.
using tag_list = std::vector<std::string>;
using field_value = std::variant<bool, std::int64_t, double, std::string, tag_list>;
using field_map = std::map<std::string, field_value, std::less<>>;

void append_json(std::string& out, const field_value& v);
// The text an index keys a scalar by: a string trimmed, a number as JSON writes it, a bool as
// `true`/`false`.
std::string index_text(const field_value& v);

enum class channel { email, sms, push, telegram_bot, leadconverter };
std::string_view to_string(channel c);
// Accepts the five channel names and `phone`, the seeds' name for `sms`.
std::optional<channel> parse_channel(std::string_view s);

enum class subscription_status { active, unsubscribed, blocked };
std::string_view to_string(subscription_status s);
std::optional<subscription_status> parse_subscription_status(std::string_view s);

struct subscription {
  channel ch = channel::email;
  std::int64_t resource_id = 0;
  subscription_status status = subscription_status::active;
  // The address, by channel: email {email}; sms {phone}; push {provider, subscription_id};
  // telegram_bot {cc_id (cc_data.id) and/or phone}; leadconverter {subscriber_id, or user_id
  // and channel_id}. Emails lowercased and trimmed, phones in E.164.
  std::string email, phone, provider, subscription_id, cc_id, subscriber_id, user_id, channel_id;
  // Anything else given with it (string, number, bool).
  field_map fields;

  // What identifies it among the profile's subscriptions of the same channel and resource.
  std::string address_key() const;
  // The addresses it is found by (custom_sub's `id`; email and phone for the *_sub modes).
  std::vector<std::string> lookup_addresses() const;
  void append_json(std::string& out) const;
  bool operator==(const subscription&) const = default;
};

struct profile {
  std::string id;                               // 24 lowercase hex characters
  std::int64_t created_at = 0, updated_at = 0;  // ms since the epoch
  // Standard fields (`_fname`, ...), `email` (a string) and `phones` (a tag list), custom fields.
  field_map fields;
  std::vector<subscription> subscriptions;

  const std::string* email() const;
  const tag_list* phones() const;
  // The same fields and subscriptions (ids and times aside).
  bool same_content(const profile& other) const {
    return fields == other.fields && subscriptions == other.subscriptions;
  }
  subscription* find_subscription(channel ch, std::int64_t resource_id, std::string_view key);

  // The stored document (the `d` field of the profile's hash).
  std::string to_doc() const;
  // Throws std::runtime_error on a document that is not one.
  static profile from_doc(std::string id, std::string_view doc);
  // The public shape (proto/schemas/profile.schema.json).
  std::string to_json(std::int64_t db_id) const;
};

// Fields matched by `custom` and indexed: those not standard (`_...`) nor `email`, `phones`.
bool is_custom_field(std::string_view name);

// Every index entry of the profile, sorted, without repeats (proto/profiles.md, "Indexes"):
//   e:<email>                    its email
//   p:<phone>                    each of its phones
//   s:<channel>:<resource>:<a>   each subscription's lookup address, under its resource...
//   s:<channel>:*:<a>            ...and under any resource
//   c:<len>:<field>:<text>       each custom scalar field (values up to 512 bytes)
//   t:<len>:<field>:<tag>        each tag of each custom tag list
std::vector<std::string> index_entries(const profile& p);

std::string email_entry(std::string_view email);
std::string phone_entry(std::string_view phone);
std::string subscription_entry(channel ch, std::optional<std::int64_t> resource_id,
                               std::string_view address);
std::string custom_entry(std::string_view field, std::string_view text);
std::string tag_entry(std::string_view field, std::string_view tag);

// A new profile id: 4 bytes of the time in seconds, then 8 random bytes, in hex.
std::string new_profile_id();
bool is_profile_id(std::string_view s);

}  // namespace herald::profiles
