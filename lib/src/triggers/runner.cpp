#include "herald/triggers/runner.hpp"

#include "herald/templates/lead_context.hpp"

namespace herald::triggers {

namespace {

using delivery::provider_kind;
using profiles::subscription_status;

bool forced(const trigger& t) {
  return t.bot && t.bot->forced;
}

item_plan skip(std::string code) {
  item_plan p;
  p.what = item_plan::kind::skip;
  p.code = std::move(code);
  return p;
}

item_plan fail(std::string code, std::string message) {
  item_plan p;
  p.what = item_plan::kind::fail;
  p.code = std::move(code);
  p.message = std::move(message);
  return p;
}

// Addresses the message as the provider kind takes it; a reason when the subscription lacks it.
std::optional<std::string> address(const trigger& t, provider_kind kind,
                                   const profiles::subscription& s, providers::message& m) {
  m.channel = std::string(profiles::to_string(s.ch));
  m.email = s.email;
  m.phone = s.phone;
  m.subscriber_id = s.subscriber_id;
  m.user_id = s.user_id;
  m.channel_id = s.channel_id;
  switch (kind) {
    case provider_kind::leadconverter_messages:
      if (s.subscriber_id.empty())
        return "the leadconverter subscription has no subscriber_id, which sendMessageBatch "
               "needs";
      return std::nullopt;
    case provider_kind::leadconverter_bot:
      m.bot_id = t.bot ? t.bot->bot_id : std::string();
      if (m.bot_id.empty()) return "the trigger has no bot.bot_id to start";
      if (s.subscriber_id.empty() && (s.user_id.empty() || s.channel_id.empty()))
        return "the leadconverter subscription has neither subscriber_id nor user_id and "
               "channel_id";
      return std::nullopt;
    case provider_kind::chatbot_telegram:
      // subscriberId is the chat-bot API's subscriber (cc_data.id); without it, the bot and the
      // phone number without '+'.
      m.subscriber_id = s.cc_id;
      if (!s.cc_id.empty()) return std::nullopt;
      if (s.phone.empty()) return "the telegram_bot subscription has neither cc_data.id nor phone";
      m.bot_id = t.bot && !t.bot->bot_id.empty() ? t.bot->bot_id : std::to_string(s.resource_id);
      m.number = s.phone.starts_with('+') ? s.phone.substr(1) : s.phone;
      return std::nullopt;
    case provider_kind::webhook:
    case provider_kind::sandbox:
      if (s.ch == profiles::channel::push) {
        m.user_id = s.provider;
        m.subscriber_id = s.subscription_id;
      } else if (s.ch == profiles::channel::telegram_bot && m.subscriber_id.empty()) {
        m.subscriber_id = s.cc_id;
      }
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

const profiles::subscription* pick_subscription(const trigger& t, const profiles::profile& p) {
  const profiles::subscription* best = nullptr;
  auto rank = [](subscription_status s) {
    return s == subscription_status::active ? 0 : s == subscription_status::unsubscribed ? 1 : 2;
  };
  for (const auto& s : p.subscriptions) {
    if (s.ch != t.channel) continue;
    if (t.resource_id && s.resource_id != *t.resource_id) continue;
    if (!best || rank(s.status) < rank(best->status)) best = &s;
    if (rank(best->status) == 0) break;
  }
  return best;
}

item_plan plan_item(const trigger& t, const compiled_trigger& compiled, provider_kind kind,
                    const profiles::profile& p, const render_inputs& inputs,
                    const std::string& task_id, std::uint64_t index) {
  if (!t.enabled) return skip("trigger_disabled");
  const auto* s = pick_subscription(t, p);
  if (!s) return skip("no_subscription");
  if (s->status == subscription_status::blocked) return skip("blocked");
  if (s->status == subscription_status::unsubscribed && !forced(t)) return skip("unsubscribed");

  item_plan plan;
  auto& m = plan.send;
  m.key = task_id + ":" + std::to_string(index);
  m.item = index;
  m.profile_id = p.id;
  const std::string item = "data[" + std::to_string(index) + "]";
  if (auto why = address(t, kind, *s, m)) return fail("invalid_address", item + ": " + *why);
  m.forced = forced(t) && kind == provider_kind::leadconverter_bot;

  templates::lead_context ctx(&p, s, inputs.content, inputs.custom_data);
  const std::size_t limit = providers::max_text_chars(kind);
  auto render = [&](const templates::compiled_template& tmpl, std::string& out, const char* field,
                    std::size_t size_limit) -> std::optional<item_plan> {
    if (auto err = tmpl.render(ctx, out, size_limit))
      return fail("size_limit_exceeded", item + ": message." + field + ": " + err->reason);
    return std::nullopt;
  };
  if (t.message.text)
    if (auto f = render(compiled.text, m.text, "text", limit)) return *f;
  if (t.message.subject)
    if (auto f = render(compiled.subject, m.subject, "subject", limit)) return *f;
  if (t.message.html)
    if (auto f = render(compiled.html, m.html, "html", templates::compiled_template::no_limit))
      return *f;
  m.file_uuid = t.message.file_uuid;
  for (std::size_t b = 0; b < compiled.buttons.size(); ++b) {
    providers::button out;
    const std::string field = "buttons[" + std::to_string(b) + "]";
    if (auto f = render(compiled.buttons[b].first, out.text, (field + ".text").c_str(), limit))
      return *f;
    if (auto f = render(compiled.buttons[b].second, out.url, (field + ".url").c_str(), limit))
      return *f;
    m.buttons.push_back(std::move(out));
  }
  for (const auto& [name, tmpl] : compiled.variables) {
    std::string value;
    if (auto err = tmpl.render(ctx, value, limit))
      return fail("size_limit_exceeded", item + ": bot.variables." + name + ": " + err->reason);
    m.variables.emplace_back(name, std::move(value));
  }
  return plan;
}

}  // namespace herald::triggers
