// herald: Herald's command-line client. Enqueues jobs, follows and cancels tasks, inspects the
// queue and its dead letters, and reads profiles, talking to Redis directly. The command line, the
// job file and every output format live in lib/src/cli; this file does the I/O and maps failures to
// the exit codes --help documents.
#include <unistd.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <optional>

#include "herald/cli/command_line.hpp"
#include "herald/cli/job_file.hpp"
#include "herald/cli/output.hpp"
#include "herald/cli/target.hpp"
#include "herald/config/daemon_config.hpp"
#include "herald/delivery/provider_health.hpp"
#include "herald/profiles/import_handler.hpp"
#include "herald/profiles/store.hpp"
#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/redis/checks_io.hpp"
#include "herald/redis/client.hpp"
#include "herald/redis/url.hpp"
#include "herald/triggers/jobs.hpp"
#include "herald/triggers/store.hpp"
#include "herald/triggers/trigger.hpp"

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace cli = herald::cli;
namespace delivery = herald::delivery;
namespace queue = herald::queue;
namespace redis = herald::redis;
using namespace std::chrono_literals;
using cli::cli_error;
using cli::exit_code;

// How long to wait for the first connection to Redis before exiting with code 4.
constexpr auto connect_deadline = 3s;
// How long --wait and --watch ride out a lost Redis connection before giving up.
constexpr auto reconnect_patience = 10s;
// Item outcomes read for a status reply (a job holds at most this many items).
constexpr std::uint64_t max_outcomes = 10'000;

