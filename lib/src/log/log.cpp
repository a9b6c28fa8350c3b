#include "herald/log/log.hpp"

#include "herald/common/json.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

namespace {

bool is_ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_local_char(unsigned char c) {
  return is_ascii_alnum(c) || c >= 0x80
         || std::string_view("!#$%&'*+/=?^_`{|}~.-").find(static_cast<char>(c))
                != std::string_view::npos;
}
bool is_domain_char(unsigned char c) {
  return is_ascii_alnum(c) || c >= 0x80 || c == '-' || c == '.';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_phone_separator(char c) {
  return c == ' ' || c == '.' || c == '-' || c == '(' || c == ')';
}

// The first character of `s`, whole when it is UTF-8 of several bytes.
std::string_view first_character(std::string_view s) {
  std::size_t n = 1;
  while (n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) ++n;
  return s.substr(0, n);
}

std::string mask_emails(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t done = 0;  // text[0, done) is in `out`
  for (std::size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    std::size_t begin = at;
    while (begin > done && is_local_char(static_cast<unsigned char>(text[begin - 1]))) --begin;
    std::size_t end = at + 1;
    while (end < text.size() && is_domain_char(static_cast<unsigned char>(text[end]))) ++end;
    while (end > at + 1 && text[end - 1] == '.') --end;  // a sentence's full stop
    if (begin == at || end == at + 1) continue;
    const auto domain = text.substr(at + 1, end - at - 1);
    out.append(text.substr(done, begin - done));
    out.append(first_character(text.substr(begin, at - begin)));
    out += "***@";
    out.append(first_character(domain));
    out += "***";
    if (auto dot = domain.rfind('.'); dot != std::string_view::npos && dot > 0)
      out.append(domain.substr(dot));
    done = end;
    at = end - 1;
  }
  out.append(text.substr(done));
  return out;
}

std::string mask_phones(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i]) && !(text[i] == '+' && i + 1 < text.size() && is_digit(text[i + 1]))) {
      out += text[i++];
      continue;
    }
    // A candidate run: digits with separators between them.
    std::size_t end = i + (text[i] == '+' ? 1 : 0);
    std::size_t digits = 0, last_digit = end;
    while (end < text.size() && (is_digit(text[end]) || is_phone_separator(text[end]))) {
      if (is_digit(text[end])) {
        ++digits;
        last_digit = end;
      }
      ++end;
    }
    end = last_digit + 1;
    if (digits < 7) {
      out.append(text.substr(i, end - i));
    } else {
      if (text[i] == '+') out += '+';
      for (std::size_t k = 0; k + 2 < digits; ++k) out += '*';
      std::size_t seen = 0;
      for (std::size_t j = i; j < end; ++j)
        if (is_digit(text[j]) && ++seen > digits - 2) out += text[j];
    }
    i = end;
  }
  return out;
}

}  // namespace

std::string mask_personal(std::string_view text) {
  if (text.find('@') == std::string_view::npos && std::none_of(text.begin(), text.end(), is_digit))
    return std::string(text);
  return mask_phones(mask_emails(text));
}

}  // namespace herald::log
