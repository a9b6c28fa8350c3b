#include "templates/text.hpp"

#include <utf8proc.h>

#include <charconv>
#include <cstdint>
#include <cstring>

namespace herald::templates::detail {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

bool continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// The code point of the valid sequence of `n` bytes at `p`.
char32_t decode(const char* p, std::size_t n) {
  const auto b = [p](std::size_t k) { return static_cast<unsigned char>(p[k]); };
  switch (n) {
    case 1:
      return b(0);
    case 2:
      return (char32_t(b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return (char32_t(b(0) & 0x0F) << 12) | (char32_t(b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return (char32_t(b(0) & 0x07) << 18) | (char32_t(b(1) & 0x3F) << 12)
             | (char32_t(b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

bool is_letter(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return true;
    default:
      return false;
  }
}

// A civil date and time, as written or as computed from epoch seconds.
struct civil_time {
  std::int64_t year = 0;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0;
};

bool leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(std::int64_t y, int m) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

bool valid(const civil_time& t) {
  return t.month >= 1 && t.month <= 12 && t.day >= 1 && t.day <= days_in_month(t.year, t.month)
         && t.hour >= 0 && t.hour <= 23 && t.minute >= 0 && t.minute <= 59 && t.second >= 0
         && t.second <= 60;
}

// Howard Hinnant's civil_from_days: the proleptic Gregorian date `days` after 1970-01-01.
civil_time from_epoch_seconds(std::int64_t seconds) {
  std::int64_t days = seconds / 86400, rest = seconds % 86400;
  if (rest < 0) rest += 86400, --days;
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  civil_time t;
  t.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  t.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  t.year = yoe + era * 400 + (t.month <= 2 ? 1 : 0);
  t.hour = static_cast<int>(rest / 3600);
  t.minute = static_cast<int>(rest / 60 % 60);
  t.second = static_cast<int>(rest % 60);
  return t;
}

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads exactly `n` digits at s[i], advancing i.
bool read_digits(std::string_view s, std::size_t& i, std::size_t n, int& v) {
  if (s.size() - i < n) return false;
  v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (!digit(s[i + k])) return false;
    v = v * 10 + (s[i + k] - '0');
  }
  i += n;
  return true;
}

// Reads one or two digits at s[i].
bool read_1_2_digits(std::string_view s, std::size_t& i, int& v) {
  if (i >= s.size() || !digit(s[i])) return false;
  v = s[i++] - '0';
  if (i < s.size() && digit(s[i])) v = v * 10 + (s[i++] - '0');
  return true;
}

// -?DIGITS(.DIGITS)?: seconds, or milliseconds from 100,000,000,000 on (year 5138 in seconds;
// 1973 in milliseconds, as JavaScript's Date.now() writes them).
std::optional<civil_time> parse_epoch(std::string_view s) {
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) ++i;
  const std::size_t digits_from = i;
  while (i < s.size() && digit(s[i])) ++i;
  const std::size_t digits = i - digits_from;
  if (digits == 0 || digits > 17) return std::nullopt;
  if (i < s.size()) {
    if (s[i] != '.' || i + 1 == s.size()) return std::nullopt;
    for (++i; i < s.size(); ++i)
      if (!digit(s[i])) return std::nullopt;
  }
  std::int64_t n = 0;
  std::from_chars(s.data() + digits_from, s.data() + digits_from + digits, n);
  if (n >= 100'000'000'000) n /= 1000;
  // A fractional part is dropped: towards the earlier second, for times before 1970 too.
  if (negative) n = -n - (i > digits_from + digits ? 1 : 0);
  return from_epoch_seconds(n);
}

// YYYY-MM-DD[(T|t| )HH:MM[:SS[.fff]][Z|z|±hh[[:]mm]]] or D[D].M[M].YYYY.
std::optional<civil_time> parse_written(std::string_view s) {
  civil_time t;
  std::size_t i = 0;
  int year = 0;
  if (s.size() >= 10 && s[4] == '-') {
    if (!read_digits(s, i, 4, year) || s[i++] != '-' || !read_digits(s, i, 2, t.month)
        || i >= s.size() || s[i++] != '-' || !read_digits(s, i, 2, t.day))
      return std::nullopt;
    t.year = year;
    if (i < s.size()) {
      if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return std::nullopt;
      ++i;
      if (!read_digits(s, i, 2, t.hour) || i >= s.size() || s[i++] != ':'
          || !read_digits(s, i, 2, t.minute))
        return std::nullopt;
      if (i < s.size() && s[i] == ':') {
        ++i;
        if (!read_digits(s, i, 2, t.second)) return std::nullopt;
        if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
          const std::size_t from = ++i;
          while (i < s.size() && digit(s[i])) ++i;
          if (i == from) return std::nullopt;
        }
      }
      if (i < s.size()) {
        int hh = 0, mm = 0;
        if (s[i] == 'Z' || s[i] == 'z') {
          ++i;
        } else if (s[i] == '+' || s[i] == '-') {
          ++i;
          if (!read_digits(s, i, 2, hh) || hh > 23) return std::nullopt;
          if (i < s.size() && s[i] == ':') ++i;
          if (i < s.size() && (!read_digits(s, i, 2, mm) || mm > 59)) return std::nullopt;
        } else {
          return std::nullopt;
        }
      }
    }
  } else {
    if (!read_1_2_digits(s, i, t.day) || i >= s.size() || s[i++] != '.'
        || !read_1_2_digits(s, i, t.month) || i >= s.size() || s[i++] != '.'
        || !read_digits(s, i, 4, year))
      return std::nullopt;
    t.year = year;
  }
  if (i != s.size() || !valid(t)) return std::nullopt;
  return t;
}

void append_number(std::string& out, std::int64_t v, int width) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  const auto n = static_cast<int>(r.ptr - buf);
  if (v >= 0)
    for (int k = n; k < width; ++k) out += '0';
  out.append(buf, r.ptr);
}

}  // namespace

std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c < 0xC2) {
    return 0;
  } else if (c < 0xE0) {
    n = 2;
  } else if (c < 0xF0) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c < 0xF5) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  const auto second = static_cast<unsigned char>(s[i + 1]);
  if (second < lo || second > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (!continuation(static_cast<unsigned char>(s[i + k]))) return 0;
  return n;
}

void append_valid_utf8(std::string& out, std::string_view s) {
  std::size_t run = 0, i = 0;  // s[run, i) is valid and not yet appended
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    if (n != 0) {
      i += n;
      continue;
    }
    out.append(s.substr(run, i - run));
    out.append(replacement);
    run = ++i;
  }
  out.append(s.substr(run));
}

std::size_t count_chars(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += !continuation(static_cast<unsigned char>(c));
  return n;
}

void map_case(std::string& out, std::size_t from, case_mapping m) {
  bool seen_letter = false;
  const auto map = [&](char32_t cp) -> char32_t {
    const auto c = static_cast<utf8proc_int32_t>(cp);
    switch (m) {
      case case_mapping::upper:
        return static_cast<char32_t>(utf8proc_toupper(c));
      case case_mapping::lower:
        return static_cast<char32_t>(utf8proc_tolower(c));
      case case_mapping::capitalize:
        if (!seen_letter && is_letter(cp)) {
          seen_letter = true;
          return static_cast<char32_t>(utf8proc_totitle(c));
        }
        return static_cast<char32_t>(utf8proc_tolower(c));
    }
    return cp;
  };
  // In place while each mapping keeps its length (all of ASCII and Cyrillic); from the first one
  // that does not, the rest is mapped after the end and moved down.
  std::size_t i = from;
  while (i < out.size()) {
    std::size_t n = utf8_length(out, i);
    if (n == 0) n = 1;  // not reached: the text is valid
    utf8proc_uint8_t buf[4];
    const auto k =
        static_cast<std::size_t>(utf8proc_encode_char(map(decode(out.data() + i, n)), buf));
    if (k == n) {
      std::memcpy(out.data() + i, buf, k);
      i += n;
      continue;
    }
    const std::size_t rest = i, end = out.size();
    out.append(reinterpret_cast<const char*>(buf), k);
    for (i += n; i < end; i += n) {
      n = utf8_length(out, i);
      if (n == 0) n = 1;
      const auto len =
          static_cast<std::size_t>(utf8proc_encode_char(map(decode(out.data() + i, n)), buf));
      out.append(reinterpret_cast<const char*>(buf), len);
    }
    out.erase(rest, end - rest);
    return;
  }
}

std::optional<format_fault> check_date_format(std::string_view raw) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\') {
      ++i;
      continue;
    }
    if (raw[i] != '%') continue;
    if (i + 1 == raw.size()) return format_fault{i, raw.substr(i)};
    char c = raw[i + 1];
    std::size_t len = 2;
    if (c == '-' && i + 2 < raw.size()) c = raw[i + 2], len = 3;
    const std::string_view plain = "dmYyHMSFT%", unpadded = "dmHMS";
    if ((len == 2 ? plain : unpadded).find(c) == std::string_view::npos) {
      const std::size_t last = i + len - 1;
      const std::size_t n = utf8_length(raw, last);
      return format_fault{i, raw.substr(i, len - 1 + (n == 0 ? 1 : n))};
    }
    i += len - 1;
  }
  return std::nullopt;
}

