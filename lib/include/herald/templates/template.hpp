// Message templates (SPEC.md section 2, "Templates"): a trigger's text with `{lead._fname}`,
// `{subscription.status}`, `{apicontent.order.id}` and `{custom_data.promo}` variables and the
// filters `default:"..."`, `upper`, `lower`, `capitalize` and `date:"%d.%m.%Y"`, compiled once per
// trigger version and rendered per message without parsing again.
//
// Syntax:
//   {{ and }}            a literal `{` and `}`; a `}` alone is an error
//   {ROOT.NAME[.NAME...] [| FILTER[:"ARG"]]...}
//                        ROOT is lead, subscription, apicontent or custom_data; a NAME is letters,
//                        digits, `_`, `-`, `$`, `@` or any non-ASCII character; spaces may
//                        surround the names, the `|` and the `:`
//   "ARG"                double quotes; `\"` and `\\` inside
//
// Rendering: a missing variable (or a JSON null) renders empty; numbers render as JSON writes them
// (7, 2.5, no trailing .0); bools as true/false; a tag list as its tags joined with ", ".
// Filters apply left to right:
//   default:"X"   X when the text so far is empty (a missing variable, or an empty string)
//   upper, lower  Unicode case mapping of each character (utf8proc): "иван" -> "ИВАН"
//   capitalize    the first letter in title case, every other character lower case, as a Russian
//                 marketer expects of a name: "иван" -> "Иван", "ИВАН" -> "Иван"
//   date:"FMT"    reads YYYY-MM-DD, YYYY-MM-DD[T ]HH:MM[:SS[.fff]][Z|±hh[[:]mm]], D[D].M[M].YYYY
//                 or epoch seconds (a number, or a string of digits; from 100,000,000,000 on,
//                 milliseconds) and writes FMT, whose conversions are %d %m %Y %y %H %M %S,
//                 %F (%Y-%m-%d), %T (%H:%M:%S), %% and the unpadded %-d %-m %-H %-M %-S; any
//                 other is a compile error. A written date keeps its own wall-clock time (its
//                 offset is not applied); epoch seconds are shown in UTC. Text that is not a
//                 valid date renders empty, so that a following default applies.
// Output is always valid UTF-8: bytes that are not (in the template or in a value) become U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace herald::templates {

enum class errc {
  unterminated_tag = 1,  // a `{` with no `}` after it
  stray_close_brace,     // a `}` outside a variable (a literal one is written `}}`)
  empty_tag,             // `{}`: a variable without a name
  unknown_root,          // a variable not under lead, subscription, apicontent or custom_data
  bad_variable,          // a variable that is not ROOT.NAME[.NAME...]
  unknown_filter,        // a filter other than default, upper, lower, capitalize, date
  bad_filter_argument,   // a missing, extra, unquoted or invalid filter argument
  unexpected_character,  // something else where `|` or `}` was expected
  size_limit_exceeded,   // the rendered message is longer than the provider takes
};

const std::error_category& category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// Where a template does not parse and why, for the trigger save to report.
struct compile_error {
  errc code = errc::unterminated_tag;
  std::size_t offset = 0;  // bytes from the start of the text
  std::size_t line = 1;    // 1-based
  std::size_t column = 1;  // 1-based, in characters (code points) from the start of the line
  std::string reason;      // what is wrong, e.g. "unknown filter `uper`"

  // "line 2, column 7: unknown filter `uper` (filters: default, upper, lower, capitalize, date)"
  std::string message() const;
};

// Where a variable's value comes from.
enum class source : std::uint8_t {
  lead,          // the profile: `id` and its fields
  subscription,  // the subscription the message goes to
  apicontent,    // the request's `content` object
  custom_data,   // the request's (or the item's) `custom_data` object
};
std::string_view to_string(source s);

// A variable's value as the context holds it; nothing is copied. Strings need not be valid UTF-8.
class value {
 public:
  using string_list = std::span<const std::string>;
  using view_list = std::span<const std::string_view>;

  value() = default;  // missing
  value(std::nullptr_t) {}
  value(bool b) : v_(b) {}
  value(std::int64_t n) : v_(n) {}
  value(int n) : v_(std::int64_t{n}) {}
  value(std::uint64_t n) : v_(n) {}
  value(double d) : v_(d) {}
  value(std::string_view s) : v_(s) {}
  value(const char* s) : v_(std::string_view(s)) {}
  value(const std::string& s) : v_(std::string_view(s)) {}
  value(std::string&&) = delete;  // would view a temporary
  value(string_list tags) : v_(tags) {}
  value(view_list tags) : v_(tags) {}

  bool missing() const { return std::holds_alternative<std::monostate>(v_); }

  using variant = std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double,
                               std::string_view, string_list, view_list>;
  const variant& get() const { return v_; }

 private:
  variant v_;
};

// What a template's variables are looked up in, for one message. `path` holds the names after the
// root: {"order", "id"} for `{apicontent.order.id}`. The value, and what it views, need only stay
// valid until the next lookup on the same context (so a context may render into a buffer of its
// own). lead_context.hpp has the one the trigger runner uses.
class context {
 public:
  virtual value lookup(source root, std::span<const std::string_view> path) const = 0;

 protected:
  ~context() = default;
};

struct render_error {
  errc code = errc::size_limit_exceeded;
  std::size_t limit = 0;  // characters
  std::string reason;     // "the message is over the limit of 4096 characters"
};

// A compiled template: immutable, cheap to copy (a shared pointer), safe to render from many
// threads at once.
struct compile_result;

class compiled_template {
 public:
  // Characters counted by render's size limit: Unicode code points of the rendered UTF-8.
  static constexpr std::size_t no_limit = std::numeric_limits<std::size_t>::max();

  compiled_template();  // the empty template

  // Appends the message to `out`. Over `size_limit` characters (code points, as LeadConverter and
  // Telegram count a message's length) it leaves `out` as it was and returns the error naming the
  // limit. Allocates nothing but the growth of `out`.
  std::optional<render_error> render(const context& ctx, std::string& out,
                                     std::size_t size_limit = no_limit) const;

  // The text as given to compile.
  std::string_view source_text() const;
  // Whether the template has any variable at all (a text without any renders the same for all).
  bool has_variables() const;

  struct impl;

 private:
  explicit compiled_template(std::shared_ptr<const impl> p) : impl_(std::move(p)) {}
  friend compile_result compile(std::string_view text);
  std::shared_ptr<const impl> impl_;
};

struct compile_result {
  std::optional<compiled_template> tmpl;
  std::optional<compile_error> error;  // set exactly when tmpl is not

  explicit operator bool() const { return tmpl.has_value(); }
};

// Parses `text`. Never throws on any input (std::bad_alloc aside).
compile_result compile(std::string_view text);

}  // namespace herald::templates

template <>
struct std::is_error_code_enum<herald::templates::errc> : std::true_type {};
