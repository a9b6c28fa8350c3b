// Profiles without Redis: how emails and phones are normalised, which index entries a profile
// has, what each update function of an import item does to a profile, how subscriptions merge,
// and how an import_and_start body is read (its errors naming the field and the item).
//
// Suites are named Profiles* so that --gtest_filter='Profiles*' selects them.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "herald/profiles/import.hpp"
#include "herald/profiles/matching.hpp"
#include "herald/profiles/normalize.hpp"
#include "herald/profiles/profile.hpp"
#include "herald/queue/handler.hpp"

namespace {

using namespace herald::profiles;
using herald::queue::bad_job;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

import_job parse(std::string_view body, std::size_t max_items = 10'000) {
  import_limits limits;
  limits.max_items = max_items;
  return parse_import_job(body, limits);
}

// The what() of the bad_job parse_import_job throws; fails the test when it throws none.
std::string body_error(std::string_view body, std::size_t max_items = 10'000) {
  try {
    parse(body, max_items);
  } catch (const bad_job& e) {
    return e.what();
  }
  ADD_FAILURE() << "no bad_job for " << body;
  return {};
}

// The only item of a body with these root members (without braces) and this item.
import_item one_item(const std::string& item, const std::string& root = R"("matching": "email")") {
  auto job = parse("{" + root + R"(, "data": [)" + item + "]}");
  EXPECT_EQ(job.items.size(), 1u);
  return job.items.empty() ? import_item{} : job.items.front();
}

// The item error of a one-item body: its code and message.
std::pair<std::string, std::string> item_failure(
    const std::string& item, const std::string& root = R"("matching": "email")") {
  auto it = one_item(item, root);
  if (!it.error) {
    ADD_FAILURE() << "no item error for " << item;
    return {};
  }
  return {it.error->code(), it.error->what()};
}

// `p` after the changes of an item whose data is `data` (matched by an item-level email).
profile applied(profile p, const std::string& data) {
  auto it = one_item(R"({"email": "key@example.com", "data": )" + data + "}");
  EXPECT_FALSE(it.error) << (it.error ? it.error->what() : "");
  apply(p, it.update);
  return p;
}

// The item_error apply throws for `data` on `p`: code and message.
std::pair<std::string, std::string> apply_failure(profile p, const std::string& data) {
  auto it = one_item(R"({"email": "key@example.com", "data": )" + data + "}");
  EXPECT_FALSE(it.error) << (it.error ? it.error->what() : "");
  try {
    apply(p, it.update);
  } catch (const item_error& e) {
    return {e.code(), e.what()};
  }
  ADD_FAILURE() << "apply accepted " << data;
  return {};
}

// A subscription of channel `ch` in `resource`, its address still to fill in.
subscription sub(channel ch, std::int64_t resource) {
  subscription s;
  s.ch = ch;
  s.resource_id = resource;
  return s;
}

subscription email_sub(std::int64_t resource, std::string address,
                       subscription_status st = subscription_status::active) {
  auto s = sub(channel::email, resource);
  s.email = std::move(address);
  s.status = st;
  return s;
}

subscription sms_sub(std::int64_t resource, std::string phone,
                     subscription_status st = subscription_status::active) {
  auto s = sub(channel::sms, resource);
  s.phone = std::move(phone);
  s.status = st;
  return s;
}

// --- normalisation -------------------------------------------------------------------------

TEST(ProfilesNormalize, Emails) {
  const std::map<std::string, std::string> valid = {
      {"john@example.com", "john@example.com"},
      {"John.Smith@Example.COM", "john.smith@example.com"},
      {"  a.b+tag@sub.example.org\t", "a.b+tag@sub.example.org"},
      {"o'neil_x-y@my-host.example.co.uk", "o'neil_x-y@my-host.example.co.uk"},
      {"x@b.c", "x@b.c"},
      {"1@2.3", "1@2.3"},
      {std::string(64, 'l') + "@example.com", std::string(64, 'l') + "@example.com"},
  };
  for (const auto& [in, out] : valid) {
    auto n = normalize_email(in);
    ASSERT_TRUE(n) << in;
    EXPECT_EQ(*n, out) << in;
  }
  const std::vector<std::string> invalid = {
      "",
      "   ",
      "plain",
      "@example.com",
      "john@",
      "john@example",
      "john@@example.com",
      "a@b@example.com",
      ".john@example.com",
      "john.@example.com",
      "jo..hn@example.com",
      "jo hn@example.com",
      "john@exa mple.com",
      "john@-example.com",
      "john@example-.com",
      "john@example..com",
      "john@.example.com",
      "john@example.com.",
      "john@exam_ple.com",
      "jo(hn@example.com",
      std::string(65, 'l') + "@example.com",
      "a@" + std::string(63, 'd') + "." + std::string(63, 'd') + "." + std::string(63, 'd') + "."
          + std::string(63, 'd'),  // 255 characters
  };
  for (const auto& in : invalid) EXPECT_FALSE(normalize_email(in)) << '"' << in << '"';
}

TEST(ProfilesNormalize, InternationalisedEmailsFoldTheirCaseAndTheirDomainToPunycode) {
  const std::map<std::string, std::string> valid = {
      // NFC, Unicode case folding, IDN domains in punycode: one spelling per mailbox.
      {"\u0414\u0416\u041e\u041d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",
       "\u0434\u0436\u043e\u043d@xn--e1afmkfd.xn--p1ai"},
      {"\u0434\u0436\u043e\u043d@xn--e1afmkfd.xn--p1ai",
       "\u0434\u0436\u043e\u043d@xn--e1afmkfd.xn--p1ai"},
      {"\u0434\u0436\u043e\u043d@XN--E1AFMKFD.XN--P1AI",
       "\u0434\u0436\u043e\u043d@xn--e1afmkfd.xn--p1ai"},
      {"J\u00fcrgen@M\u00dcNCHEN.de", "j\u00fcrgen@xn--mnchen-3ya.de"},
      // A decomposed u-umlaut is composed first.
      {"ju\u0308rgen@example.de", "j\u00fcrgen@example.de"},
  };
  for (const auto& [in, out] : valid) {
    auto n = normalize_email(in);
    ASSERT_TRUE(n) << in;
    EXPECT_EQ(*n, out) << in;
  }
  EXPECT_FALSE(normalize_email("bad\xff@example.com")) << "not UTF-8";
  EXPECT_FALSE(normalize_email("a@\xc3\x28.com")) << "not UTF-8";
}

TEST(ProfilesParse, ARefusalEchoesOutsideValuesMasked) {
  auto e = body_error(R"({"matching": "leak9@example.com", "data": []})");
  EXPECT_TRUE(contains(e, "body.matching: unknown mode \"l***@e***.com\"")) << e;
  EXPECT_FALSE(contains(e, "leak9")) << e;
  e = body_error(R"({"matching": "+79001234567", "data": []})");
  EXPECT_TRUE(contains(e, "\"+*********67\"")) << e;
  e = body_error(R"({"matching": "custom", "field_name": "_ceo@example.com"})");
  EXPECT_FALSE(contains(e, "ceo@")) << e;
  e = body_error(R"({"boss@example.com": 1})");
  EXPECT_TRUE(contains(e, "body.b***@e***.com: unknown field")) << e;
}

TEST(ProfilesNormalize, Phones) {
  const std::map<std::string, std::string> valid = {
      {"+79000000000", "+79000000000"},
      {"79000000000", "+79000000000"},
      {"+7 (900) 000-00-00", "+79000000000"},
      {" +1.212.555.0100 ", "+12125550100"},
      {"+44 20 7946 0958", "+442079460958"},
      {"0123456789", "+0123456789"},             // 10 digits: the least
      {"+123456789012345", "+123456789012345"},  // 15 digits: the most
  };
  for (const auto& [in, out] : valid) {
    auto n = normalize_phone(in);
    ASSERT_TRUE(n) << in;
    EXPECT_EQ(*n, out) << in;
  }
  const std::vector<std::string> invalid = {
      "",
      "+",
      "123456789",          // 9 digits
      "+1234567890123456",  // 16 digits
      "+7900abc0000",
      "++79000000000",
      "7900+0000000",
      "+7 900 000 00 00 ext 1",
      "+7/900/000/00/00",
      "+7_9000000000",
  };
  for (const auto& in : invalid) EXPECT_FALSE(normalize_phone(in)) << '"' << in << '"';
}

// --- index entries ------------------------------------------------------------------------

TEST(ProfilesIndex, EveryEntryOfAProfileSortedAndOnce) {
  profile p;
  p.id = "0123456789abcdef01234567";
  p.fields = {
      {"_fname", std::string("John")},  // standard: not indexed
      {"email", std::string("john@example.com")},
      {"phones", tag_list{"+79000000000", "+79000000001"}},
      {"CRM_ID", std::string(" 0002 ")},  // trimmed in the index
      {"score", std::int64_t{7}},
      {"ratio", 1.5},
      {"vip", true},
      {"empty", std::string("  ")},     // nothing to index
      {"long", std::string(513, 'x')},  // over 512 bytes: not indexed
      {"edge", std::string(512, 'y')},  // 512 bytes: indexed
      {"a:b", std::string("v")},        // the length keeps the name apart from the value
      {"interests", tag_list{"books", "music"}},
  };
  p.subscriptions.push_back(email_sub(1, "john@example.com"));
  p.subscriptions.push_back(email_sub(7, "john@example.com"));  // same "*" entry: once
  p.subscriptions.push_back(sms_sub(2, "+79000000000"));
  auto push = sub(channel::push, 3);
  push.provider = "fcm";
  push.subscription_id = "tok1";
  p.subscriptions.push_back(push);
  auto tg = sub(channel::telegram_bot, 4);
  tg.cc_id = "42";
  tg.phone = "+79000000002";
  p.subscriptions.push_back(tg);
  auto lc_user = sub(channel::leadconverter, 5);
  lc_user.user_id = "u1";
  lc_user.channel_id = "c1";
  p.subscriptions.push_back(lc_user);
  auto lc_sub = sub(channel::leadconverter, 6);
  lc_sub.subscriber_id = "lc9";
  p.subscriptions.push_back(lc_sub);

  const std::set<std::string> expected = {
      "e:john@example.com",
      "p:+79000000000",
      "p:+79000000001",
      "c:6:CRM_ID:0002",
      "c:5:score:7",
      "c:5:ratio:1.5",
      "c:3:vip:true",
      "c:4:edge:" + std::string(512, 'y'),
      "c:3:a:b:v",
      "t:9:interests:books",
      "t:9:interests:music",
      "s:email:1:john@example.com",
      "s:email:7:john@example.com",
      "s:email:*:john@example.com",
      "s:sms:2:+79000000000",
      "s:sms:*:+79000000000",
      "s:push:3:tok1",
      "s:push:*:tok1",
      "s:telegram_bot:4:42",
      "s:telegram_bot:*:42",
      "s:telegram_bot:4:+79000000002",
      "s:telegram_bot:*:+79000000002",
      "s:leadconverter:5:u1/c1",
      "s:leadconverter:*:u1/c1",
      "s:leadconverter:6:lc9",
      "s:leadconverter:*:lc9",
  };
  EXPECT_EQ(index_entries(p), std::vector<std::string>(expected.begin(), expected.end()));
}

TEST(ProfilesIndex, AnEmptyProfileHasNone) {
  profile p;
  p.fields = {{"_fname", std::string("Ann")}, {"phones", tag_list{}}};
  EXPECT_TRUE(index_entries(p).empty());
}

TEST(ProfilesIndex, TheDocumentRoundTrips) {
  profile p;
  p.id = new_profile_id();
  p.created_at = 1763870000000;
  p.updated_at = 1763870000123;
  p.fields = {{"_fname", std::string("Jo \"the\" \\ one\n")},
              {"email", std::string("jo@example.com")},
              {"n", std::int64_t{-3}},
              {"d", 0.1},
              {"b", false},
              {"tags", tag_list{"a", "b c"}}};
  auto s = email_sub(1, "jo@example.com", subscription_status::blocked);
  s.fields = {{"source", std::string("web")}, {"weight", std::int64_t{2}}};
  p.subscriptions.push_back(s);
  auto tg = sub(channel::telegram_bot, 2);
  tg.cc_id = "42";
  p.subscriptions.push_back(tg);
  auto back = profile::from_doc(p.id, p.to_doc());
  EXPECT_EQ(back.to_doc(), p.to_doc());
  EXPECT_EQ(back.fields, p.fields);
  ASSERT_EQ(back.subscriptions.size(), 2u);
  EXPECT_EQ(back.subscriptions[0].status, subscription_status::blocked);
  EXPECT_EQ(back.subscriptions[1].cc_id, "42");
  EXPECT_EQ(index_entries(back), index_entries(p));
  EXPECT_TRUE(is_profile_id(p.id)) << p.id;
  EXPECT_THROW(profile::from_doc(p.id, "{\"c\": 1}"), std::runtime_error);
}

// --- apply: the update functions ---------------------------------------------------------

TEST(ProfilesApply, AValueOverwritesAndNullUnsets) {
  profile p;
  p.fields = {{"_fname", std::string("Ann")}, {"city", std::string("Paris")}};
  p = applied(p, R"({"_fname": "Bob", "city": null, "visits": 3, "vip": true, "ratio": 2.5,
                     "interests": ["a", " b ", ""], "missing": null})");
  EXPECT_EQ(p.fields.at("_fname"), field_value(std::string("Bob")));
  EXPECT_FALSE(p.fields.contains("city"));
  EXPECT_FALSE(p.fields.contains("missing"));
  EXPECT_EQ(p.fields.at("visits"), field_value(std::int64_t{3}));
  EXPECT_EQ(p.fields.at("vip"), field_value(true));
  EXPECT_EQ(p.fields.at("ratio"), field_value(2.5));
  EXPECT_EQ(p.fields.at("interests"), field_value(tag_list{"a", "b"}));
}

