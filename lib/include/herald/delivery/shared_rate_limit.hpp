// A provider's rate limit shared by every heraldd on one Redis: one call of proto/lua/gcra.lua,
// which does herald::delivery::gcra's arithmetic on Redis's clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "herald/delivery/rate_limit.hpp"

namespace herald::redis {
class client;
}

namespace herald::delivery {

struct shared_rate_answer {
  bool reserved = false;
  // reserved: send after this long (0: at once); refused: ask again after this long.
  std::chrono::milliseconds wait{0};
};

// Asks the limit at `key` (rate_key(prefix, provider)) for `n` messages, reserving a slot up to
// `max_wait` ahead. Throws redis::error when Redis fails or refuses.
boost::asio::awaitable<shared_rate_answer> reserve_shared(
    redis::client& redis, const std::string& key, const gcra& limit, std::uint64_t n,
    std::chrono::milliseconds max_wait = std::chrono::milliseconds(0));

}  // namespace herald::delivery
