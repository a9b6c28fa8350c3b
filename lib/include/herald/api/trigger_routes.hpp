// The HTTP routes that manage an account's triggers (proto/triggers.md has the shapes): add,
// update, get, list and delete, each limited to the token's own account.
#pragma once

#include <functional>

#include "herald/auth/tokens.hpp"
#include "herald/http/router.hpp"
#include "herald/triggers/store.hpp"
#include "herald/triggers/trigger.hpp"

namespace herald::api {

struct trigger_routes_config {
  // The providers configured now (name -> kind); read on every add and update, so that a SIGHUP
  // that changes them takes effect at once. Called on the handlers' executor.
  std::function<triggers::provider_kinds()> providers;
};

// Adds, on `routes`:
//   POST /api/v1.1/campaigns/triggers/add     {token?, trigger: {...}}  200 {"trigger": {...,
//                                             "version", "created_at", "updated_at"}};
//                                             409 when the id exists
//   POST /api/v1.1/campaigns/triggers/update  {token?, trigger: {...}}  the same; 404 unknown id
//   POST /api/v1.1/campaigns/triggers/get     {token?, id, version?}    {"trigger": {...}}
//   POST /api/v1.1/campaigns/triggers/list    {token?}                  {"triggers": [...]}
//   POST /api/v1.1/campaigns/triggers/delete  {token?, id}              {"trigger": {"id",
//                                             "deleted": true}}
// A bad trigger answers 400 naming the field (and a template fault's line and column). Another
// account's trigger answers exactly like an unknown one (404); Redis failures answer 503.
// `store` and `tokens` must outlive `routes`.
void add_trigger_routes(http::router& routes, triggers::trigger_store& store,
                        const auth::token_table& tokens, trigger_routes_config cfg);

}  // namespace herald::api
