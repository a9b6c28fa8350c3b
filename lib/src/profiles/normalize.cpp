#include "herald/profiles/normalize.hpp"

#include <idn2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>

#include "herald/common/json.hpp"

namespace herald::profiles {

namespace {
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  std::size_t start = 0;
  while (start <= d.size()) {
    auto dot = d.find('.', start);
    auto label = d.substr(start, dot == std::string_view::npos ? d.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-' && static_cast<unsigned char>(c) < 0x80) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

void ascii_lower(std::string& s) {
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
}

struct free_deleter {
  void operator()(void* p) const { std::free(p); }
};

// NFC and Unicode case folding, or nothing for text that is not UTF-8.
std::optional<std::string> fold_case(std::string_view s) {
  if (is_ascii(s)) {
    std::string out(s);
    ascii_lower(out);
    return out;
  }
  utf8proc_uint8_t* mapped = nullptr;
  const auto n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
      &mapped,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD));
  std::unique_ptr<utf8proc_uint8_t, free_deleter> owned(mapped);
  if (n < 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(n));
}

// The domain as DNS looks it up: case folded, its internationalised labels in punycode
// ("пример.рф" -> "xn--e1afmkfd.xn--p1ai"), or nothing when IDNA2008 refuses it.
std::optional<std::string> ascii_domain(std::string_view d) {
  auto folded = fold_case(d);
  if (!folded) return std::nullopt;
  if (is_ascii(*folded)) return folded;
  char* ascii = nullptr;
  const int rc = idn2_to_ascii_8z(folded->c_str(), &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  std::unique_ptr<char, free_deleter> owned(ascii);
  if (rc != IDN2_OK || ascii == nullptr) return std::nullopt;
  std::string out(ascii);
  ascii_lower(out);
  return out;
}

bool valid_local(std::string_view l) {
  if (l.empty() || l.size() > 64 || l.front() == '.' || l.back() == '.') return false;
  if (l.find("..") != std::string_view::npos) return false;
  static constexpr std::string_view specials = "!#$%&'*+/=?^_`{|}~.-";
  for (char c : l)
    if (!is_alnum(c) && specials.find(c) == std::string_view::npos
        && static_cast<unsigned char>(c) < 0x80)
      return false;
  return true;
}
}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<std::string> normalize_email(std::string_view s) {
  s = trim(s);
  if (s.size() > 254) return std::nullopt;
  auto at = s.find('@');
  if (at == std::string_view::npos || s.find('@', at + 1) != std::string_view::npos)
    return std::nullopt;
  if (!valid_local(s.substr(0, at)) || !valid_domain(s.substr(at + 1))) return std::nullopt;
  // One spelling for one mailbox: ДЖОН@пример.рф and джон@xn--e1afmkfd.xn--p1ai are indexed alike.
  auto local = fold_case(s.substr(0, at));
  auto domain = ascii_domain(s.substr(at + 1));
  if (!local || !domain || !valid_local(*local) || !valid_domain(*domain)) return std::nullopt;
  std::string out = *local + "@" + *domain;
  if (out.size() > 254) return std::nullopt;
  return out;
}

std::optional<std::string> normalize_phone(std::string_view s) {
  s = trim(s);
  std::string digits;
  bool plus_allowed = true;
  for (char c : s) {
    if (c == '+' && plus_allowed && digits.empty()) {
      plus_allowed = false;
      continue;
    }
    if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') continue;
    if (c < '0' || c > '9') return std::nullopt;
    digits += c;
  }
  if (digits.size() < 10 || digits.size() > 15) return std::nullopt;
  return "+" + digits;
}

std::string not_an_email(std::string_view text) {
  return json_quote(text) + " is not a valid email address";
}

std::string not_a_phone(std::string_view text) {
  return json_quote(text) + " is not a phone number (+ and 10 to 15 digits)";
}

}  // namespace herald::profiles
