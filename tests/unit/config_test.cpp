#include "herald/config/daemon_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using herald::config::daemon_config;
using herald::config::environment;
using herald::config::errc;
using herald::config::load_config;
using herald::config::run_mode;

boost::system::result<herald::config::loaded_config, herald::config::config_error> load(
    std::vector<std::string> args, const environment& env = {}) {
  args.insert(args.begin(), "heraldd");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return load_config(static_cast<int>(args.size()), argv.data(), env);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The `key = value` lines of to_ini as a map.
std::map<std::string, std::string> ini_values(const daemon_config& config) {
  std::map<std::string, std::string> out;
  std::istringstream in(herald::config::to_ini(config));
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

// A valid value other than the default for every key, as to_ini writes it back.
const std::map<std::string, std::string> non_defaults = {
    {"redis_url", "redis://10.0.0.5:6380/2"},
    {"http_listen", "0.0.0.0:0"},
    {"state_dir", "/srv/herald"},
    {"log_level", "debug"},
    {"log_format", "json"},
    {"redis_server", "/opt/redis/bin/redis-server"},
    {"shutdown_grace", "45s"},
    {"http_body_limit", "1MiB"},
    {"http_header_limit", "8KiB"},
    {"http_read_timeout", "2500ms"},
    {"http_idle_timeout", "2s"},
    {"http_max_connections", "10"},
    {"http_max_connections_per_address", "0"},
    {"http_body_memory_limit", "32MiB"},
    {"http_max_requests_per_connection", "7"},
    {"redis_command_timeout", "250ms"},
    {"allow_eviction", "true"},
    {"redis_wait_replicas", "1"},
    {"redis_wait_ms", "250ms"},
    {"prefix", "herald-b"},
    {"workers", "3"},
    {"chunk_size", "25"},
    {"threads", "2"},
    {"claim_idle", "1m"},
    {"max_deliveries", "9"},
    {"task_ttl", "1d"},
    {"max_job_bytes", "2MiB"},
    {"dead_max", "50"},
    {"consumer_idle_max", "1h"},
    {"tokens_file", "/etc/herald/tokens"},
    {"api_rate_per_s", "50"},
    {"api_burst", "80"},
    {"metrics_token", "***"},  // a token set is written "***"
    {"max_job_items", "500"},
    {"max_profile_fields", "50"},
    {"max_field_tags", "20"},
    {"max_field_bytes", "4KiB"},
    {"max_profile_subscriptions", "5"},
    {"geo_db", "/var/lib/GeoIP/GeoLite2-City.mmdb"},
    {"triggers_dir", "/etc/herald/triggers"},
    {"sync_timeout", "5s"},
    {"api_max_items", "100"},
    {"api_send_provider", "lc"},
    {"api_bot_provider", "lc_bot"},
};

TEST(config, defaults_without_any_source) {
  auto r = load({});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mode, run_mode::run);
  EXPECT_TRUE(r->config_file.empty());
  const auto& c = r->config;
  EXPECT_EQ(c.redis_url, "embedded");
  EXPECT_EQ(c.http_listen.host, "127.0.0.1");
  EXPECT_EQ(c.http_listen.port, 8080);
  EXPECT_EQ(c.state_dir, "/var/lib/herald");
  EXPECT_EQ(c.log_level, spdlog::level::info);
  EXPECT_EQ(c.log_format, herald::log::log_format::text);
  EXPECT_EQ(c.redis_server, "redis-server");
  EXPECT_EQ(c.shutdown_grace, 10s);
  EXPECT_EQ(c.http_body_limit, 10u * 1024 * 1024);
  EXPECT_EQ(c.http_header_limit, 16u * 1024);
  EXPECT_EQ(c.http_read_timeout, 10s);
  EXPECT_EQ(c.http_idle_timeout, 5s);
  EXPECT_EQ(c.http_max_connections, 1024u);
  EXPECT_EQ(c.http_max_connections_per_address, 256u);
  EXPECT_EQ(c.http_body_memory_limit, 64u * 1024 * 1024);
  EXPECT_EQ(c.http_max_requests_per_connection, 1000u);
  EXPECT_EQ(c.redis_command_timeout, 5s);
  EXPECT_FALSE(c.allow_eviction);
  EXPECT_EQ(c.redis_wait_replicas, 0u);
  EXPECT_EQ(c.redis_wait_ms, 1s);
  EXPECT_EQ(c.prefix, "herald");
  EXPECT_EQ(c.workers, 256u);
  EXPECT_EQ(c.threads, 0u);
  EXPECT_EQ(c.claim_idle, 30s);
  EXPECT_EQ(c.max_deliveries, 5u);
  EXPECT_EQ(c.task_ttl, std::chrono::hours(24 * 7));
  EXPECT_TRUE(c.tokens_file.empty());
  EXPECT_EQ(c.max_job_items, 10'000u);
  EXPECT_EQ(c.max_profile_fields, 1'000u);
  EXPECT_EQ(c.max_field_tags, 1'000u);
  EXPECT_EQ(c.max_field_bytes, 64u * 1024);
  EXPECT_EQ(c.max_profile_subscriptions, 100u);
  EXPECT_TRUE(c.geo_db.empty());
  EXPECT_TRUE(c.triggers_dir.empty());
  EXPECT_EQ(c.enqueue.sync_timeout, 30s);
  EXPECT_EQ(c.enqueue.api_max_items, 10'000u);
}

TEST(config, the_test_table_covers_every_key) {
  std::set<std::string> keys;
  for (const auto& k : herald::config::keys()) keys.insert(std::string(k.key));
  std::set<std::string> covered;
  for (const auto& [k, v] : non_defaults) covered.insert(k);
  EXPECT_EQ(keys, covered);
  for (const auto& k : herald::config::keys()) {
    EXPECT_NE(k.default_value, non_defaults.at(std::string(k.key))) << k.key;
  }
}

TEST(config, state_directory_from_systemd_is_the_default_state_dir) {
  auto r = load({}, {{"STATE_DIRECTORY", "/var/lib/herald/a:/var/lib/other"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.state_dir, "/var/lib/herald/a");
  r = load({}, {{"STATE_DIRECTORY", "/var/lib/x"}, {"HERALD_STATE_DIR", "/srv/h"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.state_dir, "/srv/h");
}

TEST(config, every_key_can_be_set_from_each_source) {
  herald::test::temp_dir dir;
  std::string file;
  environment env;
  std::vector<std::string> flags;
  for (const auto& k : herald::config::keys()) {
    const auto& value = non_defaults.at(std::string(k.key));
    file += std::string(k.key) + " = " + value + "\n";
    env[k.env] = value;
    flags.push_back(k.flag + "=" + value);
  }
  write_file(dir / "all.conf", file);

  auto from_file = load({"--config", (dir / "all.conf").string()});
  auto from_env = load({}, env);
  auto from_flags = load(flags);
  for (auto* r : {&from_file, &from_env, &from_flags}) {
    ASSERT_TRUE(*r) << r->error().message;
    EXPECT_EQ(ini_values((*r)->config), non_defaults);
  }
  const auto& c = from_flags->config;
  EXPECT_EQ(c.http_listen, (herald::config::listen_address{"0.0.0.0", 0}));
  EXPECT_EQ(c.log_level, spdlog::level::debug);
  EXPECT_EQ(c.log_format, herald::log::log_format::json);
  EXPECT_EQ(c.http_body_limit, 1u << 20);
  EXPECT_EQ(c.http_read_timeout, 2500ms);
  EXPECT_EQ(c.claim_idle, 60s);
  EXPECT_EQ(c.task_ttl, std::chrono::hours(24));
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.chunk_size, 25u);
  EXPECT_EQ(c.enqueue.sync_timeout, 5s);
  EXPECT_EQ(c.enqueue.api_max_items, 100u);
}

TEST(config, file_then_environment_then_flags) {
  herald::test::temp_dir dir;
  write_file(dir / "h.conf", "workers = 1\nlog_level = debug\nprefix = from-file\nthreads = 4\n");
  auto r = load({"--config", (dir / "h.conf").string(), "--workers", "3"},
                {{"HERALD_WORKERS", "2"}, {"HERALD_LOG_LEVEL", "warn"}, {"HERALD_THREADS", "5"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.workers, 3u);                     // flag over env over file
  EXPECT_EQ(r->config.log_level, spdlog::level::warn);  // env over file
  EXPECT_EQ(r->config.threads, 5u);                     // env over file
  EXPECT_EQ(r->config.prefix, "from-file");             // file over default
  EXPECT_EQ(r->config_file, dir / "h.conf");
}

TEST(config, only_the_winning_value_is_validated) {
  herald::test::temp_dir dir;
  write_file(dir / "h.conf", "workers = lots\n");
  auto r = load({"--config", (dir / "h.conf").string(), "--workers", "4"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.workers, 4u);
}

TEST(config, unknown_herald_variables_are_ignored) {
  auto r = load({}, {{"HERALD_NOT_A_KEY", "1"}, {"HERALDX", "y"}, {"PATH", "/bin"}});
  ASSERT_TRUE(r) << r.error().message;
}

TEST(config, reload_rereads_file_and_environment_and_keeps_flags) {
  herald::test::temp_dir dir;
  const auto path = (dir / "h.conf").string();
  write_file(path, "workers = 1\nlog_level = info\n");
  const std::vector<std::string> args = {"--config", path, "--workers", "3"};
  auto first = load(args, {{"HERALD_PREFIX", "a"}});
  ASSERT_TRUE(first) << first.error().message;
  write_file(path, "workers = 9\nlog_level = debug\n");
  auto second = load(args, {{"HERALD_PREFIX", "b"}});
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->config.workers, 3u);
  EXPECT_EQ(second->config.log_level, spdlog::level::debug);
  EXPECT_EQ(second->config.prefix, "b");
}

TEST(config, file_syntax) {
  herald::test::temp_dir dir;
  write_file(dir / "h.conf",
             "# a comment\n"
             "; another comment\n"
             "\n"
             "   workers=7   \r\n"
             "prefix = \" spaced \"\n"
             "log-level = error\n"
             "tokens_file =\n");
  auto r = load({"--config", (dir / "h.conf").string(), "--prefix", "p"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.workers, 7u);
  EXPECT_EQ(r->config.log_level, spdlog::level::err);
  EXPECT_TRUE(r->config.tokens_file.empty());

  write_file(dir / "q.conf", "redis_server = \" /opt/r s \"\n");
  r = load({"--config", (dir / "q.conf").string()});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.redis_server, " /opt/r s ");
}

struct file_error_case {
  std::string content;
  errc code;
  std::string message;  // after "config file <path>: "
};

TEST(config, file_errors_name_the_file_the_line_and_the_key) {
  herald::test::temp_dir dir;
  const auto path = (dir / "h.conf").string();
  const std::vector<file_error_case> cases = {
      {"workers = 3\n# comment\nfoo = 1\n", errc::unknown_key,
       "unknown key \"foo\" on line 3 (heraldd --help lists the keys)"},
      {"workers = 3\njust words\n", errc::bad_file_syntax,
       "expected `key = value`, got \"just words\" on line 2"},
      {"[heraldd]\nworkers = 3\n", errc::bad_file_syntax,
       "unknown section [heraldd] on line 1; the only sections are [provider.NAME]"},
      {"[provider.lc\nworkers = 3\n", errc::bad_file_syntax,
       "unknown section [provider.lc on line 1; the only sections are [provider.NAME]"},
      {"[provider.sb]\nkind = sandbox\nkind = sandbox\n", errc::duplicate_key,
       "key \"provider.sb.kind\" is set twice, on lines 2 and 3"},
      {"= 3\n", errc::bad_file_syntax, "a value without a key on line 1"},
      {"workers = 3\n\nworkers = 4\n", errc::duplicate_key,
       "key \"workers\" is set twice, on lines 1 and 3"},
  };
  for (const auto& c : cases) {
    write_file(path, c.content);
    auto r = load({"--config", path});
    ASSERT_FALSE(r) << c.content;
    EXPECT_EQ(r.error().code, herald::config::make_error_code(c.code)) << c.content;
    EXPECT_EQ(r.error().message, "config file " + path + ": " + c.message);
  }
}

TEST(config, a_file_value_error_names_its_line) {
  herald::test::temp_dir dir;
  const auto path = (dir / "h.conf").string();
  write_file(path, "workers = 3\nclaim_idle = 10\nhttp_listen = abc\n");
  auto r = load({"--config", path});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, herald::config::make_error_code(errc::invalid_value));
  EXPECT_EQ(r.error().message,
            "http_listen: \"abc\" is not host:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080, "
            "[::1]:8080) (from "
                + path + " line 3)");
}

TEST(config, unreadable_file) {
  auto r = load({"--config", "/nope/heraldd.conf"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, herald::config::make_error_code(errc::unreadable_file));
  EXPECT_EQ(r.error().message,
            "--config: cannot read /nope/heraldd.conf: No such file or directory");

  herald::test::temp_dir dir;
  r = load({"--config", dir.path().string()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--config: cannot read " + dir.path().string() + ": Is a directory");
}

struct value_error_case {
  std::string key;
  std::string value;
  std::string reason;  // the message between "<key>: " and " (from HERALD_<KEY>)"
};

TEST(config, each_invalid_value_names_its_key_and_source) {
  const std::vector<value_error_case> cases = {
      {"redis_url", "http://example.com",
       "invalid Redis URL; expected \"embedded\", redis://[[user]:password@]host:port[/db], "
       "unix:///path[?db=N] or redis-sentinel://[user:password@]host:port,host:port/MASTER_NAME"
       "[?db=N&sentinel_password=...]"},
      {"http_listen", "abc",
       "\"abc\" is not host:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080)"},
      {"http_listen", "127.0.0.1:65536",
       "\"127.0.0.1:65536\" is not host:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080)"},
      {"state_dir", "", "must not be empty"},
      {"log_level", "loud",
       "\"loud\" is not one of trace, debug, info, warn, error, critical, off"},
      {"log_format", "xml", "\"xml\" is not one of text, json"},
      {"redis_server", "", "must not be empty"},
      {"shutdown_grace", "2h", "2h is above the maximum 1h"},
      {"http_body_limit", "10XB", "\"10XB\" is not a size (e.g. 16KiB, 10MiB, 1GiB or bytes)"},
      {"http_body_limit", "100", "100 is below the minimum 1KiB"},
      {"http_header_limit", "2MiB", "2MiB is above the maximum 1MiB"},
      {"http_read_timeout", "fast", "\"fast\" is not a duration (e.g. 500ms, 30s, 5m, 2h, 7d)"},
      {"http_max_connections", "0", "0 is out of range 1..1000000"},
      {"http_idle_timeout", "50ms", "50ms is below the minimum 100ms"},
      {"http_max_connections_per_address", "x", "\"x\" is not a whole number"},
      {"http_body_memory_limit", "lots",
       "\"lots\" is not a size (e.g. 16KiB, 10MiB, 1GiB or bytes)"},
      {"http_max_requests_per_connection", "-1", "\"-1\" is not a whole number"},
      {"redis_command_timeout", "1ms", "1ms is below the minimum 10ms"},
      {"allow_eviction", "maybe", "\"maybe\" is not true or false"},
      {"redis_wait_replicas", "many", "\"many\" is not a whole number"},
      {"redis_wait_ms", "5s", "5s is not between 1ms and 2s"},
      {"redis_wait_ms", "soon", "\"soon\" is not a duration (e.g. 500 or 500ms, 2s)"},
      {"prefix", "{q}",
       "\"{q}\" may hold only letters, digits, '_', '-', '.' and ':' (braces would break the "
       "keys' hash tags)"},
      {"prefix", "", "\"\" must have 1 to 64 characters"},
      {"workers", "abc", "\"abc\" is not a whole number"},
      {"workers", "0", "0 is out of range 1..100000"},
      {"chunk_size", "0", "0 is out of range 1..100000"},
      {"threads", "2000", "2000 is out of range 0..1024"},
      {"claim_idle", "500ms", "500ms is below the minimum 1s"},
      {"max_deliveries", "0", "0 is out of range 1..1000"},
      {"task_ttl", "0", "0s is below the minimum 1s"},
      {"max_job_bytes", "1", "1 is below the minimum 1KiB"},
      {"dead_max", "0", "0 is out of range 1..100000000"},
      {"consumer_idle_max", "10ms", "10ms is below the minimum 1s"},
      {"max_job_items", "0", "0 is out of range 1..10000000"},
      {"api_rate_per_s", "-1", "\"-1\" is not a whole number"},
      {"api_burst", "2000000", "2000000 is out of range 0..1000000"},
      {"max_profile_fields", "0", "0 is out of range 1..100000"},
      {"max_field_tags", "100001", "100001 is out of range 1..100000"},
      {"max_field_bytes", "10", "10 is below the minimum 64"},
      {"max_profile_subscriptions", "x", "\"x\" is not a whole number"},
      {"sync_timeout", "50ms", "50ms is below the minimum 100ms"},
      {"sync_timeout", "1h", "1h is above the maximum 10m"},
      {"sync_timeout", "soon", "\"soon\" is not a duration (e.g. 500ms, 30s, 5m)"},
      {"api_max_items", "0", "0 is out of range 1..10000000"},
      {"api_max_items", "1e4", "\"1e4\" is not a whole number"},
      {"api_send_provider", "LC",
       "\"LC\" is not a provider's name (1 to 64 lowercase letters, digits or '_')"},
      {"api_bot_provider", "lc-bot",
       "\"lc-bot\" is not a provider's name (1 to 64 lowercase letters, digits or '_')"},
      {"metrics_token", "a b", "must not contain spaces or line breaks"},
  };
  std::set<std::string> keys_covered;
  for (const auto& c : cases) {
    keys_covered.insert(c.key);
    auto env_name = "HERALD_" + c.key;
    for (auto& ch : env_name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    auto r = load({}, {{env_name, c.value}});
    ASSERT_FALSE(r) << c.key << "=" << c.value;
    EXPECT_EQ(r.error().code, herald::config::make_error_code(errc::invalid_value));
    EXPECT_EQ(r.error().message, c.key + ": " + c.reason + " (from " + env_name + ")");
  }
  // tokens_file, geo_db and triggers_dir accept anything, an empty value included (a file that
  // cannot be read stops heraldd when it starts); every other key can be wrong.
  for (const auto& k : herald::config::keys()) {
    if (k.key != "tokens_file" && k.key != "geo_db" && k.key != "triggers_dir") {
      EXPECT_TRUE(keys_covered.count(std::string(k.key))) << k.key;
    }
  }
}

TEST(config, the_metrics_token_is_never_written_back) {
  auto r = load({}, {{"HERALD_METRICS_TOKEN", "scrape-s3cret"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.metrics_token, "scrape-s3cret");
  const auto ini = herald::config::to_ini(r->config);
  EXPECT_EQ(ini.find("scrape-s3cret"), std::string::npos) << ini;
  EXPECT_NE(ini.find("metrics_token = ***\n"), std::string::npos) << ini;
  r = load({});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE(herald::config::to_ini(r->config).find("metrics_token = \n"), std::string::npos);
}

TEST(config, a_bad_redis_url_is_not_echoed_since_it_may_hold_a_password) {
  auto r = load({"--redis-url", "redis://:s3cret@host:notaport"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos) << r.error().message;
  EXPECT_TRUE(r.error().message.starts_with("redis_url: ")) << r.error().message;
  EXPECT_TRUE(r.error().message.ends_with("(from --redis-url)")) << r.error().message;
}

TEST(config, redis_urls) {
  for (std::string url : {"embedded", "redis://127.0.0.1:6379", "redis://:pw@redis.internal:6380/3",
                          "unix:///run/redis/redis.sock?db=2"}) {
    auto r = load({"--redis-url", url});
    ASSERT_TRUE(r) << url << ": " << r.error().message;
    EXPECT_EQ(r->config.redis_url, url);
  }
}

TEST(config, command_line_errors) {
  struct flag_case {
    std::vector<std::string> args;
    std::string fragment;
  };
  const std::vector<flag_case> cases = {
      {{"--nope"}, "'--nope'"},
      {{"--workers"}, "'--workers'"},
      {{"stray"}, "positional"},
      {{"--work", "3"}, "'--work'"},  // no guessing of abbreviated flags
      {{"--workers", "1", "--workers", "2"}, "'--workers'"},
  };
  for (const auto& c : cases) {
    auto r = load(c.args);
    ASSERT_FALSE(r) << c.args[0];
    EXPECT_EQ(r.error().code, herald::config::make_error_code(errc::bad_command_line));
    EXPECT_TRUE(r.error().message.starts_with("command line: ")) << r.error().message;
    EXPECT_NE(r.error().message.find(c.fragment), std::string::npos) << r.error().message;
    EXPECT_TRUE(r.error().message.ends_with("(heraldd --help lists the flags)"));
  }
  auto r = load({"--config", ""});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--config: the file name is empty");
}

TEST(config, help_lists_every_flag_variable_and_default) {
  // --help answers without reading the (missing) file or validating anything.
  auto r = load({"--config", "/nope", "--workers", "x", "--help"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mode, run_mode::help);
  EXPECT_TRUE(r->text.starts_with("Usage: heraldd ")) << r->text;
  for (const auto& k : herald::config::keys()) {
    EXPECT_NE(r->text.find("  " + k.flag + " "), std::string::npos) << k.flag;
    EXPECT_NE(r->text.find("(" + k.env + ", default: \"" + k.default_value + "\")"),
              std::string::npos)
        << k.env;
    EXPECT_NE(r->text.find(std::string(k.description)), std::string::npos) << k.key;
  }
  for (const char* flag : {"--config FILE", "--check-config", "--version", "--help"}) {
    EXPECT_NE(r->text.find(flag), std::string::npos) << flag;
  }
}

TEST(config, help_shows_the_state_directory_systemd_gave) {
  auto r = load({"--help"}, {{"STATE_DIRECTORY", "/var/lib/herald/b"}});
  ASSERT_TRUE(r);
  EXPECT_NE(r->text.find("(HERALD_STATE_DIR, default: \"/var/lib/herald/b\")"), std::string::npos);
}

TEST(config, version) {
  auto r = load({"--version"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mode, run_mode::version);
  EXPECT_EQ(r->text, std::string("heraldd ") + HERALD_VERSION + "\n");
}

TEST(config, check_config_loads_and_validates) {
  auto r = load({"--check-config", "--workers", "12"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mode, run_mode::check_config);
  EXPECT_EQ(r->config.workers, 12u);
  auto bad = load({"--check-config", "--workers", "0"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "workers: 0 is out of range 1..100000 (from --workers)");
}

TEST(config, value_throws_the_message) {
  auto r = load({"--workers", "0"});
  try {
    (void)r.value();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "workers: 0 is out of range 1..100000 (from --workers)");
  }
}

TEST(config, to_ini_reads_back_and_hides_the_password) {
  herald::test::temp_dir dir;
  std::vector<std::string> flags;
  for (const auto& [key, value] : non_defaults) {
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    flags.push_back(flag + "=" + value);
  }
  auto r = load(flags);
  ASSERT_TRUE(r) << r.error().message;
  write_file(dir / "back.conf", herald::config::to_ini(r->config));
  auto back = load({"--config", (dir / "back.conf").string()});
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(herald::config::to_ini(back->config), herald::config::to_ini(r->config));

  auto secret = load({"--redis-url", "redis://user:s3cret@10.0.0.1:6379/1"});
  ASSERT_TRUE(secret);
  const auto ini = herald::config::to_ini(secret->config);
  EXPECT_EQ(ini.find("s3cret"), std::string::npos);
  EXPECT_NE(ini.find("redis_url = redis://user:***@10.0.0.1:6379/1\n"), std::string::npos) << ini;
}

TEST(config, durations) {
  using herald::config::parse_duration;
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("30"), 30s);
  EXPECT_EQ(parse_duration("0"), 0ms);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("5min"), 5min);
  EXPECT_EQ(parse_duration("2h"), 2h);
  EXPECT_EQ(parse_duration("7d"), std::chrono::hours(24 * 7));
  for (const char* bad : {"", "s", "-1s", "+1s", "1.5s", "10x", "5 s", " 5s", "5S", "1e3",
                          "99999999999999999999d", "9999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  using herald::config::format_duration;
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(30s), "30s");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(5min), "5m");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(std::chrono::hours(24 * 7)), "7d");
}

TEST(config, sizes) {
  using herald::config::parse_size;
  EXPECT_EQ(parse_size("10MiB"), 10u << 20);
  EXPECT_EQ(parse_size("16KiB"), 16u << 10);
  EXPECT_EQ(parse_size("16kib"), 16u << 10);
  EXPECT_EQ(parse_size("16K"), 16u << 10);
  EXPECT_EQ(parse_size("2M"), 2u << 20);
  EXPECT_EQ(parse_size("1GiB"), 1u << 30);
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  for (const char* bad :
       {"", "MiB", "1TiB", "-1", "1.5MiB", "10 MiB", "99999999999999999999", "99999999999GiB"}) {
    EXPECT_FALSE(parse_size(bad)) << bad;
  }
  using herald::config::format_size;
  EXPECT_EQ(format_size(10u << 20), "10MiB");
  EXPECT_EQ(format_size(16u << 10), "16KiB");
  EXPECT_EQ(format_size(1u << 30), "1GiB");
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_size(1536), "1536");
}

TEST(config, listen_addresses) {
  using herald::config::listen_address;
  using herald::config::parse_listen_address;
  EXPECT_EQ(parse_listen_address("127.0.0.1:8080"), (listen_address{"127.0.0.1", 8080}));
  EXPECT_EQ(parse_listen_address("0.0.0.0:0"), (listen_address{"0.0.0.0", 0}));
  EXPECT_EQ(parse_listen_address("[::1]:9000"), (listen_address{"::1", 9000}));
  EXPECT_EQ(parse_listen_address("[::]:1"), (listen_address{"::", 1}));
  EXPECT_EQ(parse_listen_address("localhost:80"), (listen_address{"localhost", 80}));
  for (const char* bad :
       {"abc", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", ":80", "[::1]", "[::1]80", "::1:80",
        "example.com:80", "1.2.3.4:-1", "1.2.3.4:80x", "[1.2.3.4]:80", "300.1.1.1:80"}) {
    EXPECT_FALSE(parse_listen_address(bad)) << bad;
  }
  EXPECT_EQ((listen_address{"::1", 9000}).to_string(), "[::1]:9000");
  EXPECT_EQ((listen_address{"127.0.0.1", 0}).to_string(), "127.0.0.1:0");
}

TEST(config, environment_of_splits_at_the_first_equals_sign) {
  const char* envp[] = {"A=1", "B=x=y", "EMPTY=", "NOEQUALS", nullptr};
  const auto env = herald::config::environment_of(envp);
  EXPECT_EQ(env, (environment{{"A", "1"}, {"B", "x=y"}, {"EMPTY", ""}}));
}

// deploy/heraldd.conf.example lists every key, commented out, with its real default.
TEST(config, provider_sections_are_read_by_the_provider_component) {
  herald::test::temp_dir dir;
  const auto path = (dir / "h.conf").string();
  write_file(path,
             "workers = 3\n"
             "[provider.lc]\n"
             "kind = leadconverter_messages\n"
             "base-url = https://api.example.com\n"
             "token = t0k3n\n"
             "rate_per_s = 200\n"
             "\n"
             "[ provider.sb ]\n"
             "kind = sandbox\n");
  auto r = load({"--config", path});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.workers, 3u) << "keys before a section are the daemon's";
  ASSERT_EQ(r->config.providers.size(), 2u);
  const auto& lc = r->config.providers.at("lc");
  EXPECT_EQ(lc.kind, herald::delivery::provider_kind::leadconverter_messages);
  EXPECT_EQ(lc.base_url, "https://api.example.com");
  EXPECT_EQ(lc.token, "t0k3n");
  EXPECT_EQ(lc.rate_per_s, 200);
  EXPECT_EQ(r->config.providers.at("sb").kind, herald::delivery::provider_kind::sandbox);

  // The file's keys are not the daemon's inside a section, and the reverse.
  write_file(path, "[provider.sb]\nkind = sandbox\nworkers = 3\n");
  r = load({"--config", path});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, herald::config::make_error_code(errc::invalid_value));
  EXPECT_NE(r.error().message.find("provider.sb: unknown key \"workers\""), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("(from " + path + " line 3)"), std::string::npos)
      << r.error().message;
}

TEST(config, provider_environment_overrides_and_creates_providers) {
  herald::test::temp_dir dir;
  const auto path = (dir / "h.conf").string();
  write_file(path,
             "[provider.lc_main]\n"
             "kind = leadconverter_messages\n"
             "base_url = https://file.example.com\n"
             "token = from-file\n"
             "connect_timeout_ms = 100\n");
  auto r = load({"--config", path}, {{"HERALD_PROVIDER_LC_MAIN_TOKEN", "from-env"},
                                     {"HERALD_PROVIDER_LC_MAIN_URL", "https://env.example.com"},
                                     {"HERALD_PROVIDER_LC_MAIN_CONNECT_TIMEOUT_MS", "250"},
                                     {"HERALD_PROVIDER_LC_MAIN_TIMEOUT_MS", "5000"},
                                     {"HERALD_PROVIDER_SB_KIND", "sandbox"},
                                     {"HERALD_PROVIDER_SB_PATH", "/tmp/sb.jsonl"}});
  ASSERT_TRUE(r) << r.error().message;
  const auto& lc = r->config.providers.at("lc_main");
  EXPECT_EQ(lc.token, "from-env");
  EXPECT_EQ(lc.base_url, "https://env.example.com") << "url replaces the file's base_url";
  EXPECT_EQ(lc.connect_timeout, 250ms) << "the longest key wins: CONNECT_TIMEOUT_MS";
  EXPECT_EQ(lc.timeout, 5000ms);
  EXPECT_EQ(r->config.providers.at("sb").path, "/tmp/sb.jsonl");

  auto typo = load({}, {{"HERALD_PROVIDER_SB_KIND", "sandbox"}, {"HERALD_PROVIDER_SB_PAHT", "x"}});
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().code, herald::config::make_error_code(errc::unknown_key));
  EXPECT_EQ(
      typo.error().message.rfind("HERALD_PROVIDER_SB_PAHT: not HERALD_PROVIDER_<NAME>_<KEY>", 0),
      0u)
      << typo.error().message;

  auto bad = load({"--check-config"}, {{"HERALD_PROVIDER_LC_KIND", "leadconverter_bot"},
                                       {"HERALD_PROVIDER_LC_BASE_URL", "http://a.example"},
                                       {"HERALD_PROVIDER_LC_TOKEN", "sekrit"},
                                       {"HERALD_PROVIDER_LC_RATE_PER_S", "x"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "provider.lc: rate_per_s: must be a positive number up to 1000000, not \"x\" (from "
            "HERALD_PROVIDER_LC_RATE_PER_S)");
  auto missing = load({"--check-config"}, {{"HERALD_PROVIDER_LC_TOKEN", "sekrit"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message.rfind("provider.lc: kind: required", 0), 0u);
}

TEST(config, check_config_prints_providers_without_their_secrets) {
  auto r = load({"--check-config"}, {{"HERALD_PROVIDER_CHAT_KIND", "chatbot_telegram"},
                                     {"HERALD_PROVIDER_CHAT_BASE_URL", "https://c.example"},
                                     {"HERALD_PROVIDER_CHAT_USER", "bob"},
                                     {"HERALD_PROVIDER_CHAT_PASSWORD", "hunter2"}});
  ASSERT_TRUE(r) << r.error().message;
  const auto ini = herald::config::to_ini(r->config);
  EXPECT_NE(ini.find("\n[provider.chat]\nkind = chatbot_telegram\n"), std::string::npos) << ini;
  EXPECT_NE(ini.find("password = ***\n"), std::string::npos);
  EXPECT_EQ(ini.find("hunter2"), std::string::npos);
  // It reads back (with the secret as written: ***).
  herald::test::temp_dir dir;
  write_file(dir / "back.conf", ini);
  auto back = load({"--config", (dir / "back.conf").string()});
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(herald::config::to_ini(back->config), ini);
}

TEST(config, the_example_file_lists_every_key_with_its_default) {
  const auto example = std::filesystem::path(HERALD_SOURCE_DIR) / "deploy/heraldd.conf.example";
  const auto text = read_file(example);
  ASSERT_FALSE(text.empty()) << example;
  std::string uncommented;
  std::istringstream in(text);
  std::string line;
  const std::regex setting(R"(^# ([a-z_]+) =(?: (.*))?$)");
  std::map<std::string, std::string> listed;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, setting)) {
      listed[m[1]] = m[2];
      uncommented += line.substr(2) + "\n";
    }
  }
  std::map<std::string, std::string> defaults;
  for (const auto& k : herald::config::keys()) defaults[std::string(k.key)] = k.default_value;
  EXPECT_EQ(listed, defaults);

  // As shipped (all commented) it loads, and uncommented it still gives the defaults.
  auto as_is = load({"--config", example.string()});
  ASSERT_TRUE(as_is) << as_is.error().message;
  herald::test::temp_dir dir;
  write_file(dir / "uncommented.conf", uncommented);
  auto r = load({"--config", (dir / "uncommented.conf").string()});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(herald::config::to_ini(r->config), herald::config::to_ini(daemon_config{}));
}

}  // namespace
