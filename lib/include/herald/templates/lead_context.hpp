// The context a trigger renders a profile's message in: the profile (`lead`), the subscription the
// message goes to, and the request's `content` (`apicontent`) and `custom_data` objects, all as the
// caller already holds them; nothing is copied per message.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>

#include "herald/profiles/profile.hpp"
#include "herald/templates/template.hpp"

namespace herald::templates {

// Looks variables up as follows (anything else is missing, and renders empty):
//   lead.id                  the profile's id
//   lead.NAME                the profile's field NAME (`_fname`, `email`, `phones`, custom ones)
//   subscription.NAME        channel, resource_id, status, email, phone, provider,
//                            subscription_id, cc_id (also cc_data.id), subscriber_id, user_id,
//                            channel_id, when not empty; or one of its other fields
//   apicontent.A.B...        content["A"]["B"]...; a name of digits indexes an array
//   custom_data.A.B...       likewise in custom_data
// A JSON array renders as its items joined with ", " and an object as its minified JSON. Each
// pointer and element must outlive the context; a context serves one render at a time.
class lead_context final : public context {
 public:
  lead_context(const profiles::profile* lead, const profiles::subscription* subscription,
               std::optional<simdjson::dom::element> content = std::nullopt,
               std::optional<simdjson::dom::element> custom_data = std::nullopt)
      : lead_(lead), subscription_(subscription), content_(content), custom_data_(custom_data) {}

  value lookup(source root, std::span<const std::string_view> path) const override;

 private:
  value json(std::optional<simdjson::dom::element> doc,
             std::span<const std::string_view> path) const;

  const profiles::profile* lead_;
  const profiles::subscription* subscription_;
  std::optional<simdjson::dom::element> content_, custom_data_;
  mutable std::string scratch_;  // an array or object's text, until the next lookup
};

}  // namespace herald::templates
