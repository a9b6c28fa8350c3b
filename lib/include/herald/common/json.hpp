// Writing JSON by hand where a whole document model is not worth it: string escaping.
#pragma once

#include <string>
#include <string_view>

namespace herald {

// Appends `text` to `out` as the inside of a JSON string: quotes, backslashes and control
// characters escaped, bytes that are not valid UTF-8 replaced by U+FFFD.
void append_json_escaped(std::string& out, std::string_view text);
// `text` as a JSON string literal, quotes included.
std::string json_quote(std::string_view text);

}  // namespace herald
