// The delivery layer's Lua scripts (proto/lua), each hashed once for EVALSHA.
#pragma once

#include "herald/proto/scripts.hpp"
#include "herald/redis/script.hpp"

namespace herald::delivery::scripts {

inline const redis::script& gcra() {
  static const redis::script s{std::string(proto::gcra_lua)};
  return s;
}

}  // namespace herald::delivery::scripts
