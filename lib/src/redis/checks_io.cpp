#include "herald/redis/checks_io.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herald/redis/client.hpp"

namespace herald::redis {

namespace asio = boost::asio;

namespace {

// CONFIG GET name: the value, or nothing when Redis refuses (a managed Redis renames CONFIG).
asio::awaitable<std::optional<std::string>> config_get(client& redis, const char* name) {
  auto [ec, r] = co_await redis.async_exec(command("CONFIG", "GET", name),
                                           asio::as_tuple(asio::use_awaitable));
  if (ec || !r.is_array() || r.as_array().size() < 2) co_return std::nullopt;
  co_return r.as_array()[1].str();
}

}  // namespace

asio::awaitable<server_facts> read_facts(client& redis) {
  server_facts facts;
  auto info = co_await redis.exec("INFO", "server");
  parse_info(info.str(), facts);
  if (auto v = co_await config_get(redis, "maxmemory-policy")) facts.maxmemory_policy = *v;
  if (auto v = co_await config_get(redis, "appendonly")) facts.aof = *v == "yes";
  facts.save = co_await config_get(redis, "save");
  if (auto v = co_await config_get(redis, "appendfsync")) facts.appendfsync = *v;
  if (facts.maxmemory_policy.empty() || !facts.aof) {
    auto more = co_await redis.exec("INFO", "memory");
    parse_info(more.str(), facts);
    more = co_await redis.exec("INFO", "persistence");
    parse_info(more.str(), facts);
  }
  co_return facts;
}

asio::awaitable<check_report> check_live(client& redis, check_options options) {
  co_return check_server(co_await read_facts(redis), options);
}

}  // namespace herald::redis
