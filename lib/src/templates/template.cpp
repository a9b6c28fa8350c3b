#include "herald/templates/template.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <vector>

#include "templates/text.hpp"

namespace herald::templates {

namespace {

class category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "herald.templates"; }
  std::string message(int e) const override {
    switch (static_cast<errc>(e)) {
      case errc::unterminated_tag:
        return "a `{` is not closed by `}`";
      case errc::stray_close_brace:
        return "a `}` outside a variable (write `}}` for a literal one)";
      case errc::empty_tag:
        return "a variable without a name";
      case errc::unknown_root:
        return "a variable not under lead, subscription, apicontent or custom_data";
      case errc::bad_variable:
        return "a variable that is not ROOT.NAME";
      case errc::unknown_filter:
        return "an unknown filter";
      case errc::bad_filter_argument:
        return "a bad filter argument";
      case errc::unexpected_character:
        return "an unexpected character in a variable";
      case errc::size_limit_exceeded:
        return "the message is over the provider's size limit";
    }
    return "unknown template error";
  }
};

enum class filter_kind : std::uint8_t { fallback, upper, lower, capitalize, date };

struct filter_name {
  std::string_view name;
  filter_kind kind;
  bool takes_argument;
};
constexpr std::array<filter_name, 5> filter_names{{
    {"default", filter_kind::fallback, true},
    {"upper", filter_kind::upper, false},
    {"lower", filter_kind::lower, false},
    {"capitalize", filter_kind::capitalize, false},
    {"date", filter_kind::date, true},
}};
constexpr std::string_view filter_list = "default, upper, lower, capitalize, date";

constexpr std::array<std::pair<std::string_view, source>, 4> roots{{
    {"lead", source::lead},
    {"subscription", source::subscription},
    {"apicontent", source::apicontent},
    {"custom_data", source::custom_data},
}};
constexpr std::string_view root_list = "lead, subscription, apicontent, custom_data";

// A range of the compiled template's storage.
struct span_ref {
  std::size_t offset = 0, size = 0;
};

struct filter {
  filter_kind kind;
  span_ref argument;
};

}  // namespace

// Literal text and names are kept in one string; the pieces refer to ranges of it.
struct compiled_template::impl {
  struct piece {
    bool variable = false;
    span_ref text;          // a literal's text
    std::size_t chars = 0;  // a literal's length in characters
    source root = source::lead;
    std::size_t path_begin = 0, path_size = 0;      // in `names`
    std::size_t filter_begin = 0, filter_size = 0;  // in `filters`
  };

  std::string source_text;
  std::string storage;
  std::vector<piece> pieces;
  std::vector<std::string_view> names;  // into `storage`, set once it is complete
  std::vector<span_ref> name_refs;
  std::vector<filter> filters;

  std::string_view view(span_ref r) const {
    return std::string_view(storage).substr(r.offset, r.size);
  }
};

namespace {

bool name_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
         || c == '-' || c == '$' || c == '@' || c >= 0x80;
}

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The character at s[i] as a reader would name it in an error.
std::string describe(std::string_view s, std::size_t i) {
  const char c = s[i];
  if (c == '\n' || c == '\r') return "a line break";
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return "a control character";
  const std::size_t n = detail::utf8_length(s, i);
  if (n == 0) return "a byte that is not UTF-8";
  return "`" + std::string(s.substr(i, n)) + "`";
}

class parser {
 public:
  explicit parser(std::string_view text)
      : s_(text), t_(std::make_shared<compiled_template::impl>()) {
    t_->source_text = text;
    t_->storage.reserve(text.size());
  }

