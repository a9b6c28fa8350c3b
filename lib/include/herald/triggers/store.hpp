// An account's triggers in Redis (proto/triggers.md): every save is a new, immutable version, so
// a task runs the version it started with while the trigger is edited. Every key carries the
// account in its hash tag: an account reads and changes only its own triggers.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "herald/triggers/trigger.hpp"

namespace herald::redis {
class client;
}

namespace herald::triggers {

// Key names: P:{trg:ACCOUNT}:t:<id> (a hash: the versions) and P:{trg:ACCOUNT}:ids (a sorted set
// of the live trigger ids).
struct trigger_keys {
  trigger_keys(std::string prefix, const std::string& account);
  std::string trigger(std::uint64_t id) const;
  const std::string& ids() const { return ids_; }

 private:
  std::string base_;
  std::string ids_;
};

// A trigger as stored: one version of it.
struct stored_trigger {
  trigger definition;
  std::uint64_t version = 0;
  std::uint64_t current_version = 0;  // the newest version of the trigger
  std::int64_t created_at = 0;        // ms since the epoch: when it was (last) added
  std::int64_t updated_at = 0;        // ms: its newest save, or its delete
  bool deleted = false;
  std::string json;  // the stored JSON of this version (to_json of definition)

  // The API's shape: the trigger's JSON with "version", "created_at" and "updated_at" (seconds)
  // added.
  std::string to_api_json() const;
};

enum class save_outcome {
  created,
  updated,
  unchanged,
  exists,     // add: the id is taken
  not_found,  // update: no such trigger
  full,       // a new trigger, and the account has max_triggers already
};
std::string_view to_string(save_outcome o);

struct save_result {
  save_outcome outcome = save_outcome::created;
  std::uint64_t version = 0;  // the trigger's current version after the call
};

struct store_config {
  std::string prefix = "herald";
  // Versions of one trigger kept readable: enough for any task still running an old one.
  std::uint64_t versions_kept = 100;
  // How long a deleted trigger's versions stay readable for the tasks running them.
  std::chrono::milliseconds deleted_ttl = std::chrono::hours(24 * 7);
  // Live triggers one account may have: bounds what list reads.
  std::uint64_t max_triggers = 10'000;
};

// The caller validates a trigger before saving it; the store takes what it is given. Redis
// failures throw redis::error.
class trigger_store {
 public:
  trigger_store(redis::client& redis, store_config cfg = {});

  // A new trigger (exists: it is there already, nothing written).
  boost::asio::awaitable<save_result> add(const std::string& account, const trigger& t);
  // A new version of an existing trigger (not_found: there is none, nothing written).
  boost::asio::awaitable<save_result> update(const std::string& account, const trigger& t);
  // Either; unchanged when `t` equals the current version (the triggers_dir reload saves no new
  // version of a file that did not change).
  boost::asio::awaitable<save_result> upsert(const std::string& account, const trigger& t);

  // The current version; nothing when the account has no such trigger (or it was deleted).
  boost::asio::awaitable<std::optional<stored_trigger>> get(const std::string& account,
                                                            std::uint64_t id);
  // A given version, as a running task reads it; deleted triggers' versions too, for a while.
  boost::asio::awaitable<std::optional<stored_trigger>> get_version(const std::string& account,
                                                                    std::uint64_t id,
                                                                    std::uint64_t version);
  // The account's live triggers, by id.
  boost::asio::awaitable<std::vector<stored_trigger>> list(const std::string& account);
  // Whether there was such a trigger to delete.
  boost::asio::awaitable<bool> remove(const std::string& account, std::uint64_t id);

 private:
  boost::asio::awaitable<save_result> save(const std::string& account, const trigger& t,
                                           const char* mode);
  boost::asio::awaitable<std::optional<stored_trigger>> read(const std::string& account,
                                                             std::uint64_t id, std::string version);
  redis::client& redis_;
  store_config cfg_;
};

}  // namespace herald::triggers
