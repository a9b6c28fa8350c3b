// The `import_and_start` job type: imports its items into the profile database (matching,
// creating or updating each profile) and, once triggers exist, starts the trigger for each.
#pragma once

#include <memory>
#include <string>

#include "herald/profiles/import.hpp"
#include "herald/queue/handler.hpp"

namespace herald::geo {
class locator;
}

namespace herald::profiles {

struct import_settings {
  std::string prefix = "herald";  // the Redis key prefix
  import_limits limits;
  // For detect_geo; null: items asking for it get a warning instead.
  std::shared_ptr<const geo::locator> geo;
};

void add_import_handler(queue::handler_registry& registry, import_settings settings);

}  // namespace herald::profiles
