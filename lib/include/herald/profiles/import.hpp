// The import half of an `import_and_start` job (SPEC.md section 2, seeds/004): the job's options,
// each item's match query and changes, and how the changes apply to a profile.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "herald/profiles/matching.hpp"
#include "herald/profiles/profile.hpp"

namespace herald::profiles {

// Why one item fails: `code` for machines (`invalid_item`, `missing_key`, `invalid_email`,
// `invalid_phone`, `invalid_subscription`, `profile_not_found`, `invalid_update`), what() naming
// the item index and the field, e.g. `data[3].data.email: not a valid email address`.
class item_error : public std::runtime_error {
 public:
  item_error(std::string code, const std::string& what)
      : std::runtime_error(what), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

struct field_change {
  enum class action { set, unset, incr, decr, add_tags, remove_tags };
  action what = action::set;
  std::string name;
  field_value value;  // set: the value; incr/decr: the step; *_tags: the tags
  std::string path;   // for errors: data[3].data.visits
};
std::string_view to_string(field_change::action a);

struct subscription_change {
  subscription sub;
  bool remove = false;        // {"action": "delete", ...}
  bool status_given = false;  // else an existing subscription keeps its status
  std::string path;
};

struct profile_update {
  std::vector<field_change> fields;
  // `subscriptions` given as {"action": "set", "value": [...]} or {"action": "unset"}: the
  // profile's subscriptions are dropped before `subscriptions` apply.
  bool replace_subscriptions = false;
  std::vector<subscription_change> subscriptions;
  std::vector<std::string> warnings;  // subscriptions dropped by skip_invalid_subscriptions
  std::string geo_ip;                 // the item's _regip, else its _ip
};

// Applies `u` to `p`: fields set, unset and changed by their functions, subscriptions merged by
// (channel, resource_id, address). Throws item_error (code `invalid_update`) naming the field
// when a function does not fit the value, e.g. incr of a string; `p` is then unspecified.
void apply(profile& p, const profile_update& u);

// Prepares a profile being created for an item that matched none: the item's match keys that
// its data does not change (the `email`, the `phones`, the custom `field_name` set to the
// value as a string, by what `q.mode` searches in the profile itself) are set, so that the same
// item finds this profile next time. apply() then applies the data.
void add_match_keys(profile& p, const match_query& q, const profile_update& u);

// What one import may hold. An item over a per-profile limit fails alone (code
// `limit_exceeded`, naming the limit and the item) and nothing of it is written: one item must not
// hold the shared Redis (1.2 million fields once ran the profile script for over 5 s).
struct import_limits {
  std::size_t max_items = 10'000;                 // items a job (max_job_items)
  std::size_t max_profile_fields = 1'000;         // fields a profile, after the update
  std::size_t max_field_tags = 1'000;             // tags (or phones) a field
  std::size_t max_field_bytes = 64 * 1024;        // bytes of one field's value (a list: all)
  std::size_t max_profile_subscriptions = 100;    // subscriptions a profile
  std::size_t max_profile_index_entries = 5'000;  // index entries a profile (what a write adds)
};

// Throws item_error (code `limit_exceeded`) naming the limit when `p`, as an update leaves it,
// holds more fields, subscriptions or index entries than `limits` allow; `path` names the item.
void check_profile_limits(const profile& p, const import_limits& limits, const std::string& path);

struct import_options {
  std::int64_t db_id = 1;
  std::optional<std::int64_t> trigger_id;
  match_mode matching = match_mode::email;
  std::optional<std::int64_t> resource_id;
  std::string field_name;
  bool skip_triggers = false;
  bool skip_invalid_subscriptions = false;
  bool detect_geo = false;
  // A `start` job (start_batch): items are matching keys and custom_data only; nothing is
  // imported, and an item holding `data` is refused.
  bool match_only = false;
  // `timeout {days, hours, minutes, seconds}`: the trigger's sends wait this long (0: at once).
  std::chrono::milliseconds timeout{0};
};

struct import_item {
  std::size_t index = 0;
  match_query query;
  profile_update update;
  std::string custom_data;  // a JSON object: the root's members, the item's winning; or empty
  std::optional<item_error> error;  // the item fails alone
};

struct import_job {
  import_options options;
  std::vector<import_item> items;
};

// An import_and_start body checked at its root, its items kept as text until a chunk reads them:
// a job holds about its body's size, whatever its items turn into.
struct import_body {
  import_options options;
  import_limits limits;
  std::string custom_data;         // the root's, minified; or empty
  std::string content;             // the root's `content` (apicontent), minified; or empty
  std::vector<std::string> items;  // each item of `data`, minified
};

// Checks the body's root (throws queue::bad_job naming the field, like parse_import_job) and
// keeps its items.
// `match_only`: a start_batch body (options.match_only), whose items only find profiles.
import_body parse_import_body(std::string_view body, const import_limits& limits,
                              bool match_only = false);
// Reads item `index` of `body` (its `error` says what is wrong with it).
import_item read_import_item(const import_body& body, std::size_t index);

// Parses an import_and_start body. A body that cannot run at all throws queue::bad_job naming the
// field (`body.matching: ...`, `body.data: at most 10000 items`); an item that is wrong gets its
// `error` and the others still run.
import_job parse_import_job(std::string_view body, const import_limits& limits);

}  // namespace herald::profiles
