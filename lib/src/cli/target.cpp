#include "herald/cli/target.hpp"

#include <unistd.h>

#include <vector>

#include "herald/queue/task_store.hpp"
#include "herald/redis/url.hpp"
#include "herald/triggers/configured.hpp"

namespace herald::cli {

namespace {

std::string env_value(const config::environment& env, std::string_view name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

// heraldd's configuration as heraldd itself would read it, with `file` (empty: none).
config::daemon_config daemon_configuration(const std::string& file,
                                           const config::environment& env) {
  std::vector<std::string> args{"herald"};
  if (!file.empty()) {
    args.push_back("--config");
    args.push_back(file);
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  auto loaded = config::load_config(static_cast<int>(args.size()), argv.data(), env);
  if (!loaded)
    throw cli_error(exit_code::usage, "heraldd's configuration: " + loaded.error().message);
  return std::move(loaded->config);
}

}  // namespace

std::string embedded_redis_url(const std::filesystem::path& state_dir) {
  return "unix://" + (state_dir / "redis" / "redis.sock").string();
}

target resolve_target(const command_line& cl, const config::environment& env,
                      const std::filesystem::path& fallback_config) {
  target t;

  std::string account_source = "--account";
  if (cl.account) {
    t.account = *cl.account;
  } else if (auto a = env_value(env, "HERALD_ACCOUNT"); !a.empty()) {
    t.account = a;
    account_source = "HERALD_ACCOUNT";
  } else {
    t.account = "default";
  }
  if (!queue::valid_account(t.account))
    throw cli_error(exit_code::usage, account_source + ": \"" + t.account
                                          + "\" is not an account name (1 to 64 characters of "
                                            "A-Za-z0-9_.-)");

  std::string url_source = "--redis-url";
  std::string env_url = env_value(env, "HERALD_REDIS_URL");
  if (cl.redis_url) {
    t.redis_url = *cl.redis_url;
  } else if (!env_url.empty() && env_url != "embedded") {
    t.redis_url = env_url;
    url_source = "HERALD_REDIS_URL";
  }
  if (cl.prefix) t.prefix = *cl.prefix;

  // Saving a trigger checks its provider against the configured ones; enqueueing checks a send
  // job's provider, and heraldd's redis_wait_replicas and redis_wait_ms apply to it too.
  const bool saves_triggers =
      cl.command == command_kind::triggers_add || cl.command == command_kind::triggers_update;
  const bool enqueues = cl.command == command_kind::enqueue;
  if (t.redis_url.empty() || t.prefix.empty() || saves_triggers || enqueues) {
    std::string file;
    if (cl.config_file) {
      file = *cl.config_file;
    } else if (auto f = env_value(env, "HERALD_CONFIG"); !f.empty()) {
      file = f;
    } else if (!fallback_config.empty() && ::access(fallback_config.c_str(), R_OK) == 0) {
      file = fallback_config.string();
    }
    auto daemon = daemon_configuration(file, env);
    if (t.redis_url.empty()) {
      url_source = file.empty() ? "HERALD_REDIS_URL" : "redis_url in " + file;
      t.redis_url =
          daemon.redis_url == "embedded" ? embedded_redis_url(daemon.state_dir) : daemon.redis_url;
    }
    if (t.prefix.empty()) t.prefix = daemon.prefix;
    if (saves_triggers || enqueues) t.providers = triggers::configured_providers(daemon);
    t.wait_replicas = daemon.redis_wait_replicas;
    t.wait_ms = daemon.redis_wait_ms;
  }
  if (t.prefix.empty()) throw cli_error(exit_code::usage, "--prefix: the prefix is empty");

  if (auto parsed = redis::parse_url(t.redis_url); !parsed)
    throw cli_error(exit_code::usage,
                    url_source
                        + ": not a Redis URL (redis://[[user]:password@]host:port[/db] or "
                          "unix:///path[?db=N])");
  return t;
}

}  // namespace herald::cli
