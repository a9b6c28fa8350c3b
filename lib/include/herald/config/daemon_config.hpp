// heraldd's configuration: every key with its default, and how the INI file (--config), the
// HERALD_* environment variables and the command-line flags combine into one daemon_config.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>
#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "herald/api/enqueue_config.hpp"
#include "herald/delivery/provider_config.hpp"
#include "herald/log/log.hpp"

namespace herald::config {

// host:port of a listening socket. IPv6 hosts are written in brackets: [::1]:8080.
struct listen_address {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 literal, or "localhost"
  std::uint16_t port = 8080;       // 0: any free port

  std::string to_string() const;
  bool operator==(const listen_address&) const = default;
};

// Each key is spelled `redis_url` in the file, HERALD_REDIS_URL in the environment and
// --redis-url on the command line. Durations accept 500ms, 30s, 5m, 2h, 7d or bare seconds;
// sizes accept 10MiB, 16KiB, 1GiB (K/M/G are binary too) or bare bytes.
struct daemon_config {
  // Where Redis is: "embedded" (heraldd runs its own redis-server under state_dir),
  // redis://[[user]:password@]host:port[/db], unix:///path[?db=N] or
  // redis-sentinel://[user:password@]h1:26379,h2:26379/MASTER_NAME[?db=N&sentinel_password=...].
  std::string redis_url = "embedded";
  // Where the HTTP API listens. Port 0 picks a free port (logged at start).
  listen_address http_listen;
  // heraldd's own files (the embedded Redis's socket and AOF). Default: $STATE_DIRECTORY (set
  // by systemd's StateDirectory=; its first entry), else /var/lib/herald.
  std::filesystem::path state_dir = "/var/lib/herald";
  // The least severe level logged: trace, debug, info, warn, error, critical or off.
  spdlog::level::level_enum log_level = spdlog::level::info;
  // text (journald style chosen by itself under systemd) or json (one object a line).
  herald::log::log_format log_format = herald::log::log_format::text;
  // The redis-server binary for the embedded mode: a path, or a name looked up in $PATH, then
  // /usr/bin and /usr/sbin.
  std::string redis_server = "redis-server";
  // How long SIGTERM waits for running chunks to finish before leaving them to be claimed.
  std::chrono::milliseconds shutdown_grace = std::chrono::seconds(10);

  // Largest request body accepted; larger ones get HTTP 413.
  std::uint64_t http_body_limit = 10 * 1024 * 1024;
  // Largest request header block accepted.
  std::uint64_t http_header_limit = 16 * 1024;
  // How long a client may take to send one request (headers and body).
  std::chrono::milliseconds http_read_timeout = std::chrono::seconds(10);
  // How long a keep-alive connection may wait for its next request before it is closed.
  std::chrono::milliseconds http_idle_timeout = std::chrono::seconds(5);
  // Connections served at once. At the cap a new client closes the connection idle longest;
  // when none is idle it is answered 503 (/healthz and /readyz are still answered).
  std::uint64_t http_max_connections = 1024;
  // Connections served at once from one client address (0: no limit; raise it behind a proxy).
  std::uint64_t http_max_connections_per_address = 256;
  // Request bodies held in memory at once across all connections; a body that would pass it
  // gets 503 before it is read (0: no limit).
  std::uint64_t http_body_memory_limit = 64 * 1024 * 1024;
  // Requests served on one keep-alive connection before it is closed.
  std::uint64_t http_max_requests_per_connection = 1000;

  // How long a Redis command may take before it fails with a timeout.
  std::chrono::milliseconds redis_command_timeout = std::chrono::seconds(5);
  // Run against a Redis whose maxmemory-policy may evict keys (queued jobs): refused unless true.
  bool allow_eviction = false;
  // Replicas that must hold an enqueue (and a chunk commit of a job with effects) before it is
  // answered as a success: WAIT redis_wait_replicas redis_wait_ms after the write. Fewer within
  // redis_wait_ms: the enqueue fails (HTTP 503) and the producer retries with its idempotency
  // key. 0: no wait (a failover may lose the last writes Redis acknowledged).
  std::uint64_t redis_wait_replicas = 0;
  std::chrono::milliseconds redis_wait_ms = std::chrono::milliseconds(1000);

