// duplicate_key: which repeated JSON key, where, in documents of every shape.
#include "herald/common/json_keys.hpp"

#include <gtest/gtest.h>

#include <string>

namespace herald {
namespace {

std::optional<std::string> dup(const std::string& json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json;
  return duplicate_key(root);
}

TEST(JsonDuplicateKey, NamesTheRepeatedKeyByItsPath) {
  EXPECT_EQ(dup(R"({"items": 3, "items": 1000000000000})"), "items");
  EXPECT_EQ(dup(R"({"type": "noop", "body": {}, "type": "sleep"})"), "type");
  EXPECT_EQ(dup(R"({"body": {"items": 1, "ms": 2, "items": 3}})"), "body.items");
  EXPECT_EQ(dup(R"({"data": [{"a": 1}, {"a": 1, "data": {"x": 1, "x": 2}}]})"), "data[1].data.x");
  EXPECT_EQ(dup(R"([[1], [{"k": 1, "k": 2}]])"), "[1][0].k");
  EXPECT_EQ(dup(R"({"\u0061": 1, "a": 2})"), "a");
}

TEST(JsonDuplicateKey, AcceptsDistinctKeysAtEveryLevel) {
  EXPECT_EQ(dup(R"({})"), std::nullopt);
  EXPECT_EQ(dup(R"(3)"), std::nullopt);
  EXPECT_EQ(dup(R"({"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]})"), std::nullopt);
  EXPECT_EQ(dup(R"({"a": 1, "A": 2, "a ": 3})"), std::nullopt);
}

TEST(JsonDuplicateKey, ChecksLargeObjectsToo) {
  std::string many = "{";
  for (int i = 0; i < 5000; ++i)
    many += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":1";
  EXPECT_EQ(dup(many + "}"), std::nullopt);
  EXPECT_EQ(dup(many + ",\"k4321\":2}"), "k4321");
  EXPECT_EQ(dup("{\"o\":" + many + ",\"k17\":2}}"), "o.k17");
}

TEST(JsonDuplicateKey, MessageNamesThePrefixedPath) {
  EXPECT_EQ(duplicate_key_message("body", "items"),
            "body.items: duplicate key; a key may appear once in an object");
  EXPECT_EQ(duplicate_key_message("", "type"),
            "type: duplicate key; a key may appear once in an object");
}

}  // namespace
}  // namespace herald
