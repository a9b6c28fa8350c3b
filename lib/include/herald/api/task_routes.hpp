// The HTTP routes that show and change tasks: status (POST, and GET for pollers with an
// optional long-poll), cancel, item outcomes, and the account's tasks filtered and paginated,
// each limited to the token's own account.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "herald/auth/tokens.hpp"
#include "herald/http/router.hpp"
#include "herald/queue/task_store.hpp"

namespace herald::api {

struct task_routes_config {
  // Item outcomes read for a status reply's result list (its profile_ids), from item 0.
  std::uint64_t max_result_items = 10000;
  // GET /tasks/status: the largest `wait` a poller may ask for.
  std::chrono::milliseconds max_wait{60000};
  // How often a held status reply looks at the task again.
  std::chrono::milliseconds poll_interval{100};
  // POST /api/v1.1/tasks/items: `limit` when the request has none, and the largest allowed.
  std::uint64_t default_items_limit = 100;
  std::uint64_t max_items_limit = 1000;
  // POST /api/v1.1/tasks/list (and GET): `limit` when none is given, and the largest allowed.
  std::uint64_t default_list_limit = 100;
  std::uint64_t max_list_limit = 1000;
  // The account's newest task ids a listing reads at most (its total counts matches among
  // them): what one listing may cost Redis, whatever the account's size.
  std::uint64_t max_list_scan = 10000;
  // When set and true, held status replies are answered at once with the task as it is (so a
  // draining daemon does not wait out every long-poll). Called from the handlers' executors.
  std::function<bool()> draining;
};

// Adds, on `routes`:
//   POST /api/v1.1/tasks/status  {token, task_id}       the seed's status reply
//   GET  /tasks/status?task_id=ID[&wait=SECONDS]       the same; Bearer token; wait holds the
//                                                      reply until status or processed change
//   POST /api/v1.1/tasks/cancel  {token, task_id}       {"data": {"status": ...}}
//   POST /api/v1.1/tasks/items   {token, task_id, offset?, limit?}
//                                                      {"data": {"items", "offset", "limit",
//                                                       "total"}}
//   POST /api/v1.1/tasks/list    {token, status?, type?, created_from?, created_to?, offset?,
//                                 limit?}             {"data": {"tasks": [<status data>],
//                                                      "offset", "limit", "total",
//                                                      "total_exact"}}, newest first
//   GET  /api/v1.1/tasks/list?status=..&limit=..       the same; Bearer token
// The POST routes also speak the seed's XML (`"format": "xml"`, or an XML body; see
// api/xml_format.hpp). `store` and `tokens` must outlive `routes`. A task of another account
// answers exactly like an unknown one (404); Redis failures answer 503.
void add_task_routes(http::router& routes, queue::task_store& store,
                     const auth::token_table& tokens, task_routes_config cfg = {});

// A `wait` query value: seconds, whole or fractional ("2", "0.5"), 0 < wait <= max_wait. Nothing
// when it is not one.
std::optional<std::chrono::milliseconds> parse_wait(std::string_view text,
                                                    std::chrono::milliseconds max_wait);

}  // namespace herald::api
