// The XML codec of the Altcraft-style routes: seed 001's XML requests read into the JSON bodies
// the JSON path takes, replies written in the seed's XML shape, and the documents refused (a
// DOCTYPE, so billion laughs and external entities; too deep; not well-formed; not UTF-8).
#include "herald/api/xml.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using herald::api::json_reply_to_xml;
using herald::api::xml_limits;
using herald::api::xml_request_to_json;

std::string to_json(std::string_view xml, const xml_limits& limits = {}) {
  std::string json;
  const auto why = xml_request_to_json(xml, json, limits);
  EXPECT_FALSE(why) << *why;
  return json;
}

std::string refusal(std::string_view xml, const xml_limits& limits = {}) {
  std::string json;
  const auto why = xml_request_to_json(xml, json, limits);
  EXPECT_TRUE(why) << "accepted as " << json;
  return why.value_or("");
}

TEST(api_xml, reads_seed_001s_request_by_email) {
  EXPECT_EQ(
      to_json(R"(<xml>
<token>abcdefghijklmnqrstuvwxyz</token>
<trigger_id>85</trigger_id>
<format>xml</format>
<matching>email</matching>
<data>
<email>example3@example.com</email>
</data>
<data>
<email>example4@example.com</email>
</data>
</xml>)"),
      R"({"token":"abcdefghijklmnqrstuvwxyz","trigger_id":85,"format":"xml","matching":"email",)"
      R"("data":[{"email":"example3@example.com"},{"email":"example4@example.com"}]})");
}

TEST(api_xml, reads_seed_001s_request_by_custom_field) {
  EXPECT_EQ(to_json(R"(<xml>
<token>abcdefghijklmnqrstuvwxyz</token>
<trigger_id>85</trigger_id>
<format>xml</format>
<skip_triggers>false</skip_triggers>
<matching>custom</matching>
<field_name>Custom_ID</field_name>
<data>
<field_value>YY</field_value>
</data>
<data>
<field_value>AA</field_value>
</data>
</xml>)"),
            R"({"token":"abcdefghijklmnqrstuvwxyz","trigger_id":85,"format":"xml",)"
            R"("skip_triggers":false,"matching":"custom","field_name":"Custom_ID",)"
            R"("data":[{"field_value":"YY"},{"field_value":"AA"}]})");
}

TEST(api_xml, lists_even_when_given_once_and_strings_everywhere_else) {
  // One <data> is still a list, and so are attach and subscriptions; values in items stay
  // strings (a custom field "0002" must not become 2), escapes and CDATA are text.
  EXPECT_EQ(
      to_json(R"(<?xml version="1.0" encoding="UTF-8"?>
<xml><data><data><_fname>Иван</_fname><New_field_1>0002</New_field_1>
<subscriptions><channel>email</channel><email>a@b.ru</email><resource_id>1</resource_id></subscriptions>
<note>a &amp; b &lt;c&gt; &#1071;<![CDATA[<raw>]]></note></data></data>
<attach><name>a.txt</name></attach><db_id>2</db_id><limit>01</limit><detect_geo>yes</detect_geo>
<content><page>форма</page></content><empty/></xml>)"),
      R"({"data":[{"data":{"_fname":"Иван","New_field_1":"0002","subscriptions":[{"channel":"email",)"
      R"("email":"a@b.ru","resource_id":"1"}],"note":"a & b <c> Я<raw>"}}],)"
      R"("attach":[{"name":"a.txt"}],"db_id":2,"limit":"01","detect_geo":"yes",)"
      R"("content":{"page":"форма"},"empty":""})");
  EXPECT_EQ(to_json("<xml/>"), "{}");
  EXPECT_EQ(to_json("<xml>\n</xml>"), "{}");
}

