// A parsed JSON reply for tests: read fields by JSON pointer, str("/profile/profile_id") and the
// like; a field that is missing or of another type fails the test and names the pointer.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::test {

class json_doc {
 public:
  explicit json_doc(const std::string& text);
  std::string str(std::string_view pointer) const;
  std::int64_t integer(std::string_view pointer) const;
  std::size_t array_size(std::string_view pointer) const;
  bool has(std::string_view pointer) const { return !root_.at_pointer(pointer).error(); }

 private:
  std::string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

}  // namespace herald::test
