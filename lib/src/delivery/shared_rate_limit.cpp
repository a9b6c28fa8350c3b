#include "herald/delivery/shared_rate_limit.hpp"

#include <charconv>

#include "delivery/scripts.hpp"
#include "herald/redis/client.hpp"
#include "herald/redis/error.hpp"

namespace herald::delivery {

namespace {

// The shortest text that reads back as the same double: a tiny rate keeps its digits.
std::string number_text(double d) {
  char buf[512];  // fixed notation: enough for any rate down to 1e-300
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  return std::string(buf, ec == std::errc{} ? end : buf);
}

}  // namespace

boost::asio::awaitable<shared_rate_answer> reserve_shared(redis::client& redis,
                                                          const std::string& key, const gcra& limit,
                                                          std::uint64_t n,
                                                          std::chrono::milliseconds max_wait) {
  const std::string keys[] = {key};
  const std::string args[] = {number_text(limit.rate_per_s()), std::to_string(limit.burst()),
                              std::to_string(n), std::to_string(max_wait.count())};
  auto reply = co_await redis.eval(scripts::gcra(), keys, args);
  const auto& a = reply.as_array();
  if (a.size() != 2) {
    throw redis::error(redis::errc::unexpected_reply, "gcra.lua: " + reply.debug_string());
  }
  co_return shared_rate_answer{a[0].as_integer() == 1,
                               std::chrono::milliseconds(a[1].as_integer())};
}

}  // namespace herald::delivery
