// Refusing JSON whose objects repeat a key: parsers disagree on which of the two wins (simdjson
// finds the first, most others keep the last), so a validator upstream could check other data
// than Herald runs. Every reader of outside JSON calls this once after parsing.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>

namespace herald {

// The path of the first member whose key repeats an earlier key of the same object, relative to
// `root` ("items", "data[3].fields.name"), or nothing when every object's keys are distinct.
// Linear in the document's size (objects of many keys are checked by sorting their keys).
std::optional<std::string> duplicate_key(simdjson::dom::element root);

// The usual message for it: `<prefix>.<path>: duplicate key; a key may appear once in an object`
// (no dot when `prefix` is empty).
std::string duplicate_key_message(std::string_view prefix, std::string_view path);

}  // namespace herald
