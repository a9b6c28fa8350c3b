#include "herald/api/xml.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <simdjson.h>
#include <pugixml.hpp>

#include "herald/common/json.hpp"

namespace herald::api {

namespace {

// Root fields read as booleans or integers when they spell one.
constexpr std::array<std::string_view, 3> flag_fields{"skip_triggers", "skip_invalid_subscriptions",
                                                      "detect_geo"};
constexpr std::array<std::string_view, 5> count_fields{"trigger_id", "db_id", "resource_id",
                                                       "offset", "limit"};

bool is_one_of(std::string_view name, std::span<const std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Whether `name`, at `depth` (1: the root's children), is a list even when given once.
bool always_list(std::string_view name, std::size_t depth) {
  return (depth == 1 && (name == "data" || name == "attach")) || name == "subscriptions";
}

bool is_blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// An integer as JSON writes it: an optional '-', then digits without a leading zero.
bool is_integer(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  const auto digits = text.starts_with('-') ? text.substr(1) : text;
  return !digits.empty() && (digits.size() == 1 || digits.front() != '0');
}

class reader {
 public:
  explicit reader(const xml_limits& limits) : limits_(limits) {}

  std::optional<std::string> element(pugi::xml_node node, std::size_t depth, std::string& out) {
    const std::string_view name = node.name();
    if (depth > limits_.max_depth)
      return "body: <" + std::string(name) + "> is nested deeper than "
             + std::to_string(limits_.max_depth) + " elements";
    if (!simdjson::validate_utf8(name.data(), name.size()))
      return std::string("body: an element's name is not valid UTF-8");
    if (node.first_attribute())
      return "body: <" + std::string(name) + "> has attributes (" + node.first_attribute().name()
             + "); Herald's XML requests have none";
    std::vector<pugi::xml_node> elements;
    std::string text;
    for (auto child : node.children()) {
      if (child.type() == pugi::node_element) {
        elements.push_back(child);
      } else if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
        text += child.value();
      }
    }
    if (elements.empty()) {
      if (depth > 1) return value(name, depth, text, out);
      if (!is_blank(text))
        return std::string("body: <xml> holds text; expected an element a field");
      out += "{}";
      return std::nullopt;
    }
    if (!is_blank(text)) return "body: <" + std::string(name) + "> holds both text and elements";
    // Siblings of one name, in the order each name first appears.
    std::vector<std::pair<std::string_view, std::vector<pugi::xml_node>>> groups;
    std::unordered_map<std::string_view, std::size_t> index;
    for (auto e : elements) {
      const std::string_view n = e.name();
      auto [it, added] = index.emplace(n, groups.size());
      if (added) groups.emplace_back(n, std::vector<pugi::xml_node>{});
      groups[it->second].second.push_back(e);
    }
    out += '{';
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto& [n, nodes] = groups[g];
      if (g) out += ',';
      out += json_quote(n);
      out += ':';
      const bool list = nodes.size() > 1 || always_list(n, depth);
      if (list) out += '[';
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (i) out += ',';
        if (auto why = element(nodes[i], depth + 1, out)) return why;
      }
      if (list) out += ']';
    }
    out += '}';
    return std::nullopt;
  }

 private:
  std::optional<std::string> value(std::string_view name, std::size_t depth,
                                   const std::string& text, std::string& out) {
    if (!simdjson::validate_utf8(text.data(), text.size()))
      return "body: <" + std::string(name) + ">: its text is not valid UTF-8";
    // depth is the element's own: 2 for the root's children.
    if (depth == 2 && is_one_of(name, flag_fields) && (text == "true" || text == "false")) {
      out += text;
    } else if (depth == 2 && is_one_of(name, count_fields) && is_integer(text)) {
      out += text;
    } else {
      out += json_quote(text);
    }
    return std::nullopt;
  }

  const xml_limits& limits_;
};

// XML 1.0 allows no control characters but tab, newline and carriage return, even escaped.
std::string xml_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f ? '?' : c;
  }
  return out;
}

// A member's name as an element's: characters XML names do not allow become '_'.
std::string element_name(std::string_view key) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto u = static_cast<unsigned char>(key[i]);
    const bool letter = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
    const bool later = (u >= '0' && u <= '9') || u == '-' || u == '.';
    out += letter || (i > 0 && later) ? key[i] : '_';
  }
  return out.empty() ? "_" : out;
}

