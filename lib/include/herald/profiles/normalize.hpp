// How emails and phones are compared: emails lowercased and trimmed, phones in E.164.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald::profiles {

std::string_view trim(std::string_view s);

// The address lowercased and trimmed, or nullopt when it is not an address: one `@`, a local
// part of 1 to 64 characters, a domain with a dot whose labels are letters, digits and hyphens
// (not at either end), no spaces; at most 254 characters.
std::optional<std::string> normalize_email(std::string_view s);

// `+` and 10 to 15 digits, or nullopt. Spaces, dashes, dots and brackets are removed first; a
// leading `+` is optional.
std::optional<std::string> normalize_phone(std::string_view s);

// What is wrong with `text`, for an error that names its field: "\"x\" is not a valid email
// address", "\"x\" is not a phone number (+ and 10 to 15 digits)".
std::string not_an_email(std::string_view text);
std::string not_a_phone(std::string_view text);

}  // namespace herald::profiles
