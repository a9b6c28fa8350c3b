// Which Redis, key prefix and account a `herald` command works on: the flags first, then the
// environment, then heraldd's own configuration (so the client finds the daemon's embedded Redis).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "herald/cli/command_line.hpp"
#include "herald/config/daemon_config.hpp"

namespace herald::cli {

struct target {
  std::string redis_url;  // redis://... or unix:///...
  std::string prefix;
  std::string account;
  // triggers add and update: the providers of heraldd's configuration (name -> kind), which a
  // trigger must name; read only for those commands.
  std::map<std::string, std::string, std::less<>> providers;
  // enqueue: heraldd's redis_wait_replicas and redis_wait_ms (its configuration, HERALD_*).
  std::uint64_t wait_replicas = 0;
  std::chrono::milliseconds wait_ms{1000};
};

// heraldd's configuration file when neither --config nor HERALD_CONFIG names one (used only when
// it exists and is readable).
inline constexpr std::string_view default_config_file = "/etc/herald/heraldd.conf";

// The Redis URL is --redis-url, else HERALD_REDIS_URL, else heraldd's configuration (--config
// FILE or HERALD_CONFIG, else `fallback_config` if readable, overridden by HERALD_* variables);
// `embedded` there means unix://<state_dir>/redis/redis.sock. The prefix is --prefix, else the
// configuration's. The account is --account, else HERALD_ACCOUNT, else "default". Throws
// cli_error(usage) naming the source of a value that is wrong.
target resolve_target(
    const command_line& cl, const config::environment& env,
    const std::filesystem::path& fallback_config = std::filesystem::path(default_config_file));

// The socket heraldd's embedded Redis listens on under `state_dir`, as a URL.
std::string embedded_redis_url(const std::filesystem::path& state_dir);

}  // namespace herald::cli
