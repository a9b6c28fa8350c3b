#include "herald/redis/outage.hpp"

#include <map>
#include <memory>

namespace herald::redis {

namespace {

long long ms(outage_log::clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

outage_log::outage_log(std::string endpoint, std::chrono::milliseconds report_every)
    : endpoint_(std::move(endpoint)), report_every_(report_every) {}

outage_log& outage_log::for_endpoint(const std::string& redacted) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<outage_log>> logs;
  std::lock_guard lock(mutex);
  auto& slot = logs[redacted];
  if (!slot) slot = std::make_unique<outage_log>(redacted);
  return *slot;
}

std::optional<outage_log::note> outage_log::failed(std::uintptr_t conn, clock::time_point now,
                                                   std::string_view error) {
  std::lock_guard lock(mutex_);
  last_error_ = error;
  if (down_.empty()) {
    down_.insert(conn);
    since_ = last_report_ = now;
    attempts_ = 1;
    return note{note::level::warn, "redis: " + endpoint_ + " unreachable: " + last_error_};
  }
  down_.insert(conn);
  ++attempts_;
  if (now - last_report_ < report_every_) return std::nullopt;
  last_report_ = now;
  return note{note::level::warn, "redis: " + endpoint_ + " still unreachable after "
                                     + std::to_string(ms(now - since_) / 1000) + " s, "
                                     + std::to_string(attempts_)
                                     + " attempts; last error: " + last_error_};
}

std::optional<outage_log::note> outage_log::connected(std::uintptr_t conn, clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!down_.erase(conn) || !down_.empty()) return std::nullopt;
  return note{note::level::info, "redis: " + endpoint_ + " back after "
                                     + std::to_string(ms(now - since_)) + " ms ("
                                     + std::to_string(attempts_) + " failed attempts)"};
}

void outage_log::forget(std::uintptr_t conn) {
  std::lock_guard lock(mutex_);
  down_.erase(conn);
}

bool outage_log::in_outage() const {
  std::lock_guard lock(mutex_);
  return !down_.empty();
}

}  // namespace herald::redis
