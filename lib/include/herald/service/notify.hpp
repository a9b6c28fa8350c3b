// heraldd's side of the conversation with systemd (sd_notify): readiness, reloads, stopping,
// a status line, and the watchdog pings that prove the event loop still turns.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include <boost/asio/awaitable.hpp>

namespace herald::service {

// Each returns true when systemd was told, false when not running under systemd
// ($NOTIFY_SOCKET unset) or the message could not be sent. None of them throws.

// READY=1, with an optional STATUS= line. Also after a reload, once it is done.
bool notify_ready(std::string_view status = {});
// RELOADING=1 with MONOTONIC_USEC= (what Type=notify-reload wants); follow with notify_ready().
bool notify_reloading();
// STOPPING=1: draining has begun.
bool notify_stopping();
// WATCHDOG=1: the event loop is alive.
bool notify_watchdog();
// STATUS=<text> shown by `systemctl status`; newlines become spaces.
bool notify_status(std::string_view status);

// The interval systemd expects WATCHDOG=1 within (WatchdogSec=), when it expects any.
std::optional<std::chrono::microseconds> watchdog_interval();

// Sends WATCHDOG=1 at once and then every interval/2, from the executor it runs on: a stuck
// event loop stops the pings and systemd restarts the service. Runs until cancelled (a
// cancellation slot bound at co_spawn, or the losing side of awaitable operators `||`), then
// returns normally.
boost::asio::awaitable<void> run_watchdog(std::chrono::microseconds interval);

}  // namespace herald::service
