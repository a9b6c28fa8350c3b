// Each account's API requests per second (api_rate_per_s, api_burst), by GCRA: the same
// arithmetic as a provider's rate limit (delivery::gcra), kept in this process, so that one
// account cannot take a heraldd's whole HTTP capacity from the others. Behind a balancer that
// spreads requests over several heraldd, each allows the rate.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "herald/delivery/rate_limit.hpp"

namespace herald::auth {

class request_limit {
 public:
  // Throws std::invalid_argument unless rate_per_s > 0 and burst >= 1.
  request_limit(double rate_per_s, std::uint64_t burst);

  // Whether `account` may make a request at `now_us` (microseconds on one steady clock): nothing
  // when it may (and it is counted), else how long until one would be allowed. Thread-safe.
  std::optional<std::chrono::microseconds> admit(std::string_view account, std::int64_t now_us);
  // The same, now.
  std::optional<std::chrono::microseconds> admit(std::string_view account);

  double rate_per_s() const { return limit_.rate_per_s(); }

 private:
  delivery::gcra limit_;
  std::mutex mutex_;
  // Accounts come from the tokens file: as many entries as it names, at most.
  std::unordered_map<std::string, std::int64_t> tat_us_;
};

}  // namespace herald::auth
