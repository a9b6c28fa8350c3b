#include "herald/common/json_keys.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

namespace herald {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Objects of at most this many keys are checked pairwise, larger ones by sorting.
constexpr std::size_t pairwise_max = 16;

class key_checker {
 public:
  // True when `e` or anything inside it repeats a key; `path_` then names the member.
  bool check(element e) {
    switch (e.type()) {
      case element_type::OBJECT:
        return check_object(simdjson::dom::object(e));
      case element_type::ARRAY: {
        std::size_t i = 0;
        for (element child : simdjson::dom::array(e)) {
          if (child.type() == element_type::OBJECT || child.type() == element_type::ARRAY) {
            if (check(child)) {
              path_.push_back("[" + std::to_string(i) + "]");
              return true;
            }
          }
          ++i;
        }
        return false;
      }
      default:
        return false;
    }
  }

  std::string path() const {
    std::string out;
    for (auto it = path_.rbegin(); it != path_.rend(); ++it) {
      if (!out.empty() && it->front() != '[') out += '.';
      out += *it;
    }
    return out;
  }

 private:
  bool check_object(simdjson::dom::object obj) {
    const std::size_t n = obj.size();
    if (n > 1 && n <= pairwise_max) {
      std::string_view keys[pairwise_max];
      std::size_t count = 0;
      for (auto field : obj) {
        for (std::size_t j = 0; j < count; ++j) {
          if (keys[j] == field.key) {
            path_.emplace_back(field.key);
            return true;
          }
        }
        keys[count++] = field.key;
      }
    } else if (n > pairwise_max) {
      std::vector<std::string_view> keys;
      keys.reserve(n);
      for (auto field : obj) keys.push_back(field.key);
      std::sort(keys.begin(), keys.end());
      auto dup = std::adjacent_find(keys.begin(), keys.end());
      if (dup != keys.end()) {
        path_.emplace_back(*dup);
        return true;
      }
    }
    for (auto field : obj) {
      const auto t = field.value.type();
      if ((t == element_type::OBJECT || t == element_type::ARRAY) && check(field.value)) {
        path_.emplace_back(field.key);
        return true;
      }
    }
    return false;
  }

  std::vector<std::string> path_;  // innermost first
};

}  // namespace

std::optional<std::string> duplicate_key(simdjson::dom::element root) {
  key_checker checker;
  if (!checker.check(root)) return std::nullopt;
  return checker.path();
}

std::string duplicate_key_message(std::string_view prefix, std::string_view path) {
  std::string out(prefix);
  if (!out.empty() && !path.empty()) out += '.';
  out += path;
  return out + ": duplicate key; a key may appear once in an object";
}

}  // namespace herald
