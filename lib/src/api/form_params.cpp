#include "herald/api/form_params.hpp"

#include <map>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "herald/common/json.hpp"

namespace herald::api {

namespace {

// One value of the tree a text builds: unset while only its path is known.
struct node {
  enum class kind { unset, value, list, object };
  kind k = kind::unset;
  std::string value;
  std::map<std::uint64_t, std::unique_ptr<node>> items;                // a list, by index
  std::vector<std::pair<std::string, std::unique_ptr<node>>> members;  // an object, in order
  std::unordered_map<std::string, std::size_t> member_index;
};

// One step of a key's path: a name, an index, or `[]` (append).
struct step {
  enum class kind { name, index, append };
  kind k = kind::name;
  std::string name;
  std::uint64_t index = 0;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `key` as an error names it: at most 100 bytes, cut on a character boundary.
std::string shown(std::string_view key) {
  constexpr std::size_t max_shown = 100;
  if (key.size() <= max_shown) return std::string(key);
  std::size_t n = max_shown;
  while (n > 0 && (static_cast<unsigned char>(key[n]) & 0xC0) == 0x80) --n;
  return std::string(key.substr(0, n)) + "...";
}

form_error refuse(std::string_view key, std::string reason) {
  return {shown(key), std::move(reason)};
}

// The steps of a decoded key `name[a][0][]`, or why it is malformed.
std::optional<form_error> split_key(std::string_view key, const form_limits& limits,
                                    std::vector<step>& out) {
  const auto open = key.find('[');
  const auto name = key.substr(0, open);
  if (name.empty()) return refuse(key, "a parameter needs a name before any '['");
  if (name.find(']') != std::string_view::npos)
    return refuse(key, "malformed brackets: a ']' without its '['");
  out.push_back({step::kind::name, std::string(name), 0});
  std::size_t at = open;
  while (at != std::string_view::npos && at < key.size()) {
    if (key[at] != '[') return refuse(key, "malformed brackets: only another '[' may follow a ']'");
    const auto close = key.find(']', at + 1);
    if (close == std::string_view::npos) return refuse(key, "malformed brackets: a '[' not closed");
    const auto seg = key.substr(at + 1, close - at - 1);
    if (seg.find('[') != std::string_view::npos)
      return refuse(key, "malformed brackets: a '[' inside brackets");
    if (out.size() > limits.max_depth)
      return refuse(key, "nested deeper than " + std::to_string(limits.max_depth) + " levels");
    step s;
    if (seg.empty()) {
      s.k = step::kind::append;
    } else if (seg.find_first_not_of("0123456789") == std::string_view::npos) {
      if (seg.size() > 1 && seg.front() == '0')
        return refuse(key, "an index must not have a leading zero");
      s.k = step::kind::index;
      for (char c : seg) {
        s.index = s.index * 10 + static_cast<std::uint64_t>(c - '0');
        if (s.index > limits.max_index) break;
      }
      if (s.index > limits.max_index)
        return refuse(key, "index over " + std::to_string(limits.max_index));
    } else {
      s.k = step::kind::name;
      s.name = std::string(seg);
    }
    out.push_back(std::move(s));
    at = close + 1;
  }
  return std::nullopt;
}

// Puts `value` at the path `steps` under `root`.
std::optional<form_error> insert(node& root, std::string_view key, const std::vector<step>& steps,
                                 std::string value, const form_limits& limits) {
  node* cur = &root;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const step& s = steps[i];
    const bool by_name = s.k == step::kind::name;
    if (cur->k == node::kind::value) return refuse(key, "given both as a value and with brackets");
    if (cur->k == node::kind::unset) cur->k = by_name ? node::kind::object : node::kind::list;
    if (by_name != (cur->k == node::kind::object))
      return refuse(key, "mixes numeric indexes and names at one level");
    node* child = nullptr;
    if (by_name) {
      auto [it, fresh] = cur->member_index.try_emplace(s.name, cur->members.size());
      if (fresh) cur->members.emplace_back(s.name, std::make_unique<node>());
      child = cur->members[it->second].second.get();
    } else {
      std::uint64_t index = s.index;
      if (s.k == step::kind::append) {
        index = cur->items.empty() ? 0 : cur->items.rbegin()->first + 1;
        if (index > limits.max_index)
          return refuse(key, "index over " + std::to_string(limits.max_index));
      }
      auto& slot = cur->items[index];
      if (!slot) slot = std::make_unique<node>();
      child = slot.get();
    }
    cur = child;
  }
  if (cur->k == node::kind::value) return refuse(key, "given twice");
  if (cur->k != node::kind::unset) return refuse(key, "given both as a value and with brackets");
  cur->k = node::kind::value;
  cur->value = std::move(value);
  return std::nullopt;
}

// Every list under `n` (at `path`) indexed from 0 without gaps.
std::optional<form_error> check_lists(const node& n, const std::string& path) {
  if (n.k == node::kind::list) {
    std::uint64_t expected = 0;
    for (const auto& [index, child] : n.items) {
      if (index != expected)
        return refuse(path + "[" + std::to_string(expected) + "]",
                      "missing: a list's indexes must run from 0 without gaps (" + path + "["
                          + std::to_string(index) + "] is given)");
      if (auto e = check_lists(*child, path + "[" + std::to_string(index) + "]")) return e;
      ++expected;
    }
  } else if (n.k == node::kind::object) {
    for (const auto& [name, child] : n.members) {
      if (auto e = check_lists(*child, path.empty() ? name : path + "[" + name + "]")) return e;
    }
  }
  return std::nullopt;
}

void write_json(const node& n, std::string& out) {
  switch (n.k) {
    case node::kind::unset:  // not reachable: every path ends in a value
    case node::kind::value:
      out += '"';
      append_json_escaped(out, n.value);
      out += '"';
      break;
    case node::kind::list: {
      out += '[';
      bool first = true;
      for (const auto& [index, child] : n.items) {
        if (!first) out += ',';
        first = false;
        write_json(*child, out);
      }
      out += ']';
      break;
    }
    case node::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [name, child] : n.members) {
        if (!first) out += ',';
        first = false;
        out += '"';
        append_json_escaped(out, name);
        out += "\":";
        write_json(*child, out);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (text.size() - i < 3) return std::nullopt;
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;  // a continuation byte first, an overlong lead (C0, C1) or F5..FF
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF
        || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p += n + 1;
  }
  return true;
}

form_result parse_form_params(std::string_view text, const form_limits& limits) {
  form_result result;
  node root;
  root.k = node::kind::object;
  std::size_t pairs = 0;
  std::vector<step> steps;
  auto fail = [&result](form_error e) {
    result.error = std::move(e);
    return std::move(result);
  };
  while (!text.empty()) {
    const auto amp = text.find('&');
    const auto part = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    const auto raw_key = part.substr(0, eq);
    const auto raw_value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    if (++pairs > limits.max_pairs)
      return fail(refuse(raw_key, "more than " + std::to_string(limits.max_pairs) + " parameters"));
    auto key = percent_decode(raw_key);
    if (!key)
      return fail(
          refuse(raw_key, "bad percent-encoding: a '%' must be followed by two hex digits"));
    if (!valid_utf8(*key)) return fail(refuse(raw_key, "the name is not valid UTF-8"));
    auto value = percent_decode(raw_value);
    if (!value)
      return fail(refuse(
          *key, "bad percent-encoding in the value: a '%' must be followed by two hex digits"));
    if (!valid_utf8(*value)) return fail(refuse(*key, "the value is not valid UTF-8"));
    steps.clear();
    if (auto e = split_key(*key, limits, steps)) return fail(std::move(*e));
    if (auto e = insert(root, *key, steps, std::move(*value), limits)) return fail(std::move(*e));
  }
  if (auto e = check_lists(root, "")) return fail(std::move(*e));
  write_json(root, result.json);
  return result;
}

}  // namespace herald::api
