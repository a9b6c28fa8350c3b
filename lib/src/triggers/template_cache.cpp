#include "herald/triggers/template_cache.hpp"

#include <algorithm>

namespace herald::triggers {

template_cache::template_cache(std::size_t max_entries)
    : max_entries_(std::max<std::size_t>(1, max_entries)) {}

template_cache::result template_cache::get(const std::string& account, std::uint64_t id,
                                           std::uint64_t version, const trigger& definition) {
  key k{account, id, version};
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(k); it != entries_.end()) {
      ages_.splice(ages_.begin(), ages_, it->second.age);
      return {it->second.value, std::nullopt};
    }
  }
  // Compiled outside the lock: two threads may both compile a new version once; both results
  // are equal and the first kept wins.
  auto compiled = std::make_shared<compiled_trigger>();
  if (auto error = compile_trigger(definition, *compiled)) return {nullptr, std::move(error)};
  std::lock_guard lock(mutex_);
  ++compiles_;
  if (auto it = entries_.find(k); it != entries_.end()) return {it->second.value, std::nullopt};
  while (entries_.size() >= max_entries_) {
    entries_.erase(ages_.back());
    ages_.pop_back();
  }
  ages_.push_front(k);
  entries_.emplace(std::move(k), entry{compiled, ages_.begin()});
  return {std::move(compiled), std::nullopt};
}

std::size_t template_cache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::uint64_t template_cache::compiles() const {
  std::lock_guard lock(mutex_);
  return compiles_;
}

}  // namespace herald::triggers