TEST(ProfilesApply, SetAndUnsetActions) {
  profile p;
  p.fields = {{"a", std::string("old")}, {"b", std::int64_t{1}}, {"c", true}};
  p = applied(p, R"({"a": {"action": "set", "value": "new"}, "b": {"action": "unset"},
                     "c": {"action": "set", "value": null}, "d": {"action": "set", "value": 4}})");
  EXPECT_EQ(p.fields.at("a"), field_value(std::string("new")));
  EXPECT_FALSE(p.fields.contains("b"));
  EXPECT_FALSE(p.fields.contains("c"));
  EXPECT_EQ(p.fields.at("d"), field_value(std::int64_t{4}));
}

TEST(ProfilesApply, IncrAndDecrOfIntegersAndDoubles) {
  profile p;
  p.fields = {{"v2", std::int64_t{5}},
              {"v3", std::int64_t{5}},
              {"v4", std::int64_t{5}},
              {"v5", 2.5},
              {"v6", std::numeric_limits<std::int64_t>::max()},
              {"v8", 1.25}};
  p = applied(p, R"({"v1": {"action": "incr"}, "v2": {"action": "incr", "value": 2},
                     "v3": {"action": "decr"}, "v4": {"action": "incr", "value": 0.5},
                     "v5": {"action": "decr", "value": 1}, "v6": {"action": "incr"},
                     "v7": {"action": "decr", "value": 2}, "v8": {"action": "decr", "value": 0.25}})");
  EXPECT_EQ(p.fields.at("v1"), field_value(std::int64_t{1})) << "absent counts from 0";
  EXPECT_EQ(p.fields.at("v2"), field_value(std::int64_t{7}));
  EXPECT_EQ(p.fields.at("v3"), field_value(std::int64_t{4}));
  EXPECT_EQ(p.fields.at("v4"), field_value(5.5));
  EXPECT_EQ(p.fields.at("v5"), field_value(1.5));
  ASSERT_TRUE(std::holds_alternative<double>(p.fields.at("v6"))) << "overflow goes to double";
  EXPECT_DOUBLE_EQ(std::get<double>(p.fields.at("v6")), 9223372036854775808.0);
  EXPECT_EQ(p.fields.at("v7"), field_value(std::int64_t{-2}));
  EXPECT_EQ(p.fields.at("v8"), field_value(1.0));
}