void format_date(std::string& out, std::size_t from, std::string_view format) {
  const std::string_view text = std::string_view(out).substr(from);
  std::optional<civil_time> t = parse_written(text);
  if (!t) t = parse_epoch(text);
  out.resize(from);
  if (!t) return;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 == format.size()) {
      out += format[i];
      continue;
    }
    char c = format[++i];
    int width = 2;
    if (c == '-' && i + 1 < format.size()) c = format[++i], width = 1;
    switch (c) {
      case 'd':
        append_number(out, t->day, width);
        break;
      case 'm':
        append_number(out, t->month, width);
        break;
      case 'Y':
        append_number(out, t->year, 4);
        break;
      case 'y':
        append_number(out, (t->year % 100 + 100) % 100, 2);
        break;
      case 'H':
        append_number(out, t->hour, width);
        break;
      case 'M':
        append_number(out, t->minute, width);
        break;
      case 'S':
        append_number(out, t->second, width);
        break;
      case 'F':
        append_number(out, t->year, 4);
        out += '-';
        append_number(out, t->month, 2);
        out += '-';
        append_number(out, t->day, 2);
        break;
      case 'T':
        append_number(out, t->hour, 2);
        out += ':';
        append_number(out, t->minute, 2);
        out += ':';
        append_number(out, t->second, 2);
        break;
      default:  // `%%`, and nothing else after a checked format
        out += c;
    }
  }
}

}  // namespace herald::templates::detail
