// What Herald asks of the Redis it uses, checked at start and on every reconnect: no eviction
// (an evicted key is a lost job), persistence on, fsync not left to the kernel alone, Redis 7.0
// or newer. Pure: the facts read from INFO and CONFIG GET in, verdicts out (read_facts, in
// checks_io.hpp, reads them from a live server).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::redis {

// What Redis said about itself; a fact it would not say (CONFIG GET renamed away, say) is empty.
struct server_facts {
  std::string version;              // INFO server: redis_version
  std::string maxmemory_policy;     // CONFIG GET maxmemory-policy (or INFO memory)
  std::optional<bool> aof;          // CONFIG GET appendonly (or INFO persistence aof_enabled)
  std::optional<std::string> save;  // CONFIG GET save: "" means no RDB snapshots
  std::string appendfsync;          // CONFIG GET appendfsync
};

struct check_options {
  bool allow_eviction = false;  // accept a maxmemory-policy other than noeviction
  bool configured = true;       // a Redis the operator runs (not heraldd's embedded one)
};

struct verdict {
  enum class level { warning, refusal } severity;
  std::string text;
};

struct check_report {
  std::vector<verdict> verdicts;
  bool refused() const;
  // The verdicts joined by "; ", empty when there are none.
  std::string summary() const;
};

// The facts from the text of INFO (any sections) and the values of CONFIG GET.
void parse_info(std::string_view info, server_facts& facts);

check_report check_server(const server_facts& facts, const check_options& options);

}  // namespace herald::redis
