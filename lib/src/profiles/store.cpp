#include "herald/profiles/store.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "herald/proto/scripts.hpp"
#include "herald/redis/client.hpp"
#include "herald/redis/script.hpp"

namespace herald::profiles {

namespace asio = boost::asio;

namespace {

const redis::script& profile_script() {
  static const redis::script s{std::string(proto::profile_lua)};
  return s;
}

std::uint64_t to_u64(const redis::reply& r) {
  if (r.type() == redis::reply::kind::integer) return static_cast<std::uint64_t>(r.integer());
  const auto& s = r.as_string();
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Appends the plan's keys to `keys` and its shape ("groups", then each size) to `args`.
void add_plan(const profile_keys& pk, const lookup_plan& plan, std::vector<std::string>& keys,
              std::vector<std::string>& args) {
  args.push_back(std::to_string(plan.size()));
  for (const auto& group : plan) {
    args.push_back(std::to_string(group.size()));
    for (const auto& entry : group) keys.push_back(pk.index(entry));
  }
}

write_result read_write_result(const redis::reply& r) {
  const auto& a = r.as_array();
  write_result out;
  if (a.at(0).as_string() == "ok") {
    out.ok = true;
    out.seq = to_u64(a.at(1));
    out.version = to_u64(a.at(2));
  } else {
    out.conflict = a.at(1).as_string();
    if (a.size() > 2) out.matched_id = a.at(2).as_string();
  }
  return out;
}

}  // namespace

profile_keys::profile_keys(std::string_view prefix, std::string_view account, std::int64_t db_id)
    : base_(std::string(prefix) + ":{pdb:" + std::string(account) + ":" + std::to_string(db_id)
            + "}:"),
      db_id_(db_id) {}

std::string profile_keys::profile(std::string_view id) const {
  return base_ + "p:" + std::string(id);
}
std::string profile_keys::profile_prefix() const {
  return base_ + "p:";
}
std::string profile_keys::seq() const {
  return base_ + "seq";
}
std::string profile_keys::index(std::string_view entry) const {
  return base_ + "ix:" + std::string(entry);
}
std::string profile_keys::index_prefix() const {
  return base_ + "ix:";
}

profile_store::profile_store(redis::client& client, profile_keys keys)
    : client_(client), keys_(std::move(keys)) {}

asio::awaitable<std::optional<stored_profile>> profile_store::get(std::string id) {
  if (!is_profile_id(id)) co_return std::nullopt;
  auto r = co_await client_.exec("HMGET", keys_.profile(id), "v", "s", "d");
  const auto& a = r.as_array();
  if (a.size() != 3 || a[0].is_nil() || a[2].is_nil()) co_return std::nullopt;
  stored_profile out{profile::from_doc(std::string(id), a[2].as_string()), to_u64(a[0]),
                     to_u64(a[1])};
  co_return out;
}

asio::awaitable<std::optional<stored_profile>> profile_store::find(match_query q) {
  std::vector<match_query> one;
  one.push_back(std::move(q));
  auto found = co_await find_all(std::move(one));
  co_return std::move(found.front());
}

asio::awaitable<std::vector<std::optional<stored_profile>>> profile_store::find_all(
    std::vector<match_query> queries) {
  std::vector<std::string> keys,
      args{"match", keys_.profile_prefix(), std::to_string(queries.size())};
  for (const auto& q : queries) {
    if (auto missing = missing_key(q))
      throw std::invalid_argument("matching \"" + std::string(to_string(q.mode)) + "\" needs "
                                  + *missing);
    if (q.mode == match_mode::profile_id) {
      // An id that cannot be one finds nothing: no id, no groups.
      args.push_back(is_profile_id(q.keys.profile_id) ? q.keys.profile_id : std::string());
      args.push_back("0");
    } else {
      args.emplace_back();
      add_plan(keys_, plan_lookup(q), keys, args);
    }
  }
  auto r = co_await client_.eval(profile_script(), keys, args);
  const auto& a = r.as_array();
  if (a.size() != queries.size()) throw std::runtime_error("profile.lua match: short reply");
  std::vector<std::optional<stored_profile>> out;
  out.reserve(a.size());
  for (const auto& e : a) {
    if (e.is_nil()) {
      out.emplace_back();
      continue;
    }
    const auto& f = e.as_array();
    out.push_back(stored_profile{profile::from_doc(f.at(0).as_string(), f.at(3).as_string()),
                                 to_u64(f.at(1)), to_u64(f.at(2))});
  }
  co_return out;
}

write_op write_op::make_create(const profile& p, lookup_plan plan) {
  write_op op;
  op.create = true;
  op.id = p.id;
  op.doc = p.to_doc();
  op.plan = std::move(plan);
  op.added = index_entries(p);
  return op;
}

write_op write_op::make_update(const stored_profile& before, const profile& after) {
  write_op op;
  op.id = before.p.id;
  op.version = before.version;
  op.doc = after.to_doc();
  auto old_entries = index_entries(before.p);
  auto new_entries = index_entries(after);
  std::set_difference(old_entries.begin(), old_entries.end(), new_entries.begin(),
                      new_entries.end(), std::back_inserter(op.removed));
  std::set_difference(new_entries.begin(), new_entries.end(), old_entries.begin(),
                      old_entries.end(), std::back_inserter(op.added));
  return op;
}

asio::awaitable<std::vector<write_result>> profile_store::write_all(std::vector<write_op> ops) {
  std::vector<std::string> keys{keys_.seq()}, args{"write", std::to_string(ops.size())};
  for (auto& op : ops) {
    keys.push_back(keys_.profile(op.id));
    if (op.create) {
      args.insert(args.end(), {"c", op.id, std::move(op.doc)});
      add_plan(keys_, op.plan, keys, args);
      args.push_back(std::to_string(op.added.size()));
    } else {
      args.insert(args.end(), {"u", op.id, std::to_string(op.version), std::move(op.doc),
                               std::to_string(op.removed.size()), std::to_string(op.added.size())});
      for (const auto& e : op.removed) keys.push_back(keys_.index(e));
    }
    for (const auto& e : op.added) keys.push_back(keys_.index(e));
  }
  auto r = co_await client_.eval(profile_script(), keys, args);
  const auto& a = r.as_array();
  if (a.size() != ops.size()) throw std::runtime_error("profile.lua write: short reply");
  std::vector<write_result> out;
  out.reserve(a.size());
  for (const auto& e : a) out.push_back(read_write_result(e));
  co_return out;
}

asio::awaitable<write_result> profile_store::create(profile p, lookup_plan plan) {
  std::vector<write_op> ops;
  ops.push_back(write_op::make_create(p, std::move(plan)));
  co_return (co_await write_all(std::move(ops))).front();
}

asio::awaitable<write_result> profile_store::update(stored_profile before, profile after) {
  std::vector<write_op> ops;
  ops.push_back(write_op::make_update(before, after));
  co_return (co_await write_all(std::move(ops))).front();
}

}  // namespace herald::profiles
