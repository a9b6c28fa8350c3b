#include "herald/metrics/registry.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <functional>
#include <stdexcept>

namespace herald::metrics {

namespace detail {

std::size_t next_shard() noexcept {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % shards;
}

}  // namespace detail

// --- series ------------------------------------------------------------------------------------

std::uint64_t counter::value() const noexcept {
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += s.value.load(std::memory_order_relaxed);
  return total;
}

histogram::histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      lines_per_shard_((bounds_->size() + 2 + detail::cells_per_line - 1) / detail::cells_per_line),
      lines_(std::make_unique<detail::cell_line[]>(lines_per_shard_ * detail::shards)) {}

void histogram::observe(double v) noexcept {
  const auto& b = *bounds_;
  // Few buckets: a straight scan beats a binary search's branches.
  std::size_t i = 0;
  while (i < b.size() && !(v <= b[i])) ++i;
  const std::size_t shard = detail::shard_index();
  cell(shard, i).fetch_add(1, std::memory_order_relaxed);
  auto& sum = cell(shard, b.size() + 1);
  std::uint64_t old = sum.load(std::memory_order_relaxed);
  while (!sum.compare_exchange_weak(old,
                                    std::bit_cast<std::uint64_t>(std::bit_cast<double>(old) + v),
                                    std::memory_order_relaxed)) {
  }
}

histogram::snapshot histogram::read() const {
  snapshot s;
  const std::size_t buckets = bounds_->size() + 1;
  s.cumulative.assign(buckets, 0);
  for (std::size_t shard = 0; shard < detail::shards; ++shard) {
    for (std::size_t i = 0; i < buckets; ++i)
      s.cumulative[i] += cell(shard, i).load(std::memory_order_relaxed);
    s.sum += std::bit_cast<double>(cell(shard, buckets).load(std::memory_order_relaxed));
  }
  for (std::size_t i = 1; i < buckets; ++i) s.cumulative[i] += s.cumulative[i - 1];
  return s;
}

// --- families ----------------------------------------------------------------------------------

template <class Series>
struct family<Series>::node {
  template <class... Args>
  node(std::vector<std::string> v, std::size_t h, Args&&... args)
      : values(std::move(v)), hash(h), series(std::forward<Args>(args)...) {}
  const std::vector<std::string> values;
  const std::size_t hash;
  Series series;
};

namespace {

std::size_t hash_values(std::span<const std::string_view> values) {
  std::size_t h = 0x9e3779b97f4a7c15ULL;
  for (auto v : values) {
    h ^= std::hash<std::string_view>{}(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  return h;
}

template <class Values>
bool same_values(const std::vector<std::string>& a, const Values& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const std::string& x, std::string_view y) { return x == y; });
}

constexpr std::string_view overflow_value = "other";

}  // namespace

template <class Series>
family<Series>::family(std::string name, std::string help, std::vector<std::string> labels,
                       std::size_t max_series, std::shared_ptr<const std::vector<double>> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      labels_(std::move(labels)),
      max_series_(std::max<std::size_t>(1, labels_.empty() ? 1 : max_series)),
      bounds_(std::move(bounds)),
      mask_(std::bit_ceil(2 * (max_series_ + 1)) - 1),
      slots_(std::make_unique<std::atomic<node*>[]>(mask_ + 1)) {
  if (labels_.empty()) with({});  // the one series exists from the start, at 0
}

template <class Series>
family<Series>::~family() = default;

template <class Series>
Series& family<Series>::with(std::span<const std::string_view> values) {
  if (values.size() != labels_.size()) {
    throw std::invalid_argument("metric " + name_ + ": " + std::to_string(values.size())
                                + " label values for " + std::to_string(labels_.size())
                                + " labels");
  }
  const std::size_t h = hash_values(values);
  for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
    node* n = slots_[i].load(std::memory_order_acquire);
    if (!n) break;
    if (n->hash == h && same_values(n->values, values)) return n->series;
  }
  if (node* o = overflow_.load(std::memory_order_acquire)) return o->series;
  return insert(values, h);
}

template <class Series>
std::unique_ptr<typename family<Series>::node> family<Series>::make_node(
    std::vector<std::string> values, std::size_t hash) const {
  if constexpr (std::is_same_v<Series, histogram>) {
    return std::make_unique<node>(std::move(values), hash, bounds_);
  } else {
    return std::make_unique<node>(std::move(values), hash);
  }
}

template <class Series>
Series& family<Series>::insert(std::span<const std::string_view> values, std::size_t hash) {
  std::lock_guard lock(mutex_);
  std::vector<std::string_view> others;
  if (nodes_.size() >= max_series_) {
    // Full: the overflow series (made once, the one series past the limit).
    if (node* o = overflow_.load(std::memory_order_acquire)) return o->series;
    others.assign(labels_.size(), overflow_value);
    values = others;
    hash = hash_values(values);
  }
  std::size_t i = hash & mask_;
  for (;; i = (i + 1) & mask_) {
    node* n = slots_[i].load(std::memory_order_relaxed);
    if (!n) break;
    if (n->hash == hash && same_values(n->values, values)) {
      if (!others.empty()) overflow_.store(n, std::memory_order_release);
      return n->series;
    }
  }
  auto made = make_node(std::vector<std::string>(values.begin(), values.end()), hash);
  node* n = made.get();
  nodes_.push_back(std::move(made));
  slots_[i].store(n, std::memory_order_release);
  if (!others.empty()) overflow_.store(n, std::memory_order_release);
  return n->series;
}

template <class Series>
std::vector<typename family<Series>::entry> family<Series>::series() const {
  std::vector<entry> out;
  {
    std::lock_guard lock(mutex_);
    out.reserve(nodes_.size());
    for (const auto& n : nodes_) out.push_back({&n->values, &n->series});
  }
  std::sort(out.begin(), out.end(),
            [](const entry& a, const entry& b) { return *a.values < *b.values; });
  return out;
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

// --- the registry ------------------------------------------------------------------------------

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> fast_latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25, 1};
}

