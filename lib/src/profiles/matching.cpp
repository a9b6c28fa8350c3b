#include "herald/profiles/matching.hpp"

#include <algorithm>

#include "herald/profiles/normalize.hpp"

namespace herald::profiles {

namespace {
constexpr match_mode all_modes[] = {
    match_mode::email,       match_mode::email_profile,   match_mode::email_sub,
    match_mode::phone,       match_mode::phone_sub,       match_mode::profile_id,
    match_mode::push_sub,    match_mode::custom,          match_mode::custom_sub,
    match_mode::email_phone, match_mode::email_phone_sub,
};

}  // namespace

std::vector<std::string> split_tags(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    auto comma = s.find(',');
    auto tag = trim(s.substr(0, comma));
    if (!tag.empty()) out.emplace_back(tag);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::string_view to_string(match_mode m) {
  switch (m) {
    case match_mode::email:
      return "email";
    case match_mode::email_profile:
      return "email_profile";
    case match_mode::email_sub:
      return "email_sub";
    case match_mode::phone:
      return "phone";
    case match_mode::phone_sub:
      return "phone_sub";
    case match_mode::profile_id:
      return "profile_id";
    case match_mode::push_sub:
      return "push_sub";
    case match_mode::custom:
      return "custom";
    case match_mode::custom_sub:
      return "custom_sub";
    case match_mode::email_phone:
      return "email_phone";
    case match_mode::email_phone_sub:
      return "email_phone_sub";
  }
  return "email";
}

std::optional<match_mode> parse_match_mode(std::string_view s) {
  for (auto m : all_modes)
    if (to_string(m) == s) return m;
  return std::nullopt;
}

std::string match_mode_names() {
  std::string out;
  for (auto m : all_modes) {
    if (!out.empty()) out += ", ";
    out += to_string(m);
  }
  return out;
}

std::optional<std::string> missing_key(const match_query& q) {
  const auto& k = q.keys;
  switch (q.mode) {
    case match_mode::email:
    case match_mode::email_profile:
    case match_mode::email_sub:
      if (k.email.empty()) return "email";
      break;
    case match_mode::phone:
    case match_mode::phone_sub:
      if (k.phones.empty()) return "phone";
      break;
    case match_mode::profile_id:
      if (k.profile_id.empty()) return "profile_id";
      break;
    case match_mode::push_sub:
      if (k.subscription_id.empty()) return "subscription_id";
      break;
    case match_mode::custom:
      if (q.field_name.empty()) return "field_name";
      if (trim(k.field_value).empty()) return "field_value";
      break;
    case match_mode::custom_sub:
      if (!k.sub_channel) return "channel";
      if (k.sub_id.empty()) return "id";
      break;
    case match_mode::email_phone:
    case match_mode::email_phone_sub:
      if (k.email.empty() && k.phones.empty()) return "email or phone";
      break;
  }
  return std::nullopt;
}

std::optional<std::string> subscription_key(channel ch, std::string_view id, std::string& why) {
  std::optional<std::string> key;
  switch (ch) {
    case channel::email:
      if (!(key = normalize_email(id))) why = not_an_email(id);
      break;
    case channel::sms:
      if (!(key = normalize_phone(id))) why = not_a_phone(id);
      break;
    default:
      key = std::string(trim(id));
  }
  return key;
}

lookup_plan plan_lookup(const match_query& q) {
  lookup_plan plan;
  const auto& k = q.keys;
  auto one = [&](std::string entry) { plan.push_back({std::move(entry)}); };
  auto sub = [&](channel ch, const std::string& address) {
    one(subscription_entry(ch, q.resource_id, address));
  };
  auto by_email = [&] {
    if (!k.email.empty()) one(email_entry(k.email));
  };
  auto by_email_sub = [&] {
    if (!k.email.empty()) sub(channel::email, k.email);
  };
  auto by_phone = [&] {
    for (const auto& p : k.phones) one(phone_entry(p));
  };
  auto by_phone_sub = [&] {
    for (const auto& p : k.phones) sub(channel::sms, p);
  };
  switch (q.mode) {
    case match_mode::email:
      by_email();
      by_email_sub();
      break;
    case match_mode::email_profile:
      by_email();
      break;
    case match_mode::email_sub:
      by_email_sub();
      break;
    case match_mode::phone:
      by_phone();
      by_phone_sub();
      break;
    case match_mode::phone_sub:
      by_phone_sub();
      break;
    case match_mode::profile_id:
      break;
    case match_mode::push_sub:
      sub(channel::push, k.subscription_id);
      break;
    case match_mode::custom: {
      auto value = trim(k.field_value);
      one(custom_entry(q.field_name, value));
      std::vector<std::string> all;
      for (const auto& tag : split_tags(value)) all.push_back(tag_entry(q.field_name, tag));
      if (!all.empty()) plan.push_back(std::move(all));
      break;
    }
    case match_mode::custom_sub:
      if (k.sub_channel) {
        sub(*k.sub_channel, k.sub_id);
        // A telegram_bot subscription is indexed under its chat id and under its phone (in
        // E.164): an id that reads as a phone is looked up both ways.
        if (*k.sub_channel == channel::telegram_bot) {
          auto e164 = normalize_phone(k.sub_id);
          if (e164 && *e164 != k.sub_id) sub(channel::telegram_bot, *e164);
        }
      }
      break;
    case match_mode::email_phone:
      by_email();
      by_phone();
      break;
    case match_mode::email_phone_sub:
      by_email_sub();
      by_phone_sub();
      break;
  }
  return plan;
}

bool finds(const lookup_plan& plan, const profile& p) {
  const auto entries = index_entries(p);  // sorted
  return std::any_of(plan.begin(), plan.end(), [&](const std::vector<std::string>& group) {
    return !group.empty() && std::all_of(group.begin(), group.end(), [&](const std::string& e) {
      return std::binary_search(entries.begin(), entries.end(), e);
    });
  });
}

}  // namespace herald::profiles
