#include "herald/config/daemon_config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/program_options/errors.hpp>
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>
#include <boost/program_options/variables_map.hpp>

#include "herald/http/config.hpp"
#include "herald/redis/url.hpp"

namespace herald::config {

namespace {

namespace po = boost::program_options;
using std::chrono::milliseconds;

class config_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "herald.config"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::bad_command_line:
        return "invalid command line";
      case errc::unreadable_file:
        return "the configuration file cannot be read";
      case errc::bad_file_syntax:
        return "a line of the configuration file is not `key = value`";
      case errc::unknown_key:
        return "unknown configuration key";
      case errc::duplicate_key:
        return "a configuration key is set twice";
      case errc::invalid_value:
        return "invalid configuration value";
    }
    return "unknown configuration error";
  }
};

// ---------------------------------------------------------------------------------------------
// Small parsers.

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x))
                  == std::tolower(static_cast<unsigned char>(y));
         });
}

// The leading decimal digits of `text` as a number, and the rest; nothing on overflow or when
// there are no digits.
std::optional<std::pair<std::uint64_t, std::string_view>> leading_number(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  return std::pair{value, text.substr(static_cast<std::size_t>(end - text.data()))};
}

std::optional<std::uint64_t> checked_multiply(std::uint64_t a, std::uint64_t b) {
  if (b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b) return std::nullopt;
  return a * b;
}

std::string in_quotes(std::string_view value) {
  constexpr std::size_t max_shown = 80;
  std::string out = "\"";
  out.append(value.substr(0, max_shown));
  if (value.size() > max_shown) out += "...";
  out += '"';
  return out;
}

std::string upper_env_name(std::string_view key) {
  std::string out = "HERALD_";
  for (char c : key) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string flag_name(std::string_view key) {
  std::string out(key);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

// ---------------------------------------------------------------------------------------------
// The keys. Each knows how to read its value from text (returning why not, when it cannot) and
// how to write it back.

using reason = std::optional<std::string>;  // why a value was refused; empty when accepted

struct option {
  std::string_view key;
  std::string_view value_name;  // for --help: URL, DURATION, ...
  std::string_view description;
  std::function<std::string(const daemon_config&)> get;
  std::function<reason(daemon_config&, std::string_view)> set;
};

template <typename Member>
using member_ptr = Member daemon_config::*;

option duration_option(std::string_view key, std::string_view description,
                       member_ptr<milliseconds> member, milliseconds min, milliseconds max) {
  return {key, "DURATION", description,
          [member](const daemon_config& c) { return format_duration(c.*member); },
          [member, min, max](daemon_config& c, std::string_view text) -> reason {
            const auto d = parse_duration(text);
            if (!d) return in_quotes(text) + " is not a duration (e.g. 500ms, 30s, 5m, 2h, 7d)";
            if (*d < min)
              return format_duration(*d) + " is below the minimum " + format_duration(min);
            if (*d > max)
              return format_duration(*d) + " is above the maximum " + format_duration(max);
            c.*member = *d;
            return std::nullopt;
          }};
}

option size_option(std::string_view key, std::string_view description,
                   member_ptr<std::uint64_t> member, std::uint64_t min, std::uint64_t max) {
  return {key, "SIZE", description,
          [member](const daemon_config& c) { return format_size(c.*member); },
          [member, min, max](daemon_config& c, std::string_view text) -> reason {
            const auto n = parse_size(text);
            if (!n) return in_quotes(text) + " is not a size (e.g. 16KiB, 10MiB, 1GiB or bytes)";
            if (*n < min) return format_size(*n) + " is below the minimum " + format_size(min);
            if (*n > max) return format_size(*n) + " is above the maximum " + format_size(max);
            c.*member = *n;
            return std::nullopt;
          }};
}

option count_option(std::string_view key, std::string_view description,
                    member_ptr<std::uint64_t> member, std::uint64_t min, std::uint64_t max) {
  return {key, "N", description,
          [member](const daemon_config& c) { return std::to_string(c.*member); },
          [member, min, max](daemon_config& c, std::string_view text) -> reason {
            const auto n = leading_number(text);
            if (!n || !n->second.empty()) return in_quotes(text) + " is not a whole number";
            if (n->first < min || n->first > max) {
              return std::to_string(n->first) + " is out of range " + std::to_string(min) + ".."
                     + std::to_string(max);
            }
            c.*member = n->first;
            return std::nullopt;
          }};
}

// A provider's name (NAME of a [provider.NAME] section), or empty. Whether that provider exists
// and is of the right kind is the user's business (heraldd checks at start and --check-config).
option provider_name_option(std::string_view key, std::string_view description,
                            member_ptr<std::string> member) {
  return {key, "NAME", description, [member](const daemon_config& c) { return c.*member; },
          [member](daemon_config& c, std::string_view text) -> reason {
            const bool ok =
                text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char ch) {
                  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
                });
            if (!ok)
              return in_quotes(text)
                     + " is not a provider's name (1 to 64 lowercase letters, digits or '_')";
            c.*member = std::string(text);
            return std::nullopt;
          }};
}

