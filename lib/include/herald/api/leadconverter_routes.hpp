// The LeadConverter-compatible routes (seeds 000 and 002; proto/http-api.md): a service that
// calls LeadConverter's broadcasting.sendMessageBatch or bot.startWithVariables can call Herald
// instead, with its Herald token in the path. Each call becomes a `send` job through the
// configured provider, answered at once with the task's id.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "herald/api/form_params.hpp"
#include "herald/auth/tokens.hpp"
#include "herald/delivery/provider_config.hpp"
#include "herald/http/message.hpp"
#include "herald/http/router.hpp"

namespace herald::queue {
class task_store;
}

namespace herald::api {

struct leadconverter_routes_config {
  // The provider (of kind leadconverter_messages) sendMessageBatch sends through; empty: none,
  // and the route answers 503 saying so.
  std::string send_provider;
  // The provider (of kind leadconverter_bot) bot.startWithVariables sends through; empty: none.
  std::string bot_provider;
  // Items one sendMessageBatch may carry (LeadConverter's own limit).
  std::size_t max_batch_items = 100;
  // How bracketed query strings and form bodies are read.
  form_limits form;
};

// Which providers the routes send through, from the keys api_send_provider and api_bot_provider
// (`send`, `bot`) and the configured providers: a name given must be a provider of the route's
// kind (else std::invalid_argument naming the key and what is wrong); an empty one means the
// only provider of that kind when there is exactly one, else none.
struct leadconverter_providers {
  std::string send, bot;
};
leadconverter_providers choose_leadconverter_providers(
    std::string_view send, std::string_view bot,
    const std::map<std::string, delivery::provider_config, std::less<>>& providers);

// Adds, on `routes`:
//   POST /api/v1/{token}/broadcasting.sendMessageBatch
//     {"batch": [{subscriber_id, text?, file_uuid?}, ...]} as JSON, or the same as a bracketed
//     query string or form body (batch[0][subscriber_id]=7365&batch[0][text]=...)
//   POST /api/v1/{token}/bot.startWithVariables
//     bot_id, subscriber_id or user_id + channel_id, variable[NAME]=VALUE, forced; in the query
//     string, a form body or a JSON body
// 200 {"result": "ok", "error": 0, "error_text": "Successful operation", "task_id": "..."}; a
// refusal carries LeadConverter's {"result": "error", "code", "message"} beside Herald's
// envelope {"error", "error_debug", "error_text"}: 400 naming the field and item
// (batch[3].subscriber_id: required), 401 for an unknown token, 415 for a body neither JSON nor
// a form, 503 when the route has no provider or Redis fails. Nothing is enqueued from a refused
// request. An Idempotency-Key header makes a repeat return the first call's task. `store` and
// `tokens` must outlive `routes`.
void add_leadconverter_routes(http::router& routes, queue::task_store& store,
                              const auth::token_table& tokens, leadconverter_routes_config cfg);

// Asked by the HTTP server before a body is read (with refuse_unknown_bearer): the 401 of the
// routes above when the request is for one of them and its path's token is not valid, so that a
// client without a token cannot make heraldd hold its body; nothing otherwise.
std::optional<http::response> refuse_unknown_path_token(const auth::token_table& tokens,
                                                        const http::request_header& header);

}  // namespace herald::api
