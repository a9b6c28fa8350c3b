// The settings of the enqueue routes (import_and_start_batch_task, start_batch_task, start_batch)
// and the configuration keys they are read from. The API component owns these keys: heraldd's
// configuration only hands each one's text to set() (file, HERALD_* variable or flag alike).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace herald::api {

struct enqueue_config {
  // start_batch waits this long for its task to end; past it, the reply (HTTP 202) carries the
  // task id and says the task is still running.
  std::chrono::milliseconds sync_timeout{30'000};
  // Items (`data`) one request may hold; over it: 400 naming the limit.
  std::uint64_t api_max_items = 10'000;
};

// One key: `sync_timeout` in the file, HERALD_SYNC_TIMEOUT, --sync-timeout.
struct enqueue_config_key {
  std::string_view key;
  std::string_view value_name;  // for --help: DURATION, N
  std::string_view description;
  std::string (*get)(const enqueue_config&);
  // Reads `text` into the config; why not ("0s is below the minimum 100ms") when it cannot.
  std::optional<std::string> (*set)(enqueue_config&, std::string_view text);
};

// sync_timeout (100ms to 10m) and api_max_items (1 to 10,000,000).
std::span<const enqueue_config_key> enqueue_config_keys();

}  // namespace herald::api
