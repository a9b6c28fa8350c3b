// Reads server_facts from a live Redis: INFO server, memory and persistence, and CONFIG GET of
// maxmemory-policy, appendonly, save and appendfsync (what CONFIG GET refuses stays unknown).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "herald/redis/checks.hpp"

namespace herald::redis {

class client;

// Throws redis::error when Redis does not answer INFO.
boost::asio::awaitable<server_facts> read_facts(client& redis);

// read_facts, then check_server.
boost::asio::awaitable<check_report> check_live(client& redis, check_options options);

}  // namespace herald::redis
