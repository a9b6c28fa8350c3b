// Message templates without I/O: the syntax, each filter (Cyrillic case mapping included), dates,
// missing variables, the fault kinds with their positions, the size limit, invalid UTF-8, random
// input, and that rendering allocates nothing but its output.
//
// Suites are named Template* so that --gtest_filter='Template*' selects them.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "herald/profiles/profile.hpp"
#include "herald/templates/lead_context.hpp"
#include "herald/templates/template.hpp"

// Counts the allocations of this thread while `counting` is set (TemplateRender.AllocatesNothing).
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return ::operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using namespace herald::templates;
namespace profiles = herald::profiles;

// Variables by their full name ("lead._fname"), for tests of the syntax and the filters.
class map_context final : public context {
 public:
  std::map<std::string, value, std::less<>> values;

  value lookup(source root, std::span<const std::string_view> path) const override {
    std::string key(to_string(root));
    for (const std::string_view n : path) key += '.', key += n;
    const auto it = values.find(key);
    return it == values.end() ? value() : it->second;
  }
};

compiled_template must_compile(std::string_view text) {
  compile_result r = compile(text);
  EXPECT_TRUE(r) << text << ": " << (r.error ? r.error->message() : "");
  return r ? *r.tmpl : compiled_template();
}

std::string render(std::string_view text, const context& ctx) {
  std::string out;
  const auto err = must_compile(text).render(ctx, out);
  EXPECT_FALSE(err) << text;
  return out;
}

std::string render(std::string_view text, const std::string& fname) {
  map_context ctx;
  ctx.values.emplace("lead._fname", value(fname));
  return render(text, ctx);
}

compile_error must_fail(std::string_view text) {
  compile_result r = compile(text);
  EXPECT_FALSE(r) << text << " compiled";
  return r.error.value_or(compile_error{});
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80                ? 1
                    : c >= 0xC2 && c < 0xE0 ? 2
                    : c >= 0xE0 && c < 0xF0 ? 3
                    : c >= 0xF0 && c < 0xF5 ? 4
                                            : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    const auto c1 = static_cast<unsigned char>(s[i + 1 < s.size() ? i + 1 : i]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90)
        || (c == 0xF4 && c1 > 0x8F))
      return false;
    i += n;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Syntax

TEST(TemplateSyntax, TextWithoutVariablesIsItself) {
  const map_context ctx;
  EXPECT_EQ(render("Привет, это пример отправки только текста", ctx),
            "Привет, это пример отправки только текста");
  EXPECT_EQ(render("", ctx), "");
  EXPECT_FALSE(must_compile("plain").has_variables());
  EXPECT_TRUE(must_compile("{lead.id}").has_variables());
  EXPECT_EQ(must_compile("a {lead.id} b").source_text(), "a {lead.id} b");
}

TEST(TemplateSyntax, DoubledBracesAreLiteral) {
  const map_context ctx;
  EXPECT_EQ(render("{{", ctx), "{");
  EXPECT_EQ(render("}}", ctx), "}");
  EXPECT_EQ(render("{{lead._fname}}", ctx), "{lead._fname}");
  EXPECT_EQ(render("a {{ b }} c {{{{", ctx), "a { b } c {{");
  EXPECT_EQ(render("{{{lead._fname}}}", "Иван"), "{Иван}");
  EXPECT_FALSE(must_compile("{{lead._fname}}").has_variables());
}

TEST(TemplateSyntax, VariablesOfEachRootAndNestedPaths) {
  map_context ctx;
  ctx.values.emplace("lead._fname", value("Иван"));
  ctx.values.emplace("subscription.status", value("active"));
  ctx.values.emplace("apicontent.order.id", value(std::int64_t{42}));
  ctx.values.emplace("custom_data.promo", value("SALE"));
  EXPECT_EQ(render("{lead._fname}, {subscription.status}, заказ {apicontent.order.id}, "
                   "код {custom_data.promo}",
                   ctx),
            "Иван, active, заказ 42, код SALE");
}

TEST(TemplateSyntax, SpacesAroundNamesFiltersAndArguments) {
  EXPECT_EQ(render("{ lead._fname }", "иван"), "иван");
  EXPECT_EQ(render("{lead._fname|upper}", "иван"), "ИВАН");
  EXPECT_EQ(render("{  lead._fname  |  capitalize  }", "иван"), "Иван");
  EXPECT_EQ(render("{lead.x | default : \"друг\" }", ""), "друг");
  EXPECT_EQ(render("{lead.x\n| default:\"друг\"\n}", ""), "друг");
}