TEST(ProfilesApply, IncrOfSomethingElseThanANumberFailsNamingTheField) {
  profile p;
  p.fields = {{"name", std::string("Ann")}, {"tags", tag_list{"a"}}, {"flag", true}};
  for (const char* field : {"name", "tags", "flag"}) {
    auto [code, what] =
        apply_failure(p, std::string(R"({")") + field + R"(": {"action": "incr"}})");
    EXPECT_EQ(code, "invalid_update") << field;
    EXPECT_TRUE(contains(what, std::string("data[0].data.") + field)) << what;
  }
}

TEST(ProfilesApply, IncrThatWouldNotBeANumberFails) {
  profile p;
  p.fields = {{"big", 1.5e308}};
  auto [code, what] = apply_failure(p, R"({"big": {"action": "incr", "value": 1.5e308}})");
  EXPECT_EQ(code, "invalid_update");
  EXPECT_TRUE(contains(what, "data[0].data.big")) << what;
  // The document never holds what JSON cannot write.
  p.id = new_profile_id();
  EXPECT_NO_THROW(profile::from_doc(p.id, p.to_doc()));
}

TEST(ProfilesApply, AddAndRemoveTags) {
  profile p;
  p.fields = {{"t2", tag_list{"a"}}, {"t3", tag_list{"a", "c"}}, {"t4", tag_list{"x"}}};
  p = applied(p, R"({"t1": {"action": "add_tags", "value": "a, b ,, c"},
                     "t2": {"action": "add_tags", "value": ["a", "c"]},
                     "t3": {"action": "remove_tags", "value": ["a", "zzz"]},
                     "t4": {"action": "remove_tags", "value": "x"},
                     "t5": {"action": "remove_tags", "value": ["x"]}})");
  EXPECT_EQ(p.fields.at("t1"), field_value(tag_list{"a", "b", "c"}));
  EXPECT_EQ(p.fields.at("t2"), field_value(tag_list{"a", "c"})) << "no tag twice";
  EXPECT_EQ(p.fields.at("t3"), field_value(tag_list{"c"}));
  EXPECT_FALSE(p.fields.contains("t4")) << "the last tag removed removes the field";
  EXPECT_FALSE(p.fields.contains("t5"));

  profile q;
  q.fields = {{"s", std::string("scalar")}};
  auto [code2, what2] = apply_failure(q, R"({"s": {"action": "add_tags", "value": "a"}})");
  EXPECT_EQ(code2, "invalid_update");
  EXPECT_TRUE(contains(what2, "data[0].data.s")) << what2;
}

