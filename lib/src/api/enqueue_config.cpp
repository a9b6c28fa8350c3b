#include "herald/api/enqueue_config.hpp"

#include <array>
#include <charconv>

#include "herald/config/daemon_config.hpp"

namespace herald::api {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds min_sync_timeout{100};
constexpr milliseconds max_sync_timeout{10 * 60'000};
constexpr std::uint64_t max_api_items = 10'000'000;

std::string quoted(std::string_view text) {
  constexpr std::size_t max_shown = 80;
  std::string out = "\"";
  out.append(text.substr(0, max_shown));
  if (text.size() > max_shown) out += "...";
  return out + "\"";
}

std::optional<std::string> set_sync_timeout(enqueue_config& c, std::string_view text) {
  const auto d = config::parse_duration(text);
  if (!d) return quoted(text) + " is not a duration (e.g. 500ms, 30s, 5m)";
  if (*d < min_sync_timeout)
    return config::format_duration(*d) + " is below the minimum "
           + config::format_duration(min_sync_timeout);
  if (*d > max_sync_timeout)
    return config::format_duration(*d) + " is above the maximum "
           + config::format_duration(max_sync_timeout);
  c.sync_timeout = *d;
  return std::nullopt;
}

std::optional<std::string> set_api_max_items(enqueue_config& c, std::string_view text) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return quoted(text) + " is not a whole number";
  if (n < 1 || n > max_api_items)
    return std::to_string(n) + " is out of range 1.." + std::to_string(max_api_items);
  c.api_max_items = n;
  return std::nullopt;
}

constexpr std::array<enqueue_config_key, 2> keys{{
    {"sync_timeout", "DURATION",
     "how long POST .../start_batch waits for its task to end; past it, HTTP 202 with the task id "
     "(100ms to 10m)",
     [](const enqueue_config& c) { return config::format_duration(c.sync_timeout); },
     set_sync_timeout},
    {"api_max_items", "N",
     "items (data) one HTTP enqueue request may hold; over it: HTTP 400 naming the limit",
     [](const enqueue_config& c) { return std::to_string(c.api_max_items); }, set_api_max_items},
}};

}  // namespace

std::span<const enqueue_config_key> enqueue_config_keys() {
  return keys;
}

}  // namespace herald::api
