#include "herald/auth/request_limit.hpp"

namespace herald::auth {

request_limit::request_limit(double rate_per_s, std::uint64_t burst) : limit_(rate_per_s, burst) {}

std::optional<std::chrono::microseconds> request_limit::admit(std::string_view account,
                                                              std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  auto it = tat_us_.find(std::string(account));
  const std::int64_t tat = it == tat_us_.end() ? 0 : it->second;
  const auto v = limit_.reserve(tat, now_us, 1);
  if (!v.reserved) return v.wait;
  if (it == tat_us_.end())
    tat_us_.emplace(std::string(account), v.tat_us);
  else
    it->second = v.tat_us;
  return std::nullopt;
}

std::optional<std::chrono::microseconds> request_limit::admit(std::string_view account) {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  return admit(account, std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

}  // namespace herald::auth