void write_value(pugi::xml_node parent, std::string_view name, simdjson::dom::element value);

void write_members(pugi::xml_node node, simdjson::dom::object object) {
  for (auto [key, value] : object) write_value(node, key, value);
}

void write_value(pugi::xml_node parent, std::string_view name, simdjson::dom::element value) {
  using simdjson::dom::element_type;
  if (value.type() == element_type::ARRAY) {
    const simdjson::dom::array items = value.get_array().value_unsafe();
    for (auto item : items) write_value(parent, name, item);
    return;
  }
  auto node = parent.append_child(element_name(name).c_str());
  switch (value.type()) {
    case element_type::OBJECT:
      write_members(node, value.get_object().value_unsafe());
      break;
    case element_type::STRING:
      node.text().set(xml_text(value.get_string().value_unsafe()).c_str());
      break;
    case element_type::INT64:
      node.text().set(std::to_string(value.get_int64().value_unsafe()).c_str());
      break;
    case element_type::UINT64:
      node.text().set(std::to_string(value.get_uint64().value_unsafe()).c_str());
      break;
    case element_type::DOUBLE:
      node.text().set(simdjson::minify(value).c_str());
      break;
    case element_type::BOOL:
      node.text().set(value.get_bool().value_unsafe() ? "true" : "false");
      break;
    case element_type::NULL_VALUE:
    case element_type::ARRAY:
      break;
  }
}

struct string_writer final : pugi::xml_writer {
  std::string out;
  void write(const void* data, std::size_t size) override {
    out.append(static_cast<const char*>(data), size);
  }
};

}  // namespace

std::optional<std::string> xml_request_to_json(std::string_view xml, std::string& json,
                                               const xml_limits& limits) {
  if (xml.size() > limits.max_bytes)
    return "body: the XML document is larger than " + std::to_string(limits.max_bytes) + " bytes";
  if (const auto tags = static_cast<std::size_t>(std::count(xml.begin(), xml.end(), '<'));
      tags > limits.max_tags)
    return "body: the XML document holds " + std::to_string(tags) + " tags, more than "
           + std::to_string(limits.max_tags);
  pugi::xml_document doc;
  // parse_doctype keeps a DOCTYPE as a node, so that it can be refused; nothing in it is read.
  const auto parsed = doc.load_buffer(
      xml.data(), xml.size(), pugi::parse_default | pugi::parse_doctype | pugi::parse_declaration,
      pugi::encoding_utf8);
  if (!parsed)
    return std::string("body: not well-formed XML (") + parsed.description() + " at byte "
           + std::to_string(parsed.offset) + ")";
  pugi::xml_node root;
  for (auto node : doc.children()) {
    if (node.type() == pugi::node_doctype)
      return std::string(
          "body: a DOCTYPE is refused: Herald reads no DTD and expands no entities, internal or "
          "external");
    if (node.type() == pugi::node_declaration) {
      std::string encoding = node.attribute("encoding").value();
      std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (!encoding.empty() && encoding != "utf-8" && encoding != "utf8")
        return "body: the XML document declares encoding \""
               + xml_text(node.attribute("encoding").value()) + "\"; Herald reads UTF-8 only";
      continue;
    }
    if (node.type() != pugi::node_element) continue;
    if (root) return std::string("body: the XML document holds more than one root element");
    root = node;
  }
  if (!root) return std::string("body: the XML document holds no element; expected <xml>");
  if (std::string_view(root.name()) != "xml")
    return "body: the XML document's root must be <xml>, not <" + std::string(root.name()) + ">";
  std::string out;
  reader r(limits);
  if (auto why = r.element(root, 1, out)) return why;
  json = std::move(out);
  return std::nullopt;
}

std::string json_reply_to_xml(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(json.data(), json.size()).get(object) != simdjson::SUCCESS)
    throw std::invalid_argument("json_reply_to_xml: the reply is not a JSON object");
  pugi::xml_document doc;
  write_members(doc.append_child("xml"), object);
  string_writer w;
  doc.save(w, "", pugi::format_indent | pugi::format_no_declaration, pugi::encoding_utf8);
  return std::move(w.out);
}

}  // namespace herald::api