  // The first part of every Redis key Herald uses; instances sharing a prefix share the queue.
  std::string prefix = "herald";
  // Jobs processed at once by this instance (worker coroutines).
  std::uint64_t workers = 256;
  // Items a job processes between two commits of its progress: what a crash may repeat.
  std::uint64_t chunk_size = 100;
  // Threads running the event loops; 0: one per core this process may use.
  std::uint64_t threads = 0;
  // A job not acknowledged for this long is claimed by another worker (at least 1s).
  std::chrono::milliseconds claim_idle = std::chrono::seconds(30);
  // Deliveries of one job before it goes to the dead-letter stream.
  std::uint64_t max_deliveries = 5;
  // How long finished tasks stay readable.
  std::chrono::milliseconds task_ttl = std::chrono::hours(24 * 7);
  // The largest job body any enqueue path takes; a larger entry is dead-lettered unread.
  std::uint64_t max_job_bytes = 10 * 1024 * 1024;
  // The dead-letter stream keeps its newest this many letters.
  std::uint64_t dead_max = 10'000;
  // A consumer of the group with nothing pending and idle this long (a heraldd that is gone) is
  // removed.
  std::chrono::milliseconds consumer_idle_max = std::chrono::minutes(10);
  // The API tokens file (SHA-256 hashes per account); empty: no tokens, the API refuses all.
  std::filesystem::path tokens_file;
  // Each account's API requests a second on this heraldd (0: no limit), and how many may come at
  // once after a quiet spell (0: as many as a second's rate). Over it: 429 with Retry-After.
  std::uint64_t api_rate_per_s = 0;
  std::uint64_t api_burst = 0;
  // The token a scraper of GET /metrics presents as `Authorization: Bearer`; empty: /metrics is
  // open to whoever reaches the HTTP listener. Written "***" by to_ini.
  std::string metrics_token;
  // Items one job may hold (an import_and_start job's `data`).
  std::uint64_t max_job_items = 10'000;
  // What one imported profile may hold; an item over a limit fails alone, naming it.
  std::uint64_t max_profile_fields = 1'000;
  std::uint64_t max_field_tags = 1'000;
  std::uint64_t max_field_bytes = 64 * 1024;
  std::uint64_t max_profile_subscriptions = 100;
  // detect_geo's database: a MaxMind-format file (country, region, city); empty: Debian's GeoIP
  // country databases (package geoip-database).
  std::filesystem::path geo_db;
  // A directory of trigger files (*.json, proto/triggers.md), upserted at start and on SIGHUP;
  // empty: none, except that the embedded default loads the demo trigger.
  std::filesystem::path triggers_dir;
  // The providers the LeadConverter-compatible routes send through (api/leadconverter_routes.hpp):
  // a leadconverter_messages provider for broadcasting.sendMessageBatch and a leadconverter_bot
  // provider for bot.startWithVariables. Empty: the only provider of the kind when there is
  // exactly one, else none (the route answers 503 saying so).
  std::string api_send_provider;
  std::string api_bot_provider;

  // The HTTP enqueue routes' settings: sync_timeout, api_max_items (api/enqueue_config.hpp has
  // the keys, which the API component reads).
  api::enqueue_config enqueue;

  // The messaging providers by name: the file's [provider.NAME] sections with their
  // HERALD_PROVIDER_<NAME>_<KEY> overrides (delivery/provider_config.hpp has the keys).
  std::map<std::string, delivery::provider_config, std::less<>> providers;
};

// What the command line asks heraldd to do.
enum class run_mode {
  run,           // run the daemon
  check_config,  // --check-config: validate, print the effective configuration, exit
  version,       // --version: print `text` and exit 0
  help,          // --help: print `text` and exit 0
};

struct loaded_config {
  run_mode mode = run_mode::run;
  daemon_config config;
  std::filesystem::path config_file;  // the --config file; empty when none was given
  std::string text;                   // what --help or --version prints
};

enum class errc {
  bad_command_line = 1,  // an unknown flag, a missing flag argument, a stray argument
  unreadable_file,       // the --config file cannot be read
  bad_file_syntax,       // a line of the file is not `key = value`
  unknown_key,           // the file sets a key heraldd does not know
  duplicate_key,         // the file sets a key twice
  invalid_value,         // a value that does not parse or is out of range
};

const boost::system::error_category& category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// Why the configuration was refused. `message` names the key, where it was set and what is
// wrong, e.g. `log_level: "loud" is not one of trace, debug, info, warn, error, critical, off
// (from HERALD_LOG_LEVEL)`.
struct config_error {
  boost::system::error_code code;
  std::string message;
};

// Lets result<T, config_error>::value() throw a std::runtime_error carrying the message.
[[noreturn]] void throw_exception_from_error(const config_error& e,
                                             const boost::source_location& loc);

// Environment variables by name; `environment_of(environ)` in the daemon, literals in tests.
using environment = std::map<std::string, std::string, std::less<>>;
environment environment_of(const char* const* envp);

// Reads the configuration: defaults, then the --config INI file, then HERALD_* variables of
// `env` (unknown ones ignored, except a HERALD_PROVIDER_* naming no provider key), then flags;
// each source wins over the ones before. --help and --version are answered without reading
// anything else. For SIGHUP, call it again with the same argv and the current environment: the
// file and environment are re-read, flags still win.
boost::system::result<loaded_config, config_error> load_config(int argc, const char* const* argv,
                                                               const environment& env);

// Parses "500ms", "30s", "5m", "2h", "7d" or bare seconds ("30").
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// The shortest exact spelling: 30000ms -> "30s", 604800000ms -> "7d".
std::string format_duration(std::chrono::milliseconds d);
// Parses "10MiB", "16KiB", "1GiB", "16K", "512B" or bare bytes; K, M and G are binary units.
std::optional<std::uint64_t> parse_size(std::string_view text);
// The shortest exact spelling: 10485760 -> "10MiB", 1000 -> "1000".
std::string format_size(std::uint64_t bytes);
// Parses "host:port" ("[v6]:port" for IPv6); port 0 is allowed.
std::optional<listen_address> parse_listen_address(std::string_view text);

// One configuration key, for documentation (--help, the example file) and tests.
struct key_info {
  std::string_view key;          // redis_url
  std::string env;               // HERALD_REDIS_URL
  std::string flag;              // --redis-url
  std::string_view description;  // one line
  std::string default_value;     // as it would be written in the file
};
std::vector<key_info> keys();

// `config` as an INI file load_config reads back to the same values, except that a Redis
// password is written as "***". What --check-config prints.
std::string to_ini(const daemon_config& config);

}  // namespace herald::config

template <>
struct boost::system::is_error_code_enum<herald::config::errc> : std::true_type {};
