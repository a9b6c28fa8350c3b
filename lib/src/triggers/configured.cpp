#include "herald/triggers/configured.hpp"

namespace herald::triggers {

provider_kinds configured_providers(const config::daemon_config& c) {
  provider_kinds kinds;
  for (const auto& [name, p] : c.providers)
    kinds.emplace(name, std::string(delivery::to_string(p.kind)));
  if (c.redis_url == "embedded") kinds.emplace(std::string(embedded_sandbox_name), "sandbox");
  return kinds;
}

}  // namespace herald::triggers
