#include "herald/delivery/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace herald::delivery {

gcra::gcra(double rate_per_s, std::uint64_t burst) : rate_(rate_per_s), burst_(burst) {
  if (!(rate_per_s > 0) || !std::isfinite(rate_per_s)) {
    throw std::invalid_argument("rate_per_s: must be a positive number");
  }
  if (burst < 1) throw std::invalid_argument("burst: must be at least 1");
}

std::int64_t gcra::interval_us(std::uint64_t n) const {
  // As gcra.lua computes it, in doubles, so that both agree to the microsecond.
  return static_cast<std::int64_t>(std::ceil(static_cast<double>(n) * 1e6 / rate_));
}

gcra::verdict gcra::reserve(std::int64_t tat_us, std::int64_t now_us, std::uint64_t n,
                            std::chrono::microseconds max_wait) const {
  verdict v;
  const std::int64_t tat = std::max(tat_us, now_us);
  const std::int64_t new_tat = tat + interval_us(n);
  const std::int64_t allow_at = new_tat - interval_us(std::max(burst_, n));
  const std::int64_t wait = std::max<std::int64_t>(allow_at - now_us, 0);
  v.wait = std::chrono::microseconds(wait);
  if (wait <= max_wait.count()) {
    v.reserved = true;
    v.tat_us = new_tat;
  } else {
    v.tat_us = tat_us;
  }
  return v;
}

slot_lease::slot_lease(const gcra& limit, std::chrono::microseconds window)
    : window_us_(window.count()) {
  const double per_window = limit.rate_per_s() * static_cast<double>(window.count()) / 1e6;
  const auto worth = static_cast<std::uint64_t>(std::max(1.0, std::floor(per_window)));
  cap_ = std::min({limit.burst(), worth, max_lease});
}

bool slot_lease::take(std::uint64_t n, std::int64_t now_us) {
  if (now_us >= good_until_us_) spare_ = 0;
  if (spare_ < n) return false;
  spare_ -= n;
  return true;
}

std::uint64_t slot_lease::lease_size(std::uint64_t n, std::uint64_t waiting) const {
  return std::max(n, std::min(cap_, n + waiting));
}

void slot_lease::add(std::uint64_t reserved, std::uint64_t n, std::int64_t now_us) {
  if (reserved <= n) return;
  if (now_us >= good_until_us_) spare_ = 0;
  spare_ += reserved - n;
  good_until_us_ = now_us + window_us_;
}

std::string rate_key(std::string_view prefix, std::string_view provider) {
  std::string key(prefix);
  key += ":{provider.";
  key += provider;
  key += "}:rate";
  return key;
}

}  // namespace herald::delivery
