// Bracketed form parameters, as LeadConverter's API takes them in a query string or an
// application/x-www-form-urlencoded body (seeds 000 and 002):
// `batch[0][subscriber_id]=7365&batch[0][text]=hello&variable[var_1]=qwe`, read into the JSON
// value they stand for: `{"batch": [{"subscriber_id": "7365", "text": "hello"}],
// "variable": {"var_1": "qwe"}}`. Numeric indexes make arrays, names make objects, and every
// value is a string. A pure parser: no I/O, refusals name the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::api {

struct form_limits {
  // Brackets after a key's name: `a[0][b]` is 2 levels.
  std::size_t max_depth = 4;
  // The largest numeric index (`batch[10000]` is refused by default); indexes must also run
  // from 0 without gaps.
  std::uint64_t max_index = 10'000;
  // key=value pairs in one text.
  std::size_t max_pairs = 100'000;
};

// Why a text was refused: the key (decoded when it decodes, else as sent; long ones cut at 100
// bytes) and what is wrong with it.
struct form_error {
  std::string key;
  std::string reason;

  std::string text() const { return key + ": " + reason; }
};

struct form_result {
  std::string json;                 // a JSON object; "{}" for an empty text
  std::optional<form_error> error;  // set (and json empty) when the text is refused
};

// Parses a query string (without its '?') or a form body. Names and values are percent-decoded
// ('+' is a space) and must then be valid UTF-8. `a[]` appends to the list `a`. Pairs without
// '=' have the empty value; empty pairs (`&&`) are skipped. Refused, naming the key: a bracket
// that is not closed or is followed by anything but another `[`, an empty name, more than
// max_depth levels, an index over max_index or with a leading zero, a list with a gap (`a[0]`
// and `a[2]` without `a[1]`), one key given twice, a key used both as a value and with brackets
// or both with indexes and names, bad percent-encoding, invalid UTF-8, more than max_pairs.
form_result parse_form_params(std::string_view text, const form_limits& limits = {});

// `text` percent-decoded ('+' a space when `plus_is_space`): nothing when a '%' is not followed
// by two hex digits.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = true);

// Whether `text` is valid UTF-8 (no overlong forms, no surrogates, nothing over U+10FFFF).
bool valid_utf8(std::string_view text);

}  // namespace herald::api