TEST(api_xml, refuses_a_doctype_so_no_entity_is_ever_expanded) {
  const auto laughs = R"(<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<xml><token>&lol9;</token></xml>)";
  EXPECT_TRUE(refusal(laughs).starts_with("body: a DOCTYPE is refused")) << refusal(laughs);
  const auto external = R"(<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><token>&xxe;</token></xml>)";
  EXPECT_TRUE(refusal(external).starts_with("body: a DOCTYPE is refused")) << refusal(external);
  // Without a DOCTYPE an entity reference is left as the text it is, never looked up.
  EXPECT_EQ(to_json("<xml><token>&xxe;</token></xml>"), R"({"token":"&xxe;"})");
}

TEST(api_xml, refuses_documents_it_cannot_read_saying_why) {
  EXPECT_TRUE(refusal("<xml><a>1</a>").starts_with("body: not well-formed XML ("))
      << refusal("<xml><a>1</a>");
  EXPECT_TRUE(refusal("").starts_with("body: ")) << refusal("");
  EXPECT_EQ(refusal("<root><a>1</a></root>"),
            "body: the XML document's root must be <xml>, not <root>");
  EXPECT_EQ(refusal("<xml>text</xml>"), "body: <xml> holds text; expected an element a field");
  EXPECT_EQ(refusal("<xml><data>x<email>a@b</email></data></xml>"),
            "body: <data> holds both text and elements");
  EXPECT_EQ(refusal(R"(<xml><data id="1"><email>a@b</email></data></xml>)"),
            "body: <data> has attributes (id); Herald's XML requests have none");
  EXPECT_EQ(refusal(R"(<?xml version="1.0" encoding="windows-1251"?><xml/>)"),
            "body: the XML document declares encoding \"windows-1251\"; Herald reads UTF-8 only");
  EXPECT_EQ(refusal("<xml><token>\xff\xfe</token></xml>"),
            "body: <token>: its text is not valid UTF-8");
  std::string deep = "<xml>";
  for (int i = 0; i < 40; ++i) deep += "<a>";
  for (int i = 0; i < 40; ++i) deep += "</a>";
  deep += "</xml>";
  EXPECT_EQ(refusal(deep), "body: <a> is nested deeper than 32 elements");
  EXPECT_EQ(refusal("<xml><a>12345</a></xml>", {.max_bytes = 10}),
            "body: the XML document is larger than 10 bytes");
  EXPECT_EQ(refusal("<xml><a>1</a><b/></xml>", {.max_tags = 4}),
            "body: the XML document holds 5 tags, more than 4");
  to_json("<xml><a>1</a><b/></xml>", {.max_tags = 5});
}

TEST(api_xml, writes_replies_in_the_seeds_shape) {
  EXPECT_EQ(json_reply_to_xml(R"({"error": 0, "error_text": "Successful operation", "result": [)"
                              R"({"profile_id": "66101437dc4594c2934da6da"}, )"
                              R"({"profile_id": "6606e08f10bcdd88297057a7"}]})"),
            "<xml>\n<error>0</error>\n<error_text>Successful operation</error_text>\n"
            "<result>\n<profile_id>66101437dc4594c2934da6da</profile_id>\n</result>\n"
            "<result>\n<profile_id>6606e08f10bcdd88297057a7</profile_id>\n</result>\n</xml>\n");
  EXPECT_EQ(json_reply_to_xml(R"({"error":400,"error_debug":"http: request body too large",)"
                              R"("error_text":"Invalid request"})"),
            "<xml>\n<error>400</error>\n<error_debug>http: request body too large</error_debug>\n"
            "<error_text>Invalid request</error_text>\n</xml>\n");
  // Nested objects, escapes, Cyrillic, null and booleans; a name XML cannot hold is mended.
  EXPECT_EQ(json_reply_to_xml(R"({"data": {"status": "completed", "ok": true, "at": null,)"
                              R"( "text": "a < b & \"Привет\"\u0001", "1st key": 1.5}})"),
            "<xml>\n<data>\n<status>completed</status>\n<ok>true</ok>\n<at />\n"
            "<text>a &lt; b &amp; \"Привет\"?</text>\n<_st_key>1.5</_st_key>\n</data>\n</xml>\n");
  EXPECT_THROW(json_reply_to_xml("[1]"), std::invalid_argument);
}

}  // namespace
