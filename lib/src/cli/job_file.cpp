#include "herald/cli/job_file.hpp"

#include <simdjson.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "herald/cli/command_line.hpp"
#include "herald/common/json_keys.hpp"
#include "herald/config/daemon_config.hpp"

namespace herald::cli {

namespace {

[[noreturn]] void invalid(const std::string& what) {
  throw cli_error(exit_code::usage, what);
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

std::optional<std::int64_t> parse_iso8601(std::string_view s) {
  std::size_t pos = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, pos, 4, year) || !expect(s, pos, '-') || !digits(s, pos, 2, month)
      || !expect(s, pos, '-') || !digits(s, pos, 2, day))
    return std::nullopt;
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) return std::nullopt;
  ++pos;
  if (!digits(s, pos, 2, hour) || !expect(s, pos, ':') || !digits(s, pos, 2, minute))
    return std::nullopt;
  if (pos < s.size() && s[pos] == ':' && !(++pos, digits(s, pos, 2, second))) return std::nullopt;
  std::int64_t millis = 0;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    std::size_t n = 0;
    for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n)
      if (n < 3) millis = millis * 10 + (s[pos] - '0');
    if (n == 0) return std::nullopt;
    for (; n < 3; ++n) millis *= 10;
  }
  std::int64_t offset_min = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int sign = s[pos] == '-' ? -1 : 1;
      ++pos;
      unsigned oh = 0, om = 0;
      if (!digits(s, pos, 2, oh)) return std::nullopt;
      if (pos < s.size() && s[pos] == ':') ++pos;
      if (!digits(s, pos, 2, om) || oh > 23 || om > 59) return std::nullopt;
      offset_min = sign * static_cast<std::int64_t>(oh * 60 + om);
    }
  }
  if (pos != s.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23
      || minute > 59 || second > 60)
    return std::nullopt;
  std::int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60
                         + second - offset_min * 60;
  return seconds * 1000 + millis;
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
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
  }
  return parse_iso8601(text);
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
