#include "herald/templates/lead_context.hpp"

#include <charconv>

namespace herald::templates {

namespace {

value of(const profiles::field_value& v) {
  return std::visit(
      [](const auto& x) -> value {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, profiles::tag_list>)
          return value(value::string_list(x));
        else
          return value(x);
      },
      v);
}

value field(const profiles::field_map& fields, std::string_view name) {
  const auto it = fields.find(name);
  return it == fields.end() ? value() : of(it->second);
}

value address(const std::string& s) {
  return s.empty() ? value() : value(s);
}

value subscription_value(const profiles::subscription& s, std::span<const std::string_view> path) {
  const std::string_view name = path[0];
  if (path.size() == 2 && name == "cc_data" && path[1] == "id") return address(s.cc_id);
  if (path.size() != 1) return {};
  if (name == "channel") return to_string(s.ch);
  if (name == "resource_id") return s.resource_id;
  if (name == "status") return to_string(s.status);
  if (name == "email") return address(s.email);
  if (name == "phone") return address(s.phone);
  if (name == "provider") return address(s.provider);
  if (name == "subscription_id") return address(s.subscription_id);
  if (name == "cc_id") return address(s.cc_id);
  if (name == "subscriber_id") return address(s.subscriber_id);
  if (name == "user_id") return address(s.user_id);
  if (name == "channel_id") return address(s.channel_id);
  return field(s.fields, name);
}

}  // namespace

value lead_context::lookup(source root, std::span<const std::string_view> path) const {
  if (path.empty()) return {};
  switch (root) {
    case source::lead:
      if (lead_ == nullptr || path.size() != 1) return {};
      if (path[0] == "id") return lead_->id;
      return field(lead_->fields, path[0]);
    case source::subscription:
      return subscription_ == nullptr ? value() : subscription_value(*subscription_, path);
    case source::apicontent:
      return json(content_, path);
    case source::custom_data:
      return json(custom_data_, path);
  }
  return {};
}

value lead_context::json(std::optional<simdjson::dom::element> doc,
                         std::span<const std::string_view> path) const {
  if (!doc) return {};
  simdjson::dom::element e = *doc;
  for (const std::string_view name : path) {
    simdjson::simdjson_result<simdjson::dom::element> next;
    if (e.is_object()) {
      const simdjson::dom::object object = e.get_object().value_unsafe();
      next = object.at_key(name);
    } else if (e.is_array()) {
      std::size_t index = 0;
      const auto r = std::from_chars(name.data(), name.data() + name.size(), index);
      if (r.ec != std::errc() || r.ptr != name.data() + name.size()) return {};
      const simdjson::dom::array array = e.get_array().value_unsafe();
      next = array.at(index);
    } else {
      return {};
    }
    if (next.error()) return {};
    e = next.value_unsafe();
  }
  switch (e.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      return {};
    case simdjson::dom::element_type::BOOL:
      return e.get_bool().value_unsafe();
    case simdjson::dom::element_type::INT64:
      return e.get_int64().value_unsafe();
    case simdjson::dom::element_type::UINT64:
      return e.get_uint64().value_unsafe();
    case simdjson::dom::element_type::DOUBLE:
      return e.get_double().value_unsafe();
    case simdjson::dom::element_type::STRING:
      return e.get_string().value_unsafe();
    case simdjson::dom::element_type::ARRAY: {
      scratch_.clear();
      bool first = true;
      const simdjson::dom::array array = e.get_array().value_unsafe();
      for (const simdjson::dom::element item : array) {
        if (!first) scratch_ += ", ";
        first = false;
        if (item.is_string())
          scratch_ += item.get_string().value_unsafe();
        else if (!item.is_null())
          scratch_ += simdjson::minify(item);
      }
      return std::string_view(scratch_);
    }
    case simdjson::dom::element_type::OBJECT:
      scratch_ = simdjson::minify(e);
      return std::string_view(scratch_);
  }
  return {};
}

}  // namespace herald::templates
