// The `import_and_start` job type: imports its items into the profile database (matching,
// creating or updating each profile) and, once triggers exist, starts the trigger for each.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "herald/profiles/import.hpp"
#include "herald/queue/handler.hpp"

namespace herald::geo {
class locator;
}

namespace herald::profiles {

// A profile a chunk imported (or, for `start`, found), for what follows the import: the trigger.
struct imported_profile {
  std::size_t outcome = 0;  // its item's entry in the chunk's result.outcomes
  profile p;                // as written
  std::string custom_data;  // the item's custom_data (a JSON object: the root's, the item's
                            // winning), or empty
};

// What runs after each chunk's import, on the profiles it imported (the trigger half of
// import_and_start): it turns their outcomes into sent, scheduled, skipped or failed, and counts
// them in the result.
class chunk_followup {
 public:
  virtual ~chunk_followup() = default;
  virtual boost::asio::awaitable<void> run(const queue::job_context& ctx,
                                           std::vector<imported_profile> profiles,
                                           queue::chunk_result& result) = 0;
};

class import_followup {
 public:
  virtual ~import_followup() = default;
  // What follows the chunks of a job with this body; null when nothing does (skip_triggers,
  // no trigger_id). Throws queue::bad_job naming the field of a body it cannot run.
  virtual std::unique_ptr<chunk_followup> prepare(const import_body& body) const = 0;
};

struct import_settings {
  std::string prefix = "herald";  // the Redis key prefix
  import_limits limits;
  // For detect_geo; null: items asking for it get a warning instead.
  std::shared_ptr<const geo::locator> geo;
  // The trigger half; null: a trigger_id is logged as not started.
  std::shared_ptr<const import_followup> followup;
};

void add_import_handler(queue::handler_registry& registry, import_settings settings);

}  // namespace herald::profiles
