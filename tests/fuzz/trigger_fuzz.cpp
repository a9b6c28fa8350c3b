// libFuzzer target for trigger definitions (the JSON of triggers/add, `herald triggers add` and
// triggers_dir files): parses arbitrary input and checks that parse_trigger always answers (a
// trigger or an error), that a parsed trigger's canonical JSON reads back to an equal trigger
// and writes the same text again, and that validate (which compiles every template) answers too.
//
// Built and run by tests/fuzz/run.sh (ctest -L fuzz); by hand, with clang-14 and libfuzzer-14-dev:
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib/include -Ilib/src
//     tests/fuzz/trigger_fuzz.cpp lib/src/triggers/trigger.cpp lib/src/templates/template.cpp
//     lib/src/templates/text.cpp lib/src/common/json.cpp -lsimdjson -lutf8proc
//     -o trigger_fuzz      (one command line)
//   ./trigger_fuzz -max_len=4096
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "herald/triggers/trigger.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald::triggers;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = parse_trigger(text, {.account_field = size % 2 == 0});
  if (r.value.has_value() == r.error.has_value()) std::abort();
  if (!r.value) return 0;
  const auto json = to_json(*r.value);
  auto again = parse_trigger(json);
  if (!again.value || !(*again.value == *r.value) || to_json(*again.value) != json) std::abort();
  const provider_kinds providers{{"lc", "leadconverter_messages"}, {"sandbox", "sandbox"}};
  (void)validate(*r.value, providers);
  return 0;
}
