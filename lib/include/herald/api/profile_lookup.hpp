// A profile lookup as Herald's API names it (POST /api/v1.1/profiles/get; `herald profiles get`
// reads its flags into the same): a profile database, a matching mode and the keys as given,
// checked and normalised into the match query the profile store runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "herald/profiles/matching.hpp"

namespace herald::api {

struct profile_lookup {
  std::int64_t db_id = 1;                   // the account's profile database; at least 1
  std::string matching = "email";           // a match_mode name
  std::optional<std::int64_t> resource_id;  // restricts subscription searches; at least 0
  // The keys, as given; each is checked when given, whether or not the mode reads it.
  std::optional<std::string> email;            // email, email_profile, email_sub, email_phone*
  std::optional<std::string> phone;            // phone, phone_sub, email_phone*
  std::optional<std::string> profile_id;       // profile_id
  std::optional<std::string> field_name;       // custom: a custom field's name...
  std::optional<std::string> field_value;      // ...and its value, or tags "tag_1, tag_2"
  std::optional<std::string> subscription_id;  // push_sub
  std::optional<std::string> channel;          // custom_sub: the subscription's channel...
  std::optional<std::string> id;               // ...and its address on it
};

// What is wrong with a lookup: the field as the API names it ("email", "db_id"; "email or
// phone" for the modes that take either) and why ("\"x\" is not a valid email address").
struct lookup_error {
  std::string field;
  std::string reason;
  bool missing = false;  // the mode needs `field` and the lookup lacks it

  std::string text() const { return field + ": " + reason; }
};

// Checks `lookup` and writes the query it asks for (emails lowercased and trimmed, phones in
// E.164, a custom_sub `id` normalised like its channel's addresses) into `out`; or the first
// thing wrong with it.
std::optional<lookup_error> make_match_query(const profile_lookup& lookup,
                                             profiles::match_query& out);

}  // namespace herald::api
