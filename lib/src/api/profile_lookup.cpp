#include "herald/api/profile_lookup.hpp"

#include <utility>

#include "herald/common/json.hpp"
#include "herald/profiles/normalize.hpp"
#include "herald/profiles/profile.hpp"

namespace herald::api {

namespace {

lookup_error error(std::string field, std::string reason) {
  return {std::move(field), std::move(reason)};
}

// A key that is given but blank.
std::optional<lookup_error> blank(std::string_view field, const std::optional<std::string>& v) {
  if (v && profiles::trim(*v).empty()) return error(std::string(field), "must not be empty");
  return std::nullopt;
}

}  // namespace

std::optional<lookup_error> make_match_query(const profile_lookup& in, profiles::match_query& out) {
  profiles::match_query q;
  const auto mode = profiles::parse_match_mode(in.matching);
  if (!mode) {
    return error("matching", "unknown mode " + json_quote(in.matching) + "; one of "
                                 + profiles::match_mode_names());
  }
  q.mode = *mode;
  if (in.db_id < 1) return error("db_id", "must be a positive integer");
  if (in.resource_id && *in.resource_id < 0)
    return error("resource_id", "must be a non-negative integer");
  q.resource_id = in.resource_id;

  auto& k = q.keys;
  if (in.email) {
    auto n = profiles::normalize_email(*in.email);
    if (!n) return error("email", profiles::not_an_email(*in.email));
    k.email = std::move(*n);
  }
  if (in.phone) {
    auto n = profiles::normalize_phone(*in.phone);
    if (!n) return error("phone", profiles::not_a_phone(*in.phone));
    k.phones = {std::move(*n)};
  }
  if (in.profile_id) {
    const auto id = profiles::trim(*in.profile_id);
    if (!profiles::is_profile_id(id))
      return error("profile_id", "must be 24 lowercase hex characters");
    k.profile_id = id;
  }
  if (in.field_name) {
    const auto name = profiles::trim(*in.field_name);
    if (name.empty()) return error("field_name", "must not be empty");
    // Only custom fields have `custom` index entries: any other name would never match.
    if (!profiles::is_custom_field(name)) {
      return error("field_name", json_quote(name)
                                     + " is not a custom field (standard fields start with _; "
                                       "email and phones have their own modes)");
    }
    q.field_name = name;
  }
  if (auto bad = blank("field_value", in.field_value)) return bad;
  if (in.field_value) k.field_value = *in.field_value;
  if (auto bad = blank("subscription_id", in.subscription_id)) return bad;
  if (in.subscription_id) k.subscription_id = profiles::trim(*in.subscription_id);
  if (in.channel) {
    k.sub_channel = profiles::parse_channel(*in.channel);
    if (!k.sub_channel) {
      return error("channel", "unknown channel " + json_quote(*in.channel)
                                  + "; one of email, sms (or phone), push, telegram_bot, "
                                    "leadconverter");
    }
  }
  if (auto bad = blank("id", in.id)) return bad;
  if (in.id) {
    // The address as the channel's subscriptions are indexed under it.
    std::string why;
    auto key = profiles::subscription_key(k.sub_channel.value_or(profiles::channel::telegram_bot),
                                          *in.id, why);
    if (!key) return error("id", why);
    k.sub_id = std::move(*key);
  }

  if (auto missing = profiles::missing_key(q)) {
    auto e = error(*missing, "required by matching " + json_quote(in.matching));
    e.missing = true;
    return e;
  }
  out = std::move(q);
  return std::nullopt;
}

}  // namespace herald::api
