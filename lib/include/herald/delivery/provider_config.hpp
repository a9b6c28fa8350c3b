// A messaging provider's configuration: the `[provider.NAME]` section of heraldd's INI file and
// its HERALD_PROVIDER_<NAME>_<KEY> overrides, read into one struct with defaults per kind. The
// delivery component owns its keys; daemon_config only hands it each section's values.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::delivery {

enum class provider_kind {
  leadconverter_messages,  // POST {base_url}/api/v1/{token}/broadcasting.sendMessageBatch
  leadconverter_bot,       // POST {base_url}/api/v1/{token}/bot.startWithVariables
  chatbot_telegram,        // POST {base_url}/v1/telegram/bot/sendMessage/ with auth {user, pass}
  webhook,                 // POST {url}, signed with HMAC-SHA256 of `secret`
  sandbox,                 // appends each delivery to a JSON-lines file
};

std::string_view to_string(provider_kind k);
std::optional<provider_kind> parse_provider_kind(std::string_view text);

struct provider_config {
  std::string name;  // NAME of [provider.NAME]: lowercase letters, digits and '_'
  provider_kind kind = provider_kind::sandbox;

  // Networked kinds: http:// or https://; `url` is accepted for it too (webhook's own word).
  std::string base_url;
  std::string token;     // leadconverter_*: the API token (a path segment; logged as ***)
  std::string user;      // chatbot_telegram: auth.user
  std::string password;  // chatbot_telegram: auth.pass
  std::string secret;    // webhook: the HMAC-SHA256 key

  // Messages per second across every heraldd sharing the Redis, and how many may go at once
  // after idleness (default: one second's worth, and at least a full batch for
  // leadconverter_messages).
  double rate_per_s = 0;
  std::uint64_t burst = 0;
  std::uint64_t concurrency = 0;                     // requests in flight at once from one heraldd
  std::chrono::milliseconds timeout{10'000};         // one request, connect included
  std::chrono::milliseconds connect_timeout{3'000};  // the TCP and TLS connect alone
  std::uint64_t max_attempts = 5;                    // per item, the first included
  std::chrono::milliseconds linger{50};  // leadconverter_messages: a batch waits this for more
  // sandbox: the JSON-lines file; empty: sandbox.NAME.jsonl under heraldd's state_dir.
  std::filesystem::path path;
};

// One key's value and where it came from, for the error ("from heraldd.conf line 12").
struct provider_value {
  std::string value;
  std::string origin;
};
using provider_values = std::map<std::string, provider_value, std::less<>>;

// The keys a provider section may set, in the order to_ini writes them.
const std::vector<std::string_view>& provider_keys();

// Reads one provider. `name` is NAME of `[provider.NAME]`. Throws std::invalid_argument naming
// the section, the key and what is wrong, e.g. `provider.lc: rate_per_s: must be a positive
// number, not "x" (from heraldd.conf line 4)`, for: a bad name, an unknown key, a key the kind
// does not use, a missing required key, a bad value. Tokens, passwords and secrets are never
// repeated in a message.
provider_config parse_provider(std::string_view name, const provider_values& values);

// The section as --check-config prints it, `[provider.NAME]` and its keys, secrets as ***.
std::string to_ini(const provider_config& p);

}  // namespace herald::delivery