TEST(ProfilesApply, PhonesAddRemoveSetAndThePhoneAlias) {
  profile p;
  p.fields = {{"phones", tag_list{"+79000000000"}}};
  p = applied(p, R"({"phones": {"action": "add_tags",
                                "value": ["+7 900 000-00-01", "79000000000"]}})");
  EXPECT_EQ(p.fields.at("phones"), field_value(tag_list{"+79000000000", "+79000000001"}));
  p = applied(p, R"({"phones": {"action": "remove_tags", "value": "+7 (900) 000 00 00"}})");
  EXPECT_EQ(p.fields.at("phones"), field_value(tag_list{"+79000000001"}));
  p = applied(p, R"({"phone": "+1 212 555 0100"})");
  EXPECT_EQ(p.fields.at("phones"), field_value(tag_list{"+12125550100"}));
  p = applied(p, R"({"phones": ["+12125550100", "+1-212-555-0100", "+12125550101"]})");
  EXPECT_EQ(p.fields.at("phones"), field_value(tag_list{"+12125550100", "+12125550101"}));
  p = applied(p, R"({"phones": {"action": "unset"}})");
  EXPECT_FALSE(p.fields.contains("phones"));
}

TEST(ProfilesApply, SubscriptionsMergeByChannelResourceAndAddress) {
  profile p;
  auto blocked = email_sub(1, "a@x.com", subscription_status::blocked);
  blocked.fields = {{"source", std::string("web")}};
  p.subscriptions = {blocked, sms_sub(1, "+79000000000")};
  p = applied(p, R"({"subscriptions": [
      {"channel": "email", "resource_id": 1, "email": " A@X.com ", "note": "n"},
      {"channel": "email", "resource_id": 2, "email": "a@x.com", "status": "unsubscribed"},
      {"channel": "phone", "resource_id": 1, "phone": "+7 900 000 00 00", "status": "blocked"},
      {"channel": "push", "resource_id": 1, "provider": "fcm", "subscription_id": "t1"}]})");
  ASSERT_EQ(p.subscriptions.size(), 4u);
  const auto& e1 = p.subscriptions[0];
  EXPECT_EQ(e1.ch, channel::email);
  EXPECT_EQ(e1.email, "a@x.com");
  EXPECT_EQ(e1.status, subscription_status::blocked) << "no status given: kept";
  EXPECT_EQ(e1.fields.at("source"), field_value(std::string("web")));
  EXPECT_EQ(e1.fields.at("note"), field_value(std::string("n")));
  EXPECT_EQ(p.subscriptions[1].ch, channel::sms) << "\"phone\" is read as sms";
  EXPECT_EQ(p.subscriptions[1].status, subscription_status::blocked);
  EXPECT_EQ(p.subscriptions[2].resource_id, 2);
  EXPECT_EQ(p.subscriptions[2].status, subscription_status::unsubscribed);
  EXPECT_EQ(p.subscriptions[3].ch, channel::push);
  EXPECT_EQ(p.subscriptions[3].status, subscription_status::active) << "new: active";

  p = applied(p, R"({"subscriptions": [
      {"channel": "email", "resource_id": 1, "email": "a@x.com", "status": "active"}]})");
  EXPECT_EQ(p.subscriptions[0].status, subscription_status::active);
  EXPECT_EQ(p.subscriptions.size(), 4u);
}

TEST(ProfilesApply, DeleteActionRemovesOneSubscription) {
  profile p;
  p.subscriptions = {email_sub(1, "a@x.com"), email_sub(2, "a@x.com"), sms_sub(1, "+79000000000")};
  p = applied(p, R"({"subscriptions": [
      {"channel": "email", "resource_id": 2, "email": "A@x.com", "action": "delete"},
      {"channel": "email", "resource_id": 9, "email": "a@x.com", "action": "delete"}]})");
  ASSERT_EQ(p.subscriptions.size(), 2u);
  EXPECT_EQ(p.subscriptions[0].resource_id, 1);
  EXPECT_EQ(p.subscriptions[1].ch, channel::sms);
}

TEST(ProfilesApply, SubscriptionsSetReplacesAndUnsetRemovesAll) {
  profile p;
  p.subscriptions = {email_sub(1, "a@x.com"), sms_sub(1, "+79000000000")};
  p = applied(p, R"({"subscriptions": {"action": "set", "value": [
      {"channel": "email", "resource_id": 3, "email": "b@x.com"}]}})");
  ASSERT_EQ(p.subscriptions.size(), 1u);
  EXPECT_EQ(p.subscriptions[0].email, "b@x.com");
  EXPECT_EQ(p.subscriptions[0].resource_id, 3);
  p = applied(p, R"({"subscriptions": {"action": "unset"}})");
  EXPECT_TRUE(p.subscriptions.empty());
}

// --- parse_import_job: the body and its items --------------------------------------------

