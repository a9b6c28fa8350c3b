// TEMPORARY until the providers branch lands: the providers' text limits.
#include "herald/providers/message.hpp"

namespace herald::providers {

std::size_t max_text_chars(delivery::provider_kind kind) {
  switch (kind) {
    case delivery::provider_kind::leadconverter_messages:
    case delivery::provider_kind::leadconverter_bot:
    case delivery::provider_kind::chatbot_telegram:
      return 4096;
    case delivery::provider_kind::webhook:
    case delivery::provider_kind::sandbox:
      return 64 * 1024;
  }
  return 4096;
}

}  // namespace herald::providers
