// The compiled templates of trigger versions, kept so that a template is parsed once per trigger
// version, not once per message. Keyed by (account, trigger id, version): a version never
// changes once saved, so an entry never goes stale; the least recently used entry goes when the
// cache is full. Safe to share between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "herald/triggers/trigger.hpp"

namespace herald::triggers {

class template_cache {
 public:
  explicit template_cache(std::size_t max_entries = 4096);

  struct result {
    std::shared_ptr<const compiled_trigger> value;
    std::optional<trigger_error> error;  // the version does not compile (saved before a check)
  };

  // The compiled templates of `definition`, which is version `version` of trigger `id` of
  // `account`: from the cache, or compiled now and kept.
  result get(const std::string& account, std::uint64_t id, std::uint64_t version,
             const trigger& definition);

  std::size_t size() const;
  std::uint64_t compiles() const;  // how many times get compiled: a figure for tests and metrics

 private:
  using key = std::tuple<std::string, std::uint64_t, std::uint64_t>;
  struct entry {
    std::shared_ptr<const compiled_trigger> value;
    std::list<key>::iterator age;
  };

  std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::map<key, entry> entries_;
  std::list<key> ages_;  // most recently used first
  std::uint64_t compiles_ = 0;
};

}  // namespace herald::triggers