TEST(ProfilesParse, BodyErrorsNameTheField) {
  auto e = body_error(R"({"matching": "fuzzy", "data": []})");
  EXPECT_TRUE(contains(e, "body.matching")) << e;
  EXPECT_TRUE(contains(e, "fuzzy")) << e;
  EXPECT_TRUE(contains(e, "email_phone_sub")) << e << ": lists the modes";

  e = body_error(R"({"matching": "custom", "data": [{"field_value": "1", "data": {}}]})");
  EXPECT_TRUE(contains(e, "body.field_name")) << e;

  const std::string three = R"({"data": [{"email": "a@x.com", "data": {}},
      {"email": "b@x.com", "data": {}}, {"email": "c@x.com", "data": {}}]})";
  e = body_error(three, 2);
  EXPECT_TRUE(contains(e, "body.data")) << e;
  EXPECT_TRUE(contains(e, "at most 2")) << e;
  EXPECT_EQ(parse(three, 3).items.size(), 3u);

  EXPECT_TRUE(contains(body_error("{not json"), "body")) << body_error("{not json");
  EXPECT_TRUE(contains(body_error("[]"), "body: must be a JSON object"));
  EXPECT_TRUE(contains(body_error(R"({"colour": 1})"), "body.colour"));
  EXPECT_TRUE(contains(body_error(R"({"skip_triggers": "yes"})"), "body.skip_triggers"));
  EXPECT_TRUE(contains(body_error(R"({"detect_geo": 1})"), "body.detect_geo"));
  EXPECT_TRUE(contains(body_error(R"({"db_id": 0})"), "body.db_id"));
  EXPECT_TRUE(contains(body_error(R"({"resource_id": -1})"), "body.resource_id"));
  EXPECT_TRUE(contains(body_error(R"({"data": {}})"), "body.data"));
  EXPECT_TRUE(contains(body_error(R"({"custom_data": []})"), "body.custom_data"));
  EXPECT_TRUE(contains(body_error(R"({"field_name": " "})"), "body.field_name"));
  for (const char* standard : {"_fname", "email", "phones"}) {
    e = body_error(std::string(R"({"matching": "custom", "field_name": ")") + standard + "\"}");
    EXPECT_TRUE(contains(e, "body.field_name")) << e;
    EXPECT_TRUE(contains(e, "not a custom field")) << e;
  }
}

TEST(ProfilesParse, ARepeatedKeyIsRefusedNamingIt) {
  auto e = body_error(R"({"matching": "email", "matching": "phone", "data": []})");
  EXPECT_TRUE(contains(e, "body.matching: duplicate key")) << e;
  e = body_error(R"({"custom_data": {"a": 1, "a": 2}, "data": []})");
  EXPECT_TRUE(contains(e, "body.custom_data.a: duplicate key")) << e;
  // In an item, the item fails alone.
  auto job = parse(R"({"data": [{"email": "a@x.com", "data": {}},
      {"email": "b@x.com", "data": {"_fname": "A", "_fname": "B"}}]})");
  ASSERT_EQ(job.items.size(), 2u);
  EXPECT_FALSE(job.items[0].error);
  ASSERT_TRUE(job.items[1].error);
  EXPECT_EQ(job.items[1].error->code(), "invalid_item");
  EXPECT_TRUE(contains(job.items[1].error->what(), "data[1].data._fname: duplicate key"))
      << job.items[1].error->what();
}

TEST(ProfilesParse, TheSeedsExamplesParse) {
  auto job = parse(R"({"token": "abc", "matching": "custom", "field_name": "New_field_1",
      "trigger_id": 455, "format": "json", "skip_triggers": false, "detect_geo": true,
      "data": [{"data": {"_fname": "NUMBER1", "email": "profile01@example.com",
                         "phones": "+79000000000", "New_field_1": "0002"}}],
      "timeout": {"days": 0, "hours": 0, "minutes": 5}, "content": {"page": "x"},
      "attach": [{"data": "data:text/csv;base64,SEVMTE8K", "name": "Attach.txt"}]})");
  EXPECT_EQ(job.options.matching, match_mode::custom);
  EXPECT_EQ(job.options.field_name, "New_field_1");
  EXPECT_EQ(job.options.trigger_id, 455);
  EXPECT_TRUE(job.options.detect_geo);
  ASSERT_EQ(job.items.size(), 1u);
  ASSERT_FALSE(job.items[0].error) << job.items[0].error->what();
  EXPECT_EQ(job.items[0].query.keys.field_value, "0002");
  EXPECT_EQ(job.items[0].query.keys.email, "profile01@example.com");
  EXPECT_EQ(job.items[0].query.keys.phones, tag_list{"+79000000000"});
}

TEST(ProfilesParse, AnItemThatIsNotAnObjectFailsAloneNamingItsIndex) {
  auto job = parse(R"({"data": [{"email": "a@x.com", "data": {}}, 5, {"email": "b@x.com",
                                "data": {}}]})");
  ASSERT_EQ(job.items.size(), 3u);
  EXPECT_FALSE(job.items[0].error);
  ASSERT_TRUE(job.items[1].error);
  EXPECT_EQ(job.items[1].error->code(), "invalid_item");
  EXPECT_TRUE(contains(job.items[1].error->what(), "data[1]")) << job.items[1].error->what();
  EXPECT_FALSE(job.items[2].error);
  EXPECT_EQ(job.items[2].index, 2u);
}

