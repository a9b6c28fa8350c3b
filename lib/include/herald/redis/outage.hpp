// What the Redis client says about an outage: one warning when Redis becomes unreachable, at
// most one line every `report_every` with the attempts and the last error, and one info line
// when it is back, with the outage's length. Every connection of a process to one endpoint shares
// one outage_log (for_endpoint), so that a heraldd with many connections reports one outage once.
// Pure logic: the caller passes the time and logs what comes back.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace herald::redis {

class outage_log {
 public:
  using clock = std::chrono::steady_clock;
  struct note {
    enum class level { info, warn } severity;
    std::string text;
  };

  explicit outage_log(std::string endpoint,
                      std::chrono::milliseconds report_every = std::chrono::seconds(10));

  // The shared log for the endpoint named `redacted` (thread-safe; lives as long as the process).
  static outage_log& for_endpoint(const std::string& redacted);

  // Connection `conn` failed (lost, or an attempt to connect failed) with `error`.
  std::optional<note> failed(std::uintptr_t conn, clock::time_point now, std::string_view error);
  // Connection `conn` is up (again). The note, once the last connection down is back.
  std::optional<note> connected(std::uintptr_t conn, clock::time_point now);
  // Connection `conn` was stopped or destroyed: it no longer counts as down.
  void forget(std::uintptr_t conn);

  bool in_outage() const;

 private:
  std::string endpoint_;
  std::chrono::milliseconds report_every_;
  mutable std::mutex mutex_;
  std::set<std::uintptr_t> down_;
  clock::time_point since_{}, last_report_{};
  std::uint64_t attempts_ = 0;
  std::string last_error_;
};

}  // namespace herald::redis
