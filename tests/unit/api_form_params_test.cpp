// The bracketed form parameters of LeadConverter's API (seeds 000 and 002) into JSON: the seeds'
// own query strings, Cyrillic percent-encoded, '+' as a space, and every refusal naming its key.
#include <gtest/gtest.h>

#include <string>

#include "herald/api/form_params.hpp"

namespace {

using herald::api::form_limits;
using herald::api::parse_form_params;

std::string json_of(std::string_view text, const form_limits& limits = {}) {
  auto r = parse_form_params(text, limits);
  EXPECT_FALSE(r.error) << text << ": " << (r.error ? r.error->text() : "");
  return r.json;
}

std::string refusal(std::string_view text, const form_limits& limits = {}) {
  auto r = parse_form_params(text, limits);
  EXPECT_TRUE(r.error) << text << " gave " << r.json;
  EXPECT_TRUE(r.json.empty());
  return r.error ? r.error->text() : std::string();
}

TEST(form_params, the_seed_000_query_string) {
  EXPECT_EQ(
      json_of("batch[0][subscriber_id]=7365&batch[0][file_uuid]=db0227be-c7c7-484e-8fa4-"
              "de9bcfd4723f&batch[1][subscriber_id]=7366&batch[1][text]=hello"),
      R"({"batch":[{"subscriber_id":"7365","file_uuid":"db0227be-c7c7-484e-8fa4-de9bcfd4723f"},)"
      R"({"subscriber_id":"7366","text":"hello"}]})");
}

TEST(form_params, the_seed_002_variables_keep_their_order) {
  EXPECT_EQ(
      json_of("subscriber_id=1&bot_id=12&variable[var_2]=123&variable[var_1]=qwe&forced=true"),
      R"({"subscriber_id":"1","bot_id":"12","variable":{"var_2":"123","var_1":"qwe"},)"
      R"("forced":"true"})");
}

TEST(form_params, percent_encoded_cyrillic_and_plus_as_space) {
  // "Привет, мир" with its comma encoded and the space as '+'.
  EXPECT_EQ(json_of("batch[0][text]=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82%2C+%D0%BC%D0%B8%D1%80"),
            R"({"batch":[{"text":"Привет, мир"}]})");
  // Brackets encoded too (what a form encoder writes), a name in Cyrillic, %2B a real plus.
  EXPECT_EQ(json_of("variable%5B%D0%B8%D0%BC%D1%8F%5D=%D0%98%D0%B2%D0%B0%D0%BD&x=1%2B1"),
            R"({"variable":{"имя":"Иван"},"x":"1+1"})");
}

TEST(form_params, json_special_characters_are_escaped) {
  EXPECT_EQ(json_of("a=%22q%22%5C%0A"), R"({"a":"\"q\"\\\n"})");
}

TEST(form_params, empty_pairs_no_value_and_append) {
  EXPECT_EQ(json_of(""), "{}");
  EXPECT_EQ(json_of("&&a&b=&&"), R"({"a":"","b":""})");
  EXPECT_EQ(json_of("l[]=x&l[]=y&l[2]=z"), R"({"l":["x","y","z"]})");
  EXPECT_EQ(json_of("m[1]=b&m[0]=a"), R"({"m":["a","b"]})") << "indexes in any order";
}

TEST(form_params, malformed_brackets_name_the_key) {
  EXPECT_EQ(refusal("batch[0[text]=x"), "batch[0[text]: malformed brackets: a '[' inside brackets");
  EXPECT_EQ(refusal("batch[0=x"), "batch[0: malformed brackets: a '[' not closed");
  EXPECT_EQ(refusal("batch]=x"), "batch]: malformed brackets: a ']' without its '['");
  EXPECT_EQ(refusal("batch[0]x=1"),
            "batch[0]x: malformed brackets: only another '[' may follow a ']'");
  EXPECT_EQ(refusal("[0]=1"), "[0]: a parameter needs a name before any '['");
  EXPECT_EQ(refusal("=1"), ": a parameter needs a name before any '['");
}

