// Matching: which profile an input item refers to (SPEC.md section 2, the eleven modes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/profiles/profile.hpp"

namespace herald::profiles {

enum class match_mode {
  email,
  email_profile,
  email_sub,
  phone,
  phone_sub,
  profile_id,
  push_sub,
  custom,
  custom_sub,
  email_phone,
  email_phone_sub,
};
std::string_view to_string(match_mode m);
std::optional<match_mode> parse_match_mode(std::string_view s);
// "email, email_profile, ..." for error messages.
std::string match_mode_names();

// Tags written in one string: "tag_1, tag_2" → {"tag_1", "tag_2"} (trimmed, empty ones dropped).
std::vector<std::string> split_tags(std::string_view s);

// An item's keys, already normalised (emails lowercased, phones in E.164).
struct match_keys {
  std::string email;
  std::vector<std::string> phones;
  std::string profile_id;
  std::string field_value;  // custom: a value, or tags "tag_1, tag_2"
  std::string subscription_id;
  std::optional<channel> sub_channel;  // custom_sub
  std::string sub_id;                  // custom_sub
};

struct match_query {
  match_mode mode = match_mode::email;
  std::optional<std::int64_t> resource_id;  // restricts subscription searches
  std::string field_name;                   // custom
  match_keys keys;
};

// A custom_sub id as its channel's subscriptions are indexed under it: an email lowercased, an
// sms phone in E.164, any other trimmed. Nothing when it is not a valid email or phone, `why`
// then saying so (for an error naming the field).
std::optional<std::string> subscription_key(channel ch, std::string_view id, std::string& why);

// The item key `mode` needs that `keys` lacks ("email", "phone", "email or phone", ...), or
// nullopt when the keys are enough.
std::optional<std::string> missing_key(const match_query& q);

// What a lookup reads: the earliest-created profile found in any group, a group finding the
// profiles found under every one of its index entries. Empty for `profile_id`, which reads the
// profile itself.
using lookup_plan = std::vector<std::vector<std::string>>;
lookup_plan plan_lookup(const match_query& q);

// Whether a lookup by `plan` would find `p`: some group all of whose entries `p` has
// (index_entries). False for an empty plan.
bool finds(const lookup_plan& plan, const profile& p);

}  // namespace herald::profiles
