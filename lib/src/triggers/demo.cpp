#include "herald/triggers/demo.hpp"

#include <simdjson.h>

namespace herald::triggers {

namespace {

// deploy/triggers/demo.json, byte for byte (triggers_test compares them).
constexpr std::string_view demo_json = R"herald_demo([
  {
    "account": "default",
    "id": 13,
    "name": "demo: welcome email",
    "db_id": 1,
    "enabled": true,
    "channel": "email",
    "provider": "sandbox",
    "resource_id": 1,
    "message": {
      "subject": "Добро пожаловать, {lead._fname | default:\"друг\" | capitalize}!",
      "text": "Здравствуйте, {lead._fname | default:\"друг\" | capitalize}! Ваш адрес: {lead.email}."
    }
  },
  {
    "account": "default",
    "id": 455,
    "name": "demo: sms",
    "db_id": 1,
    "enabled": true,
    "channel": "sms",
    "provider": "sandbox",
    "resource_id": 1,
    "message": {
      "text": "{lead._fname | default:\"Друг\" | upper}, спасибо за регистрацию!"
    }
  }
]
)herald_demo";

}  // namespace

std::string_view demo_triggers_json() {
  return demo_json;
}

trigger_files demo_triggers(const provider_kinds& providers) {
  trigger_files out;
  read_trigger_text(demo_json, "demo.json", providers, out);
  return out;
}

}  // namespace herald::triggers
