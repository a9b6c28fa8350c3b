// The queue's Lua scripts (proto/lua), each hashed once for EVALSHA.
#pragma once

#include "herald/proto/scripts.hpp"
#include "herald/redis/script.hpp"

namespace herald::queue::scripts {

#define HERALD_SCRIPT(name)                                       \
  inline const redis::script& name() {                            \
    static const redis::script s{std::string(proto::name##_lua)}; \
    return s;                                                     \
  }
HERALD_SCRIPT(enqueue)
HERALD_SCRIPT(start)
HERALD_SCRIPT(commit)
HERALD_SCRIPT(dead_letter)
HERALD_SCRIPT(retry)
HERALD_SCRIPT(promote)
HERALD_SCRIPT(cancel)
HERALD_SCRIPT(trim)
HERALD_SCRIPT(dead_retry)
HERALD_SCRIPT(touch)
HERALD_SCRIPT(note_error)
HERALD_SCRIPT(purge_dead)
HERALD_SCRIPT(read)
HERALD_SCRIPT(reap)
HERALD_SCRIPT(claim)
HERALD_SCRIPT(prune_index)
#undef HERALD_SCRIPT

}  // namespace herald::queue::scripts
