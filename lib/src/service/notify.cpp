#include "herald/service/notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <algorithm>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace herald::service {

namespace {

bool send(const std::string& state) {
  return sd_notify(0, state.c_str()) > 0;
}

}  // namespace

bool notify_ready(std::string_view status) {
  std::string state = "READY=1";
  if (!status.empty()) {
    state += "\nSTATUS=";
    for (char c : status) state += c == '\n' ? ' ' : c;
  }
  return send(state);
}

bool notify_reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL
                    + static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  return send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

bool notify_stopping() {
  return send("STOPPING=1");
}

bool notify_watchdog() {
  return send("WATCHDOG=1");
}

bool notify_status(std::string_view status) {
  std::string state = "STATUS=";
  for (char c : status) state += c == '\n' ? ' ' : c;
  return send(state);
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(usec));
  }
  return std::nullopt;
}

boost::asio::awaitable<void> run_watchdog(std::chrono::microseconds interval) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  const auto period = std::max(interval / 2, std::chrono::microseconds(1000));
  for (;;) {
    notify_watchdog();
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return;  // cancelled
    auto state = co_await boost::asio::this_coro::cancellation_state;
    if (state.cancelled() != boost::asio::cancellation_type::none) co_return;
  }
}

}  // namespace herald::service
