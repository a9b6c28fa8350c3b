#include "herald/delivery/provider_config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include <boost/url/parse.hpp>

namespace herald::delivery {

namespace {

using std::chrono::milliseconds;

constexpr std::array<std::pair<provider_kind, std::string_view>, 5> kind_names = {{
    {provider_kind::leadconverter_messages, "leadconverter_messages"},
    {provider_kind::leadconverter_bot, "leadconverter_bot"},
    {provider_kind::chatbot_telegram, "chatbot_telegram"},
    {provider_kind::webhook, "webhook"},
    {provider_kind::sandbox, "sandbox"},
}};

const std::string& kind_list() {
  static const std::string list = [] {
    std::string out;
    for (const auto& [k, n] : kind_names) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
  }();
  return list;
}

// Which keys a kind uses, beyond those every kind has (kind, rate_per_s, burst, concurrency,
// max_attempts), and which of them it needs.
struct kind_rules {
  std::vector<std::string_view> keys;
  std::vector<std::string_view> required;
  double rate_per_s;
  std::uint64_t concurrency;
};

const kind_rules& rules_of(provider_kind k) {
  static const kind_rules lc_messages{
      {"base_url", "url", "token", "timeout_ms", "connect_timeout_ms", "linger_ms"},
      {"base_url", "token"},
      1000,
      4};
  static const kind_rules lc_bot{{"base_url", "url", "token", "timeout_ms", "connect_timeout_ms"},
                                 {"base_url", "token"},
                                 20,
                                 16};
  static const kind_rules chatbot{
      {"base_url", "url", "user", "password", "timeout_ms", "connect_timeout_ms"},
      {"base_url", "user", "password"},
      30,
      16};
  static const kind_rules webhook{{"base_url", "url", "secret", "timeout_ms", "connect_timeout_ms"},
                                  {"base_url", "secret"},
                                  100,
                                  32};
  static const kind_rules sandbox{{"path"}, {}, 100'000, 1};
  switch (k) {
    case provider_kind::leadconverter_messages:
      return lc_messages;
    case provider_kind::leadconverter_bot:
      return lc_bot;
    case provider_kind::chatbot_telegram:
      return chatbot;
    case provider_kind::webhook:
      return webhook;
    case provider_kind::sandbox:
      return sandbox;
  }
  return sandbox;
}

constexpr std::array<std::string_view, 5> common_keys = {"kind", "rate_per_s", "burst",
                                                         "concurrency", "max_attempts"};
constexpr std::array<std::string_view, 3> secret_keys = {"token", "password", "secret"};

bool is_secret(std::string_view key) {
  return std::find(secret_keys.begin(), secret_keys.end(), key) != secret_keys.end();
}

std::string in_quotes(std::string_view value) {
  constexpr std::size_t max_shown = 80;
  std::string out = "\"";
  out.append(value.substr(0, max_shown));
  if (value.size() > max_shown) out += "...";
  out += '"';
  return out;
}

// Collects the section's name for every message.
class section_errors {
 public:
  explicit section_errors(std::string_view name) : section_("provider." + std::string(name)) {}

  [[noreturn]] void fail(std::string_view key, const std::string& why,
                         const provider_value* v = nullptr) const {
    std::string message = section_ + ": ";
    if (!key.empty()) message += std::string(key) + ": ";
    message += why;
    if (v && !v->origin.empty()) message += " (" + v->origin + ")";
    throw std::invalid_argument(message);
  }
  // ", not "x"" for a value that may be shown; nothing for a secret.
  static std::string not_value(std::string_view key, const provider_value& v) {
    if (is_secret(key)) return "";
    return ", not " + in_quotes(v.value);
  }

 private:
  std::string section_;
};

std::optional<std::uint64_t> whole_number(std::string_view text) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

std::string format_number(double d) {
  char buf[512];  // fixed notation: enough for any rate down to 1e-300
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  return ec == std::errc{} ? std::string(buf, end) : std::to_string(d);
}

}  // namespace

std::string_view to_string(provider_kind k) {
  for (const auto& [kind, name] : kind_names) {
    if (kind == k) return name;
  }
  return "unknown";
}

std::optional<provider_kind> parse_provider_kind(std::string_view text) {
  for (const auto& [kind, name] : kind_names) {
    if (name == text) return kind;
  }
  return std::nullopt;
}

const std::vector<std::string_view>& provider_keys() {
  static const std::vector<std::string_view> keys = {
      "kind",         "base_url",   "url",   "token",       "user",       "password",
      "secret",       "rate_per_s", "burst", "concurrency", "timeout_ms", "connect_timeout_ms",
      "max_attempts", "linger_ms",  "path"};
  return keys;
}

provider_config parse_provider(std::string_view name, const provider_values& values) {
  const section_errors err(name);
  if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      })) {
    err.fail("", "the name must have 1 to 64 lowercase letters, digits or '_'");
  }

  for (const auto& [key, v] : values) {
    const auto& all = provider_keys();
    if (std::find(all.begin(), all.end(), key) == all.end()) {
      std::string list;
      for (auto k : all) list += (list.empty() ? "" : ", ") + std::string(k);
      err.fail("", "unknown key " + in_quotes(key) + " (the keys: " + list + ")", &v);
    }
  }

  provider_config p;
  p.name = std::string(name);
  const auto kind_it = values.find("kind");
  if (kind_it == values.end()) err.fail("kind", "required: one of " + kind_list());
  const auto kind = parse_provider_kind(kind_it->second.value);
  if (!kind) {
    err.fail("kind",
             in_quotes(kind_it->second.value) + " is not one of " + kind_list()
                 + (kind_it->second.value == "smtp" ? " (smtp is not available yet)" : ""),
             &kind_it->second);
  }
  p.kind = *kind;
  const auto& rules = rules_of(p.kind);

  for (const auto& [key, v] : values) {
    const bool common = std::find(common_keys.begin(), common_keys.end(), key) != common_keys.end();
    if (!common && std::find(rules.keys.begin(), rules.keys.end(), key) == rules.keys.end()) {
      err.fail(key, "not used by kind " + std::string(to_string(p.kind)), &v);
    }
  }

  const auto* base_url = values.contains("base_url") ? &values.find("base_url")->second : nullptr;
  if (const auto url = values.find("url"); url != values.end()) {
    if (base_url) err.fail("url", "base_url is set too; give one of them", &url->second);
    base_url = &url->second;
  }
  for (auto key : rules.required) {
    const bool given = key == "base_url" ? base_url != nullptr : values.contains(key);
    if (!given) {
      err.fail(key == "base_url" && p.kind == provider_kind::webhook ? "url" : key,
               "required for kind " + std::string(to_string(p.kind)));
    }
  }

  // Each value, read.
  auto text = [&](std::string_view key, std::string& out) {
    const auto it = values.find(key);
    if (it == values.end()) return;
    if (it->second.value.empty()) err.fail(key, "must not be empty", &it->second);
    out = it->second.value;
  };
  auto count = [&](std::string_view key, std::uint64_t& out, std::uint64_t min, std::uint64_t max) {
    const auto it = values.find(key);
    if (it == values.end()) return;
    const auto n = whole_number(it->second.value);
    if (!n || *n < min || *n > max) {
      err.fail(key,
               "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max)
                   + section_errors::not_value(key, it->second),
               &it->second);
    }
    out = *n;
  };
  auto duration = [&](std::string_view key, milliseconds& out, std::uint64_t min,
                      std::uint64_t max) {
    std::uint64_t ms = static_cast<std::uint64_t>(out.count());
    count(key, ms, min, max);
    out = milliseconds(static_cast<milliseconds::rep>(ms));
  };

  if (base_url) {
    const std::string_view key = values.contains("url") ? "url" : "base_url";
    const auto& v = *base_url;
    auto parsed = boost::urls::parse_absolute_uri(v.value);
    if (parsed && parsed->has_userinfo()) {
      // Not repeated: the URL carries credentials.
      err.fail(key,
               "must not carry credentials (user:password@); give them as token, or user and "
               "password",
               &v);
    }
    if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https")
        || parsed->host().empty()) {
      err.fail(key, "must be an http:// or https:// URL with a host, not " + in_quotes(v.value),
               &v);
    }
    p.base_url = v.value;
    // A base is joined with the provider's paths; a webhook's URL is used as it is.
    if (p.kind != provider_kind::webhook) {
      while (p.base_url.ends_with('/')) p.base_url.pop_back();
    }
  }
  text("token", p.token);
  text("user", p.user);
  text("password", p.password);
  text("secret", p.secret);
  if (const auto it = values.find("path"); it != values.end()) p.path = it->second.value;

  p.rate_per_s = rules.rate_per_s;
  if (const auto it = values.find("rate_per_s"); it != values.end()) {
    const auto& s = it->second.value;
    double rate = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), rate);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || !std::isfinite(rate)
        || rate <= 0 || rate > 1e6) {
      err.fail("rate_per_s", "must be a positive number up to 1000000, not " + in_quotes(s),
               &it->second);
    }
    p.rate_per_s = rate;
  }
  p.burst = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(p.rate_per_s)));
  if (p.kind == provider_kind::leadconverter_messages)
    p.burst = std::max<std::uint64_t>(p.burst, 100);
  count("burst", p.burst, 1, 1'000'000);
  p.concurrency = rules.concurrency;
  count("concurrency", p.concurrency, 1, 10'000);
  count("max_attempts", p.max_attempts, 1, 100);
  duration("timeout_ms", p.timeout, 1, 3'600'000);
  duration("connect_timeout_ms", p.connect_timeout, 1, 3'600'000);
  if (p.connect_timeout > p.timeout) {
    const auto it = values.find("connect_timeout_ms");
    err.fail("connect_timeout_ms",
             "must not exceed timeout_ms (" + std::to_string(p.timeout.count()) + ")",
             it != values.end() ? &it->second : nullptr);
  }
  duration("linger_ms", p.linger, 0, 60'000);
  return p;
}

std::string to_ini(const provider_config& p) {
  const auto& rules = rules_of(p.kind);
  auto uses = [&](std::string_view key) {
    return std::find(rules.keys.begin(), rules.keys.end(), key) != rules.keys.end();
  };
  std::string out = "[provider." + p.name + "]\n";
  auto line = [&](std::string_view key, const std::string& value) {
    out += std::string(key) + " = " + value + "\n";
  };
  line("kind", std::string(to_string(p.kind)));
  if (uses("base_url")) line(p.kind == provider_kind::webhook ? "url" : "base_url", p.base_url);
  if (uses("token")) line("token", "***");
  if (uses("user")) line("user", p.user);
  if (uses("password")) line("password", "***");
  if (uses("secret")) line("secret", "***");
  line("rate_per_s", format_number(p.rate_per_s));
  line("burst", std::to_string(p.burst));
  line("concurrency", std::to_string(p.concurrency));
  if (uses("timeout_ms")) line("timeout_ms", std::to_string(p.timeout.count()));
  if (uses("connect_timeout_ms")) {
    line("connect_timeout_ms", std::to_string(p.connect_timeout.count()));
  }
  line("max_attempts", std::to_string(p.max_attempts));
  if (uses("linger_ms")) line("linger_ms", std::to_string(p.linger.count()));
  if (uses("path") && !p.path.empty()) line("path", p.path.string());
  return out;
}

}  // namespace herald::delivery