TEST(TemplateSyntax, NamesMayHoldDigitsDashesAndNonAsciiLetters) {
  map_context ctx;
  ctx.values.emplace("custom_data.order-id", value("A-1"));
  ctx.values.emplace("custom_data.город", value("Москва"));
  ctx.values.emplace("apicontent.items.0.name", value("чай"));
  EXPECT_EQ(render("{custom_data.order-id} {custom_data.город} {apicontent.items.0.name}", ctx),
            "A-1 Москва чай");
}

TEST(TemplateSyntax, ArgumentsUnescapeQuotesAndBackslashes) {
  EXPECT_EQ(render(R"({lead.x | default:"say \"hi\" \\ now"})", ""), R"(say "hi" \ now)");
  EXPECT_EQ(render(R"({lead.x | default:"a\nb"})", ""), R"(a\nb)");  // other escapes kept
  EXPECT_EQ(render(R"({lead.x | default:"{}|:"})", ""), "{}|:");
  EXPECT_EQ(render(R"({lead.x | default:""})", ""), "");
}

// ---------------------------------------------------------------------------------------------
// Values

TEST(TemplateValues, MissingRendersEmpty) {
  const map_context ctx;
  EXPECT_EQ(render("Здравствуйте, {lead._fname}!", ctx), "Здравствуйте, !");
  EXPECT_EQ(render("[{lead.a}{subscription.b}{apicontent.c.d}{custom_data.e}]", ctx), "[]");
  map_context with_null;
  with_null.values.emplace("lead.x", value(nullptr));
  EXPECT_EQ(render("[{lead.x}]", with_null), "[]");
}

TEST(TemplateValues, NumbersAndBoolsAsJsonWritesThem) {
  map_context ctx;
  ctx.values.emplace("lead.i", value(std::int64_t{-7}));
  ctx.values.emplace("lead.u", value(std::uint64_t{18446744073709551615u}));
  ctx.values.emplace("lead.d", value(2.5));
  ctx.values.emplace("lead.whole", value(3.0));
  ctx.values.emplace("lead.big", value(1e20));
  ctx.values.emplace("lead.huge", value(1e21));
  ctx.values.emplace("lead.small", value(0.1));
  ctx.values.emplace("lead.nan", value(std::nan("")));
  ctx.values.emplace("lead.t", value(true));
  ctx.values.emplace("lead.f", value(false));
  EXPECT_EQ(
      render("{lead.i} {lead.u} {lead.d} {lead.whole} {lead.big} {lead.huge} {lead.small}", ctx),
      "-7 18446744073709551615 2.5 3 100000000000000000000 1e+21 0.1");
  EXPECT_EQ(render("[{lead.nan}] {lead.t} {lead.f}", ctx), "[] true false");
  EXPECT_EQ(render("{lead.nan | default:\"n/a\"}", ctx), "n/a");
}

TEST(TemplateValues, TagListsJoinedWithCommas) {
  const std::vector<std::string> tags{"vip", "новый", "sale"};
  const std::vector<std::string_view> views{"a", "b"};
  const std::vector<std::string> none;
  map_context ctx;
  ctx.values.emplace("lead.tags", value(value::string_list(tags)));
  ctx.values.emplace("lead.views", value(value::view_list(views)));
  ctx.values.emplace("lead.none", value(value::string_list(none)));
  EXPECT_EQ(render("{lead.tags}; {lead.views}", ctx), "vip, новый, sale; a, b");
  EXPECT_EQ(render("{lead.tags | upper}", ctx), "VIP, НОВЫЙ, SALE");
  EXPECT_EQ(render("{lead.none | default:\"нет\"}", ctx), "нет");
}

TEST(TemplateValues, InvalidUtf8BecomesReplacementCharacter) {
  map_context ctx;
  ctx.values.emplace("lead.a", value(std::string_view("ok\xff\xfe!\xd0", 6)));
  ctx.values.emplace("lead.b", value(std::string_view("\xed\xa0\x80", 3)));  // a surrogate
  ctx.values.emplace("lead.c", value(std::string_view("\xc0\xaf", 2)));      // overlong `/`
  const std::string out = render("{lead.a}|{lead.b}|{lead.c | upper}", ctx);
  EXPECT_EQ(out, "ok\uFFFD\uFFFD!\uFFFD|\uFFFD\uFFFD\uFFFD|\uFFFD\uFFFD");
  EXPECT_TRUE(valid_utf8(out));
  // In the template's own text and arguments too.
  EXPECT_EQ(render("a\x80z {lead.x | default:\"\xff\"}", ""), "a\uFFFDz \uFFFD");
}

