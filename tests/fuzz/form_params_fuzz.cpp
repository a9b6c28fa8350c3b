// libFuzzer target for the bracketed query-string and form parser of the LeadConverter-style
// routes (api/form_params.hpp): parses arbitrary input with small limits and checks that it
// always answers (JSON or an error naming a key, never both), that the JSON is an object within
// the depth limit, and that writing it back as a form and parsing that gives the same JSON.
//
// Built and run by tests/fuzz/run.sh (ctest -L fuzz); by hand, with clang-14 and libfuzzer-14-dev:
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib/include
//     tests/fuzz/form_params_fuzz.cpp lib/src/api/form_params.cpp lib/src/common/json.cpp
//     -lsimdjson -o form_params_fuzz      (one command line)
//   ./form_params_fuzz -max_len=4096
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "herald/api/form_params.hpp"

namespace {

void encode(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
        || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

// `e` (at key `key`, already encoded) as form pairs.
void to_form(simdjson::dom::element e, const std::string& key, std::string& out, int depth) {
  if (depth > 16) std::abort();
  if (e.is_string()) {
    if (!out.empty()) out += '&';
    out += key;
    out += '=';
    encode(out, std::string_view(e));
  } else if (e.is_array()) {
    std::size_t i = 0;
    for (auto item : simdjson::dom::array(e))
      to_form(item, key + "%5B" + std::to_string(i++) + "%5D", out, depth + 1);
  } else if (e.is_object()) {
    for (auto [k, v] : simdjson::dom::object(e)) {
      std::string name;
      encode(name, k);
      to_form(v, key.empty() ? name : key + "%5B" + name + "%5D", out, depth + 1);
    }
  } else {
    std::abort();  // the parser writes strings, lists and objects only
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const form_limits limits{.max_depth = 3, .max_index = 64, .max_pairs = 256};
  auto r = parse_form_params(text, limits);
  if (r.error.has_value() == !r.json.empty()) std::abort();
  if (r.error) {
    if (r.error->reason.empty() || r.error->key.size() > 103) std::abort();
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(r.json).get(root) || !root.is_object()) std::abort();
  std::string form;
  to_form(root, "", form, 0);
  auto again = parse_form_params(form, limits);
  if (again.error || again.json != r.json) std::abort();
  return 0;
}
