// A profile lookup's keys checked and normalised into the match query the store runs, and each
// thing wrong named by its field, without Redis.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "herald/api/profile_lookup.hpp"
#include "herald/profiles/profile.hpp"

namespace herald::api {
namespace {

using profiles::match_mode;

profiles::match_query query_of(const profile_lookup& l) {
  profiles::match_query q;
  auto error = make_match_query(l, q);
  EXPECT_FALSE(error) << error->text();
  return q;
}

// The error's "field: reason", or "" when the lookup is fine.
std::string error_of(const profile_lookup& l) {
  profiles::match_query q;
  auto error = make_match_query(l, q);
  return error ? error->text() : std::string();
}

TEST(ApiProfileLookup, NormalisesTheKeysTheWayProfilesAreIndexed) {
  profile_lookup l;
  l.email = "  John.Doe@Example.COM ";
  l.phone = "+7 (900) 000-00-00";
  auto q = query_of(l);
  EXPECT_EQ(q.mode, match_mode::email);
  EXPECT_EQ(q.keys.email, "john.doe@example.com");
  ASSERT_EQ(q.keys.phones.size(), 1u);
  EXPECT_EQ(q.keys.phones[0], "+79000000000");
  EXPECT_FALSE(q.resource_id);

  l.matching = "custom_sub";
  l.channel = "phone";  // the seeds' name for sms
  l.id = "8 900 000 00 01";
  l.resource_id = 4;
  q = query_of(l);
  EXPECT_EQ(q.mode, match_mode::custom_sub);
  EXPECT_EQ(q.keys.sub_channel, profiles::channel::sms);
  EXPECT_EQ(q.keys.sub_id, "+89000000001");
  EXPECT_EQ(q.resource_id, 4);

  profile_lookup email_sub;
  email_sub.matching = "custom_sub";
  email_sub.channel = "email";
  email_sub.id = "A@B.example";
  EXPECT_EQ(query_of(email_sub).keys.sub_id, "a@b.example");

  profile_lookup custom;
  custom.matching = "custom";
  custom.field_name = " CRM_ID ";
  custom.field_value = "0002";
  q = query_of(custom);
  EXPECT_EQ(q.field_name, "CRM_ID");
  EXPECT_EQ(q.keys.field_value, "0002");

  profile_lookup by_id;
  by_id.matching = "profile_id";
  by_id.profile_id = "691f3a2c9e4b7d01a3c5e7f9";
  by_id.db_id = 7;
  EXPECT_EQ(query_of(by_id).keys.profile_id, "691f3a2c9e4b7d01a3c5e7f9");

  profile_lookup push;
  push.matching = "push_sub";
  push.subscription_id = " c9f2-77aa ";
  EXPECT_EQ(query_of(push).keys.subscription_id, "c9f2-77aa");
}

TEST(ApiProfileLookup, NamesTheFieldThatIsWrong) {
  profile_lookup l;
  l.matching = "fuzzy";
  EXPECT_EQ(error_of(l),
            "matching: unknown mode \"fuzzy\"; one of " + profiles::match_mode_names());
  EXPECT_NE(error_of(l).find("email_phone_sub"), std::string::npos);

  l = {};
  l.db_id = 0;
  l.email = "a@example.com";
  EXPECT_EQ(error_of(l), "db_id: must be a positive integer");
  l.db_id = 1;
  l.resource_id = -1;
  EXPECT_EQ(error_of(l), "resource_id: must be a non-negative integer");

  // A lookup in mode `matching` with `keys` (its members, set to these values).
  using key = std::pair<std::optional<std::string> profile_lookup::*, std::string>;
  const auto error_with = [](const std::string& matching, const std::vector<key>& keys) {
    profile_lookup l;
    l.matching = matching;
    for (const auto& [member, value] : keys) l.*member = value;
    return error_of(l);
  };
  struct refusal {
    std::string matching;
    std::vector<key> keys;
    std::string error;
  };
  for (const auto& [matching, keys, error] : std::vector<refusal>{
           {"email",
            {{&profile_lookup::email, "not-an-email"}},
            "email: \"not-an-email\" is not a valid email address"},
           {"email", {{&profile_lookup::email, ""}}, "email: \"\" is not a valid email address"},
           {"phone",
            {{&profile_lookup::phone, "12345"}},
            "phone: \"12345\" is not a phone number (+ and 10 to 15 digits)"},
           {"profile_id",
            {{&profile_lookup::profile_id, "691F3A2C9E4B7D01A3C5E7F9"}},
            "profile_id: must be 24 lowercase hex characters"},
           {"custom",
            {{&profile_lookup::field_name, "email"},
             {&profile_lookup::field_value, "a@example.com"}},
            "field_name: \"email\" is not a custom field (standard fields start with _; email "
            "and phones have their own modes)"},
           {"custom",
            {{&profile_lookup::field_name, "CRM_ID"}, {&profile_lookup::field_value, "   "}},
            "field_value: must not be empty"},
           {"custom_sub",
            {{&profile_lookup::channel, "fax"}, {&profile_lookup::id, "1"}},
            "channel: unknown channel \"fax\"; one of email, sms (or phone), push, telegram_bot, "
            "leadconverter"},
           {"custom_sub",
            {{&profile_lookup::channel, "email"}, {&profile_lookup::id, "nobody"}},
            "id: \"nobody\" is not a valid email address"},
       }) {
    EXPECT_EQ(error_with(matching, keys), error) << matching;
  }
  EXPECT_TRUE(error_with("custom", {{&profile_lookup::field_name, "_fname"},
                                    {&profile_lookup::field_value, "John"}})
                  .starts_with("field_name: \"_fname\" is not a custom field"));
}

TEST(ApiProfileLookup, AKeyTheModeNeedsAndLacksIsMissing) {
  struct expectation {
    const char* matching;
    const char* field;
  };
  for (const auto& [matching, field] : std::initializer_list<expectation>{
           {"email", "email"},
           {"email_profile", "email"},
           {"email_sub", "email"},
           {"phone", "phone"},
           {"phone_sub", "phone"},
           {"profile_id", "profile_id"},
           {"push_sub", "subscription_id"},
           {"custom", "field_name"},
           {"custom_sub", "channel"},
           {"email_phone", "email or phone"},
           {"email_phone_sub", "email or phone"},
       }) {
    profile_lookup l;
    l.matching = matching;
    profiles::match_query q;
    auto error = make_match_query(l, q);
    ASSERT_TRUE(error) << matching;
    EXPECT_TRUE(error->missing) << matching;
    EXPECT_EQ(error->text(), std::string(field) + ": required by matching \"" + matching + "\"");
  }
  // The second key of a pair.
  profile_lookup custom;
  custom.matching = "custom";
  custom.field_name = "CRM_ID";
  EXPECT_EQ(error_of(custom), "field_value: required by matching \"custom\"");
  profile_lookup sub;
  sub.matching = "custom_sub";
  sub.channel = "telegram_bot";
  EXPECT_EQ(error_of(sub), "id: required by matching \"custom_sub\"");
  // A key of another mode does not stand in for the one this mode needs.
  profile_lookup other;
  other.phone = "+79000000000";
  EXPECT_EQ(error_of(other), "email: required by matching \"email\"");
  // Bad input is not "missing".
  profile_lookup bad;
  bad.email = "x";
  profiles::match_query q;
  auto error = make_match_query(bad, q);
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->missing);
}

}  // namespace
}  // namespace herald::api
