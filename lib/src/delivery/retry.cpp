#include "herald/delivery/retry.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

namespace herald::delivery {

namespace {

using std::chrono::milliseconds;

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// Exactly `digits` decimal digits at `pos` (any count when digits == 0), advancing `pos`.
std::optional<int> number_at(std::string_view s, std::size_t& pos, std::size_t digits) {
  const std::size_t start = pos;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) != 0
         && (digits == 0 || pos - start < digits))
    ++pos;
  if (pos == start || (digits != 0 && pos - start != digits)) return std::nullopt;
  int value = 0;
  std::from_chars(s.data() + start, s.data() + pos, value);
  return value;
}

bool literal_at(std::string_view s, std::size_t& pos, std::string_view lit) {
  if (s.substr(pos, lit.size()) != lit) return false;
  pos += lit.size();
  return true;
}

std::optional<unsigned> month_at(std::string_view s, std::size_t& pos) {
  static constexpr std::array<std::string_view, 12> names = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (unsigned i = 0; i < names.size(); ++i) {
    if (literal_at(s, pos, names[i])) return i + 1;
  }
  return std::nullopt;
}

// "HH:MM:SS" as seconds of the day.
std::optional<int> time_of_day_at(std::string_view s, std::size_t& pos) {
  auto h = number_at(s, pos, 2);
  if (!h || !literal_at(s, pos, ":")) return std::nullopt;
  auto m = number_at(s, pos, 2);
  if (!m || !literal_at(s, pos, ":")) return std::nullopt;
  auto sec = number_at(s, pos, 2);
  if (!sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
  return *h * 3600 + *m * 60 + *sec;
}

std::optional<std::chrono::system_clock::time_point> make_time(int year, unsigned month, int day,
                                                               int seconds) {
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::seconds(seconds);
}

// RFC 9110 section 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient
// must also accept.
std::optional<std::chrono::system_clock::time_point> parse_http_date(
    std::string_view s, std::chrono::system_clock::time_point now) {
  const auto comma = s.find(',');
  std::size_t pos = 0;
  if (comma == 3) {  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    pos = 4;
    if (!literal_at(s, pos, " ")) return std::nullopt;
    auto day = number_at(s, pos, 2);
    if (!day || !literal_at(s, pos, " ")) return std::nullopt;
    auto month = month_at(s, pos);
    if (!month || !literal_at(s, pos, " ")) return std::nullopt;
    auto year = number_at(s, pos, 4);
    if (!year || !literal_at(s, pos, " ")) return std::nullopt;
    auto tod = time_of_day_at(s, pos);
    if (!tod || !literal_at(s, pos, " GMT") || pos != s.size()) return std::nullopt;
    return make_time(*year, *month, *day, *tod);
  }
  if (comma != std::string_view::npos) {  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    pos = comma + 1;
    if (!literal_at(s, pos, " ")) return std::nullopt;
    auto day = number_at(s, pos, 2);
    if (!day || !literal_at(s, pos, "-")) return std::nullopt;
    auto month = month_at(s, pos);
    if (!month || !literal_at(s, pos, "-")) return std::nullopt;
    auto yy = number_at(s, pos, 2);
    if (!yy || !literal_at(s, pos, " ")) return std::nullopt;
    auto tod = time_of_day_at(s, pos);
    if (!tod || !literal_at(s, pos, " GMT") || pos != s.size()) return std::nullopt;
    // A two-digit year is read within 50 years of now; one more than 50 years ahead is the
    // latest such year in the past (RFC 9110).
    const int this_year = static_cast<int>(
        std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(now)).year());
    int year = this_year - this_year % 100 + *yy;
    if (year > this_year + 50)
      year -= 100;
    else if (year <= this_year - 50)
      year += 100;
    return make_time(year, *month, *day, *tod);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (s.size() < 4 || s[3] != ' ') return std::nullopt;
  pos = 4;
  auto month = month_at(s, pos);
  if (!month || !literal_at(s, pos, " ")) return std::nullopt;
  if (pos < s.size() && s[pos] == ' ') ++pos;
  auto day = number_at(s, pos, 0);
  if (!day || !literal_at(s, pos, " ")) return std::nullopt;
  auto tod = time_of_day_at(s, pos);
  if (!tod || !literal_at(s, pos, " ")) return std::nullopt;
  auto year = number_at(s, pos, 4);
  if (!year || pos != s.size()) return std::nullopt;
  return make_time(*year, *month, *day, *tod);
}

std::string status_code(int status) {
  return "http_" + std::to_string(status);
}

retry_decision make(retry_decision::kind what, std::string code, std::string message,
                    bool provider_fault) {
  retry_decision d;
  d.what = what;
  d.code = std::move(code);
  d.message = std::move(message);
  d.provider_fault = provider_fault;
  return d;
}

}  // namespace