// ---------------------------------------------------------------------------------------------
// Filters

TEST(TemplateFilters, DefaultAppliesToMissingAndEmptyOnly) {
  map_context ctx;
  ctx.values.emplace("lead.empty", value(""));
  ctx.values.emplace("lead.space", value(" "));
  ctx.values.emplace("lead.zero", value(std::int64_t{0}));
  ctx.values.emplace("lead.no", value(false));
  EXPECT_EQ(render("{lead.missing | default:\"друг\"}", ctx), "друг");
  EXPECT_EQ(render("{lead.empty | default:\"друг\"}", ctx), "друг");
  EXPECT_EQ(render("[{lead.space | default:\"друг\"}]", ctx), "[ ]");
  EXPECT_EQ(render("{lead.zero | default:\"друг\"} {lead.no | default:\"x\"}", ctx), "0 false");
  EXPECT_EQ(render("{lead._fname | default:\"друг\"}", "Иван"), "Иван");
  // Filters apply in order: a default before a case mapping is mapped, one after it is not.
  EXPECT_EQ(render("{lead.missing | default:\"друг\" | upper}", ctx), "ДРУГ");
  EXPECT_EQ(render("{lead.missing | upper | default:\"друг\"}", ctx), "друг");
  EXPECT_EQ(render("{lead.missing | default:\"\" | default:\"второй\"}", ctx), "второй");
}

TEST(TemplateFilters, UpperLowerCyrillicAndLatin) {
  EXPECT_EQ(render("{lead._fname | upper}", "иван"), "ИВАН");
  // One code point to one: utf8proc maps `ß` to the capital `ẞ` (U+1E9E), not to "SS".
  EXPECT_EQ(render("{lead._fname | upper}", "straße"), "STRAẞE");
  EXPECT_EQ(render("{lead._fname | upper}", "ёжик ölçü"), "ЁЖИК ÖLÇÜ");
  EXPECT_EQ(render("{lead._fname | lower}", "ИВАН Петров"), "иван петров");
  EXPECT_EQ(render("{lead._fname | lower}", "ЁЛКА ÄÖÜ"), "ёлка äöü");
  EXPECT_EQ(render("{lead._fname | upper}", "abc-123 xyz"), "ABC-123 XYZ");
  EXPECT_EQ(render("{lead._fname | upper | lower}", "МиКс"), "микс");
}

TEST(TemplateFilters, CapitalizeTitlesTheFirstLetterAndLowersTheRest) {
  EXPECT_EQ(render("{lead._fname | capitalize}", "иван"), "Иван");
  EXPECT_EQ(render("{lead._fname | capitalize}", "ИВАН"), "Иван");
  EXPECT_EQ(render("{lead._fname | capitalize}", "иВАН ПЕТРОВ"), "Иван петров");
  EXPECT_EQ(render("{lead._fname | capitalize}", "  «анна»"), "  «Анна»");
  EXPECT_EQ(render("{lead._fname | capitalize}", "123abc"), "123Abc");
  EXPECT_EQ(render("{lead._fname | capitalize}", "ǆemal"), "ǅemal");  // title case, not upper
  EXPECT_EQ(render("[{lead._fname | capitalize}]", ""), "[]");
}

TEST(TemplateFilters, CaseMappingThatChangesTheLengthInBytes) {
  // U+0131 (2 bytes) upper-cases to `I` (1 byte); U+023A (2 bytes) lower-cases to U+2C65 (3).
  EXPECT_EQ(render("{lead._fname | upper}", "aıb ıı"), "AIB II");
  EXPECT_EQ(render("{lead._fname | lower}", "XȺY ȺȺ"), "xⱥy ⱥⱥ");
  EXPECT_EQ(render("{lead._fname | capitalize}", "ıX"), "Ix");
}

