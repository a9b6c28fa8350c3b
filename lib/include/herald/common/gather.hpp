// Running several awaitables at once and waiting for all of them: the commands they send
// pipeline on one Redis connection instead of waiting a round trip each.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace herald {

template <class T>
struct gathered {
  std::optional<T> value;
  std::exception_ptr error;  // set instead of value when the awaitable threw
};

// Starts every task on the caller's executor (which must not run handlers concurrently) and
// completes once all have, with their results in the order given. T must be default-constructible.
template <class T>
boost::asio::awaitable<std::vector<gathered<T>>> gather(
    std::vector<boost::asio::awaitable<T>> tasks) {
  namespace asio = boost::asio;
  auto ex = co_await asio::this_coro::executor;
  struct state {
    state(asio::any_io_executor ex, std::size_t n)
        : results(n), left(n), done(ex, asio::steady_timer::time_point::max()) {}
    std::vector<gathered<T>> results;
    std::size_t left;
    asio::steady_timer done;
  };
  auto st = std::make_shared<state>(ex, tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    asio::co_spawn(ex, std::move(tasks[i]), [st, i](std::exception_ptr e, T v) {
      if (e)
        st->results[i].error = e;
      else
        st->results[i].value.emplace(std::move(v));
      if (--st->left == 0) st->done.cancel();
    });
  }
  while (st->left > 0) co_await st->done.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return std::move(st->results);
}

}  // namespace herald
