// herald::metrics: counters, gauges and histograms, the series limit, updates from many threads,
// and the exact Prometheus text of a small registry.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "herald/metrics/registry.hpp"

namespace {

using herald::metrics::registry;

TEST(MetricsRegistry, RendersASmallRegistryExactly) {
  registry r;
  auto& jobs = r.counter_family("herald_jobs_total", "Jobs by outcome.", {"type", "outcome"});
  jobs.with({"noop", "completed"}).inc(3);
  jobs.with({"import", "dead_lettered"}).inc();
  jobs.with({"noop", "completed"}).inc();
  r.add_gauge("herald_queue_depth", "Entries waiting.").set(7);
  auto& latency = r.histogram_family("herald_http_request_duration_seconds",
                                     "Latency.\nIn seconds.", {"route"}, {0.01, 0.1, 1});
  auto& status = latency.with({"/tasks/status"});
  status.observe(0.005);
  status.observe(0.05);
  status.observe(0.05);
  status.observe(std::chrono::milliseconds(2500));
  // A family with labels and no series yet is left out.
  r.counter_family("herald_unused_total", "Never used.", {"code"});
  // A label value with a quote, a backslash and a newline.
  r.gauge_family("herald_info", "Odd \\ help.", {"version"}).with({"a\"b\\c\nd"}).set(1);

  EXPECT_EQ(r.render(),
            "# HELP herald_http_request_duration_seconds Latency.\\nIn seconds.\n"
            "# TYPE herald_http_request_duration_seconds histogram\n"
            "herald_http_request_duration_seconds_bucket{route=\"/tasks/status\",le=\"0.01\"} 1\n"
            "herald_http_request_duration_seconds_bucket{route=\"/tasks/status\",le=\"0.1\"} 3\n"
            "herald_http_request_duration_seconds_bucket{route=\"/tasks/status\",le=\"1\"} 3\n"
            "herald_http_request_duration_seconds_bucket{route=\"/tasks/status\",le=\"+Inf\"} 4\n"
            "herald_http_request_duration_seconds_sum{route=\"/tasks/status\"} 2.605\n"
            "herald_http_request_duration_seconds_count{route=\"/tasks/status\"} 4\n"
            "# HELP herald_info Odd \\\\ help.\n"
            "# TYPE herald_info gauge\n"
            "herald_info{version=\"a\\\"b\\\\c\\nd\"} 1\n"
            "# HELP herald_jobs_total Jobs by outcome.\n"
            "# TYPE herald_jobs_total counter\n"
            "herald_jobs_total{type=\"import\",outcome=\"dead_lettered\"} 1\n"
            "herald_jobs_total{type=\"noop\",outcome=\"completed\"} 4\n"
            "# HELP herald_queue_depth Entries waiting.\n"
            "# TYPE herald_queue_depth gauge\n"
            "herald_queue_depth 7\n");
}

TEST(MetricsRegistry, AFamilyWithoutLabelsIsRenderedAtZero) {
  registry r;
  r.counter_family("herald_started_total", "Started.");
  r.histogram_family("herald_wait_seconds", "Waits.", {}, {1});
  EXPECT_EQ(r.render(),
            "# HELP herald_started_total Started.\n"
            "# TYPE herald_started_total counter\n"
            "herald_started_total 0\n"
            "# HELP herald_wait_seconds Waits.\n"
            "# TYPE herald_wait_seconds histogram\n"
            "herald_wait_seconds_bucket{le=\"1\"} 0\n"
            "herald_wait_seconds_bucket{le=\"+Inf\"} 0\n"
            "herald_wait_seconds_sum 0\n"
            "herald_wait_seconds_count 0\n");
}

TEST(MetricsRegistry, TheSameRegistrationReturnsTheSameFamily) {
  registry r;
  auto& a = r.counter_family("herald_x_total", "X.", {"kind"});
  auto& b = r.counter_family("herald_x_total", "X.", {"kind"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.with({"one"}), &b.with({"one"}));
  EXPECT_NE(&a.with({"one"}), &a.with({"two"}));
  EXPECT_THROW(r.gauge_family("herald_x_total", "X.", {"kind"}), std::invalid_argument);
  EXPECT_THROW(r.counter_family("herald_x_total", "X.", {"other"}), std::invalid_argument);
  r.histogram_family("herald_h_seconds", "H.", {}, {1, 2});
  EXPECT_THROW(r.histogram_family("herald_h_seconds", "H.", {}, {1, 3}), std::invalid_argument);
}

TEST(MetricsRegistry, RefusesWhatPrometheusWouldNotAccept) {
  registry r;
  EXPECT_THROW(r.counter_family("1bad", "x"), std::invalid_argument);
  EXPECT_THROW(r.counter_family("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(r.counter_family("ok_total", "x", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(r.counter_family("ok_total", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.counter_family("ok_total", "x", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(r.histogram_family("h_seconds", "x", {"le"}, {1}), std::invalid_argument);
  EXPECT_THROW(r.histogram_family("h_seconds", "x", {}, {2, 1}), std::invalid_argument);
  EXPECT_THROW(
      r.histogram_family("h_seconds", "x", {}, {1, std::numeric_limits<double>::infinity()}),
      std::invalid_argument);
  auto& f = r.counter_family("ok_total", "x", {"a", "b"});
  EXPECT_THROW(f.with({"only one"}), std::invalid_argument);
}

TEST(MetricsRegistry, PastTheSeriesLimitValuesShareTheOtherSeries) {
  registry r;
  auto& errors = r.counter_family("herald_errors_total", "Errors.", {"code"}, 3);
  for (int i = 0; i < 10; ++i) errors.with({"code" + std::to_string(i)}).inc();
  errors.with({"code0"}).inc();  // an existing series is still itself
  const auto all = errors.series();
  ASSERT_EQ(all.size(), 4u);
  std::vector<std::string> names;
  for (const auto& e : all)
    names.push_back((*e.values)[0] + "=" + std::to_string(e.series->value()));
  EXPECT_EQ(names, (std::vector<std::string>{"code0=2", "code1=1", "code2=1", "other=7"}));
}

TEST(MetricsRegistry, CountsFromManyThreadsAddUp) {
  registry r;
  auto& family = r.counter_family("herald_n_total", "N.", {"t"});
  auto& h = r.histogram_family("herald_d_seconds", "D.", {}, {0.5}).with({});
  auto& g = r.add_gauge("herald_g", "G.");
  constexpr int threads = 8, per_thread = 20000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        // Lookups race with insertions of the other threads' series.
        family.with({std::to_string(i % 16)}).inc();
        h.observe(t % 2 == 0 ? 0.25 : 1.0);
        g.add(1);
      }
    });
  }
  for (auto& t : pool) t.join();
  std::uint64_t total = 0;
  for (const auto& e : family.series()) total += e.series->value();
  EXPECT_EQ(family.series().size(), 16u);
  EXPECT_EQ(total, std::uint64_t{threads} * per_thread);
  const auto snap = h.read();
  EXPECT_EQ(snap.cumulative, (std::vector<std::uint64_t>{threads / 2 * per_thread,
                                                         std::uint64_t{threads} * per_thread}));
  EXPECT_DOUBLE_EQ(snap.sum, threads / 2 * per_thread * 0.25 + threads / 2 * per_thread * 1.0);
  EXPECT_DOUBLE_EQ(g.value(), threads * per_thread);
}

TEST(MetricsRegistry, ObservationsOnABoundGoInItsBucket) {
  registry r;
  auto& h = r.histogram_family("herald_b_seconds", "B.", {}, {0.1, 1}).with({});
  h.observe(0.1);
  h.observe(1);
  h.observe(1.0000001);
  EXPECT_EQ(h.read().cumulative, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(MetricsRegistry, FormatsValues) {
  using herald::metrics::format_value;
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(0.0005), "0.0005");
  EXPECT_EQ(format_value(0.00005), "5e-05");
  EXPECT_EQ(format_value(2.605), "2.605");
  EXPECT_EQ(format_value(-1.5), "-1.5");
  EXPECT_EQ(format_value(1e21), "1e+21");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

}  // namespace
