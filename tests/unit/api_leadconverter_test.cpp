// Which providers the LeadConverter-compatible routes send through (api_send_provider and
// api_bot_provider against the configured providers).
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

#include "herald/api/leadconverter_routes.hpp"

namespace {

using herald::api::choose_leadconverter_providers;
using herald::delivery::provider_config;
using herald::delivery::provider_kind;

using providers = std::map<std::string, provider_config, std::less<>>;

providers of(std::initializer_list<std::pair<const char*, provider_kind>> list) {
  providers out;
  for (auto [name, kind] : list) {
    provider_config p;
    p.name = name;
    p.kind = kind;
    out.emplace(name, p);
  }
  return out;
}

std::string refusal(std::string_view send, std::string_view bot, const providers& p) {
  try {
    (void)choose_leadconverter_providers(send, bot, p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(leadconverter_routes, the_only_provider_of_a_kind_is_chosen_when_none_is_named) {
  auto chosen = choose_leadconverter_providers("", "",
                                               of({{"lc", provider_kind::leadconverter_messages},
                                                   {"bot", provider_kind::leadconverter_bot},
                                                   {"box", provider_kind::sandbox}}));
  EXPECT_EQ(chosen.send, "lc");
  EXPECT_EQ(chosen.bot, "bot");
  chosen = choose_leadconverter_providers("", "", of({{"box", provider_kind::sandbox}}));
  EXPECT_EQ(chosen.send, "");
  EXPECT_EQ(chosen.bot, "");
}

TEST(leadconverter_routes, two_of_a_kind_need_the_key) {
  const auto two = of({{"lc_a", provider_kind::leadconverter_messages},
                       {"lc_b", provider_kind::leadconverter_messages}});
  EXPECT_EQ(choose_leadconverter_providers("", "", two).send, "");
  EXPECT_EQ(choose_leadconverter_providers("lc_b", "", two).send, "lc_b");
}

TEST(leadconverter_routes, a_named_provider_must_exist_and_fit_the_route) {
  const auto p =
      of({{"lc", provider_kind::leadconverter_messages}, {"hook", provider_kind::webhook}});
  EXPECT_EQ(refusal("nope", "", p),
            "api_send_provider: no provider \"nope\" is configured (a [provider.nope] section "
            "with kind = leadconverter_messages)");
  EXPECT_EQ(refusal("lc", "hook", p),
            "api_bot_provider: provider \"hook\" is of kind webhook; this route needs a "
            "leadconverter_bot provider");
  EXPECT_EQ(refusal("", "lc", p),
            "api_bot_provider: provider \"lc\" is of kind leadconverter_messages; this route "
            "needs a leadconverter_bot provider");
}

}  // namespace
