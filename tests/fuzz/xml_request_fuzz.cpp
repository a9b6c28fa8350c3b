// libFuzzer target for the XML request decoder of the Altcraft-style routes: any document is read
// into a JSON body or refused with a reason naming the body, never a crash, a leak or undefined
// behaviour. An accepted document must give a JSON object simdjson reads back, and that object,
// written as an XML reply, must be well-formed XML with the root <xml>.
//
// Built and run by tests/fuzz/run.sh xml_request (clang-14, -fsanitize=fuzzer,address,undefined),
// from the seed corpus in tests/fuzz/corpus/xml_request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <simdjson.h>
#include <pugixml.hpp>

#include "herald/api/xml.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string json;
  const auto why = xml_request_to_json(text, json, {.max_bytes = 65536, .max_depth = 32});
  if (why) {
    if (!why->starts_with("body: ")) std::abort();
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(json).get(object) != simdjson::SUCCESS) std::abort();
  const auto xml = json_reply_to_xml(json);
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8))
    std::abort();
  if (std::string_view(doc.first_child().name()) != "xml") std::abort();
  return 0;
}
