#include "herald/triggers/store.hpp"

#include <charconv>
#include <stdexcept>

#include "herald/proto/scripts.hpp"
#include "herald/redis/client.hpp"
#include "herald/redis/error.hpp"

namespace herald::triggers {

namespace {

const redis::script& save_script() {
  static const redis::script s{std::string(proto::trigger_save_lua)};
  return s;
}
const redis::script& read_script() {
  static const redis::script s{std::string(proto::trigger_read_lua)};
  return s;
}
const redis::script& delete_script() {
  static const redis::script s{std::string(proto::trigger_delete_lua)};
  return s;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t to_int(const std::string& s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

trigger_keys::trigger_keys(std::string prefix, const std::string& account)
    : base_(std::move(prefix) + ":{trg:" + account + "}:"), ids_(base_ + "ids") {}

std::string trigger_keys::trigger(std::uint64_t id) const {
  return base_ + "t:" + std::to_string(id);
}

std::string stored_trigger::to_api_json() const {
  // json is an object written by to_json: "{...}".
  std::string out = json.substr(0, json.size() - 1);
  out += ", \"version\": " + std::to_string(version);
  out += ", \"created_at\": " + std::to_string(created_at / 1000);
  out += ", \"updated_at\": " + std::to_string(updated_at / 1000);
  out += '}';
  return out;
}

std::string_view to_string(save_outcome o) {
  switch (o) {
    case save_outcome::created:
      return "created";
    case save_outcome::updated:
      return "updated";
    case save_outcome::unchanged:
      return "unchanged";
    case save_outcome::exists:
      return "exists";
    case save_outcome::not_found:
      return "not_found";
    case save_outcome::full:
      return "full";
  }
  return "created";
}

trigger_store::trigger_store(redis::client& redis, store_config cfg)
    : redis_(redis), cfg_(std::move(cfg)) {
  if (cfg_.versions_kept == 0) cfg_.versions_kept = 1;
}

boost::asio::awaitable<save_result> trigger_store::add(const std::string& account,
                                                       const trigger& t) {
  return save(account, t, "add");
}
boost::asio::awaitable<save_result> trigger_store::update(const std::string& account,
                                                          const trigger& t) {
  return save(account, t, "update");
}
boost::asio::awaitable<save_result> trigger_store::upsert(const std::string& account,
                                                          const trigger& t) {
  return save(account, t, "upsert");
}

boost::asio::awaitable<save_result> trigger_store::save(const std::string& account,
                                                        const trigger& t, const char* mode) {
  trigger_keys keys(cfg_.prefix, account);
  const std::string k[] = {keys.trigger(t.id), keys.ids()};
  const std::string a[] = {mode,
                           std::to_string(t.id),
                           to_json(t),
                           std::to_string(now_ms()),
                           std::to_string(cfg_.versions_kept),
                           std::to_string(cfg_.max_triggers)};
  auto r = co_await redis_.eval(save_script(), k, a);
  const auto& e = r.as_array();
  if (e.size() != 2) throw std::runtime_error("trigger_save.lua: unexpected reply");
  const auto& outcome = e[0].as_string();
  save_result out;
  out.version = static_cast<std::uint64_t>(e[1].as_integer());
  if (outcome == "created")
    out.outcome = save_outcome::created;
  else if (outcome == "updated")
    out.outcome = save_outcome::updated;
  else if (outcome == "unchanged")
    out.outcome = save_outcome::unchanged;
  else if (outcome == "exists")
    out.outcome = save_outcome::exists;
  else if (outcome == "full")
    out.outcome = save_outcome::full;
  else
    out.outcome = save_outcome::not_found;
  co_return out;
}

boost::asio::awaitable<std::optional<stored_trigger>> trigger_store::read(
    const std::string& account, std::uint64_t id, std::string version) {
  trigger_keys keys(cfg_.prefix, account);
  const std::string k[] = {keys.trigger(id)};
  const std::string a[] = {std::move(version)};
  auto r = co_await redis_.eval(read_script(), k, a);
  if (r.is_nil()) co_return std::nullopt;
  auto& e = r.as_array();
  if (e.size() != 6) throw std::runtime_error("trigger_read.lua: unexpected reply");
  stored_trigger s;
  s.version = static_cast<std::uint64_t>(to_int(e[0].as_string()));
  s.json = e[1].take_str();
  s.created_at = to_int(e[2].as_string());
  s.updated_at = to_int(e[3].as_string());
  s.current_version = static_cast<std::uint64_t>(to_int(e[4].as_string()));
  s.deleted = e[5].as_string() == "1";
  auto parsed = parse_trigger(s.json);
  if (!parsed.value)
    throw std::runtime_error("trigger " + std::to_string(id) + " version "
                             + std::to_string(s.version)
                             + ": stored JSON does not parse: " + parsed.error->text());
  s.definition = std::move(*parsed.value);
  co_return s;
}

boost::asio::awaitable<std::optional<stored_trigger>> trigger_store::get(const std::string& account,
                                                                         std::uint64_t id) {
  return read(account, id, "");
}

boost::asio::awaitable<std::optional<stored_trigger>> trigger_store::get_version(
    const std::string& account, std::uint64_t id, std::uint64_t version) {
  return read(account, id, std::to_string(version));
}

boost::asio::awaitable<std::vector<stored_trigger>> trigger_store::list(
    const std::string& account) {
  trigger_keys keys(cfg_.prefix, account);
  auto ids = co_await redis_.exec("ZRANGE", keys.ids(), "0", "-1");
  std::vector<stored_trigger> out;
  for (const auto& id : ids.as_array()) {
    std::uint64_t n = 0;
    const auto& s = id.as_string();
    std::from_chars(s.data(), s.data() + s.size(), n);
    // A trigger deleted between the two reads is left out.
    if (auto t = co_await get(account, n)) out.push_back(std::move(*t));
  }
  co_return out;
}

boost::asio::awaitable<bool> trigger_store::remove(const std::string& account, std::uint64_t id) {
  trigger_keys keys(cfg_.prefix, account);
  const std::string k[] = {keys.trigger(id), keys.ids()};
  const std::string a[] = {std::to_string(id), std::to_string(now_ms()),
                           std::to_string(cfg_.deleted_ttl.count())};
  auto r = co_await redis_.eval(delete_script(), k, a);
  co_return r.as_integer() == 1;
}

}  // namespace herald::triggers