  // Parses the text; false when it does not parse (error() says why).
  bool run() {
    std::size_t literal_from = t_->storage.size();
    const auto end_literal = [&] {
      if (t_->storage.size() == literal_from) return;
      span_ref r{literal_from, t_->storage.size() - literal_from};
      compiled_template::impl::piece p;
      p.text = r;
      p.chars = detail::count_chars(t_->view(r));
      t_->pieces.push_back(p);
    };
    std::size_t run = 0;  // s_[run, i_) is literal text not yet stored
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c != '{' && c != '}') {
        ++i_;
        continue;
      }
      detail::append_valid_utf8(t_->storage, s_.substr(run, i_ - run));
      if (i_ + 1 < s_.size() && s_[i_ + 1] == c) {  // `{{` or `}}`
        t_->storage += c;
        i_ += 2;
        run = i_;
        continue;
      }
      if (c == '}')
        return failed(errc::stray_close_brace, i_,
                      "a `}` without its `{` (write `}}` for a literal `}`)");
      end_literal();
      if (!variable()) return false;
      literal_from = t_->storage.size();
      run = i_;
    }
    detail::append_valid_utf8(t_->storage, s_.substr(run));
    end_literal();
    for (const span_ref r : t_->name_refs) t_->names.push_back(t_->view(r));
    return true;
  }

  std::shared_ptr<compiled_template::impl> take() { return std::move(t_); }
  compile_error& error() { return error_; }

 private:
  bool failed(errc code, std::size_t at, std::string reason) {
    compile_error& e = error_;
    e.code = code;
    e.offset = at;
    e.reason = std::move(reason);
    std::size_t line_start = 0;
    for (std::size_t k = 0; k < at; ++k)
      if (s_[k] == '\n') ++e.line, line_start = k + 1;
    e.column = 1 + detail::count_chars(s_.substr(line_start, at - line_start));
    return false;
  }

  void skip_space() {
    while (i_ < s_.size() && space(s_[i_])) ++i_;
  }
  std::string_view name() {
    const std::size_t from = i_;
    while (i_ < s_.size() && name_byte(static_cast<unsigned char>(s_[i_]))) ++i_;
    return s_.substr(from, i_ - from);
  }
  span_ref store(std::string_view text) {
    span_ref r{t_->storage.size(), 0};
    detail::append_valid_utf8(t_->storage, text);
    r.size = t_->storage.size() - r.offset;
    return r;
  }

  // At a `{` that opens a variable: reads it up to its `}`.
  bool variable() {
    const std::size_t open = i_++;
    compiled_template::impl::piece p;
    p.variable = true;
    p.path_begin = t_->name_refs.size();
    p.filter_begin = t_->filters.size();

    skip_space();
    if (i_ == s_.size()) return unterminated(open);
    if (s_[i_] == '}')
      return failed(errc::empty_tag, open, "`{}` names no variable (write `{{` for a literal `{`)");
    const std::size_t root_at = i_;
    const std::string_view root = name();
    if (root.empty())
      return failed(errc::bad_variable, i_,
                    "expected a variable such as lead._fname after `{`, found " + describe(s_, i_)
                        + " (write `{{` for a literal `{`)");
    const auto r =
        std::find_if(roots.begin(), roots.end(), [&](auto& e) { return e.first == root; });
    if (r == roots.end())
      return failed(errc::unknown_root, root_at,
                    "unknown variable `" + std::string(root) + "` (variables start with "
                        + std::string(root_list) + ")");
    p.root = r->second;
    if (i_ == s_.size()) return unterminated(open);
    if (s_[i_] != '.')
      return failed(
          errc::bad_variable, i_,
          "`" + std::string(root) + "` needs a field name: {" + std::string(root) + ".NAME}");
    while (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      const std::size_t at = i_;
      const std::string_view segment = name();
      if (segment.empty()) {
        if (i_ == s_.size()) return unterminated(open);
        return failed(errc::bad_variable, at,
                      "expected a field name after `.`, found " + describe(s_, at));
      }
      t_->name_refs.push_back(store(segment));
    }
    p.path_size = t_->name_refs.size() - p.path_begin;

    for (;;) {
      skip_space();
      if (i_ == s_.size()) return unterminated(open);
      if (s_[i_] == '}') break;
      if (s_[i_] != '|')
        return failed(errc::unexpected_character, i_,
                      "expected `|` or `}` after the variable, found " + describe(s_, i_));
      ++i_;
      skip_space();
      if (!filter_()) return false;
    }
    ++i_;
    p.filter_size = t_->filters.size() - p.filter_begin;
    t_->pieces.push_back(p);
    return true;
  }

  bool filter_() {
    const std::size_t at = i_;
    const std::string_view n = name();
    if (n.empty()) {
      if (i_ == s_.size()) return unterminated(at);
      return failed(errc::unknown_filter, at,
                    "expected a filter name after `|`, found " + describe(s_, at)
                        + " (filters: " + std::string(filter_list) + ")");
    }
    const auto f = std::find_if(filter_names.begin(), filter_names.end(),
                                [&](auto& e) { return e.name == n; });
    if (f == filter_names.end())
      return failed(
          errc::unknown_filter, at,
          "unknown filter `" + std::string(n) + "` (filters: " + std::string(filter_list) + ")");
    filter out{f->kind, {}};
    const std::string example =
        f->kind == filter_kind::date ? "date:\"%d.%m.%Y\"" : "default:\"friend\"";
    skip_space();
    if (i_ < s_.size() && s_[i_] == ':') {
      if (!f->takes_argument)
        return failed(errc::bad_filter_argument, i_, "`" + std::string(n) + "` takes no argument");
      ++i_;
      skip_space();
      if (i_ == s_.size() || s_[i_] != '"')
        return failed(
            errc::bad_filter_argument, i_,
            "the argument of `" + std::string(n) + "` must be in double quotes: " + example);
      const std::size_t quote = i_++;
      const std::size_t from = i_;
      while (i_ < s_.size() && s_[i_] != '"') i_ += s_[i_] == '\\' ? 2 : 1;
      if (i_ >= s_.size())
        return failed(errc::bad_filter_argument, quote,
                      "the argument of `" + std::string(n) + "` has no closing `\"`");
      const std::string_view raw = s_.substr(from, i_ - from);
      ++i_;
      if (f->kind == filter_kind::date) {
        if (const auto fault = detail::check_date_format(raw))
          return failed(errc::bad_filter_argument, from + fault->offset,
                        "unknown date conversion `" + std::string(fault->conversion)
                            + "` (conversions: %d %m %Y %y %H %M %S %F %T %%, and %-d %-m %-H "
                              "%-M %-S unpadded)");
      }
      // Unescape `\"` and `\\`; any other backslash stays as written.
      std::string unescaped;
      for (std::size_t k = 0; k < raw.size(); ++k) {
        if (raw[k] == '\\' && k + 1 < raw.size() && (raw[k + 1] == '"' || raw[k + 1] == '\\')) ++k;
        unescaped += raw[k];
      }
      out.argument = store(unescaped);
    } else if (f->takes_argument) {
      return failed(errc::bad_filter_argument, i_,
                    "`" + std::string(n) + "` needs an argument: " + example);
    }
    t_->filters.push_back(out);
    return true;
  }

  bool unterminated(std::size_t open) {
    return failed(errc::unterminated_tag, open,
                  "this `{` is not closed by `}` (write `{{` for a literal `{`)");
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::shared_ptr<compiled_template::impl> t_;
  compile_error error_;
};