TEST(TemplateFilters, DateReadsIsoDates) {
  const std::string fmt = "{lead._fname | date:\"%d.%m.%Y\"}";
  EXPECT_EQ(render(fmt, "2024-05-01"), "01.05.2024");
  EXPECT_EQ(render(fmt, "2024-02-29"), "29.02.2024");
  EXPECT_EQ(render(fmt, "1990-12-31T23:59:59"), "31.12.1990");
  const std::string full = "{lead._fname | date:\"%d.%m.%Y %H:%M:%S\"}";
  EXPECT_EQ(render(full, "2024-05-01T13:45:07Z"), "01.05.2024 13:45:07");
  EXPECT_EQ(render(full, "2024-05-01T13:45:07.123Z"), "01.05.2024 13:45:07");
  EXPECT_EQ(render(full, "2024-05-01 13:45"), "01.05.2024 13:45:00");
  // A written offset is kept as written: the customer's own wall-clock time.
  EXPECT_EQ(render(full, "2024-05-01T23:30:00+03:00"), "01.05.2024 23:30:00");
  EXPECT_EQ(render(full, "2024-05-01T23:30:00-0500"), "01.05.2024 23:30:00");
  EXPECT_EQ(render(full, "2024-05-01T23:30:00+03"), "01.05.2024 23:30:00");
  EXPECT_EQ(render(fmt, "01.05.1990"), "01.05.1990");
  EXPECT_EQ(render(fmt, "1.5.1990"), "01.05.1990");
}

TEST(TemplateFilters, DateReadsEpochSecondsInUtc) {
  map_context ctx;
  ctx.values.emplace("lead.n", value(std::int64_t{1700000000}));
  ctx.values.emplace("lead.ms", value(std::int64_t{1700000000123}));
  ctx.values.emplace("lead.s", value("1700000000"));
  ctx.values.emplace("lead.d", value(1700000000.75));
  ctx.values.emplace("lead.zero", value(std::int64_t{0}));
  ctx.values.emplace("lead.neg", value(std::int64_t{-1}));
  ctx.values.emplace("lead.negf", value(-0.5));
  ctx.values.emplace("lead.leap", value(std::int64_t{951782400}));  // 2000-02-29
  const char* f = " | date:\"%F %T\"}";
  EXPECT_EQ(render(std::string("{lead.n") + f, ctx), "2023-11-14 22:13:20");
  EXPECT_EQ(render(std::string("{lead.ms") + f, ctx), "2023-11-14 22:13:20");
  EXPECT_EQ(render(std::string("{lead.s") + f, ctx), "2023-11-14 22:13:20");
  EXPECT_EQ(render(std::string("{lead.d") + f, ctx), "2023-11-14 22:13:20");
  EXPECT_EQ(render(std::string("{lead.zero") + f, ctx), "1970-01-01 00:00:00");
  EXPECT_EQ(render(std::string("{lead.neg") + f, ctx), "1969-12-31 23:59:59");
  EXPECT_EQ(render(std::string("{lead.negf") + f, ctx), "1969-12-31 23:59:59");
  EXPECT_EQ(render(std::string("{lead.leap") + f, ctx), "2000-02-29 00:00:00");
}

TEST(TemplateFilters, DateConversions) {
  const std::string v = "2009-03-07T05:06:08Z";
  EXPECT_EQ(render("{lead._fname | date:\"%d/%m/%y\"}", v), "07/03/09");
  EXPECT_EQ(render("{lead._fname | date:\"%-d.%-m.%Y %-H:%M\"}", v), "7.3.2009 5:06");
  EXPECT_EQ(render("{lead._fname | date:\"%-M %-S %H%%\"}", v), "6 8 05%");
  EXPECT_EQ(render("{lead._fname | date:\"%Y год, %d число\"}", v), "2009 год, 07 число");
  EXPECT_EQ(render("{lead._fname | date:\"\"}", v), "");
}

TEST(TemplateFilters, TextThatIsNoDateRendersEmptySoThatDefaultApplies) {
  const std::string f = "[{lead._fname | date:\"%d.%m.%Y\" | default:\"скоро\"}]";
  EXPECT_EQ(render(f, "завтра"), "[скоро]");
  EXPECT_EQ(render(f, "2024-02-30"), "[скоро]");
  EXPECT_EQ(render(f, "2023-02-29"), "[скоро]");
  EXPECT_EQ(render(f, "2024-13-01"), "[скоро]");
  EXPECT_EQ(render(f, "2024-05-01T24:00:00"), "[скоро]");
  EXPECT_EQ(render(f, "2024-05-01T10:00:00+25:00"), "[скоро]");
  EXPECT_EQ(render(f, "2024-05-01junk"), "[скоро]");
  EXPECT_EQ(render(f, "12.5"), "[01.01.1970]");  // a number: epoch seconds
  EXPECT_EQ(render(f, ""), "[скоро]");
  map_context missing;
  EXPECT_EQ(render("{lead.x | date:\"%Y\" | default:\"-\"}", missing), "-");
}