TEST(ProfilesParse, ItemErrorsNameTheItemAndTheField) {
  struct error_case {
    std::string item, code, path;
    std::string root = R"("matching": "email")";
  };
  const std::vector<error_case> cases = {
      {R"({"email": "a@x.com", "data": {}, "colour": "red"})", "invalid_item", "data[0].colour"},
      {R"({"email": "a@x.com"})", "invalid_item", "data[0].data"},
      {R"({"email": "a@x.com", "data": []})", "invalid_item", "data[0].data"},
      {R"({"email": "a@x.com", "data": {}, "custom_data": "x"})", "invalid_item",
       "data[0].custom_data"},
      {R"({"email": "not-an-email", "data": {}})", "invalid_email", "data[0].email"},
      {R"({"data": {"email": "john@"}})", "invalid_email", "data[0].data.email"},
      {R"({"email": "a@x.com", "data": {"email": 5}})", "invalid_item", "data[0].data.email"},
      {R"({"email": "a@x.com", "data": {"email": {"action": "add_tags", "value": "a@x.com"}}})",
       "invalid_item", "data[0].data.email"},
      {R"({"phone": "12", "data": {}})", "invalid_phone", "data[0].phone",
       R"("matching": "phone")"},
      {R"({"email": "a@x.com", "data": {"phones": "abc"}})", "invalid_phone",
       "data[0].data.phones"},
      {R"({"email": "a@x.com", "data": {"phones": ["+79000000000", "1"]}})", "invalid_phone",
       "data[0].data.phones"},
      {R"({"email": "a@x.com", "data": {"phones": {"action": "incr"}}})", "invalid_item",
       "data[0].data.phones"},
      {R"({"email": "a@x.com", "data": {"x": {"foo": 1}}})", "invalid_item", "data[0].data.x"},
      {R"({"email": "a@x.com", "data": {"x": {"action": "double"}}})", "invalid_item",
       "data[0].data.x.action"},
      {R"({"email": "a@x.com", "data": {"x": {"action": "incr", "value": "two"}}})", "invalid_item",
       "data[0].data.x.value"},
      {R"({"email": "a@x.com", "data": {"x": {"action": "set"}}})", "invalid_item",
       "data[0].data.x.value"},
      {R"({"email": "a@x.com", "data": {"x": [1, 2]}})", "invalid_item", "data[0].data.x[0]"},
      {R"({"email": "a@x.com", "data": {"subscriptions": "x"}})", "invalid_item",
       "data[0].data.subscriptions"},
      {R"({"email": "a@x.com", "data": {"subscriptions": {"action": "merge"}}})", "invalid_item",
       "data[0].data.subscriptions"},
      {R"({"email": "a@x.com", "data": {"subscriptions": [{"channel": "fax", "fax": "1"}]}})",
       "invalid_subscription", "data[0].data.subscriptions[0].channel"},
      {R"({"email": "a@x.com", "data": {"subscriptions": [{"channel": "email", "email": "a@x.com",
           "resource_id": -2}]}})",
       "invalid_subscription", "data[0].data.subscriptions[0].resource_id"},
      {R"({"email": "a@x.com", "data": {"subscriptions": [{"channel": "email", "email": "a@x.com",
           "status": "paused"}]}})",
       "invalid_subscription", "data[0].data.subscriptions[0].status"},
      {R"({"email": "a@x.com", "data": {"subscriptions": [{"channel": "push",
           "subscription_id": "t"}]}})",
       "invalid_subscription", "data[0].data.subscriptions[0].provider"},
      {R"({"email": "a@x.com", "data": {"subscriptions": [{"channel": "telegram_bot"}]}})",
       "invalid_subscription", "data[0].data.subscriptions[0].cc_data.id"},
      {R"({"email": "a@x.com", "data": {"subscriptions": [{"channel": "email", "email": "a@x.com",
           "meta": {"k": 1}}]}})",
       "invalid_subscription", "data[0].data.subscriptions[0].meta"},
      {R"({"email": "a@x.com", "data": {"subscriptions": [{"channel": "email", "email": "a@x.com",
           "labels": ["a"]}]}})",
       "invalid_subscription", "data[0].data.subscriptions[0].labels"},
      {R"({"profile_id": "xyz", "data": {}})", "invalid_item", "data[0].profile_id",
       R"("matching": "profile_id")"},
      {R"({"channel": "fax", "id": "1", "data": {}})", "invalid_item", "data[0].channel",
       R"("matching": "custom_sub")"},
      {R"({"channel": "email", "id": "not-an-email", "data": {}})", "invalid_item", "data[0].id",
       R"("matching": "custom_sub")"},
      {R"({"channel": "phone", "id": "12", "data": {}})", "invalid_item", "data[0].id",
       R"("matching": "custom_sub")"},
      {R"({"email": "a@x.com", "data": {"subscriptions": [{"channel": "sms", "phone": true}]}})",
       "invalid_subscription", "data[0].data.subscriptions[0].phone"},
  };
  for (const auto& c : cases) {
    auto [code, what] = item_failure(c.item, c.root);
    EXPECT_EQ(code, c.code) << c.item << ": " << what;
    EXPECT_TRUE(contains(what, c.path + ":")) << c.item << ": " << what;
  }
}

TEST(ProfilesParse, EachModeNamesTheKeyItMisses) {
  const std::vector<std::pair<std::string, std::string>> modes = {
      {"email", "needs email"},
      {"email_profile", "needs email"},
      {"email_sub", "needs email"},
      {"phone", "needs phone"},
      {"phone_sub", "needs phone"},
      {"profile_id", "needs profile_id"},
      {"push_sub", "needs subscription_id"},
      {"custom", "needs field_value"},
      {"custom_sub", "needs channel"},
      {"email_phone", "needs email or phone"},
      {"email_phone_sub", "needs email or phone"},
  };
  for (const auto& [mode, phrase] : modes) {
    auto [code, what] = item_failure(R"({"data": {"_fname": "x", "interests": ["a"]}})",
                                     R"("matching": ")" + mode + R"(", "field_name": "CRM_ID")");
    EXPECT_EQ(code, "missing_key") << mode;
    EXPECT_TRUE(contains(what, "data[0]")) << what;
    EXPECT_TRUE(contains(what, phrase)) << mode << ": " << what;
  }
  auto [code, what] =
      item_failure(R"({"channel": "telegram_bot", "data": {}})", R"("matching": "custom_sub")");
  EXPECT_EQ(code, "missing_key");
  EXPECT_TRUE(contains(what, "needs id")) << what;
}

