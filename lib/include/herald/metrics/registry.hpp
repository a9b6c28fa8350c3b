// Herald's metrics: counters, gauges and histograms with fixed label names, cheap to update from
// any thread (a relaxed atomic add on a cache line of the thread's own, no lock), and their text
// exposition in the Prometheus format 0.0.4 for GET /metrics.
//
// A component asks the registry for a family (a metric name, its help and its label names) once,
// then the family for a series (one value per label name). Looking a series up is lock-free once
// it exists; hot paths keep the reference, which stays valid as long as the registry.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace herald::metrics {

namespace detail {

// Each thread updates one shard of a series; threads are dealt shards in turn, so that the
// threads of heraldd (one event loop a core) rarely write the same cache line.
inline constexpr std::size_t shards = 8;
inline constexpr std::size_t cache_line = 64;

std::size_t next_shard() noexcept;
inline std::size_t shard_index() noexcept {
  thread_local const std::size_t index = next_shard();
  return index;
}

struct alignas(cache_line) padded_counter {
  std::atomic<std::uint64_t> value{0};
};

inline constexpr std::size_t cells_per_line = cache_line / sizeof(std::uint64_t);
struct alignas(cache_line) cell_line {
  std::array<std::atomic<std::uint64_t>, cells_per_line> cells{};
};

}  // namespace detail

// A value that only goes up (Prometheus type counter).
class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept {
    shards_[detail::shard_index()].value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept;

 private:
  std::array<detail::padded_counter, detail::shards> shards_{};
};

// A value that goes up and down, or is set (Prometheus type gauge).
class gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted in buckets by upper bound (Prometheus type histogram), with their sum.
class histogram {
 public:
  // `bounds`: the buckets' upper bounds, increasing; +Inf is implied.
  explicit histogram(std::shared_ptr<const std::vector<double>> bounds);

  void observe(double v) noexcept;
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> d) noexcept {
    observe(std::chrono::duration<double>(d).count());
  }

  struct snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (which is the count)
    double sum = 0;
    std::uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  };
  // Consistent in itself: the buckets are cumulative and +Inf is the count (the sum may lag an
  // observation being made meanwhile).
  snapshot read() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  std::atomic<std::uint64_t>& cell(std::size_t shard, std::size_t i) const noexcept {
    return lines_[shard * lines_per_shard_ + i / detail::cells_per_line]
        .cells[i % detail::cells_per_line];
  }

  std::shared_ptr<const std::vector<double>> bounds_;
  std::size_t lines_per_shard_;  // cells: one per bucket (+Inf included), then the sum's bits
  std::unique_ptr<detail::cell_line[]> lines_;
};

enum class kind { counter, gauge, histogram };

class registry;

// The series of one metric name, each with one value per label name. At most `max_series`
// distinct label value sets: past them, every new one shares one series whose labels are all
// "other" (a value that comes from outside, such as a provider's error code, cannot make the
// exposition grow without end).
template <class Series>
class family {
 public:
  family(const family&) = delete;
  family& operator=(const family&) = delete;
  ~family();

  // The series of `values` (as many as label names, in their order), made at first use.
  Series& with(std::span<const std::string_view> values);
  Series& with(std::initializer_list<std::string_view> values) {
    return with(std::span<const std::string_view>(values.begin(), values.size()));
  }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }

  // Every series with its label values, sorted by them.
  struct entry {
    const std::vector<std::string>* values;
    const Series* series;
  };
  std::vector<entry> series() const;

 private:
  friend class registry;
  struct node;
  family(std::string name, std::string help, std::vector<std::string> labels,
         std::size_t max_series, std::shared_ptr<const std::vector<double>> bounds);
  Series& insert(std::span<const std::string_view> values, std::size_t hash);
  std::unique_ptr<node> make_node(std::vector<std::string> values, std::size_t hash) const;

  const std::string name_, help_;
  const std::vector<std::string> labels_;
  const std::size_t max_series_;
  const std::shared_ptr<const std::vector<double>> bounds_;  // histograms only
  // Open addressing, never shrinking: a slot, once set, keeps its node.
  const std::size_t mask_;
  std::unique_ptr<std::atomic<node*>[]> slots_;
  mutable std::mutex mutex_;  // guards nodes_ and insertions
  std::vector<std::unique_ptr<node>> nodes_;
  std::atomic<node*> overflow_{nullptr};
};

extern template class family<counter>;
extern template class family<gauge>;
extern template class family<histogram>;

// Latency buckets in seconds, from 0.5 ms to 10 s: HTTP requests, provider calls.
std::vector<double> latency_buckets();
// Finer ones, from 50 µs to 1 s: Redis commands.
std::vector<double> fast_latency_buckets();

class registry {
 public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // The family of `name`, made at the first call; a later call with the same name, kind and
  // labels (and bounds) returns the same family. Throws std::invalid_argument for a name or label
  // name Prometheus does not accept, or a name registered with another kind, labels or bounds.
  family<counter>& counter_family(std::string_view name, std::string_view help,
                                  std::vector<std::string> labels = {},
                                  std::size_t max_series = 1000);
  family<gauge>& gauge_family(std::string_view name, std::string_view help,
                              std::vector<std::string> labels = {}, std::size_t max_series = 1000);
  family<histogram>& histogram_family(std::string_view name, std::string_view help,
                                      std::vector<std::string> labels, std::vector<double> bounds,
                                      std::size_t max_series = 1000);

  // A family without labels, and its one series.
  counter& add_counter(std::string_view name, std::string_view help) {
    return counter_family(name, help).with({});
  }
  gauge& add_gauge(std::string_view name, std::string_view help) {
    return gauge_family(name, help).with({});
  }

  // The text exposition: families sorted by name, each with # HELP and # TYPE, its series
  // sorted by label values; a family with labels and no series yet is left out.
  std::string render() const;

 private:
  struct entry;
  entry& find_or_add(std::string_view name, std::string_view help, kind k,
                     std::vector<std::string>& labels, const std::vector<double>* bounds,
                     std::size_t max_series);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<entry>> entries_;
};

// The content type of render()'s text.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

// A label value as the exposition writes it between quotes: \ " and newline escaped.
std::string escape_label_value(std::string_view value);
// # HELP text: \ and newline escaped.
std::string escape_help(std::string_view help);
// A sample value (or a bucket bound): the shortest decimal that reads back the same, in %g's
// notation (0.0005, 5e-05, 1e+21), or +Inf, -Inf, NaN.
std::string format_value(double v);

}  // namespace herald::metrics
