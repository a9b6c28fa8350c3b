// The `herald` command line: what each command takes, the exit codes a script relies on, and
// how the words a user typed become one command_line (no I/O here; the binary does that).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "herald/profiles/matching.hpp"
#include "herald/queue/task.hpp"

namespace herald::cli {

// What `herald` exits with; documented in --help, stable for scripts.
enum class exit_code : int {
  ok = 0,
  task_unsuccessful = 1,  // --wait/--watch: the task failed or was cancelled
  usage = 2,              // a bad command line or invalid input; nothing was changed
  not_found = 3,          // no such task (in the account), dead letter, profile or trigger
  redis = 4,              // Redis unreachable, or it answered with an error
};

// A failure the binary reports as "herald: <what()>" and exits with code().
class cli_error : public std::runtime_error {
 public:
  cli_error(exit_code code, const std::string& what) : std::runtime_error(what), code_(code) {}
  exit_code code() const noexcept { return code_; }

 private:
  exit_code code_;
};

enum class command_kind {
  help,
  version,
  enqueue,
  status,
  tasks,
  cancel,
  queue_stats,
  dead_list,
  dead_retry,
  dead_purge,
  profiles_get,
  triggers_add,     // herald triggers add FILE|-
  triggers_update,  // herald triggers update FILE|-
  triggers_get,     // herald triggers get ID
  triggers_list,    // herald triggers list
  triggers_delete,  // herald triggers delete ID
  providers,        // herald providers
};

// "enqueue", "queue stats", "dead retry": how --help and errors name a command.
std::string_view command_name(command_kind kind);

// Everything the user asked for. Unset optionals fall back to the environment and the daemon's
// configuration (see target.hpp) or to the command's default.
struct command_line {
  command_kind command = command_kind::help;

  // Global options.
  std::optional<std::string> redis_url;    // --redis-url
  std::optional<std::string> config_file;  // --config: heraldd's configuration file
  std::optional<std::string> prefix;       // --prefix
  std::optional<std::string> account;      // --account
  // How often --wait and --watch read the task.
  std::chrono::milliseconds interval{200};

  // enqueue, triggers add and update
  std::string file;                            // FILE, or "-" for stdin
  std::optional<std::string> type;             // --type: the whole file is the body
  std::optional<std::string> task_id;          // --task-id
  std::optional<std::string> idempotency_key;  // --idempotency-key
  std::optional<std::string> run_at;           // --run-at, as typed (see parse_run_at)
  bool wait = false;                           // --wait
  bool watch = false;                          // --watch (enqueue, status)

  // status, cancel, dead retry, triggers get and delete
  std::string id;
  bool json = false;         // --json (status, tasks, queue stats, dead list, profiles get)
  bool all = false;          // dead retry --all
  std::uint64_t limit = 20;  // tasks, dead list
  // tasks: --status, --type, --since and --until (created_at, both inclusive)
  queue::task_filter task_filter;

  // profiles get: the profile database (--db) and the checked lookup its flags make; the mode is
  // --matching, else the one the key given implies (--email: email, --channel/--id: custom_sub).
  std::int64_t db_id = 1;
  profiles::match_query profile_query;
};

// Parses the words after the program name. Options may come before or after the command and
// take their value as `--name value` or `--name=value`; `--` ends the options. Throws
// cli_error(usage) naming the word that is wrong.
command_line parse_command_line(std::span<const std::string_view> args);

// What --help prints: every command, option and exit code.
std::string help_text();
// What --version prints.
std::string version_text();

}  // namespace herald::cli
