#include "herald/profiles/normalize.hpp"

#include <algorithm>
#include <cctype>

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
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
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
