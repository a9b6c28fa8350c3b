// The providers a trigger may name under heraldd's configuration: its [provider.NAME] sections,
// and in the embedded default (redis_url = embedded) a `sandbox` provider named `sandbox` unless
// one of that name is configured. heraldd and `herald triggers` check triggers against the same.
#pragma once

#include "herald/config/daemon_config.hpp"
#include "herald/triggers/trigger.hpp"

namespace herald::triggers {

provider_kinds configured_providers(const config::daemon_config& c);

// The provider heraldd adds in the embedded default, as configured_providers names it.
inline constexpr std::string_view embedded_sandbox_name = "sandbox";

}  // namespace herald::triggers
