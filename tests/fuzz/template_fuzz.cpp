// libFuzzer target for message templates: compiles arbitrary input and, when it compiles, renders
// it against values that are themselves taken from the input (invalid UTF-8 included). It checks
// that compile always answers (a template or an error within the text), and that rendering gives
// valid UTF-8 and honours its size limit.
//
// Built and run by tests/fuzz/run.sh (ctest -L fuzz); by hand, with clang-14 and libfuzzer-14-dev:
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib/include -Ilib/src
//     tests/fuzz/template_fuzz.cpp lib/src/templates/template.cpp lib/src/templates/text.cpp
//     -lutf8proc -o template_fuzz      (one command line)
//   ./template_fuzz -max_len=4096
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "herald/templates/template.hpp"
#include "templates/text.hpp"

namespace {

using namespace herald::templates;

// Every variable is the same slice of the input, so that values hit every filter.
class slice_context final : public context {
 public:
  explicit slice_context(std::string_view v) : v_(v) {}
  value lookup(source root, std::span<const std::string_view> path) const override {
    if (root == source::custom_data) return {};  // and some are missing
    if (path.size() > 1) return static_cast<std::int64_t>(v_.size()) * 86'400;
    return v_;
  }

 private:
  std::string_view v_;
};

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = herald::templates::detail::utf8_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first half is the template, the second the value.
  const std::string_view text = input.substr(0, size / 2), val = input.substr(size / 2);
  const compile_result r = compile(text);
  if (r.tmpl.has_value() == r.error.has_value()) std::abort();
  if (r.error) {
    if (r.error->offset > text.size() || r.error->line == 0 || r.error->column == 0) std::abort();
    return 0;
  }
  const slice_context ctx(val);
  std::string out;
  if (r.tmpl->render(ctx, out) || !valid_utf8(out)) std::abort();
  std::string limited;
  const std::size_t limit = size % 64;
  if (const auto err = r.tmpl->render(ctx, limited, limit)) {
    if (!limited.empty() || err->limit != limit) std::abort();
  } else if (limited != out) {
    std::abort();
  }
  return 0;
}
