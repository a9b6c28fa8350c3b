// Renders a seed-like Cyrillic template with every filter against a profile held as Herald holds
// it, and prints renders per second (one thread) and the compile time. No Redis, no I/O.
//   build/tests/bench/template_bench [renders]
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "herald/profiles/profile.hpp"
#include "herald/templates/lead_context.hpp"
#include "herald/templates/template.hpp"

int main(int argc, char** argv) {
  using namespace herald;
  const long renders = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  const std::string text =
      "Здравствуйте, {lead._fname | capitalize | default:\"друг\"}! Ваш заказ "
      "№{apicontent.order.id} на сумму {apicontent.order.total} ₽ от "
      "{apicontent.order.date | date:\"%d.%m.%Y\"} готов. Промокод {custom_data.promo | upper} "
      "действует до {custom_data.until | date:\"%d.%m.%Y %H:%M\"}. {{Ответьте СТОП, чтобы "
      "отписаться}}";

  const auto t0 = std::chrono::steady_clock::now();
  const int compiles = 10'000;
  templates::compile_result r;
  for (int k = 0; k < compiles; ++k) r = templates::compile(text);
  const double compile_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r) {
    std::fprintf(stderr, "template_bench: %s\n", r.error->message().c_str());
    return 1;
  }

  profiles::profile p;
  p.id = "65f0a1b2c3d4e5f601234567";
  p.fields.emplace("_fname", std::string("иВАН"));
  profiles::subscription s;
  s.ch = profiles::channel::leadconverter;
  s.subscriber_id = "7365";
  simdjson::dom::parser content_parser, custom_parser;
  const simdjson::dom::element content = content_parser.parse(std::string(
      R"({"order":{"id":"A-1042","total":1990.5,"date":"2026-12-01T10:00:00+03:00"}})"));
  const simdjson::dom::element custom =
      custom_parser.parse(std::string(R"({"promo":"зима25","until":1767225599})"));
  const templates::lead_context ctx(&p, &s, content, custom);

  std::string out;
  std::size_t bytes = 0;
  const auto t1 = std::chrono::steady_clock::now();
  for (long k = 0; k < renders; ++k) {
    out.clear();
    if (r.tmpl->render(ctx, out, 4096)) return 1;
    bytes += out.size();
  }
  const double render_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf("template_bench: %s\n", out.c_str());
  std::printf("template_bench: compile %.1f us; %ld renders in %.3f s: %.0f renders/s, %.0f MB/s\n",
              compile_s / compiles * 1e6, renders, render_s, renders / render_s,
              bytes / render_s / 1e6);
  return 0;
}
