#include "herald/log/log.hpp"

#include "herald/common/json.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>

#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

namespace herald::log {

namespace {

constexpr std::array<std::string_view, 7> level_names = {"trace", "debug",    "info", "warn",
                                                         "error", "critical", "off"};

// "YYYY-MM-DD?HH:MM:SS.mmm" of `time`, in UTC or local time.
void append_timestamp(std::string& out, spdlog::log_clock::time_point time, bool utc, char sep) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  if (utc) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  char buf[32];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%d?%H:%M:%S", &tm);
  buf[10] = sep;
  out.append(buf, n);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03d", static_cast<int>(millis.count()));
  out += ms;
}

std::string_view payload(const spdlog::details::log_msg& msg) {
  return {msg.payload.data(), msg.payload.size()};
}

std::string_view logger_name(const spdlog::details::log_msg& msg) {
  return {msg.logger_name.data(), msg.logger_name.size()};
}

}  // namespace

std::optional<spdlog::level::level_enum> parse_level(std::string_view name) {
  for (std::size_t i = 0; i < level_names.size(); ++i) {
    if (level_names[i] == name) return static_cast<spdlog::level::level_enum>(i);
  }
  return std::nullopt;
}

std::string_view level_name(spdlog::level::level_enum level) {
  const auto i = static_cast<std::size_t>(level);
  return i < level_names.size() ? level_names[i] : "unknown";
}

std::optional<log_format> parse_format(std::string_view name) {
  if (name == "text") return log_format::text;
  if (name == "json") return log_format::json;
  return std::nullopt;
}

std::string_view format_name(log_format format) {
  return format == log_format::json ? "json" : "text";
}

int journal_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;  // LOG_DEBUG
    case spdlog::level::info:
      return 6;  // LOG_INFO
    case spdlog::level::warn:
      return 4;  // LOG_WARNING
    case spdlog::level::err:
      return 3;  // LOG_ERR
    case spdlog::level::critical:
      return 2;  // LOG_CRIT
    default:
      return 6;
  }
}

bool is_journal_stream(std::string_view journal_stream, int fd) {
  const auto colon = journal_stream.find(':');
  if (colon == std::string_view::npos) return false;
  const auto dev_text = journal_stream.substr(0, colon);
  const auto ino_text = journal_stream.substr(colon + 1);
  unsigned long long dev = 0, ino = 0;
  auto [p1, e1] = std::from_chars(dev_text.data(), dev_text.data() + dev_text.size(), dev);
  auto [p2, e2] = std::from_chars(ino_text.data(), ino_text.data() + ino_text.size(), ino);
  if (e1 != std::errc{} || p1 != dev_text.data() + dev_text.size() || e2 != std::errc{}
      || p2 != ino_text.data() + ino_text.size()) {
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev
         && static_cast<unsigned long long>(st.st_ino) == ino;
}

output_style choose_style(log_format format, const char* journal_stream, int fd) {
  if (format == log_format::json) return output_style::json;
  if (journal_stream && is_journal_stream(journal_stream, fd)) return output_style::journal;
  return output_style::terminal;
}

void format_line(const spdlog::details::log_msg& msg, output_style style, std::string& out) {
  const auto text = payload(msg);
  const auto name = logger_name(msg);
  switch (style) {
    case output_style::terminal:
      append_timestamp(out, msg.time, /*utc=*/false, ' ');
      out += " [";
      out += level_name(msg.level);
      out += "] ";
      if (!name.empty()) {
        out += '[';
        out += name;
        out += "] ";
      }
      out += text;
      break;
    case output_style::journal: {
      // journald splits on newlines; every continuation line carries the priority too.
      const std::string prefix = "<" + std::to_string(journal_priority(msg.level)) + ">";
      out += prefix;
      if (!name.empty()) {
        out += name;
        out += ": ";
      }
      for (char c : text) {
        out += c;
        if (c == '\n') out += prefix;
      }
      break;
    }
    case output_style::json:
      out += "{\"ts\":\"";
      append_timestamp(out, msg.time, /*utc=*/true, 'T');
      out += "Z\",\"level\":\"";
      out += level_name(msg.level);
      out += '"';
      if (!name.empty()) {
        out += ",\"logger\":\"";
        append_json_escaped(out, name);
        out += '"';
      }
      out += ",\"msg\":\"";
      append_json_escaped(out, text);
      out += "\"}";
      break;
  }
  out += '\n';
}

std::string format_line(const spdlog::details::log_msg& msg, output_style style) {
  std::string out;
  format_line(msg, style, out);
  return out;
}

void stream_sink::sink_it_(const spdlog::details::log_msg& msg) {
  buffer_.clear();
  format_line(msg, style_, buffer_);
  std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
  std::fflush(file_);
}

void stream_sink::flush_() {
  std::fflush(file_);
}

void setup_logging(log_format format, spdlog::level::level_enum level) {
  const auto style = choose_style(format, std::getenv("JOURNAL_STREAM"), STDERR_FILENO);
  auto sink = std::make_shared<stream_sink>(stderr, style);
  auto logger = std::make_shared<spdlog::logger>("", std::move(sink));
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
}

void set_level(spdlog::level::level_enum level) {
  spdlog::default_logger()->set_level(level);
}

}  // namespace herald::log
