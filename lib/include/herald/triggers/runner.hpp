// Running a trigger for one profile (SPEC.md section 2, "Triggers"): pick the profile's
// subscription on the trigger's channel (and resource), apply the subscription rules, render every
// template, and hand back the message to deliver, or the item's outcome when there is none to
// send. Pure: no I/O, no clock; the job types call it per profile and deliver what it plans.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <simdjson.h>

#include "herald/delivery/provider_config.hpp"
#include "herald/profiles/profile.hpp"
#include "herald/providers/message.hpp"
#include "herald/triggers/trigger.hpp"

namespace herald::triggers {

// What one profile gets from a trigger.
struct item_plan {
  enum class kind { send, skip, fail };
  kind what = kind::send;
  // skip: no_subscription, unsubscribed, blocked, trigger_disabled; fail: invalid_address,
  // size_limit_exceeded, ...
  std::string code;
  std::string message;      // fail: in words, naming the item and the limit or field
  providers::message send;  // send: the rendered message, addressed
};

// The request's `content` (apicontent) and the item's `custom_data`, parsed (absent: nothing).
struct render_inputs {
  std::optional<simdjson::dom::element> content;
  std::optional<simdjson::dom::element> custom_data;
};

// The subscription a trigger sends through: the first `active` one on its channel (and its
// resource_id, when set), else the first `unsubscribed`, else the first `blocked`; null when the
// profile has none there.
const profiles::subscription* pick_subscription(const trigger& t, const profiles::profile& p);

// Plans item `index` of task `task_id` for profile `p`: skip when the profile has no
// subscription on the channel (`no_subscription`), when it is `blocked` (nothing may reach it),
// or `unsubscribed` and the trigger is not forced; fail when the subscription lacks the address
// the provider kind needs or a rendered text is over max_text_chars(kind); else send, with the
// idempotency key `task_id:index`.
item_plan plan_item(const trigger& t, const compiled_trigger& compiled,
                    delivery::provider_kind kind, const profiles::profile& p,
                    const render_inputs& inputs, const std::string& task_id, std::uint64_t index);

}  // namespace herald::triggers
