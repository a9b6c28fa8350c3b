// A rendered message as JSON, for what waits in Redis until it is due (scheduled sends): every
// field of providers::message, read back to an equal message.
#pragma once

#include <string>
#include <string_view>

#include <simdjson.h>

#include "herald/providers/message.hpp"

namespace herald::providers {

void append_json(std::string& out, const message& m);
// Throws std::runtime_error on JSON that is not a message written by append_json.
message message_from_json(simdjson::dom::element json);

}  // namespace herald::providers
