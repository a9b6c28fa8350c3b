#include "support/json_doc.hpp"

#include <gtest/gtest.h>

namespace herald::test {

json_doc::json_doc(const std::string& text) : text_(text) {
  const auto error = parser_.parse(text_).get(root_);
  EXPECT_EQ(error, simdjson::SUCCESS) << text;
}

std::string json_doc::str(std::string_view pointer) const {
  std::string_view v;
  EXPECT_EQ(root_.at_pointer(pointer).get(v), simdjson::SUCCESS) << pointer << " in " << text_;
  return std::string(v);
}

std::int64_t json_doc::integer(std::string_view pointer) const {
  std::int64_t v = -1;
  EXPECT_EQ(root_.at_pointer(pointer).get(v), simdjson::SUCCESS) << pointer << " in " << text_;
  return v;
}

std::size_t json_doc::array_size(std::string_view pointer) const {
  simdjson::dom::array a;
  EXPECT_EQ(root_.at_pointer(pointer).get(a), simdjson::SUCCESS) << pointer << " in " << text_;
  return a.size();
}

}  // namespace herald::test
