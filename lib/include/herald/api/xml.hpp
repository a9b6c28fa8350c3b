// The XML shape of the Altcraft-style routes (seed 001's XML examples): a request's `<xml>`
// document read into the JSON body the JSON path takes, so that both go through one validation,
// and a JSON reply written as the seed's XML. Parsed with pugixml, which expands no DTD; a
// document with a DOCTYPE is refused outright, so no entity (external or nested) is ever read.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace herald::api {

struct xml_limits {
  std::size_t max_bytes = 10 * 1024 * 1024;  // of the document
  std::size_t max_depth = 32;                // elements nested, <xml> counted
  // Tags ('<') of the document, counted before it is parsed: what bounds the parser's memory
  // (a node costs tens of bytes: a body of tiny elements would take ten times its size).
  std::size_t max_tags = 1'000'000;
};

// Reads a request document into the JSON object it stands for, written into `json`:
//   <xml>                          {
//     <token>abc</token>             "token": "abc",
//     <trigger_id>85</trigger_id>    "trigger_id": 85,
//     <data><email>a@b</email></data>  "data": [{"email": "a@b"},
//     <data><email>c@d</email></data>           {"email": "c@d"}]
//   </xml>                         }
// An element holding elements is an object, one holding text (or nothing) a string; a name
// repeated among its siblings is a list, and so are `data` and `attach` at the root and
// `subscriptions` anywhere, even once. At the root, the flags (skip_triggers,
// skip_invalid_subscriptions, detect_geo) are booleans when they read true or false, and the
// counts (trigger_id, db_id, resource_id, offset, limit) integers when they read as one; every
// other value stays a string, as the JSON path reads it. Nothing, or why the document is refused
// ("body: ...": not well-formed, a DOCTYPE, attributes, text beside elements, a root other than
// <xml>, deeper than max_depth, larger than max_bytes or max_tags, not UTF-8).
std::optional<std::string> xml_request_to_json(std::string_view xml, std::string& json,
                                               const xml_limits& limits = {});

// A JSON reply (an object) as the seed's XML: `<xml>` holding an element per member, a list as
// the member's element repeated, an object as nested elements, null as an empty element; one
// element a line, as the seed writes it. Throws std::invalid_argument when `json` is not an
// object.
std::string json_reply_to_xml(std::string_view json);

}  // namespace herald::api