TEST(form_params, gaps_and_huge_indexes) {
  EXPECT_EQ(refusal("batch[0][text]=a&batch[2][text]=c"),
            "batch[1]: missing: a list's indexes must run from 0 without gaps (batch[2] is given)");
  EXPECT_EQ(refusal("batch[99999999][text]=a"), "batch[99999999][text]: index over 10000");
  EXPECT_EQ(refusal("batch[99999999999999999999999999]=a"),
            "batch[99999999999999999999999999]: index over 10000");
  EXPECT_EQ(refusal("batch[01]=a"), "batch[01]: an index must not have a leading zero");
  EXPECT_EQ(refusal("a[1]=x", {.max_depth = 4, .max_index = 0}), "a[1]: index over 0");
  EXPECT_EQ(refusal("a[]=x&a[]=y", {.max_depth = 4, .max_index = 0}), "a[]: index over 0");
  EXPECT_EQ(refusal("batch[10000]=x"),
            "batch[0]: missing: a list's indexes must run from 0 without gaps (batch[10000] is "
            "given)");
}

TEST(form_params, a_key_set_twice_or_two_ways) {
  EXPECT_EQ(refusal("a=1&a=2"), "a: given twice");
  EXPECT_EQ(refusal("batch[0][text]=1&batch[0][text]=2"), "batch[0][text]: given twice");
  EXPECT_EQ(refusal("a=1&a[b]=2"), "a[b]: given both as a value and with brackets");
  EXPECT_EQ(refusal("a[b]=2&a=1"), "a: given both as a value and with brackets");
  EXPECT_EQ(refusal("a[0]=1&a[b]=2"), "a[b]: mixes numeric indexes and names at one level");
  EXPECT_EQ(refusal("a[b]=1&a[]=2"), "a[]: mixes numeric indexes and names at one level");
}

TEST(form_params, nesting_is_bounded) {
  EXPECT_EQ(json_of("a[b][c][d][e]=1"), R"({"a":{"b":{"c":{"d":{"e":"1"}}}}})");
  EXPECT_EQ(refusal("a[b][c][d][e][f]=1"), "a[b][c][d][e][f]: nested deeper than 4 levels");
  EXPECT_EQ(refusal("a[0][0]=1", {.max_depth = 1}), "a[0][0]: nested deeper than 1 levels");
}

TEST(form_params, bad_percent_encoding_and_utf8) {
  EXPECT_EQ(refusal("a%ZZ=1"),
            "a%ZZ: bad percent-encoding: a '%' must be followed by two hex "
            "digits");
  EXPECT_EQ(refusal("a=%D0%"),
            "a: bad percent-encoding in the value: a '%' must be followed by two hex digits");
  EXPECT_EQ(refusal("a=%D0"), "a: the value is not valid UTF-8");
  EXPECT_EQ(refusal("a=%C0%AF"), "a: the value is not valid UTF-8") << "overlong";
  EXPECT_EQ(refusal("a=%ED%A0%80"), "a: the value is not valid UTF-8") << "a surrogate";
  EXPECT_EQ(refusal("a=%F4%90%80%80"), "a: the value is not valid UTF-8") << "over U+10FFFF";
  EXPECT_EQ(refusal("%FF=1"), "%FF: the name is not valid UTF-8");
  EXPECT_EQ(json_of("a=%F0%9F%98%80"), R"({"a":"😀"})");
}

TEST(form_params, too_many_pairs_and_long_keys_cut) {
  EXPECT_EQ(refusal("a=1&b=2&c=3", {.max_pairs = 2}), "c: more than 2 parameters");
  const std::string key(300, 'k');
  const auto text = refusal(key + "=1&" + key + "=2");
  EXPECT_EQ(text, std::string(100, 'k') + "...: given twice");
}

TEST(form_params, percent_decode_and_utf8_helpers) {
  EXPECT_EQ(herald::api::percent_decode("a+b%20c"), "a b c");
  EXPECT_EQ(herald::api::percent_decode("a+b", false), "a+b");
  EXPECT_FALSE(herald::api::percent_decode("%4"));
  EXPECT_TRUE(herald::api::valid_utf8("Привет"));
  EXPECT_FALSE(herald::api::valid_utf8("\xD0"));
}

}  // namespace
