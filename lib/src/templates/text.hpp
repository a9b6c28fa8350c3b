// The text work of templates: UTF-8 checking, Unicode case mapping (utf8proc) and dates. Each
// transformation works on the tail of the output buffer, so that rendering needs no buffer of its
// own.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace herald::templates::detail {

// The length of the valid UTF-8 sequence starting at s[i] (i < s.size()), or 0 when it is not one
// (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut short).
std::size_t utf8_length(std::string_view s, std::size_t i);

// Appends `s` with every byte that does not start a valid sequence replaced by U+FFFD.
void append_valid_utf8(std::string& out, std::string_view s);

// Code points in `s`, which is valid UTF-8.
std::size_t count_chars(std::string_view s);

enum class case_mapping { upper, lower, capitalize };
// Rewrites out[from, end) (valid UTF-8) with its case mapped.
void map_case(std::string& out, std::size_t from, case_mapping m);

// Where a date format (the raw text between the quotes, backslash escapes included) has a
// conversion other than the supported ones: the offset of its `%`, and the conversion as written.
struct format_fault {
  std::size_t offset;
  std::string_view conversion;
};
std::optional<format_fault> check_date_format(std::string_view raw);

// Rewrites out[from, end) as the date it holds, written by `format` (already checked); or as
// nothing when it holds no date.
void format_date(std::string& out, std::size_t from, std::string_view format);

}  // namespace herald::templates::detail
