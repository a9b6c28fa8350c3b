// Reading times as people and other services write them: ISO-8601, or milliseconds since the
// epoch. Shared by the command line (run_at) and the API (tasks/list's time filters).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace herald {

// "2026-11-23T05:00:00Z" (or with a space for the T, fractional seconds, a "+02:00" or "-0500"
// offset; no offset means UTC; seconds may be left out) as milliseconds since the epoch. Nothing
// when the text is not such a time.
std::optional<std::int64_t> parse_iso8601(std::string_view text);

// Digits (milliseconds since the epoch) or an ISO-8601 time (parse_iso8601). Nothing otherwise.
std::optional<std::int64_t> parse_timestamp(std::string_view text);

}  // namespace herald