TEST(ProfilesParse, MatchKeysComeFromTheItemThenItsDataThenItsSubscriptions) {
  auto it = one_item(R"({"email": " Key@X.com ", "data": {"email": "new@x.com"}})");
  EXPECT_EQ(it.query.keys.email, "key@x.com") << "the item's own key first";
  it = one_item(R"({"data": {"email": "New@X.com"}})");
  EXPECT_EQ(it.query.keys.email, "new@x.com");
  it = one_item(R"({"data": {"subscriptions": [{"channel": "email", "email": "s@x.com"}]}})",
                R"("matching": "email_sub")");
  EXPECT_FALSE(it.error);
  EXPECT_EQ(it.query.keys.email, "s@x.com");
  it = one_item(R"({"data": {"phones": ["+7 900 000 00 01", "+79000000002"]}})",
                R"("matching": "phone")");
  EXPECT_EQ(it.query.keys.phones, (tag_list{"+79000000001", "+79000000002"}));
  it = one_item(R"({"data": {"subscriptions": [{"channel": "sms", "phone": "79000000003"}]}})",
                R"("matching": "email_phone_sub")");
  EXPECT_EQ(it.query.keys.phones, tag_list{"+79000000003"});
  it = one_item(R"({"data": {"CRM_ID": 17}})", R"("matching": "custom", "field_name": "CRM_ID")");
  EXPECT_EQ(it.query.keys.field_value, "17");
  it = one_item(R"({"data": {"interests": ["a", "b"]}})",
                R"("matching": "custom", "field_name": "interests")");
  EXPECT_EQ(it.query.keys.field_value, "a, b");
  it = one_item(R"({"data": {"subscriptions": [{"channel": "push", "provider": "fcm",
                   "subscription_id": "tok"}]}})",
                R"("matching": "push_sub", "resource_id": 4)");
  EXPECT_EQ(it.query.keys.subscription_id, "tok");
  EXPECT_EQ(it.query.resource_id, 4);
  it = one_item(
      R"({"data": {"subscriptions": [{"channel": "telegram_bot", "cc_data": {"id": 42}}]}})",
      R"("matching": "custom_sub")");
  EXPECT_EQ(it.query.keys.sub_channel, channel::telegram_bot);
  EXPECT_EQ(it.query.keys.sub_id, "42");
  it = one_item(R"({"channel": "email", "id": "A@X.com", "data": {}})",
                R"("matching": "custom_sub")");
  EXPECT_EQ(it.query.keys.sub_id, "a@x.com");
  it = one_item(R"({"data": {"profile_id": "0123456789abcdef01234567"}})",
                R"("matching": "profile_id")");
  EXPECT_EQ(it.query.keys.profile_id, "0123456789abcdef01234567");
  EXPECT_TRUE(it.update.fields.empty()) << "profile_id is a key, not a field";
}

TEST(ProfilesParse, SkipInvalidSubscriptionsBothWays) {
  const std::string item = R"({"email": "a@x.com", "data": {"_fname": "Ann", "subscriptions": [
      {"channel": "email", "email": "ok@x.com", "resource_id": 1},
      {"channel": "email", "email": "bad", "resource_id": 1},
      {"channel": "sms", "resource_id": 1}]}})";
  auto [code, what] = item_failure(item);
  EXPECT_EQ(code, "invalid_subscription");
  EXPECT_TRUE(contains(what, "data[0].data.subscriptions[1].email")) << what;
  EXPECT_TRUE(contains(what, "\"bad\"")) << what;

  auto it = one_item(item, R"("matching": "email", "skip_invalid_subscriptions": true)");
  ASSERT_FALSE(it.error) << it.error->what();
  ASSERT_EQ(it.update.subscriptions.size(), 1u);
  EXPECT_EQ(it.update.subscriptions[0].sub.email, "ok@x.com");
  ASSERT_EQ(it.update.warnings.size(), 2u);
  EXPECT_TRUE(contains(it.update.warnings[0], "data[0].data.subscriptions[1].email"))
      << it.update.warnings[0];
  EXPECT_TRUE(contains(it.update.warnings[1], "data[0].data.subscriptions[2].phone"))
      << it.update.warnings[1];
  EXPECT_EQ(it.update.fields.size(), 1u) << "the rest of the item stays";

  // A subscription whose extra field is of the wrong type is an invalid subscription too.
  it = one_item(R"({"email": "a@x.com", "data": {"subscriptions": [
      {"channel": "email", "email": "ok@x.com", "meta": {"k": 1}}]}})",
                R"("matching": "email", "skip_invalid_subscriptions": true)");
  ASSERT_FALSE(it.error) << it.error->what();
  EXPECT_TRUE(it.update.subscriptions.empty());
  EXPECT_EQ(it.update.warnings.size(), 1u);
}

// custom_data as parsed JSON members, for comparing without caring about their order.
std::map<std::string, std::string> members(const std::string& json) {
  std::map<std::string, std::string> out;
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json).get(o)) {
    ADD_FAILURE() << "not an object: " << json;
    return out;
  }
  for (auto [k, v] : o) out[std::string(k)] = simdjson::minify(v);
  return out;
}

TEST(ProfilesParse, TheItemsCustomDataWinsOverTheRoots) {
  auto job = parse(R"({"custom_data": {"a": 1, "b": "root"}, "data": [
      {"email": "a@x.com", "data": {}, "custom_data": {"b": "item", "c": true}},
      {"email": "b@x.com", "data": {}},
      {"email": "c@x.com", "data": {"custom_data": {"b": "data", "d": [1]}}}]})");
  ASSERT_EQ(job.items.size(), 3u);
  using m = std::map<std::string, std::string>;
  EXPECT_EQ(members(job.items[0].custom_data), (m{{"a", "1"}, {"b", "\"item\""}, {"c", "true"}}));
  EXPECT_EQ(members(job.items[1].custom_data), (m{{"a", "1"}, {"b", "\"root\""}}));
  EXPECT_EQ(members(job.items[2].custom_data), (m{{"a", "1"}, {"b", "\"data\""}, {"d", "[1]"}}));
  EXPECT_FALSE(job.items[2].update.fields.size()) << "custom_data is not a profile field";

  auto none = parse(R"({"data": [{"email": "a@x.com", "data": {}}]})");
  EXPECT_EQ(none.items.at(0).custom_data, "");
  auto only_item =
      parse(R"({"data": [{"email": "a@x.com", "data": {}, "custom_data": {"k": "v"}}]})");
  EXPECT_EQ(members(only_item.items.at(0).custom_data), (m{{"k", "\"v\""}}));
}

// --- lookups ------------------------------------------------------------------------------

