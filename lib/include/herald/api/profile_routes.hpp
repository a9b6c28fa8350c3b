// The HTTP routes that read subscriber profiles: one profile by any matching mode, from a profile
// database of the token's own account.
#pragma once

#include <string>

#include "herald/auth/tokens.hpp"
#include "herald/http/router.hpp"

namespace herald::redis {
class client;
}

namespace herald::api {

struct profile_routes_config {
  // The Redis key prefix of the profile databases (the daemon's `prefix`).
  std::string prefix = "herald";
};

// Adds, on `routes`:
//   POST /api/v1.1/profiles/get  {token?, db_id?, matching?, resource_id?, and the mode's keys:
//                                 email, phone, profile_id, field_name + field_value,
//                                 subscription_id, channel + id}
//     200 {"error": 0, "error_text": "Successful operation", "profile": {...}}
//         (proto/schemas/profile.schema.json); db_id defaults to 1, matching to email
//     404 {"error": 404, "error_debug": ..., "error_text": "Profile not found"}
//     400 naming the field; 401 for a missing or unknown token; 503 when Redis fails
// The token (the body's "token", else Authorization: Bearer) chooses the account whose profile
// databases are read: another account's profiles answer exactly like missing ones. `redis` and
// `tokens` must outlive `routes`; the handlers run on `redis`'s executor.
void add_profile_routes(http::router& routes, redis::client& redis, const auth::token_table& tokens,
                        profile_routes_config cfg = {});

}  // namespace herald::api