std::string_view to_string(attempt_outcome::transport t) {
  using tr = attempt_outcome::transport;
  switch (t) {
    case tr::none:
      return "none";
    case tr::dns:
      return "dns_error";
    case tr::connect:
      return "connect_error";
    case tr::tls:
      return "tls_error";
    case tr::timeout:
      return "timeout";
    case tr::connection_lost:
      return "connection_lost";
  }
  return "unknown";
}

std::chrono::milliseconds full_jitter_backoff(const backoff_policy& policy, unsigned attempt,
                                              std::uint64_t random) {
  const auto ceiling =
      static_cast<std::uint64_t>(backoff(policy).ceiling(attempt == 0 ? 0 : attempt - 1).count());
  return milliseconds(static_cast<milliseconds::rep>(random % (ceiling + 1)));
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    std::uint64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    // More digits than fit: later than anything we would wait for, but still "not before".
    constexpr std::uint64_t max_seconds =
        static_cast<std::uint64_t>(std::numeric_limits<milliseconds::rep>::max()) / 1000;
    if (ec == std::errc::result_out_of_range || seconds > max_seconds) seconds = max_seconds;
    return milliseconds(static_cast<milliseconds::rep>(seconds * 1000));
  }
  auto when = parse_http_date(value, now);
  if (!when) return std::nullopt;
  if (*when <= now) return milliseconds(0);
  // Rounded up: a retry at now + delay is never before the date.
  return std::chrono::ceil<milliseconds>(*when - now);
}

retry_decision decide(const attempt_outcome& outcome, unsigned attempt, const retry_policy& policy,
                      std::uint64_t random, std::chrono::system_clock::time_point now) {
  using tr = attempt_outcome::transport;
  using kind = retry_decision::kind;

  // Classify first: which kind the outcome is, ignoring the attempt count.
  retry_decision d;
  if (outcome.failure != tr::none) {
    const bool retryable = outcome.failure != tr::tls;
    std::string message = outcome.transport_message;
    if (message.empty()) message = std::string(to_string(outcome.failure));
    d = make(retryable ? kind::retry : kind::fail, std::string(to_string(outcome.failure)),
             std::move(message), true);
  } else {
    const int status = outcome.http_status;
    std::string code =
        outcome.error && !outcome.error->code.empty() ? outcome.error->code : status_code(status);
    std::string message = outcome.error && !outcome.error->message.empty() ? outcome.error->message
                          : !outcome.body_excerpt.empty()                  ? outcome.body_excerpt
                                                          : "HTTP " + std::to_string(status);
    if (status >= 200 && status < 300) {
      if (!outcome.error) return make(kind::delivered, "", "", false);
      // An error inside a success: the provider's word on whether to try again decides.
      const bool retryable = outcome.error->retryable;
      d = make(retryable ? kind::retry : kind::fail, std::move(code), std::move(message),
               retryable);
    } else if (status == 429) {
      d = make(kind::retry, std::move(code), std::move(message), false);
    } else if (status >= 500 && status < 600) {
      d = make(kind::retry, std::move(code), std::move(message), true);
    } else if (status >= 300 && status < 500) {
      d = make(kind::fail, std::move(code), std::move(message), false);
    } else {
      d = make(kind::fail, "bad_response",
               "the provider answered with HTTP status " + std::to_string(status), true);
    }
  }
  if (d.what != kind::retry) return d;
  if (attempt >= policy.max_attempts) {
    d.what = kind::fail;
    return d;
  }

  // Not before the provider said, and not sooner than the backoff.
  d.after = full_jitter_backoff(policy.backoff, attempt, random);
  if (outcome.retry_after) {
    if (auto ra = parse_retry_after(*outcome.retry_after, now)) d.after = std::max(d.after, *ra);
  }
  if (outcome.body_retry_after) d.after = std::max(d.after, *outcome.body_retry_after);
  return d;
}

}  // namespace herald::delivery