// ---------------------------------------------------------------------------------------------
// Faults, with their positions

TEST(TemplateErrors, UnterminatedTagPointsAtItsBrace) {
  auto e = must_fail("Привет, {lead._fname");
  EXPECT_EQ(e.code, errc::unterminated_tag);
  EXPECT_EQ(e.offset, 14u);  // bytes: "Привет, " is 6 Cyrillic letters (12) + 2
  EXPECT_EQ(e.line, 1u);
  EXPECT_EQ(e.column, 9u);  // characters
  EXPECT_EQ(e.message(),
            "line 1, column 9: this `{` is not closed by `}` (write `{{` for a literal `{`)");
  EXPECT_EQ(must_fail("{").code, errc::unterminated_tag);
  EXPECT_EQ(must_fail("{ ").code, errc::unterminated_tag);
  EXPECT_EQ(must_fail("{lead").code, errc::unterminated_tag);
  EXPECT_EQ(must_fail("{lead.").code, errc::unterminated_tag);
  EXPECT_EQ(must_fail("{lead.x |").code, errc::unterminated_tag);
  EXPECT_EQ(must_fail("{lead.x | upper").code, errc::unterminated_tag);
  e = must_fail("a\nb {lead.x | default:\"y\"");
  EXPECT_EQ(e.code, errc::unterminated_tag);
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 3u);
  EXPECT_EQ(e.offset, 4u);
}

TEST(TemplateErrors, StrayCloseBrace) {
  const auto e = must_fail("Текст }конец");
  EXPECT_EQ(e.code, errc::stray_close_brace);
  EXPECT_EQ(e.offset, 11u);
  EXPECT_EQ(e.column, 7u);
  EXPECT_NE(e.reason.find("}}"), std::string::npos) << e.reason;
  EXPECT_EQ(must_fail("{lead.x}}").offset, 8u);
  EXPECT_EQ(must_fail("}}}").offset, 2u);
}

TEST(TemplateErrors, EmptyTag) {
  const auto e = must_fail("ab\n  { }");
  EXPECT_EQ(e.code, errc::empty_tag);
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 3u);
  EXPECT_EQ(e.offset, 5u);
  EXPECT_EQ(must_fail("{}").code, errc::empty_tag);
}

TEST(TemplateErrors, UnknownRootNamesTheRoots) {
  const auto e = must_fail("Hi {leed._fname}");
  EXPECT_EQ(e.code, errc::unknown_root);
  EXPECT_EQ(e.offset, 4u);
  EXPECT_EQ(e.column, 5u);
  EXPECT_EQ(e.reason,
            "unknown variable `leed` (variables start with lead, subscription, apicontent, "
            "custom_data)");
  EXPECT_EQ(must_fail("{ profile.x }").offset, 2u);
  EXPECT_EQ(must_fail("{name}").code, errc::unknown_root);
}

TEST(TemplateErrors, BadVariable) {
  auto e = must_fail("{lead}");
  EXPECT_EQ(e.code, errc::bad_variable);
  EXPECT_EQ(e.offset, 5u);
  EXPECT_EQ(e.reason, "`lead` needs a field name: {lead.NAME}");
  e = must_fail("{lead.}");
  EXPECT_EQ(e.code, errc::bad_variable);
  EXPECT_EQ(e.offset, 6u);
  e = must_fail("{lead..x}");
  EXPECT_EQ(e.code, errc::bad_variable);
  EXPECT_EQ(e.offset, 6u);
  e = must_fail("{ \"lead\" }");
  EXPECT_EQ(e.code, errc::bad_variable);
  EXPECT_EQ(e.offset, 2u);
  e = must_fail("{lead x}");
  EXPECT_EQ(e.code, errc::bad_variable);
  EXPECT_EQ(e.offset, 5u);
}