void append_integer(std::string& out, auto n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

// As JSON.stringify writes a number: integers in full below 1e21, the shortest exact form else.
void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) return;  // JSON has none; as missing
  char buf[64];
  const bool whole = std::fabs(d) < 1e21 && d == std::trunc(d);
  const auto r = whole ? std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed)
                       : std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
}

template <class List>
void append_list(std::string& out, const List& items) {
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ", ";
    first = false;
    detail::append_valid_utf8(out, item);
  }
}

void append_value(std::string& out, const value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
        } else if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::uint64_t>) {
          append_integer(out, x);
        } else if constexpr (std::is_same_v<T, double>) {
          append_double(out, x);
        } else if constexpr (std::is_same_v<T, std::string_view>) {
          detail::append_valid_utf8(out, x);
        } else {
          append_list(out, x);
        }
      },
      v.get());
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

std::string compile_error::message() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + reason;
}

std::string_view to_string(source s) {
  for (const auto& [name, root] : roots)
    if (root == s) return name;
  return "?";
}

compiled_template::compiled_template() {
  static const std::shared_ptr<const impl> empty = std::make_shared<const impl>();
  impl_ = empty;
}

std::string_view compiled_template::source_text() const {
  return impl_->source_text;
}

bool compiled_template::has_variables() const {
  return std::any_of(impl_->pieces.begin(), impl_->pieces.end(),
                     [](const impl::piece& p) { return p.variable; });
}

std::optional<render_error> compiled_template::render(const context& ctx, std::string& out,
                                                      std::size_t size_limit) const {
  const impl& t = *impl_;
  const std::size_t base = out.size();
  std::size_t chars = 0;
  for (const impl::piece& p : t.pieces) {
    if (!p.variable) {
      out.append(t.view(p.text));
      chars += p.chars;
    } else {
      const std::size_t from = out.size();
      append_value(out, ctx.lookup(p.root, std::span(t.names).subspan(p.path_begin, p.path_size)));
      for (std::size_t k = 0; k < p.filter_size; ++k) {
        const filter& f = t.filters[p.filter_begin + k];
        switch (f.kind) {
          case filter_kind::fallback:
            if (out.size() == from) out.append(t.view(f.argument));
            break;
          case filter_kind::upper:
            detail::map_case(out, from, detail::case_mapping::upper);
            break;
          case filter_kind::lower:
            detail::map_case(out, from, detail::case_mapping::lower);
            break;
          case filter_kind::capitalize:
            detail::map_case(out, from, detail::case_mapping::capitalize);
            break;
          case filter_kind::date:
            detail::format_date(out, from, t.view(f.argument));
            break;
        }
      }
      chars += detail::count_chars(std::string_view(out).substr(from));
    }
    if (chars > size_limit) {
      out.resize(base);
      render_error e;
      e.limit = size_limit;
      e.reason = "the message is over the provider's limit of " + std::to_string(size_limit)
                 + " characters";
      return e;
    }
  }
  return std::nullopt;
}

compile_result compile(std::string_view text) {
  parser p(text);
  compile_result result;
  if (p.run())
    result.tmpl = compiled_template(p.take());
  else
    result.error = std::move(p.error());
  return result;
}

}  // namespace herald::templates
