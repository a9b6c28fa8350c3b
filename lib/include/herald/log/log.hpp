// How heraldd's log lines look and where they go: readable text on a terminal, bare lines with
// journald priorities under systemd, or one JSON object a line, always on stderr.
#pragma once

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/common.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/base_sink.h>

namespace herald::log {

// What the operator asks for (config key `log_format`).
enum class log_format {
  text,  // readable lines; under systemd's journal without timestamps and with priorities
  json,  // {"ts":"2024-05-01T12:00:00.123Z","level":"info","msg":"..."} one a line
};

// What is actually written: `text` becomes `terminal` or `journal` depending on where stderr goes.
enum class output_style {
  terminal,  // "2024-05-01 14:00:00.123 [info] msg", local time
  journal,   // "<6>msg": journald adds the time; <N> is the sd-daemon.h priority
  json,      // one JSON object a line, UTC timestamps
};

// "trace", "debug", "info", "warn", "error", "critical", "off" (the config's spelling).
std::optional<spdlog::level::level_enum> parse_level(std::string_view name);
std::string_view level_name(spdlog::level::level_enum level);
std::optional<log_format> parse_format(std::string_view name);
std::string_view format_name(log_format format);

// The sd-daemon.h priority of a level: trace/debug 7, info 6, warn 4, error 3, critical 2.
int journal_priority(spdlog::level::level_enum level);

// Whether `journal_stream` (the value of $JOURNAL_STREAM, "device:inode") names the file `fd`
// is open on: systemd sets it when it connects stdout/stderr to the journal.
bool is_journal_stream(std::string_view journal_stream, int fd);

// The style for `format` when writing to `fd`, given $JOURNAL_STREAM (null when unset).
output_style choose_style(log_format format, const char* journal_stream, int fd);

// One log record as one line (with its '\n') in `style`, appended to `out`.
void format_line(const spdlog::details::log_msg& msg, output_style style, std::string& out);
std::string format_line(const spdlog::details::log_msg& msg, output_style style);

// `text` with what looks like an email address or a phone number masked, for a message that
// echoes a value from outside (a dead-letter reason, a warning): an address keeps the first
// character of its local part and of its domain, and its last label ("leak9@example.com" ->
// "l***@e***.com"); a run of 7 or more digits (spaces, dots, dashes and brackets between them
// allowed) keeps a leading '+' and its last two digits ("+7 900 123-45-67" -> "+*********67").
std::string mask_personal(std::string_view text);

// An spdlog sink writing formatted lines to a FILE* (stderr in the daemon, a memory stream in
// tests). Each record is written with a single fwrite, then flushed.
class stream_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  stream_sink(std::FILE* file, output_style style) : file_(file), style_(style) {}

  output_style style() const { return style_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  std::FILE* file_;
  output_style style_;
  std::string buffer_;
};

// Installs the default spdlog logger: a stream_sink on stderr in the style `format` calls for
// (journal style when $JOURNAL_STREAM names stderr), at `level`. Call once at start.
void setup_logging(log_format format, spdlog::level::level_enum level);

// Changes the default logger's level (on SIGHUP).
void set_level(spdlog::level::level_enum level);

}  // namespace herald::log