const std::vector<option>& options() {
  static const std::vector<option> table = [] {
    std::vector<option> t;
    t.push_back(
        {"redis_url", "URL",
         "where Redis is: \"embedded\" (heraldd runs its own redis-server under state_dir), "
         "redis://[[user]:password@]host:port[/db] or unix:///path[?db=N]",
         [](const daemon_config& c) {
           if (c.redis_url == "embedded") return c.redis_url;
           auto ep = herald::redis::parse_url(c.redis_url);
           return ep ? ep->redacted() : std::string("(invalid)");
         },
         [](daemon_config& c, std::string_view text) -> reason {
           if (text != "embedded") {
             auto ep = herald::redis::parse_url(text);
             if (!ep) {
               // The URL itself is not repeated: it may carry a password.
               return ep.error().message()
                      + "; expected \"embedded\", redis://[[user]:password@]host:port[/db], "
                        "unix:///path[?db=N] or redis-sentinel://[user:password@]host:port,"
                        "host:port/MASTER_NAME[?db=N&sentinel_password=...]";
             }
           }
           c.redis_url = std::string(text);
           return std::nullopt;
         }});
    t.push_back({"http_listen", "HOST:PORT",
                 "where the HTTP API listens (port 0: any free port; [::1]:8080 for IPv6)",
                 [](const daemon_config& c) { return c.http_listen.to_string(); },
                 [](daemon_config& c, std::string_view text) -> reason {
                   auto addr = parse_listen_address(text);
                   if (!addr) {
                     return in_quotes(text)
                            + " is not host:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080)";
                   }
                   c.http_listen = *addr;
                   return std::nullopt;
                 }});
    t.push_back({"state_dir", "DIR",
                 "heraldd's own files, such as the embedded Redis's socket and AOF (default: "
                 "$STATE_DIRECTORY under systemd, else /var/lib/herald)",
                 [](const daemon_config& c) { return c.state_dir.string(); },
                 [](daemon_config& c, std::string_view text) -> reason {
                   if (text.empty()) return std::string("must not be empty");
                   c.state_dir = std::string(text);
                   return std::nullopt;
                 }});
    t.push_back({"log_level", "LEVEL",
                 "the least severe level logged: trace, debug, info, warn, error, critical, off",
                 [](const daemon_config& c) { return std::string(log::level_name(c.log_level)); },
                 [](daemon_config& c, std::string_view text) -> reason {
                   auto level = log::parse_level(text);
                   if (!level) {
                     return in_quotes(text)
                            + " is not one of trace, debug, info, warn, error, critical, off";
                   }
                   c.log_level = *level;
                   return std::nullopt;
                 }});
    t.push_back(
        {"log_format", "FORMAT",
         "text (plain on a terminal; no timestamps and journald priorities under systemd) or "
         "json (one object a line)",
         [](const daemon_config& c) { return std::string(log::format_name(c.log_format)); },
         [](daemon_config& c, std::string_view text) -> reason {
           auto format = log::parse_format(text);
           if (!format) return in_quotes(text) + " is not one of text, json";
           c.log_format = *format;
           return std::nullopt;
         }});
    t.push_back({"redis_server", "PATH",
                 "the redis-server binary for the embedded mode: a path, or a name looked up in "
                 "$PATH, then /usr/bin and /usr/sbin",
                 [](const daemon_config& c) { return c.redis_server; },
                 [](daemon_config& c, std::string_view text) -> reason {
                   if (text.empty()) return std::string("must not be empty");
                   c.redis_server = std::string(text);
                   return std::nullopt;
                 }});
    t.push_back(duration_option("shutdown_grace",
                                "how long SIGTERM waits for running chunks before leaving them "
                                "to be claimed by another instance",
                                &daemon_config::shutdown_grace, milliseconds(0),
                                std::chrono::hours(1)));
    t.push_back(size_option("http_body_limit",
                            "largest request body accepted; larger ones get HTTP 413",
                            &daemon_config::http_body_limit, 1024, 1ULL << 30));
    t.push_back(size_option("http_header_limit", "largest request header block accepted",
                            &daemon_config::http_header_limit, 1024, 1ULL << 20));
    t.push_back(duration_option(
        "http_read_timeout", "how long a client may take to send one request",
        &daemon_config::http_read_timeout, milliseconds(100), std::chrono::hours(1)));
    t.push_back(duration_option(
        "http_idle_timeout", "how long a keep-alive connection may wait for its next request",
        &daemon_config::http_idle_timeout, milliseconds(100), std::chrono::hours(1)));
    t.push_back(count_option("http_max_connections",
                             "HTTP connections served at once; at the cap a new client closes "
                             "the longest idle one, else gets 503 (health probes still answered)",
                             &daemon_config::http_max_connections, 1, 1'000'000));
    t.push_back(count_option("http_max_connections_per_address",
                             "HTTP connections served at once from one client address (0: no "
                             "limit; raise it behind a proxy)",
                             &daemon_config::http_max_connections_per_address, 0, 1'000'000));
    t.push_back(size_option("http_body_memory_limit",
                            "request bodies held in memory at once across all connections (at "
                            "least http_body_limit; 0: no limit); over it: HTTP 503",
                            &daemon_config::http_body_memory_limit, 0, 1ULL << 40));
    t.push_back(count_option("http_max_requests_per_connection",
                             "requests served on one keep-alive connection before it is closed",
                             &daemon_config::http_max_requests_per_connection, 1, 1'000'000'000));
    t.push_back(duration_option(
        "redis_command_timeout", "how long a Redis command may take before it fails",
        &daemon_config::redis_command_timeout, milliseconds(10), std::chrono::minutes(10)));
    t.push_back(
        {"allow_eviction", "BOOL",
         "run against a Redis whose maxmemory-policy is not noeviction (evicted keys are "
         "lost jobs): true or false",
         [](const daemon_config& c) { return std::string(c.allow_eviction ? "true" : "false"); },
         [](daemon_config& c, std::string_view text) -> reason {
           if (iequals(text, "true") || text == "1" || iequals(text, "yes"))
             c.allow_eviction = true;
           else if (iequals(text, "false") || text == "0" || iequals(text, "no"))
             c.allow_eviction = false;
           else
             return in_quotes(text) + " is not true or false";
           return std::nullopt;
         }});
    t.push_back(count_option("redis_wait_replicas",
                             "replicas that must hold an enqueue (and a chunk commit of a job "
                             "with effects) before it succeeds (WAIT; 0: do not wait)",
                             &daemon_config::redis_wait_replicas, 0, 100));
    t.push_back(
        {"redis_wait_ms", "DURATION",
         "how long WAIT waits for redis_wait_replicas (bare numbers are milliseconds; at most "
         "2s: it holds the connection meanwhile)",
         [](const daemon_config& c) { return format_duration(c.redis_wait_ms); },
         [](daemon_config& c, std::string_view text) -> reason {
           std::uint64_t bare = 0;
           auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bare);
           std::optional<milliseconds> d;
           if (ec == std::errc() && end == text.data() + text.size())
             d = milliseconds(bare);
           else
             d = parse_duration(text);
           if (!d) return in_quotes(text) + " is not a duration (e.g. 500 or 500ms, 2s)";
           if (*d < milliseconds(1) || *d > std::chrono::seconds(2))
             return format_duration(*d) + " is not between 1ms and 2s";
           c.redis_wait_ms = *d;
           return std::nullopt;
         }});
    t.push_back({"prefix", "PREFIX",
                 "the first part of every Redis key; instances sharing a prefix share the queue "
                 "(letters, digits, '_', '-', '.', ':')",
                 [](const daemon_config& c) { return c.prefix; },
                 [](daemon_config& c, std::string_view text) -> reason {
                   if (text.empty() || text.size() > 64) {
                     return in_quotes(text) + " must have 1 to 64 characters";
                   }
                   const bool ok = std::all_of(text.begin(), text.end(), [](char ch) {
                     return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-'
                            || ch == '.' || ch == ':';
                   });
                   if (!ok) {
                     return in_quotes(text)
                            + " may hold only letters, digits, '_', '-', '.' and ':' (braces "
                              "would break the keys' hash tags)";
                   }
                   c.prefix = std::string(text);
                   return std::nullopt;
                 }});
    t.push_back(count_option("workers", "jobs processed at once by this instance",
                             &daemon_config::workers, 1, 100'000));
    t.push_back(count_option("chunk_size",
                             "items a job processes between two commits of its progress (what a "
                             "crash may repeat)",
                             &daemon_config::chunk_size, 1, 100'000));
    t.push_back(count_option("threads",
                             "threads running the event loops (the workers and the HTTP "
                             "connections, dealt out among them); 0: one per core this process "
                             "may use",
                             &daemon_config::threads, 0, 1024));
    t.push_back(duration_option("claim_idle",
                                "a job not acknowledged for this long is claimed by another "
                                "worker (at least 1s)",
                                &daemon_config::claim_idle, std::chrono::seconds(1),
                                std::chrono::hours(24)));
    t.push_back(count_option("max_deliveries",
                             "deliveries of one job before it goes to the dead-letter stream",
                             &daemon_config::max_deliveries, 1, 1000));
    t.push_back(duration_option("task_ttl", "how long finished tasks stay readable",
                                &daemon_config::task_ttl, std::chrono::seconds(1),
                                std::chrono::hours(24 * 3650)));
    t.push_back(size_option("max_job_bytes",
                            "the largest job body any enqueue path takes (script, HTTP, herald "
                            "enqueue); a larger plain XADD is dead-lettered unread",
                            &daemon_config::max_job_bytes, 1024, 1ULL << 30));
    t.push_back(count_option("dead_max", "dead letters kept (the oldest go first)",
                             &daemon_config::dead_max, 1, 100'000'000));
    t.push_back(duration_option("consumer_idle_max",
                                "a consumer of the group with nothing pending and idle this long "
                                "(a heraldd that is gone) is removed",
                                &daemon_config::consumer_idle_max, std::chrono::seconds(1),
                                std::chrono::hours(24 * 365)));
    t.push_back({"tokens_file", "PATH",
                 "the API tokens file (SHA-256 hashes per account); empty: no tokens, every "
                 "API request is refused",
                 [](const daemon_config& c) { return c.tokens_file.string(); },
                 [](daemon_config& c, std::string_view text) -> reason {
                   c.tokens_file = std::string(text);
                   return std::nullopt;
                 }});
    t.push_back(count_option("api_rate_per_s",
                             "API requests a second one account may make of this heraldd (over "
                             "it: 429 with Retry-After); 0: no limit",
                             &daemon_config::api_rate_per_s, 0, 1'000'000));
    t.push_back(count_option("api_burst",
                             "API requests an account may make at once after a quiet spell; 0: "
                             "a second's worth of api_rate_per_s",
                             &daemon_config::api_burst, 0, 1'000'000));
    t.push_back(
        {"metrics_token", "TOKEN",
         "the Bearer token GET /metrics asks of a scraper; empty: /metrics is open to "
         "whoever reaches the HTTP listener",
         [](const daemon_config& c) { return std::string(c.metrics_token.empty() ? "" : "***"); },
         [](daemon_config& c, std::string_view text) -> reason {
           if (text.find_first_of(" \t\r\n") != std::string_view::npos)
             return std::string("must not contain spaces or line breaks");
           c.metrics_token = std::string(text);
           return std::nullopt;
         }});
    t.push_back(count_option("max_job_items",
                             "items one job may hold (an import_and_start job's data list)",
                             &daemon_config::max_job_items, 1, 10'000'000));
    t.push_back(count_option("max_profile_fields",
                             "fields one profile may hold; an imported item over it fails alone",
                             &daemon_config::max_profile_fields, 1, 100'000));
    t.push_back(count_option("max_field_tags", "tags (or phones) one profile field may hold",
                             &daemon_config::max_field_tags, 1, 100'000));
    t.push_back(size_option("max_field_bytes", "largest value of one profile field",
                            &daemon_config::max_field_bytes, 64, 16ULL << 20));
    t.push_back(count_option("max_profile_subscriptions", "subscriptions one profile may hold",
                             &daemon_config::max_profile_subscriptions, 1, 100'000));
    t.push_back({"geo_db", "PATH",
                 "a MaxMind-format database (.mmdb) for detect_geo (country, region, city); "
                 "empty: Debian's GeoIP country databases",
                 [](const daemon_config& c) { return c.geo_db.string(); },
                 [](daemon_config& c, std::string_view text) -> reason {
                   c.geo_db = std::string(text);
                   return std::nullopt;
                 }});
    t.push_back({"triggers_dir", "PATH",
                 "a directory of trigger files (*.json: a trigger with its account, or an array "
                 "of them), upserted at start and on SIGHUP; empty: none (the embedded default "
                 "loads the demo trigger)",
                 [](const daemon_config& c) { return c.triggers_dir.string(); },
                 [](daemon_config& c, std::string_view text) -> reason {
                   c.triggers_dir = std::string(text);
                   return std::nullopt;
                 }});
    // The API component's keys, read by it.
    for (const auto& k : api::enqueue_config_keys()) {
      t.push_back({k.key, k.value_name, k.description,
                   [get = k.get](const daemon_config& c) { return get(c.enqueue); },
                   [set = k.set](daemon_config& c, std::string_view text) -> reason {
                     return set(c.enqueue, text);
                   }});
    }
    t.push_back(provider_name_option(
        "api_send_provider",
        "the leadconverter_messages provider POST /api/v1/{token}/broadcasting.sendMessageBatch "
        "sends through; empty: the only provider of that kind, if there is exactly one",
        &daemon_config::api_send_provider));
    t.push_back(provider_name_option(
        "api_bot_provider",
        "the leadconverter_bot provider POST /api/v1/{token}/bot.startWithVariables sends "
        "through; empty: the only provider of that kind, if there is exactly one",
        &daemon_config::api_bot_provider));
    return t;
  }();
  return table;
}

const option* find_option(std::string_view key) {
  for (const auto& o : options()) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Sources.

// One key's value and where it came from ("from HERALD_X", "from --x", "from FILE line N").
struct assignment {
  std::string value;
  std::string origin;
};

config_error fail(errc code, std::string message) {
  return {make_error_code(code), std::move(message)};
}

std::optional<config_error> read_file(const std::filesystem::path& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(errc::unreadable_file,
                "--config: cannot read " + path.string() + ": " + std::strerror(errno));
  }
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(errc::unreadable_file,
                  "--config: cannot read " + path.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (1 << 20)) {
      ::close(fd);
      return fail(errc::unreadable_file,
                  "--config: " + path.string() + " is larger than 1 MiB; is it the right file?");
    }
  }
  ::close(fd);
  return std::nullopt;
}

// Each [provider.NAME] section's values by NAME, read by the delivery component.
using provider_sections = std::map<std::string, delivery::provider_values, std::less<>>;

// The INI file: `key = value` lines, `#` and `;` comment lines, blank lines. Values may be
// wrapped in double quotes to keep surrounding spaces. The lines after `[provider.NAME]` are
// that provider's (their keys are checked by delivery::parse_provider).
std::optional<config_error> parse_file(const std::filesystem::path& path,
                                       std::map<std::string, assignment>& out,
                                       provider_sections& providers) {
  std::string content;
  if (auto e = read_file(path, content)) return e;
  const std::string where = "config file " + path.string();
  std::map<std::string, std::size_t> first_line;  // by key, "provider.NAME.key" in a section
  std::optional<std::string> section;             // NAME of the current [provider.NAME]
  std::size_t line_no = 0;
  std::string_view rest = content;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const auto raw = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    ++line_no;
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const std::string at_line = " on line " + std::to_string(line_no);
    if (line.front() == '[') {
      constexpr std::string_view provider_section = "provider.";
      const auto inner = line.back() == ']' ? trim(line.substr(1, line.size() - 2)) : "";
      if (!inner.starts_with(provider_section)) {
        return fail(errc::bad_file_syntax, where + ": unknown section " + std::string(line)
                                               + at_line
                                               + "; the only sections are [provider.NAME]");
      }
      section = std::string(inner.substr(provider_section.size()));
      providers[*section];  // an empty section is still a provider (missing its kind)
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      return fail(errc::bad_file_syntax,
                  where + ": expected `key = value`, got " + in_quotes(line) + at_line);
    }
    std::string key(trim(line.substr(0, eq)));
    std::replace(key.begin(), key.end(), '-', '_');
    auto value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (key.empty()) {
      return fail(errc::bad_file_syntax, where + ": a value without a key" + at_line);
    }
    if (!section && !find_option(key)) {
      return fail(errc::unknown_key, where + ": unknown key " + in_quotes(key) + at_line
                                         + " (heraldd --help lists the keys)");
    }
    const std::string scoped = section ? "provider." + *section + "." + key : key;
    if (auto [it, inserted] = first_line.emplace(scoped, line_no); !inserted) {
      return fail(errc::duplicate_key, where + ": key " + in_quotes(scoped)
                                           + " is set twice, on lines " + std::to_string(it->second)
                                           + " and " + std::to_string(line_no));
    }
    std::string origin = "from " + path.string() + " line " + std::to_string(line_no);
    if (section) {
      providers[*section][key] = {std::string(value), std::move(origin)};
    } else {
      out[key] = {std::string(value), std::move(origin)};
    }
  }
  return std::nullopt;
}

// HERALD_PROVIDER_<NAME>_<KEY> variables, over the file's sections: KEY is the longest provider
// key the name ends with, NAME (lowercased) what is before it. One that ends with no key is an
// error rather than ignored: it can only be a misspelt provider setting.
std::optional<config_error> read_provider_environment(const environment& env,
                                                      provider_sections& providers) {
  constexpr std::string_view prefix = "HERALD_PROVIDER_";
  for (auto it = env.lower_bound(prefix); it != env.end() && it->first.starts_with(prefix); ++it) {
    const std::string_view rest = std::string_view(it->first).substr(prefix.size());
    std::string_view key;
    for (auto k : delivery::provider_keys()) {
      const std::string suffix = "_" + upper_env_name(k).substr(std::string_view("HERALD_").size());
      if (k.size() > key.size() && rest.size() > suffix.size() && rest.ends_with(suffix)) key = k;
    }
    if (key.empty()) {
      std::string list;
      for (auto k : delivery::provider_keys()) list += (list.empty() ? "" : ", ") + std::string(k);
      return fail(errc::unknown_key, it->first
                                         + ": not HERALD_PROVIDER_<NAME>_<KEY> with KEY one of "
                                         + list + " (in capitals)");
    }
    std::string name(rest.substr(0, rest.size() - key.size() - 1));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto& values = providers[name];
    // base_url and url are one setting: the variable replaces the file's, whichever it named.
    if (key == "url") values.erase("base_url");
    if (key == "base_url") values.erase("url");
    values[std::string(key)] = {it->second, "from " + it->first};
  }
  return std::nullopt;
}

std::string help_text(const daemon_config& defaults) {
  std::string out =
      "Usage: heraldd [--config FILE] [--check-config] [--KEY VALUE]...\n"
      "\n"
      "heraldd runs Herald's job-queue workers and its HTTP API.\n"
      "Settings come from the INI file given by --config (`key = value` lines), then from\n"
      "HERALD_<KEY> environment variables, then from --key flags; each wins over the ones\n"
      "before. Durations: 500ms, 30s, 5m, 2h, 7d or seconds. Sizes: 16KiB, 10MiB or bytes.\n"
      "Messaging providers are `[provider.NAME]` sections of the file (keys: kind, base_url,\n"
      "token, ...), each key overridable by HERALD_PROVIDER_<NAME>_<KEY>.\n"
      "\n"
      "  --config FILE     read settings from FILE (/etc/herald/heraldd.conf under systemd)\n"
      "  --check-config    validate the configuration, print it and exit (non-zero if invalid)\n"
      "  --version         print the version and exit\n"
      "  --help            print this help and exit\n"
      "\n"
      "Settings:\n";
  for (const auto& o : options()) {
    out += "  --" + flag_name(o.key) + " " + std::string(o.value_name) + "  ("
           + upper_env_name(o.key) + ", default: " + in_quotes(o.get(defaults)) + ")\n";
    out += "      " + std::string(o.description) + "\n";
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const boost::system::error_category& category() noexcept {
  static const config_category instance;
  return instance;
}

void throw_exception_from_error(const config_error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

std::string listen_address::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

environment environment_of(const char* const* envp) {
  environment env;
  for (; envp && *envp; ++envp) {
    std::string_view entry(*envp);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::optional<milliseconds> parse_duration(std::string_view text) {
  const auto n = leading_number(text);
  if (!n) return std::nullopt;
  const auto unit = n->second;
  std::uint64_t per_unit;
  if (unit.empty() || unit == "s") {
    per_unit = 1000;
  } else if (unit == "ms") {
    per_unit = 1;
  } else if (unit == "m" || unit == "min") {
    per_unit = 60'000;
  } else if (unit == "h") {
    per_unit = 3'600'000;
  } else if (unit == "d") {
    per_unit = 86'400'000;
  } else {
    return std::nullopt;
  }
  const auto ms = checked_multiply(n->first, per_unit);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<milliseconds::rep>::max())) {
    return std::nullopt;
  }
  return milliseconds(static_cast<milliseconds::rep>(*ms));
}

std::string format_duration(milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return "0s";
  constexpr std::array<std::pair<long long, const char*>, 4> units = {
      {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}}};
  for (const auto& [size, name] : units) {
    if (ms % size == 0) return std::to_string(ms / size) + name;
  }
  return std::to_string(ms) + "ms";
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  const auto n = leading_number(text);
  if (!n) return std::nullopt;
  const auto unit = n->second;
  std::uint64_t per_unit;
  if (unit.empty() || iequals(unit, "b")) {
    per_unit = 1;
  } else if (iequals(unit, "k") || iequals(unit, "kib") || iequals(unit, "kb")) {
    per_unit = 1ULL << 10;
  } else if (iequals(unit, "m") || iequals(unit, "mib") || iequals(unit, "mb")) {
    per_unit = 1ULL << 20;
  } else if (iequals(unit, "g") || iequals(unit, "gib") || iequals(unit, "gb")) {
    per_unit = 1ULL << 30;
  } else {
    return std::nullopt;
  }
  return checked_multiply(n->first, per_unit);
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  constexpr std::array<std::pair<std::uint64_t, const char*>, 3> units = {
      {{1ULL << 30, "GiB"}, {1ULL << 20, "MiB"}, {1ULL << 10, "KiB"}}};
  for (const auto& [size, name] : units) {
    if (bytes % size == 0) return std::to_string(bytes / size) + name;
  }
  return std::to_string(bytes);
}

std::optional<listen_address> parse_listen_address(std::string_view text) {
  // The listener's own reading (http::parse_listen_address), narrowed to what the configuration
  // accepts: a host given as an address literal, or localhost.
  http::listen_address parts;
  try {
    parts = http::parse_listen_address(text);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  if (text.starts_with('['))
    (void)boost::asio::ip::make_address_v6(parts.host, ec);
  else if (parts.host != "localhost")
    (void)boost::asio::ip::make_address_v4(parts.host, ec);
  if (ec) return std::nullopt;
  return listen_address{std::move(parts.host), parts.port};
}

std::vector<key_info> keys() {
  const daemon_config defaults;
  std::vector<key_info> out;
  for (const auto& o : options()) {
    out.push_back(
        {o.key, upper_env_name(o.key), "--" + flag_name(o.key), o.description, o.get(defaults)});
  }
  return out;
}

std::string to_ini(const daemon_config& config) {
  std::string out;
  for (const auto& o : options()) {
    std::string value = o.get(config);
    const bool needs_quotes =
        !value.empty() && (value.front() == ' ' || value.back() == ' ' || value.front() == '"');
    out += std::string(o.key) + " = " + (needs_quotes ? "\"" + value + "\"" : value) + "\n";
  }
  for (const auto& [name, provider] : config.providers) out += "\n" + delivery::to_ini(provider);
  return out;
}

boost::system::result<loaded_config, config_error> load_config(int argc, const char* const* argv,
                                                               const environment& env) {
  loaded_config result;
  daemon_config& config = result.config;
  if (auto it = env.find("STATE_DIRECTORY"); it != env.end() && !it->second.empty()) {
    // systemd joins several StateDirectory= entries with ':'; the first is ours.
    config.state_dir = it->second.substr(0, it->second.find(':'));
  }

  // The command line, with every key as a flag.
  po::options_description desc;
  desc.add_options()("config", po::value<std::string>())("check-config", "")("version", "")("help",
                                                                                            "");
  std::vector<std::string> flag_names;
  for (const auto& o : options()) flag_names.push_back(flag_name(o.key));
  for (const auto& name : flag_names) desc.add_options()(name.c_str(), po::value<std::string>());
  po::variables_map vm;
  try {
    const int style = po::command_line_style::unix_style & ~po::command_line_style::allow_guessing;
    const po::positional_options_description no_positional;  // a stray word is an error
    po::store(po::command_line_parser(argc, argv)
                  .options(desc)
                  .positional(no_positional)
                  .style(style)
                  .run(),
              vm);
  } catch (const po::error& e) {
    return fail(errc::bad_command_line,
                std::string("command line: ") + e.what() + " (heraldd --help lists the flags)");
  }

  if (vm.count("help")) {
    result.mode = run_mode::help;
    result.text = help_text(config);
    return result;
  }
  if (vm.count("version")) {
    result.mode = run_mode::version;
    result.text = std::string("heraldd ") + HERALD_VERSION + "\n";
    return result;
  }
  if (vm.count("check-config")) result.mode = run_mode::check_config;

  // Lowest precedence first; a later source replaces an earlier one's value.
  std::map<std::string, assignment> values;
  provider_sections providers;
  if (vm.count("config")) {
    result.config_file = vm["config"].as<std::string>();
    if (result.config_file.empty()) {
      return fail(errc::bad_command_line, "--config: the file name is empty");
    }
    if (auto e = parse_file(result.config_file, values, providers)) return *e;
  }
  if (auto e = read_provider_environment(env, providers)) return *e;
  for (const auto& o : options()) {
    const auto name = upper_env_name(o.key);
    if (auto it = env.find(name); it != env.end()) {
      values[std::string(o.key)] = {it->second, "from " + name};
    }
  }
  for (const auto& o : options()) {
    const auto flag = flag_name(o.key);
    if (vm.count(flag)) {
      values[std::string(o.key)] = {vm[flag].as<std::string>(), "from --" + flag};
    }
  }

  // Only the winning value of each key is validated: a flag can override a bad file value.
  for (const auto& o : options()) {
    auto it = values.find(std::string(o.key));
    if (it == values.end()) continue;
    if (auto why = o.set(config, it->second.value)) {
      return fail(errc::invalid_value,
                  std::string(o.key) + ": " + *why + " (" + it->second.origin + ")");
    }
  }
  for (const auto& [name, section] : providers) {
    try {
      config.providers.insert_or_assign(name, delivery::parse_provider(name, section));
    } catch (const std::invalid_argument& e) {
      return fail(errc::invalid_value, e.what());
    }
  }
  return result;
}

}  // namespace herald::config