// Keeps the last line the Redis client logged: it says why a connection failed.
class last_message_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string last() {
    std::lock_guard lock(mutex_);
    return last_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    last_.assign(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::string last_;
};

void out(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void note(const std::string& text) {
  std::fprintf(stderr, "herald: %s\n", text.c_str());
}

std::string redacted(const std::string& url) {
  auto ep = redis::parse_url(url);
  return ep ? ep->redacted() : std::string("(invalid URL)");
}

// The enqueue command's job, validated before Redis is even contacted.
queue::new_job read_enqueue_job(const cli::command_line& cl, const cli::target& t) {
  queue::handler_registry handlers;
  queue::add_builtin_handlers(handlers);
  herald::profiles::add_import_handler(handlers, {});
  // start and send bodies are checked too; a send job's provider against this configuration's.
  herald::triggers::trigger_job_settings trigger_jobs;
  trigger_jobs.providers = t.providers;
  herald::triggers::add_trigger_handlers(handlers, trigger_jobs);
  cli::job_overrides overrides;
  overrides.type = cl.type;
  overrides.account = cl.account;
  overrides.task_id = cl.task_id;
  overrides.idempotency_key = cl.idempotency_key;
  overrides.run_at = cl.run_at;
  overrides.default_account = t.account;
  const std::string where = cl.file == "-" ? "stdin" : cl.file;
  auto text = cli::read_job_input(cl.file);
  try {
    return cli::read_job(text, overrides, handlers, queue::now_ms());
  } catch (const cli_error& e) {
    throw cli_error(e.code(), where + ": " + e.what());
  }
}

// The trigger of `triggers add|update`, checked (fields, provider, templates) before Redis is
// contacted.
herald::triggers::trigger read_trigger_file(const cli::command_line& cl, const cli::target& t) {
  const std::string where = cl.file == "-" ? "stdin" : cl.file;
  auto text = cli::read_job_input(cl.file);  // bounded as a job file is
  auto parsed = herald::triggers::parse_trigger(text);
  if (!parsed.value) throw cli_error(exit_code::usage, where + ": " + parsed.error->text());
  if (auto error = herald::triggers::validate(*parsed.value, t.providers))
    throw cli_error(exit_code::usage, where + ": " + error->text());
  return std::move(*parsed.value);
}

std::string format_trigger(const herald::triggers::stored_trigger& s) {
  const auto& t = s.definition;
  std::string out = "trigger " + std::to_string(t.id) + " version " + std::to_string(s.version)
                    + (t.enabled ? "" : " (disabled)") + "\n";
  out += "  name:      " + t.name + "\n";
  out += "  channel:   " + std::string(to_string(t.channel)) + " via " + t.provider + "\n";
  out += "  db_id:     " + std::to_string(t.db_id) + "\n";
  if (t.resource_id) out += "  resource:  " + std::to_string(*t.resource_id) + "\n";
  if (t.message.subject) out += "  subject:   " + *t.message.subject + "\n";
  if (t.message.text) out += "  text:      " + *t.message.text + "\n";
  if (t.message.file_uuid) out += "  file_uuid: " + *t.message.file_uuid + "\n";
  for (const auto& b : t.message.buttons) out += "  button:    " + b.text + " -> " + b.url + "\n";
  if (t.bot) {
    out += "  bot:       " + t.bot->bot_id + (t.bot->forced ? " (forced)" : "") + "\n";
    for (const auto& [name, v] : t.bot->variables) out += "    " + name + " = " + v + "\n";
  }
  return out;
}

class session {
 public:
  session(redis::client& redis, const cli::command_line& cl, cli::target t, last_message_sink& log)
      : redis_(redis),
        cl_(cl),
        target_(std::move(t)),
        log_(log),
        store_(redis, queue::queue_keys(target_.prefix)) {
    store_.set_replica_wait({.replicas = target_.wait_replicas, .timeout = target_.wait_ms});
  }

  asio::awaitable<int> run(std::optional<queue::new_job> job,
                           std::optional<herald::triggers::trigger> trigger = std::nullopt) {
    co_await connect();
    switch (cl_.command) {
      case cli::command_kind::enqueue:
        co_return co_await enqueue(std::move(*job));
      case cli::command_kind::status:
        co_return co_await status();
      case cli::command_kind::tasks:
        co_return co_await tasks();
      case cli::command_kind::cancel:
        co_return co_await cancel();
      case cli::command_kind::queue_stats:
        co_return co_await queue_stats();
      case cli::command_kind::providers:
        co_return co_await providers();
      case cli::command_kind::dead_list:
        co_return co_await dead_list();
      case cli::command_kind::dead_retry:
        co_return co_await dead_retry();
      case cli::command_kind::dead_purge:
        co_return co_await dead_purge();
      case cli::command_kind::profiles_get:
        co_return co_await profiles_get();
      case cli::command_kind::triggers_add:
      case cli::command_kind::triggers_update:
        co_return co_await triggers_save(std::move(*trigger));
      case cli::command_kind::triggers_get:
        co_return co_await triggers_get();
      case cli::command_kind::triggers_list:
        co_return co_await triggers_list();
      case cli::command_kind::triggers_delete:
        co_return co_await triggers_delete();
      case cli::command_kind::help:
      case cli::command_kind::version:
        break;
    }
    co_return 0;
  }

 private:
  asio::awaitable<void> connect() {
    redis_.start();
    asio::steady_timer pause(co_await asio::this_coro::executor);
    const auto deadline = std::chrono::steady_clock::now() + connect_deadline;
    while (redis_.state() != redis::connection_state::connected) {
      // The client logs each failed attempt: the first is the answer, no need to wait out retries.
      std::string why = log_.last();
      if (!why.empty() || std::chrono::steady_clock::now() >= deadline) {
        if (why.empty())
          why = "no connection to " + redacted(target_.redis_url) + " within 3 s";
        else if (why.starts_with("redis: "))
          why.erase(0, 7);
        throw cli_error(exit_code::redis, "Redis unreachable: " + why
                                              + "; is heraldd running? (--redis-url or --config "
                                                "tell herald where its Redis is)");
      }
      pause.expires_after(5ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
  }

  [[noreturn]] void no_such_task(const std::string& id) const {
    throw cli_error(exit_code::not_found,
                    "no task \"" + id + "\" in account \"" + target_.account + "\"");
  }

  asio::awaitable<int> enqueue(queue::new_job job) {
    const std::string key = job.idempotency_key;
    const std::string wanted_id = job.task_id;
    std::optional<queue::enqueued> done;
    try {
      done = co_await store_.enqueue(std::move(job));
    } catch (const redis::error& e) {
      if (e.code() == redis::errc::server_error
          && std::string_view(e.what()).find("already in use") != std::string_view::npos)
        throw cli_error(exit_code::usage,
                        "task_id \"" + wanted_id + "\" is already in use; nothing was enqueued");
      throw;
    }
    out(done->task_id + "\n");
    if (!done->created)
      note("idempotency key \"" + key + "\" was used before: that is task " + done->task_id
           + "; nothing new was enqueued");
    if (cl_.wait || cl_.watch) co_return co_await follow(done->task_id, cl_.watch, false);
    co_return 0;
  }

  asio::awaitable<std::string> status_json(const queue::task_record& task) {
    auto outcomes = co_await store_.items(
        task.task_id, 0,
        std::min<std::uint64_t>(std::max<std::uint64_t>(task.total, 1), max_outcomes));
    co_return queue::status_reply_json(task, outcomes);
  }

  asio::awaitable<int> status() {
    auto task = co_await store_.get(cl_.id, target_.account);
    if (!task) no_such_task(cl_.id);
    if (cl_.watch) co_return co_await follow(cl_.id, true, cl_.json);
    if (cl_.json)
      out(co_await status_json(*task) + "\n");
    else
      out(cli::format_status(*task));
    co_return 0;
  }

  // Reads the task every --interval until it is final: draws its progress (`draw`), or prints its
  // status reply whenever it changed (`json`). Exits like --wait.
  asio::awaitable<int> follow(std::string id, bool draw, bool json) {
    std::optional<cli::progress_display> display;
    if (draw && !json)
      display.emplace(::isatty(STDOUT_FILENO) ? cli::progress_display::style::terminal
                                              : cli::progress_display::style::plain);
    asio::steady_timer pause(co_await asio::this_coro::executor);
    auto last_ok = std::chrono::steady_clock::now();
    std::string last_json;
    for (;;) {
      std::optional<queue::task_record> task;
      bool lost = false;
      try {
        task = co_await store_.get(id, target_.account);
        last_ok = std::chrono::steady_clock::now();
      } catch (const redis::error&) {
        // A Redis restart should not end a long wait; a Redis gone for good should.
        if (std::chrono::steady_clock::now() - last_ok > reconnect_patience) throw;
        lost = true;
      }
      if (!lost) {
        if (!task) {
          if (display) out(display->finish());
          throw cli_error(exit_code::not_found,
                          "task \"" + id + "\" is gone (expired or deleted) before it finished");
        }
        if (display) out(display->update(*task));
        if (json) {
          auto text = co_await status_json(*task);
          if (text != last_json) out(text + "\n");
          last_json = std::move(text);
        }
        if (queue::is_final(task->status)) {
          if (display) out(display->finish());
          co_return finished(*task);
        }
      }
      pause.expires_after(cl_.interval);
      co_await pause.async_wait(asio::use_awaitable);
    }
  }

  static int finished(const queue::task_record& task) {
    switch (task.status) {
      case queue::task_status::completed:
        return 0;
      case queue::task_status::failed:
        note("task " + task.task_id + " failed: "
             + (task.error_text.empty() ? std::string("(no error text)") : task.error_text));
        return static_cast<int>(exit_code::task_unsuccessful);
      default:
        note("task " + task.task_id + " was cancelled");
        return static_cast<int>(exit_code::task_unsuccessful);
    }
  }

  asio::awaitable<int> tasks() {
    // What tasks/list reads, with the whole index scanned and no total counted. (A named
    // request: g++ 12 destroys some temporaries of a co_await expression twice.)
    queue::task_list_request request{
        .filter = cl_.task_filter, .limit = cl_.limit, .count_total = false};
    auto page = co_await store_.list(target_.account, std::move(request));
    out(cl_.json ? cli::task_list_json(page.tasks) : cli::format_task_list(page.tasks));
    co_return 0;
  }

  asio::awaitable<int> cancel() {
    auto status = co_await store_.cancel(cl_.id, target_.account);
    if (!status) no_such_task(cl_.id);
    out(std::string(queue::to_string(*status)) + "\n");
    if (*status != queue::task_status::cancelled)
      note("task " + cl_.id + " had already finished (" + std::string(queue::to_string(*status))
           + "); nothing to cancel");
    co_return 0;
  }

  static std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
    return out;
  }

  asio::awaitable<int> queue_stats() {
    auto stats = co_await store_.stats();
    // What heraldd's checks of this Redis find (eviction, persistence, version).
    std::vector<std::string> checks;
    try {
      auto report = co_await redis::check_live(redis_, {});
      for (const auto& v : report.verdicts)
        checks.push_back(std::string(v.severity == redis::verdict::level::refusal
                                         ? "refused by heraldd (unless allowed): "
                                         : "warning: ")
                         + v.text);
    } catch (const std::exception& e) {
      checks.push_back("cannot check: " + std::string(e.what()));
    }
    if (!cl_.json) {
      std::string text = cli::format_queue_stats(stats);
      text += "redis checks:" + std::string(checks.empty() ? " ok\n" : "\n");
      for (const auto& c : checks) text += "  " + c + "\n";
      out(text);
      co_return 0;
    }
    std::string json = cli::queue_stats_json(stats);  // {...}\n
    std::string list;
    for (const auto& c : checks) list += (list.empty() ? "\"" : ", \"") + json_escape(c) + "\"";
    json.insert(json.rfind('}'), ", \"redis_checks\": [" + list + "]");
    out(json);
    co_return 0;
  }

  // What each heraldd published of its providers (delivery::health_publisher).
  asio::awaitable<int> providers() {
    auto fresh = co_await delivery::read_published(redis_, target_.prefix);
    out(cl_.json ? cli::providers_json(fresh) : cli::format_providers(fresh));
    co_return 0;
  }

  asio::awaitable<int> dead_list() {
    auto dead = co_await store_.dead_letters(cl_.limit);
    out(cl_.json ? cli::dead_letters_json(dead) : cli::format_dead_letters(dead));
    co_return 0;
  }

  asio::awaitable<int> dead_retry() {
    if (!cl_.all) {
      if (!co_await store_.retry_dead(cl_.id))
        throw cli_error(exit_code::not_found,
                        "no dead letter \"" + cl_.id + "\" (`herald dead list` shows their ids)");
      out("retried " + cl_.id + "\n");
      co_return 0;
    }
    // The dead letters there are now: one that dies again while we retry is not retried twice.
    auto count = (co_await redis_.exec("XLEN", store_.keys().dead())).as_integer();
    std::uint64_t retried = 0;
    if (count > 0) {
      auto dead = co_await store_.dead_letters(static_cast<std::uint64_t>(count));
      for (const auto& d : dead)
        if (co_await store_.retry_dead(d.id)) ++retried;
    }
    out("retried " + std::to_string(retried) + " dead letter" + (retried == 1 ? "" : "s") + "\n");
    co_return 0;
  }

  asio::awaitable<int> dead_purge() {
    auto n = co_await store_.purge_dead();
    out("purged " + std::to_string(n) + " dead letter" + (n == 1 ? "" : "s") + "\n");
    co_return 0;
  }

  asio::awaitable<int> profiles_get() {
    namespace profiles = herald::profiles;
    profiles::profile_store store(
        redis_, profiles::profile_keys(target_.prefix, target_.account, cl_.db_id));
    const auto found = co_await store.find(cl_.profile_query);
    if (!found) {
      throw cli_error(exit_code::not_found, "no profile matches (matching \""
                                                + std::string(to_string(cl_.profile_query.mode))
                                                + "\") in db " + std::to_string(cl_.db_id)
                                                + " of account \"" + target_.account + "\"");
    }
    out(cl_.json ? found->p.to_json(cl_.db_id) + "\n" : cli::format_profile(found->p, cl_.db_id));
    co_return 0;
  }

  herald::triggers::trigger_store open_triggers() {
    return herald::triggers::trigger_store(redis_, {.prefix = target_.prefix});
  }

  [[noreturn]] void no_such_trigger(std::uint64_t id) const {
    throw cli_error(exit_code::not_found,
                    "no trigger " + std::to_string(id) + " in account \"" + target_.account + "\"");
  }

  std::uint64_t trigger_id() const { return std::stoull(cl_.id); }

  asio::awaitable<int> triggers_save(herald::triggers::trigger t) {
    using herald::triggers::save_outcome;
    auto store = open_triggers();
    const bool add = cl_.command == cli::command_kind::triggers_add;
    herald::triggers::save_result r;
    if (add)
      r = co_await store.add(target_.account, t);
    else
      r = co_await store.update(target_.account, t);
    if (r.outcome == save_outcome::exists) {
      throw cli_error(exit_code::usage, "trigger " + std::to_string(t.id) + " exists in account \""
                                            + target_.account
                                            + "\"; `herald triggers update` changes it");
    }
    if (r.outcome == save_outcome::not_found) no_such_trigger(t.id);
    if (r.outcome == save_outcome::full) {
      throw cli_error(exit_code::usage, "account \"" + target_.account
                                            + "\" has as many triggers as it may have; delete one "
                                              "first");
    }
    out("trigger " + std::to_string(t.id) + " version " + std::to_string(r.version) + " "
        + std::string(to_string(r.outcome)) + "\n");
    co_return 0;
  }

  asio::awaitable<int> triggers_get() {
    auto store = open_triggers();
    auto found = co_await store.get(target_.account, trigger_id());
    if (!found) no_such_trigger(trigger_id());
    out(cl_.json ? found->to_api_json() + "\n" : format_trigger(*found));
    co_return 0;
  }

  asio::awaitable<int> triggers_list() {
    auto store = open_triggers();
    auto all = co_await store.list(target_.account);
    std::string text;
    if (cl_.json) {
      text = "[";
      for (std::size_t i = 0; i < all.size(); ++i)
        text += (i > 0 ? ", " : "") + all[i].to_api_json();
      text += "]\n";
    } else if (all.empty()) {
      text = "no triggers in account \"" + target_.account + "\"\n";
    } else {
      for (const auto& s : all) {
        const auto& t = s.definition;
        text += std::to_string(t.id) + "\tv" + std::to_string(s.version) + "\t"
                + (t.enabled ? "enabled" : "disabled") + "\t" + std::string(to_string(t.channel))
                + "\t" + t.provider + "\t" + t.name + "\n";
      }
    }
    out(text);
    co_return 0;
  }

  asio::awaitable<int> triggers_delete() {
    auto store = open_triggers();
    if (!co_await store.remove(target_.account, trigger_id())) no_such_trigger(trigger_id());
    out("trigger " + cl_.id + " deleted\n");
    co_return 0;
  }

  redis::client& redis_;
  const cli::command_line& cl_;
  cli::target target_;
  last_message_sink& log_;
  queue::task_store store_;
};

// The exit code for what ended the command, with its message on stderr.
int report(std::exception_ptr e, const cli::target& t) {
  try {
    std::rethrow_exception(e);
  } catch (const cli_error& err) {
    note(err.what());
    return static_cast<int>(err.code());
  } catch (const redis::error& err) {
    note("Redis at " + redacted(t.redis_url) + ": " + err.what());
  } catch (const std::invalid_argument& err) {
    note(err.what());
    return static_cast<int>(exit_code::usage);
  } catch (const std::exception& err) {
    note(std::string("unexpected failure talking to Redis: ") + err.what());
  }
  return static_cast<int>(exit_code::redis);
}

int run(const cli::command_line& cl, const cli::target& t, std::optional<queue::new_job> job,
        std::optional<herald::triggers::trigger> trigger) {
  // The Redis client logs through spdlog; keep its words for our own messages, not the terminal.
  auto sink = std::make_shared<last_message_sink>();
  auto logger = std::make_shared<spdlog::logger>("herald", sink);
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);

  asio::io_context io(1);
  redis::client_config config;
  config.url = t.redis_url;
  config.connect_timeout = 2s;
  config.client_name = "herald-cli-" + std::to_string(::getpid());
  redis::client redis(io.get_executor(), config);
  session s(redis, cl, t, *sink);
  int code = static_cast<int>(exit_code::redis);
  asio::co_spawn(io, s.run(std::move(job), std::move(trigger)), [&](std::exception_ptr e, int c) {
    code = e ? report(e, t) : c;
    redis.stop();
    io.stop();
  });
  io.run();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string_view> args(argv + 1, argv + argc);
  try {
    auto cl = cli::parse_command_line(args);
    if (cl.command == cli::command_kind::help) {
      out(cli::help_text());
      return 0;
    }
    if (cl.command == cli::command_kind::version) {
      out(cli::version_text());
      return 0;
    }
    auto target = cli::resolve_target(cl, herald::config::environment_of(environ));
    std::optional<queue::new_job> job;
    if (cl.command == cli::command_kind::enqueue) job = read_enqueue_job(cl, target);
    std::optional<herald::triggers::trigger> trigger;
    if (cl.command == cli::command_kind::triggers_add
        || cl.command == cli::command_kind::triggers_update)
      trigger = read_trigger_file(cl, target);
    return run(cl, target, std::move(job), std::move(trigger));
  } catch (const cli_error& e) {
    note(e.what());
    return static_cast<int>(e.code());
  }
}