struct registry::entry {
  std::string name;
  kind k;
  std::vector<std::string> labels;
  std::vector<double> bounds;
  std::unique_ptr<family<counter>> counters;
  std::unique_ptr<family<gauge>> gauges;
  std::unique_ptr<family<histogram>> histograms;
};

registry::registry() = default;
registry::~registry() = default;

namespace {

bool valid_name(std::string_view name, bool colons) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string_view kind_name(kind k) {
  switch (k) {
    case kind::counter:
      return "counter";
    case kind::gauge:
      return "gauge";
    case kind::histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

registry::entry& registry::find_or_add(std::string_view name, std::string_view help, kind k,
                                       std::vector<std::string>& labels,
                                       const std::vector<double>* bounds, std::size_t max_series) {
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("metric " + std::string(name) + ": " + why);
  };
  if (!valid_name(name, true)) throw bad("not a valid metric name");
  for (const auto& l : labels) {
    if (!valid_name(l, false) || l.starts_with("__"))
      throw bad("\"" + l + "\" is not a valid label name");
    if (k == kind::histogram && l == "le") throw bad("a histogram's labels cannot include le");
    if (std::count(labels.begin(), labels.end(), l) > 1) throw bad("label " + l + " twice");
  }
  if (bounds) {
    for (std::size_t i = 0; i < bounds->size(); ++i) {
      if (!std::isfinite((*bounds)[i]) || (i > 0 && !((*bounds)[i - 1] < (*bounds)[i])))
        throw bad("bucket bounds must be finite and increasing");
    }
  }
  std::lock_guard lock(mutex_);
  for (auto& e : entries_) {
    if (e->name != name) continue;
    if (e->k != k || e->labels != labels || (bounds && e->bounds != *bounds))
      throw bad("registered already as a " + std::string(kind_name(e->k))
                + " with other labels or buckets");
    return *e;
  }
  auto e = std::make_unique<entry>();
  e->name = std::string(name);
  e->k = k;
  e->labels = labels;
  if (bounds) e->bounds = *bounds;
  // The families' constructors are private to them; registry is their friend.
  switch (k) {
    case kind::counter:
      e->counters.reset(
          new family<counter>(e->name, std::string(help), labels, max_series, nullptr));
      break;
    case kind::gauge:
      e->gauges.reset(new family<gauge>(e->name, std::string(help), labels, max_series, nullptr));
      break;
    case kind::histogram:
      e->histograms.reset(
          new family<histogram>(e->name, std::string(help), labels, max_series,
                                std::make_shared<const std::vector<double>>(e->bounds)));
      break;
  }
  entries_.push_back(std::move(e));
  return *entries_.back();
}

family<counter>& registry::counter_family(std::string_view name, std::string_view help,
                                          std::vector<std::string> labels, std::size_t max_series) {
  auto& e = find_or_add(name, help, kind::counter, labels, nullptr, max_series);
  return *e.counters;
}

family<gauge>& registry::gauge_family(std::string_view name, std::string_view help,
                                      std::vector<std::string> labels, std::size_t max_series) {
  auto& e = find_or_add(name, help, kind::gauge, labels, nullptr, max_series);
  return *e.gauges;
}

family<histogram>& registry::histogram_family(std::string_view name, std::string_view help,
                                              std::vector<std::string> labels,
                                              std::vector<double> bounds, std::size_t max_series) {
  auto& e = find_or_add(name, help, kind::histogram, labels, &bounds, max_series);
  return *e.histograms;
}

// --- the exposition ----------------------------------------------------------------------------

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  // Shortest round trip, in %g's choice of notation: what Prometheus's own Go clients write
  // (0.0005, 5e-05, 1e+21).
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

namespace {

// {a="x",b="y"} (with `extra` last, already written as name="value"), or nothing for no labels.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra = {}) {
  if (names.empty() && extra.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  out += '}';
}

template <class Series>
void append_header(std::string& out, const family<Series>& f, kind k) {
  out += "# HELP ";
  out += f.name();
  out += ' ';
  out += escape_help(f.help());
  out += "\n# TYPE ";
  out += f.name();
  out += ' ';
  out += kind_name(k);
  out += '\n';
}

void render_family(std::string& out, const family<counter>& f) {
  auto all = f.series();
  if (all.empty()) return;
  append_header(out, f, kind::counter);
  for (const auto& s : all) {
    out += f.name();
    append_labels(out, f.label_names(), *s.values);
    out += ' ';
    out += std::to_string(s.series->value());
    out += '\n';
  }
}

void render_family(std::string& out, const family<gauge>& f) {
  auto all = f.series();
  if (all.empty()) return;
  append_header(out, f, kind::gauge);
  for (const auto& s : all) {
    out += f.name();
    append_labels(out, f.label_names(), *s.values);
    out += ' ';
    out += format_value(s.series->value());
    out += '\n';
  }
}

void render_family(std::string& out, const family<histogram>& f) {
  auto all = f.series();
  if (all.empty()) return;
  append_header(out, f, kind::histogram);
  for (const auto& s : all) {
    const auto snap = s.series->read();
    const auto& bounds = s.series->bounds();
    for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
      out += f.name();
      out += "_bucket";
      const std::string le =
          "le=\"" + (i < bounds.size() ? format_value(bounds[i]) : std::string("+Inf")) + "\"";
      append_labels(out, f.label_names(), *s.values, le);
      out += ' ';
      out += std::to_string(snap.cumulative[i]);
      out += '\n';
    }
    out += f.name();
    out += "_sum";
    append_labels(out, f.label_names(), *s.values);
    out += ' ';
    out += format_value(snap.sum);
    out += '\n';
    out += f.name();
    out += "_count";
    append_labels(out, f.label_names(), *s.values);
    out += ' ';
    out += std::to_string(snap.count());
    out += '\n';
  }
}

}  // namespace

std::string registry::render() const {
  std::vector<const entry*> sorted;
  {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_) sorted.push_back(e.get());
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const entry* a, const entry* b) { return a->name < b->name; });
  std::string out;
  for (const entry* e : sorted) {
    if (e->counters) render_family(out, *e->counters);
    if (e->gauges) render_family(out, *e->gauges);
    if (e->histograms) render_family(out, *e->histograms);
  }
  return out;
}

}  // namespace herald::metrics