TEST(TemplateErrors, UnexpectedCharacterAfterTheVariable) {
  auto e = must_fail("Привет, {lead._fname, как дела?");
  EXPECT_EQ(e.code, errc::unexpected_character);
  EXPECT_EQ(e.offset, 26u);
  EXPECT_EQ(e.column, 21u);
  EXPECT_EQ(e.reason, "expected `|` or `}` after the variable, found `,`");
  e = must_fail("{lead.x y}");
  EXPECT_EQ(e.code, errc::unexpected_character);
  EXPECT_EQ(e.offset, 8u);
  e = must_fail("{lead.x | upper lower}");
  EXPECT_EQ(e.code, errc::unexpected_character);
  EXPECT_EQ(e.offset, 16u);
  e = must_fail("{lead.x {lead.y}}");
  EXPECT_EQ(e.code, errc::unexpected_character);
  EXPECT_EQ(e.offset, 8u);
  EXPECT_EQ(must_fail("{lead.x\n\x01}").reason,
            "expected `|` or `}` after the variable, found a control character");
}

TEST(TemplateErrors, UnknownFilterNamesTheFilters) {
  auto e = must_fail("{lead._fname | uper}");
  EXPECT_EQ(e.code, errc::unknown_filter);
  EXPECT_EQ(e.offset, 15u);
  EXPECT_EQ(e.column, 16u);
  EXPECT_EQ(e.reason, "unknown filter `uper` (filters: default, upper, lower, capitalize, date)");
  e = must_fail("{lead._fname | upper | }");
  EXPECT_EQ(e.code, errc::unknown_filter);
  EXPECT_EQ(e.offset, 23u);
  e = must_fail("{lead._fname || upper}");
  EXPECT_EQ(e.code, errc::unknown_filter);
  EXPECT_EQ(e.offset, 14u);
  EXPECT_EQ(must_fail("{lead.x | Upper}").code, errc::unknown_filter);
}

TEST(TemplateErrors, BadFilterArgument) {
  auto e = must_fail("{lead.x | default}");
  EXPECT_EQ(e.code, errc::bad_filter_argument);
  EXPECT_EQ(e.offset, 17u);
  EXPECT_EQ(e.reason, "`default` needs an argument: default:\"friend\"");
  e = must_fail("{lead.x | default:friend}");
  EXPECT_EQ(e.code, errc::bad_filter_argument);
  EXPECT_EQ(e.offset, 18u);
  EXPECT_EQ(e.reason, "the argument of `default` must be in double quotes: default:\"friend\"");
  e = must_fail("{lead.x | default:\"friend}");
  EXPECT_EQ(e.code, errc::bad_filter_argument);
  EXPECT_EQ(e.offset, 18u);
  EXPECT_EQ(e.reason, "the argument of `default` has no closing `\"`");
  e = must_fail("{lead.x | default:\"friend\\\"}");  // the closing quote is escaped
  EXPECT_EQ(e.code, errc::bad_filter_argument);
  e = must_fail("{lead.x | upper:\"x\"}");
  EXPECT_EQ(e.code, errc::bad_filter_argument);
  EXPECT_EQ(e.offset, 15u);
  EXPECT_EQ(e.reason, "`upper` takes no argument");
  e = must_fail("{lead.x | date}");
  EXPECT_EQ(e.code, errc::bad_filter_argument);
  EXPECT_EQ(e.reason, "`date` needs an argument: date:\"%d.%m.%Y\"");
  e = must_fail("{lead.x | date:\"%d.%q.%Y\"}");
  EXPECT_EQ(e.code, errc::bad_filter_argument);
  EXPECT_EQ(e.offset, 19u);  // the `%` of `%q`
  EXPECT_NE(e.reason.find("unknown date conversion `%q`"), std::string::npos) << e.reason;
  e = must_fail("{lead.x | date:\"%d.%m.%\"}");
  EXPECT_EQ(e.offset, 22u);
  EXPECT_NE(e.reason.find("`%`"), std::string::npos) << e.reason;
  e = must_fail("{lead.x | date:\"%-Y\"}");
  EXPECT_NE(e.reason.find("`%-Y`"), std::string::npos) << e.reason;
  e = must_fail("{lead.x | date:\"%д\"}");
  EXPECT_NE(e.reason.find("`%д`"), std::string::npos) << e.reason;
}

TEST(TemplateErrors, CodesAreErrorCodes) {
  const std::error_code ec = errc::unknown_filter;
  EXPECT_EQ(ec.category().name(), std::string("herald.templates"));
  EXPECT_EQ(ec.message(), "an unknown filter");
}