TEST(ProfilesMatching, LookupPlansOfEachMode) {
  match_query q;
  q.keys.email = "a@x.com";
  q.keys.phones = {"+79000000001", "+79000000002"};
  q.resource_id = 3;
  using plan = lookup_plan;
  q.mode = match_mode::email;
  EXPECT_EQ(plan_lookup(q), (plan{{"e:a@x.com"}, {"s:email:3:a@x.com"}}));
  q.mode = match_mode::email_profile;
  EXPECT_EQ(plan_lookup(q), (plan{{"e:a@x.com"}}));
  q.mode = match_mode::email_sub;
  EXPECT_EQ(plan_lookup(q), (plan{{"s:email:3:a@x.com"}}));
  q.mode = match_mode::phone;
  EXPECT_EQ(plan_lookup(q), (plan{{"p:+79000000001"},
                                  {"p:+79000000002"},
                                  {"s:sms:3:+79000000001"},
                                  {"s:sms:3:+79000000002"}}));
  q.mode = match_mode::email_phone;
  EXPECT_EQ(plan_lookup(q), (plan{{"e:a@x.com"}, {"p:+79000000001"}, {"p:+79000000002"}}));
  q.resource_id.reset();
  q.mode = match_mode::email_phone_sub;
  EXPECT_EQ(plan_lookup(q),
            (plan{{"s:email:*:a@x.com"}, {"s:sms:*:+79000000001"}, {"s:sms:*:+79000000002"}}));
  q.mode = match_mode::custom;
  q.field_name = "interests";
  q.keys.field_value = " tag_1, tag_2 ";
  EXPECT_EQ(plan_lookup(q),
            (plan{{"c:9:interests:tag_1, tag_2"}, {"t:9:interests:tag_1", "t:9:interests:tag_2"}}));
  q.mode = match_mode::custom_sub;
  q.keys.sub_channel = channel::telegram_bot;
  q.keys.sub_id = "8 (900) 000-00-01";
  EXPECT_EQ(plan_lookup(q),
            (plan{{"s:telegram_bot:*:8 (900) 000-00-01"}, {"s:telegram_bot:*:+89000000001"}}));
  q.keys.sub_id = "42";
  EXPECT_EQ(plan_lookup(q), (plan{{"s:telegram_bot:*:42"}}));
  q.mode = match_mode::profile_id;
  EXPECT_TRUE(plan_lookup(q).empty());
  EXPECT_EQ(parse_match_mode("email_phone_sub"), match_mode::email_phone_sub);
  EXPECT_FALSE(parse_match_mode("Email"));
}

TEST(ProfilesMatching, FindsTellsWhetherALookupWouldFindAProfile) {
  profile p;
  p.fields = {{"email", std::string("a@x.com")}, {"interests", tag_list{"a", "b"}}};
  p.subscriptions = {email_sub(2, "s@x.com")};
  using plan = lookup_plan;
  EXPECT_TRUE(finds(plan{{"e:z@x.com"}, {"e:a@x.com"}}, p));
  EXPECT_TRUE(finds(plan{{"s:email:*:s@x.com"}}, p));
  EXPECT_TRUE(finds(plan{{"s:email:2:s@x.com"}}, p));
  EXPECT_FALSE(finds(plan{{"s:email:1:s@x.com"}}, p));
  EXPECT_TRUE(finds(plan{{"t:9:interests:a", "t:9:interests:b"}}, p));
  EXPECT_FALSE(finds(plan{{"t:9:interests:a", "t:9:interests:c"}}, p)) << "every entry of a group";
  EXPECT_FALSE(finds(plan{}, p));
  EXPECT_FALSE(finds(plan{{}}, p));
}

TEST(ProfilesApply, ANewProfileGetsTheKeysItsDataDoesNotChange) {
  auto keyed = [](const std::string& item, const std::string& root) {
    auto it = one_item(item, root);
    EXPECT_FALSE(it.error) << (it.error ? it.error->what() : "");
    profile p;
    add_match_keys(p, it.query, it.update);
    apply(p, it.update);
    return p.fields;
  };
  using fm = field_map;
  EXPECT_EQ(keyed(R"({"email": "K@x.com", "data": {"_fname": "K"}})", R"("matching": "email")"),
            (fm{{"email", std::string("k@x.com")}, {"_fname", std::string("K")}}));
  EXPECT_EQ(keyed(R"({"email": "k@x.com", "data": {"email": "other@x.com"}})",
                  R"("matching": "email_profile")"),
            (fm{{"email", std::string("other@x.com")}}));
  EXPECT_EQ(keyed(R"({"email": "k@x.com", "data": {"email": null}})", R"("matching": "email")"),
            fm{});
  EXPECT_EQ(keyed(R"({"phone": "+7 900 000 00 00", "data": {}})", R"("matching": "phone")"),
            (fm{{"phones", tag_list{"+79000000000"}}}));
  EXPECT_EQ(keyed(R"({"phone": "+79000000000", "data": {"phones": {"action": "add_tags",
                  "value": "+79000000001"}}})",
                  R"("matching": "email_phone")"),
            (fm{{"phones", tag_list{"+79000000001"}}}))
      << "the data's phones are the key";
  EXPECT_EQ(keyed(R"({"email": "k@x.com", "phone": "+79000000000", "data": {}})",
                  R"("matching": "email_phone")"),
            (fm{{"email", std::string("k@x.com")}, {"phones", tag_list{"+79000000000"}}}));
  EXPECT_EQ(keyed(R"({"field_value": " 0042 ", "data": {}})",
                  R"("matching": "custom", "field_name": "CRM_ID")"),
            (fm{{"CRM_ID", std::string("0042")}}));
  EXPECT_EQ(keyed(R"({"field_value": "a, b", "data": {"tags": {"action": "add_tags",
                  "value": "c"}}})",
                  R"("matching": "custom", "field_name": "tags")"),
            (fm{{"tags", tag_list{"c"}}}))
      << "the data changes the field: no key added";
  // The subscription modes search subscriptions only: no field would find the profile.
  EXPECT_EQ(keyed(R"({"email": "k@x.com", "data": {}})", R"("matching": "email_sub")"), fm{});
  EXPECT_EQ(keyed(R"({"phone": "+79000000000", "data": {}})", R"("matching": "phone_sub")"), fm{});
}

}  // namespace
