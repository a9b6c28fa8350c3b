// The HTTP routes that enqueue jobs the way Altcraft's API does (seeds 001 and 004): the request
// body, less its token, is the job's body, checked by the job type's own handler before anything
// is enqueued, and enqueued through the task store's single enqueue path.
#pragma once

#include <chrono>
#include <functional>

#include "herald/api/enqueue_config.hpp"
#include "herald/auth/tokens.hpp"
#include "herald/http/router.hpp"
#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"
#include "herald/triggers/store.hpp"

namespace herald::api {

struct enqueue_routes_config {
  // sync_timeout and api_max_items, as heraldd's configuration sets them.
  enqueue_config limits;
  // start_batch looks at its task again after 5 ms, then twice as long each time, up to this.
  std::chrono::milliseconds poll_interval{100};
  // When set and true, start_batch answers at once with its task as it is (HTTP 202), so that a
  // draining heraldd does not wait out every sync_timeout. Called on the handlers' executor.
  std::function<bool()> draining;
};

// Adds, on `routes`:
//   POST /api/v1.1/campaigns/triggers/import_and_start_batch_task   an import_and_start job
//   POST /api/v1.1/campaigns/triggers/start_batch_task              a start job
//     200 {"error": 0, "error_text": "Successful operation", "task_id": "..."}
//   POST /api/v1.1/campaigns/triggers/start_batch                   a start job, waited for
//     200 {"error": 0, "error_text": "Successful operation", "result": [{"profile_id"}, ...],
//          "task_id"}: the profiles the trigger was sent (or scheduled) to
//     202 {"error": 0, "error_text": "Task is still running", "task_id", "status", "progress"}
//         past sync_timeout, or at once while draining
//     500 {"error": 500, "error_text": "Task failed", "error_debug": <its error>, "task_id"}
//     409 {"error": 409, "error_text": "Task cancelled", ...} when it was cancelled meanwhile
// The body is seed 004's (or 001's) with `token` (else Authorization: Bearer, which chooses the
// account); `format` may be "json" or "xml". The job's body is the request's without token and
// format. Refused before anything is enqueued: a body its handler refuses, or with an item a chunk
// would fail (400 naming the field and the item index: `data[3].data.email: ...`), more than
// api_max_items items (400 naming the limit), a trigger_id the account has no trigger for (404,
// the same for another account's trigger), a bad Idempotency-Key. An `Idempotency-Key` header
// (1 to 200 characters) is the job's idempotency key: a repeat answers the first request's
// task_id (with `Idempotent-Replayed: true`) and enqueues nothing. Redis failures answer 503.
// `"format": "xml"`, or an XML body (Content-Type: application/xml), is read and answered in the
// seed's XML (api/xml_format.hpp): the same checks, the same replies as XML.
// `store`, `triggers`, `handlers` and `tokens` must outlive `routes`; `handlers` must have the
// import_and_start and start types (std::invalid_argument otherwise).
void add_enqueue_routes(http::router& routes, queue::task_store& store,
                        triggers::trigger_store& triggers, const queue::handler_registry& handlers,
                        const auth::token_table& tokens, enqueue_routes_config cfg = {});

}  // namespace herald::api