// ---------------------------------------------------------------------------------------------
// The size limit

TEST(TemplateRender, SizeLimitCountsCharactersAndLeavesTheOutputAsItWas) {
  map_context ctx;
  ctx.values.emplace("lead._fname", value("иван"));
  const compiled_template t = must_compile("Привет, {lead._fname | capitalize}!");  // 13 chars
  std::string out = "prefix:";
  EXPECT_FALSE(t.render(ctx, out, 13));
  EXPECT_EQ(out, "prefix:Привет, Иван!");
  EXPECT_GT(out.size() - 7, 13u);  // more bytes than the limit: characters are what counts

  out = "prefix:";
  const auto err = t.render(ctx, out, 12);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, errc::size_limit_exceeded);
  EXPECT_EQ(err->limit, 12u);
  EXPECT_EQ(err->reason, "the message is over the provider's limit of 12 characters");
  EXPECT_EQ(out, "prefix:");

  // Over in a literal, and over in a variable.
  out.clear();
  EXPECT_TRUE(must_compile("Привет").render(ctx, out, 5));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(must_compile("{lead._fname}").render(ctx, out, 3));
  EXPECT_FALSE(must_compile("{lead._fname}").render(ctx, out, 4));
  EXPECT_FALSE(must_compile("").render(ctx, out, 0));
}

TEST(TemplateRender, ACompiledTemplateIsSharedAndRendersManyTimes) {
  const compiled_template a = must_compile("{lead._fname | upper}");
  const compiled_template b = a;  // a copy shares the compiled form
  map_context one, two;
  one.values.emplace("lead._fname", value("анна"));
  two.values.emplace("lead._fname", value("пётр"));
  std::string out;
  for (int k = 0; k < 3; ++k) {
    out.clear();
    EXPECT_FALSE(a.render(one, out));
    EXPECT_EQ(out, "АННА");
    out.clear();
    EXPECT_FALSE(b.render(two, out));
    EXPECT_EQ(out, "ПЁТР");
  }
  EXPECT_EQ(compiled_template().source_text(), "");
}

TEST(TemplateRender, AllocatesNothingButTheOutput) {
  profiles::profile p;
  p.id = "65f0a1b2c3d4e5f601234567";
  p.fields.emplace("_fname", std::string("иВАН"));
  p.fields.emplace("_bdate", std::string("1990-05-01"));
  p.fields.emplace("points", std::int64_t{1500});
  p.fields.emplace("tags", profiles::tag_list{"vip", "new"});
  profiles::subscription s;
  s.ch = profiles::channel::leadconverter;
  s.subscriber_id = "7365";
  simdjson::dom::parser parser;
  const simdjson::dom::element content = parser.parse(std::string(R"({"order":{"id":77}})"));
  const lead_context ctx(&p, &s, content);
  const compiled_template t = must_compile(
      "Здравствуйте, {lead._fname | capitalize}! {lead._fname | upper} {lead._fname | lower} "
      "{lead.missing | default:\"друг\"} {lead._bdate | date:\"%d.%m.%Y\"} {lead.points} "
      "{lead.tags} {subscription.subscriber_id} {apicontent.order.id} {{ok}} {lead.id}");
  std::string out;
  out.reserve(4096);
  counting = true;
  allocations = 0;
  bool failed = false;
  for (int k = 0; k < 100; ++k) {
    out.clear();
    failed = failed || t.render(ctx, out, 1000).has_value();
  }
  counting = false;
  EXPECT_FALSE(failed);
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(out,
            "Здравствуйте, Иван! ИВАН иван друг 01.05.1990 1500 vip, new 7365 77 {ok} "
            "65f0a1b2c3d4e5f601234567");
}

// ---------------------------------------------------------------------------------------------
// The lead context: a profile, its subscription, content and custom_data as Herald holds them

