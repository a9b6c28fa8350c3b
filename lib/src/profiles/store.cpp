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
  // First the ids (the index lookups), then the profiles under their declared keys: a script
  // never builds a key (Cluster needs every key in KEYS). The read is atomic per profile, and a
  // write re-checks both its lookup and the version it read.
  std::vector<std::string> ids(queries.size());
  std::vector<std::string> keys, args{"match", std::string("0")};
  std::vector<std::size_t> searched;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const auto& q = queries[i];
    if (auto missing = missing_key(q))
      throw std::invalid_argument("matching \"" + std::string(to_string(q.mode)) + "\" needs "
                                  + *missing);
    if (q.mode == match_mode::profile_id) {
      // An id that cannot be one finds nothing.
      if (is_profile_id(q.keys.profile_id)) ids[i] = q.keys.profile_id;
    } else {
      searched.push_back(i);
      add_plan(keys_, plan_lookup(q), keys, args);
    }
  }
  if (!searched.empty()) {
    args[1] = std::to_string(searched.size());
    auto r = co_await client_.eval(profile_script(), keys, args);
    const auto& a = r.as_array();
    if (a.size() != searched.size()) throw std::runtime_error("profile.lua match: short reply");
    for (std::size_t n = 0; n < a.size(); ++n)
      if (!a[n].is_nil()) ids[searched[n]] = a[n].as_string();
  }

  std::vector<std::optional<stored_profile>> out(queries.size());
  std::vector<std::string> profile_keys;
  std::vector<std::size_t> read;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) continue;
    read.push_back(i);
    profile_keys.push_back(keys_.profile(ids[i]));
  }
  if (read.empty()) co_return out;
  std::vector<std::string> read_args;
  read_args.emplace_back("read");
  auto fetched = co_await client_.eval(profile_script(), profile_keys, read_args);
  const auto& a = fetched.as_array();
  if (a.size() != read.size()) throw std::runtime_error("profile.lua read: short reply");
  for (std::size_t n = 0; n < a.size(); ++n) {
    if (a[n].is_nil()) continue;
    const auto& f = a[n].as_array();
    const auto i = read[n];
    out[i] = stored_profile{profile::from_doc(ids[i], f.at(2).as_string()), to_u64(f.at(0)),
                            to_u64(f.at(1))};
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
  // The writes go in calls of at most write_call_keys keys and write_call_bytes of documents (a
  // write larger than that alone), so that no call holds Redis long. The writes of one batch
  // are independent of each other (the import plans them so), so the split changes no outcome.
  std::vector<write_result> out;
  out.reserve(ops.size());
  std::size_t next = 0;
  while (next < ops.size()) {
    std::vector<std::string> keys{keys_.seq()}, args{"write", std::string("0")};
    std::size_t count = 0, bytes = 0;
    for (; next < ops.size(); ++next) {
      auto& op = ops[next];
      std::size_t op_keys = 1 + op.added.size() + op.removed.size();
      for (const auto& g : op.plan) op_keys += g.size();
      if (count > 0
          && (keys.size() + op_keys > write_call_keys || bytes + op.doc.size() > write_call_bytes))
        break;
      bytes += op.doc.size();
      ++count;
      keys.push_back(keys_.profile(op.id));
      if (op.create) {
        args.insert(args.end(), {"c", op.id, std::move(op.doc)});
        add_plan(keys_, op.plan, keys, args);
        args.push_back(std::to_string(op.added.size()));
      } else {
        args.insert(args.end(),
                    {"u", op.id, std::to_string(op.version), std::move(op.doc),
                     std::to_string(op.removed.size()), std::to_string(op.added.size())});
        for (const auto& e : op.removed) keys.push_back(keys_.index(e));
      }
      for (const auto& e : op.added) keys.push_back(keys_.index(e));
    }
    args[1] = std::to_string(count);
    auto r = co_await client_.eval(profile_script(), keys, args);
    const auto& a = r.as_array();
    if (a.size() != count) throw std::runtime_error("profile.lua write: short reply");
    for (const auto& e : a) out.push_back(read_write_result(e));
  }
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
