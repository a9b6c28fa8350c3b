// libFuzzer target for the job JSON decoder: the bodies of import_and_start and start (root, then
// each item) and the messages of a send job in each provider kind's shape. It checks that every
// input is answered (a job, or bad_job naming a field; an item, or its error), never a crash, a
// leak or undefined behaviour, and that an item's error names the item.
//
// Built and run by tests/fuzz/run.sh job (clang-14, -fsanitize=fuzzer,address,undefined), from
// the seed corpus in tests/fuzz/corpus/job.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "herald/delivery/provider_config.hpp"
#include "herald/profiles/import.hpp"
#include "herald/providers/message.hpp"
#include "herald/queue/handler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  profiles::import_limits limits;
  limits.max_items = 100;
  for (bool match_only : {false, true}) {
    try {
      auto body = profiles::parse_import_body(text, limits, match_only);
      for (std::size_t i = 0; i < body.items.size(); ++i) {
        auto item = profiles::read_import_item(body, i);
        if (item.index != i) std::abort();
        if (item.error) {
          const std::string what = item.error->what();
          if (what.find("data[" + std::to_string(i) + "]") == std::string::npos) std::abort();
        }
      }
    } catch (const queue::bad_job& e) {
      if (!std::string_view(e.what()).starts_with("body")) std::abort();
    }
  }
  for (auto kind :
       {delivery::provider_kind::leadconverter_messages, delivery::provider_kind::leadconverter_bot,
        delivery::provider_kind::chatbot_telegram, delivery::provider_kind::webhook}) {
    try {
      (void)providers::parse_send_item(kind, text, 3);
    } catch (const std::invalid_argument& e) {
      if (std::string_view(e.what()).find("messages[3]") == std::string_view::npos) std::abort();
    }
  }
  return 0;
}
