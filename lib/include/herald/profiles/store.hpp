// Profiles in Redis (proto/profiles.md): reads by id and by lookup, and atomic writes that keep
// every index entry in step with the document (proto/lua/profile.lua).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "herald/profiles/matching.hpp"
#include "herald/profiles/profile.hpp"

namespace herald::redis {
class client;
}

namespace herald::profiles {

// The keys of one profile database; they share the hash tag {pdb:<account>:<db_id>}.
class profile_keys {
 public:
  profile_keys(std::string_view prefix, std::string_view account, std::int64_t db_id);
  std::string profile(std::string_view id) const;   // P:{pdb:A:D}:p:<id>
  std::string profile_prefix() const;               // P:{pdb:A:D}:p:
  std::string seq() const;                          // P:{pdb:A:D}:seq
  std::string index(std::string_view entry) const;  // P:{pdb:A:D}:ix:<entry>
  std::string index_prefix() const;                 // P:{pdb:A:D}:ix:
  std::int64_t db_id() const { return db_id_; }

 private:
  std::string base_;
  std::int64_t db_id_;
};

struct stored_profile {
  profile p;
  std::uint64_t version = 0;
  std::uint64_t seq = 0;  // creation order within the database
};

struct write_result {
  bool ok = false;
  std::string conflict;    // "exists", "match", "version", "gone"
  std::string matched_id;  // conflict "match": the profile the lookup now finds
  std::uint64_t seq = 0, version = 0;
};

// One write of a batch, its document and index changes worked out once.
struct write_op {
  bool create = false;
  std::string id;
  std::string doc;
  std::uint64_t version = 0;                // update: the version it was read at
  lookup_plan plan;                         // create: the lookup it was decided on
  std::vector<std::string> removed, added;  // index entries

  static write_op make_create(const profile& p, lookup_plan plan);
  // Index entries `before` had and `after` lacks are removed, new ones added.
  static write_op make_update(const stored_profile& before, const profile& after);
};

// What one profile.lua write call carries at most (a single larger write goes alone): the
// bound on how long one call holds Redis.
inline constexpr std::size_t write_call_keys = 5'000;
inline constexpr std::size_t write_call_bytes = 1 << 20;

class profile_store {
 public:
  // `client` must outlive the store; call from its executor. The coroutines take their
  // arguments by value: they may start after the caller's locals are gone.
  profile_store(redis::client& client, profile_keys keys);

  boost::asio::awaitable<std::optional<stored_profile>> get(std::string id);
  // The profile the query matches (the earliest created where several do). Throws
  // std::invalid_argument naming the missing key.
  boost::asio::awaitable<std::optional<stored_profile>> find(match_query q);
  // Each query's profile: one script call for the lookups, one for the profiles they find.
  boost::asio::awaitable<std::vector<std::optional<stored_profile>>> find_all(
      std::vector<match_query> queries);
  // The writes, in order, in calls of at most write_call_keys keys and write_call_bytes of
  // documents; each write is atomic and may conflict on its own.
  boost::asio::awaitable<std::vector<write_result>> write_all(std::vector<write_op> ops);
  // Writes `p` (its id chosen by the caller) unless `plan` now finds a profile.
  boost::asio::awaitable<write_result> create(profile p, lookup_plan plan);
  // Writes `after` in place of `before`, unless the stored profile changed since `before` was
  // read; index entries `before` had and `after` lacks are removed, new ones added.
  boost::asio::awaitable<write_result> update(stored_profile before, profile after);

  const profile_keys& keys() const { return keys_; }

 private:
  redis::client& client_;
  profile_keys keys_;
};

}  // namespace herald::profiles
