#include "herald/cli/job_file.hpp"

#include <simdjson.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "herald/cli/command_line.hpp"
#include "herald/common/json_keys.hpp"
#include "herald/common/time.hpp"
#include "herald/config/daemon_config.hpp"

namespace herald::cli {

namespace {

[[noreturn]] void invalid(const std::string& what) {
  throw cli_error(exit_code::usage, what);
}

std::string known_types(const queue::handler_registry& handlers) {
  std::string out;
  for (const auto& t : handlers.types()) out += (out.empty() ? "" : ", ") + t;
  return out;
}

// "10 MiB" for whole MiB, else the bytes.
std::string size_text(std::uint64_t bytes) {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
    return std::to_string(bytes / (1024 * 1024)) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// "365 days" for whole days, else the duration's seconds.
std::string duration_text(std::chrono::milliseconds d) {
  constexpr std::int64_t day = 86'400'000;
  if (d.count() >= day && d.count() % day == 0) return std::to_string(d.count() / day) + " days";
  return std::to_string(d.count() / 1000) + " s";
}

// The number of UTF-8 characters of `s` (bytes that do not continue a sequence).
std::size_t utf8_chars(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

class file_descriptor {
 public:
  explicit file_descriptor(int fd) : fd_(fd) {}
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;
  ~file_descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string string_field(simdjson::dom::element value, std::string_view name) {
  std::string_view s;
  if (value.get(s)) invalid(std::string(name) + ": must be a string");
  return std::string(s);
}

}  // namespace

std::string read_job_input(const std::string& file, const job_limits& limits) {
  const bool is_stdin = file == "-";
  const std::string where = is_stdin ? std::string("stdin") : file;
  std::optional<file_descriptor> opened;
  int fd = STDIN_FILENO;
  if (!is_stdin) {
    opened.emplace(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    fd = opened->get();
    if (fd < 0) invalid(where + ": cannot read: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
    invalid(where + ": is a directory; expected a job file (JSON), or - for stdin");
  std::string text;
  char buf[65536];
  for (;;) {
    // One byte past the limit tells a file of exactly the limit from a larger one.
    const std::uint64_t room = limits.max_job_bytes + 1 - text.size();
    ssize_t n =
        ::read(fd, buf, static_cast<std::size_t>(std::min<std::uint64_t>(sizeof buf, room)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) invalid(where + ": cannot read: " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > limits.max_job_bytes)
      invalid(where + ": larger than max_job_bytes (" + size_text(limits.max_job_bytes)
              + "); a job holds at most that much");
  }
  if (text.empty()) invalid(where + ": empty; expected a job as JSON");
  return text;
}

std::optional<std::int64_t> parse_run_at(std::string_view text, std::int64_t now_ms) {
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') {
    auto d = config::parse_duration(text.substr(1));
    if (!d) return std::nullopt;
    std::int64_t at = 0;
    if (__builtin_add_overflow(now_ms, d->count(), &at)) return std::nullopt;
    return at;
  }
  return parse_timestamp(text);
}

queue::new_job read_job(std::string_view text, const job_overrides& overrides,
                        const queue::handler_registry& handlers, std::int64_t now_ms,
                        const job_limits& limits) {
  const std::string what = overrides.type ? "body" : "job file";
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element doc;
  if (auto err = parser.parse(padded).get(doc))
    invalid(what + ": not valid JSON (" + simdjson::error_message(err) + ")");
  // Checked here for the whole file, body included: other readers keep the last of two keys.
  if (auto dup = duplicate_key(doc))
    invalid(duplicate_key_message(overrides.type ? "body" : "", *dup));

  queue::new_job job;
  std::optional<std::string> account, task_id, idempotency_key, run_at_text;
  std::optional<std::int64_t> run_at_ms;
  if (overrides.type) {
    job.type = *overrides.type;
    job.body = simdjson::minify(doc);
  } else {
    simdjson::dom::object obj;
    if (doc.get(obj))
      invalid(
          "job file: must be a JSON object {\"type\", \"body\", ...} (or give --type and the "
          "body alone)");
    bool has_type = false, has_body = false;
    for (auto [key, value] : obj) {
      if (key == "v") {
        std::uint64_t v = 0;
        if (value.get(v) || v != 1) invalid("v: must be 1");
      } else if (key == "type") {
        job.type = string_field(value, "type");
        has_type = true;
      } else if (key == "body") {
        job.body = simdjson::minify(value);
        has_body = true;
      } else if (key == "account") {
        account = string_field(value, "account");
      } else if (key == "task_id") {
        task_id = string_field(value, "task_id");
      } else if (key == "idempotency_key") {
        idempotency_key = string_field(value, "idempotency_key");
      } else if (key == "run_at") {
        std::int64_t ms = 0;
        std::string_view s;
        if (!value.get(ms))
          run_at_ms = ms;
        else if (!value.get(s))
          run_at_text = std::string(s);
        else
          invalid("run_at: must be ms since the epoch or an ISO-8601 string");
      } else {
        invalid("job file: unknown field \"" + std::string(key)
                + "\" (known: v, type, body, account, task_id, idempotency_key, run_at)");
      }
    }
    if (!has_type) invalid("type: required (the job's type, e.g. \"noop\")");
    if (!has_body) invalid("body: required (the job's body, a JSON object)");
  }

  const queue::job_handler* handler = handlers.find(job.type);
  if (!handler)
    invalid((overrides.type ? "--type" : "type") + std::string(": unknown job type \"") + job.type
            + "\" (known: " + known_types(handlers) + ")");
  try {
    job.total = handler->prepare(job.body)->total();
  } catch (const queue::bad_job& e) {
    invalid(e.what());
  }

  if (overrides.account) {
    job.account = *overrides.account;
    if (!queue::valid_account(job.account))
      invalid("--account: must be 1 to 64 characters of A-Za-z0-9_.-");
  } else {
    job.account = account.value_or(overrides.default_account);
    if (!queue::valid_account(job.account))
      invalid(std::string(account ? "account" : "the default account")
              + ": must be 1 to 64 characters of A-Za-z0-9_.-");
  }

  const bool task_id_flag = overrides.task_id.has_value();
  if (auto id = task_id_flag ? overrides.task_id : task_id) {
    if (!queue::valid_task_id(*id))
      invalid(std::string(task_id_flag ? "--task-id" : "task_id")
              + ": must be 1 to 64 characters of A-Za-z0-9_-");
    job.task_id = *id;
  }

  const bool key_flag = overrides.idempotency_key.has_value();
  if (auto key = key_flag ? overrides.idempotency_key : idempotency_key) {
    if (key->empty() || utf8_chars(*key) > max_idempotency_key_chars)
      invalid(std::string(key_flag ? "--idempotency-key" : "idempotency_key") + ": must be 1 to "
              + std::to_string(max_idempotency_key_chars) + " characters, got "
              + std::to_string(utf8_chars(*key)));
    job.idempotency_key = *key;
  }

  if (overrides.run_at) {
    auto ms = parse_run_at(*overrides.run_at, now_ms);
    if (!ms)
      invalid("--run-at: \"" + *overrides.run_at
              + "\" is not ms since the epoch, ISO-8601 (2026-11-23T05:00:00Z) or +DURATION");
    job.run_at = *ms;
  } else if (run_at_text) {
    auto ms = parse_run_at(*run_at_text, now_ms);
    if (!ms)
      invalid("run_at: \"" + *run_at_text
              + "\" is not ms since the epoch or ISO-8601 (2026-11-23T05:00:00Z)");
    job.run_at = *ms;
  } else if (run_at_ms) {
    if (*run_at_ms < 0) invalid("run_at: must not be negative");
    job.run_at = *run_at_ms;
  }
  if (job.run_at > 0 && job.run_at - now_ms > limits.max_run_ahead.count())
    invalid(std::string(overrides.run_at ? "--run-at" : "run_at") + ": "
            + queue::iso8601(job.run_at) + " is more than " + duration_text(limits.max_run_ahead)
            + " ahead; a job may wait at most that long (a typo would park it for ever)");
  return job;
}

}  // namespace herald::cli
