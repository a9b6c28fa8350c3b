// The demo triggers of the embedded default (deploy/triggers/demo.json, compiled in so that an
// installed heraldd has them too; a unit test keeps the two equal): what heraldd loads when no
// redis_url and no triggers_dir are configured, for the provider named `sandbox`.
#pragma once

#include <string_view>

#include "herald/triggers/files.hpp"

namespace herald::triggers {

// The text of deploy/triggers/demo.json.
std::string_view demo_triggers_json();

// The demo triggers, validated against `providers` (which hold `sandbox` in the embedded
// default); a fault names "demo.json[N]".
trigger_files demo_triggers(const provider_kinds& providers);

}  // namespace herald::triggers