TEST(TemplateLeadContext, ProfileSubscriptionContentAndCustomData) {
  profiles::profile p;
  p.id = "65f0a1b2c3d4e5f601234567";
  p.fields.emplace("_fname", std::string("мария"));
  p.fields.emplace("email", std::string("m@example.com"));
  p.fields.emplace("phones", profiles::tag_list{"+79001234567", "+79007654321"});
  p.fields.emplace("vip", true);
  p.fields.emplace("balance", 12.5);
  profiles::subscription s;
  s.ch = profiles::channel::telegram_bot;
  s.resource_id = 12;
  s.status = profiles::subscription_status::unsubscribed;
  s.cc_id = "555";
  s.fields.emplace("lang", std::string("ru"));
  simdjson::dom::parser content_parser, custom_parser;
  const simdjson::dom::element content = content_parser.parse(std::string(
      R"({"order":{"id":"A-1","total":1990.5,"items":[{"name":"чай"},{"name":"кофе"}]},)"
      R"("tags":["x",1,true,null,{"a":1}],"none":null,"big":18446744073709551615})"));
  const simdjson::dom::element custom = custom_parser.parse(std::string(R"({"promo":"SALE10"})"));
  const lead_context ctx(&p, &s, content, custom);
  EXPECT_EQ(render("{lead.id} {lead._fname | capitalize} {lead.email} {lead.phones} {lead.vip} "
                   "{lead.balance}",
                   ctx),
            "65f0a1b2c3d4e5f601234567 Мария m@example.com +79001234567, +79007654321 true 12.5");
  EXPECT_EQ(render("{subscription.channel} {subscription.resource_id} {subscription.status} "
                   "{subscription.cc_id} {subscription.cc_data.id} {subscription.lang} "
                   "[{subscription.email}]",
                   ctx),
            "telegram_bot 12 unsubscribed 555 555 ru []");
  EXPECT_EQ(render("{apicontent.order.id} {apicontent.order.total} {apicontent.order.items.1.name} "
                   "[{apicontent.order.items.5.name}] [{apicontent.order.id.x}] "
                   "[{apicontent.none}] {apicontent.big}",
                   ctx),
            "A-1 1990.5 кофе [] [] [] 18446744073709551615");
  EXPECT_EQ(render("{apicontent.tags}", ctx), R"(x, 1, true, , {"a":1})");
  EXPECT_EQ(render("{apicontent.order.items.0}", ctx), R"({"name":"чай"})");
  EXPECT_EQ(
      render("{custom_data.promo} [{custom_data.other}] [{lead._lname}] [{lead._fname.x}]", ctx),
      "SALE10 [] [] []");

  const lead_context bare(&p, nullptr);
  EXPECT_EQ(render("[{subscription.status}{apicontent.order.id}{custom_data.promo}]", bare), "[]");
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input

TEST(TemplateFuzz, RandomBytesNeverCrashAndRenderValidUtf8) {
  std::mt19937_64 rng(20261202);
  const std::string alphabet = "{}|:.\"\\ %-_ldeadsubcriptonapicntetumr\xd0\xb8\xff\n";
  const std::vector<std::string> words{"{",          "}",        "{{",       "}}",
                                       "lead.",      "_fname",   " | upper", " | date:",
                                       "\"%d.%m\"",  "default:", "\"x\"",    "apicontent.",
                                       "capitalize", "|",        "иван"};
  map_context ctx;
  ctx.values.emplace("lead._fname", value(std::string_view("и\xffв", 5)));
  ctx.values.emplace("lead.x", value(std::int64_t{1700000000}));
  std::size_t compiled = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const std::size_t n = rng() % 40;
    for (std::size_t k = 0; k < n; ++k) {
      switch (rng() % 3) {
        case 0:
          text += static_cast<char>(rng() % 256);
          break;
        case 1:
          text += alphabet[rng() % alphabet.size()];
          break;
        default:
          text += words[rng() % words.size()];
      }
    }
    const compile_result r = compile(text);
    ASSERT_NE(r.tmpl.has_value(), r.error.has_value()) << text;
    if (r.error) {
      ASSERT_LE(r.error->offset, text.size()) << text;
      ASSERT_GE(r.error->line, 1u);
      ASSERT_GE(r.error->column, 1u);
      ASSERT_FALSE(r.error->reason.empty());
      continue;
    }
    ++compiled;
    std::string out;
    ASSERT_FALSE(r.tmpl->render(ctx, out)) << text;
    ASSERT_TRUE(valid_utf8(out)) << text;
    std::string limited;
    const auto err = r.tmpl->render(ctx, limited, 5);
    if (err) {
      ASSERT_TRUE(limited.empty());
    } else {
      ASSERT_EQ(limited, out);
    }
  }
  EXPECT_GT(compiled, 1000u);  // the generator does reach rendering
}

}  // namespace
