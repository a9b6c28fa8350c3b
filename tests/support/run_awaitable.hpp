// Runs a coroutine to completion on a test's io_context, with a deadline so a hang fails the
// test instead of stalling the suite.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>

namespace herald::test {

template <class T>
T run_awaitable(boost::asio::io_context& io, boost::asio::awaitable<T> work,
                std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::exception_ptr error;
  std::optional<T> value;
  bool done = false;
  boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) value.emplace(std::move(v));
    done = true;
  });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(50));
  }
  if (!done) throw std::runtime_error("the coroutine did not finish within its deadline");
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

inline void run_awaitable(boost::asio::io_context& io, boost::asio::awaitable<void> work,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  auto wrapped = [](boost::asio::awaitable<void> w) -> boost::asio::awaitable<bool> {
    co_await std::move(w);
    co_return true;
  };
  run_awaitable<bool>(io, wrapped(std::move(work)), timeout);
}

}  // namespace herald::test
