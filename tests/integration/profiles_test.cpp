// Profiles against a real redis-server: the eleven matching modes on profiles built for them
// (resource restriction, the earliest created winning, each mode's missing key), and the
// import_and_start handler's semantics: create or update, each update function, subscription
// merge, skip_invalid_subscriptions, profile_id never creating, detect_geo, custom_data, indexes
// following a changed email, items of one chunk that depend on each other, and two importers at
// once never creating a profile twice nor losing an update.
//
// Suites are named Profiles* so that --gtest_filter='Profiles*' selects them.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "herald/common/gather.hpp"
#include "herald/geo/geo.hpp"
#include "herald/profiles/import_handler.hpp"
#include "herald/profiles/store.hpp"
#include "herald/queue/handler.hpp"
#include "herald/redis/client.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::profiles {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// What an import did, its item outcomes in item order.
struct import_result {
  std::uint64_t processed = 0, failed = 0;
  std::vector<queue::item_outcome> items;

  const queue::item_outcome& at(std::size_t index) const {
    for (const auto& o : items)
      if (o.index == index) return o;
    throw std::out_of_range("no outcome for item " + std::to_string(index));
  }
};

// Retries PING until the client answers; it connects by itself.
asio::awaitable<void> wait_connected(redis::client& c) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto [ec, r] =
        co_await c.async_exec(redis::command("PING"), asio::as_tuple(asio::use_awaitable));
    if (!ec && r.str() == "PONG") co_return;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("redis did not answer: " + ec.message());
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// Runs an import_and_start body through the handler, chunk after chunk, as a worker would.
asio::awaitable<import_result> run_import(redis::client& client, std::string body,
                                          std::size_t chunk, import_settings settings,
                                          std::string account = "acme") {
  queue::handler_registry registry;
  add_import_handler(registry, std::move(settings));
  const auto* handler = registry.find("import_and_start");
  if (!handler) throw std::logic_error("add_import_handler registered no import_and_start");
  auto job = handler->prepare(body);
  queue::job_context ctx;
  ctx.task_id = "test-task";
  ctx.type = "import_and_start";
  ctx.account = std::move(account);
  ctx.redis = &client;
  import_result out;
  for (std::uint64_t begin = 0; begin < job->total(); begin += chunk) {
    auto end = std::min<std::uint64_t>(job->total(), begin + chunk);
    auto r = co_await job->run(ctx, begin, end);
    out.processed += r.processed;
    out.failed += r.failed;
    for (auto& o : r.outcomes) out.items.push_back(std::move(o));
  }
  std::sort(out.items.begin(), out.items.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  co_return out;
}

// An import on its own connection and event loop, for running importers in parallel threads.
import_result import_on_own_connection(const std::string& url, const std::string& body,
                                       std::size_t chunk) {
  asio::io_context io{1};
  redis::client_config cfg;
  cfg.url = url;
  redis::client client(io.get_executor(), cfg);
  client.start();
  run_awaitable(io, wait_connected(client));
  auto r = run_awaitable(io, run_import(client, body, chunk, {}), 60s);
  client.stop();
  io.restart();
  io.run_for(20ms);
  return r;
}

class ProfilesRedis : public ::testing::Test {
 public:
  void SetUp() override {
    redis::client_config cfg;
    cfg.url = server_.url();
    client_ = std::make_unique<redis::client>(io_.get_executor(), cfg);
    client_->start();
    run_awaitable(io_, wait_connected(*client_));
    store_ = std::make_unique<profile_store>(*client_, keys_);
  }

  void TearDown() override {
    client_->stop();
    io_.restart();
    io_.run_for(50ms);
  }

  import_result import(const std::string& body, std::size_t chunk = 100,
                       import_settings settings = {}) {
    return run_awaitable(io_, run_import(*client_, body, chunk, std::move(settings)));
  }

  // A profile written straight into the store, created after every earlier one.
  std::string create(profile p) {
    p.id = new_profile_id();
    p.created_at = p.updated_at = 1763870000000;
    auto r = run_awaitable(io_, store_->create(p, {}));
    EXPECT_TRUE(r.ok) << r.conflict;
    return p.id;
  }

  stored_profile get(const std::string& id) {
    auto p = run_awaitable(io_, store_->get(id));
    if (!p) throw std::runtime_error("no profile " + id);
    return *p;
  }

  std::optional<stored_profile> find(match_query q) {
    return run_awaitable(io_, store_->find(std::move(q)));
  }

  std::optional<std::string> find_id(match_query q) {
    auto p = find(std::move(q));
    return p ? std::optional<std::string>(p->p.id) : std::nullopt;
  }

  redis::reply exec(redis::command cmd) {
    return run_awaitable(io_, client_->exec(std::move(cmd)));
  }

  std::vector<std::string> scan(const std::string& pattern) {
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
      auto r = exec(redis::command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000));
      cursor = r.as_array().at(0).as_string();
      for (const auto& k : r.as_array().at(1).as_array()) keys.push_back(k.as_string());
    } while (cursor != "0");
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  // Every index key of the database and its members.
  std::map<std::string, std::set<std::string>> index_in_redis(const profile_keys& keys) {
    std::map<std::string, std::set<std::string>> out;
    for (const auto& key : scan(keys.index_prefix() + "*")) {
      auto r = exec(redis::command("ZRANGE", key, 0, -1));
      for (const auto& m : r.as_array()) out[key].insert(m.as_string());
    }
    return out;
  }

  std::vector<std::string> profile_ids(const profile_keys& keys) {
    std::vector<std::string> ids;
    for (const auto& key : scan(keys.profile_prefix() + "*"))
      ids.push_back(key.substr(keys.profile_prefix().size()));
    return ids;
  }

  // The index the stored documents imply, against what Redis holds.
  void expect_index_follows_documents(const profile_keys& keys) {
    std::map<std::string, std::set<std::string>> expected;
    profile_store store(*client_, keys);
    for (const auto& id : profile_ids(keys)) {
      auto p = run_awaitable(io_, store.get(id));
      ASSERT_TRUE(p) << id;
      for (const auto& e : index_entries(p->p)) expected[keys.index(e)].insert(id);
    }
    EXPECT_EQ(index_in_redis(keys), expected);
  }

  std::set<std::string> members(const std::string& entry) {
    std::set<std::string> out;
    auto r = exec(redis::command("ZRANGE", keys_.index(entry), 0, -1));
    for (const auto& m : r.as_array()) out.insert(m.as_string());
    return out;
  }

  test::redis_server server_;
  asio::io_context io_{1};
  std::unique_ptr<redis::client> client_;
  profile_keys keys_{"herald", "acme", 1};
  std::unique_ptr<profile_store> store_;
};

// --- matching: the eleven modes ----------------------------------------------------------

subscription sub(channel ch, std::int64_t resource, std::string address) {
  subscription s;
  s.ch = ch;
  s.resource_id = resource;
  switch (ch) {
    case channel::email:
      s.email = std::move(address);
      break;
    case channel::sms:
      s.phone = std::move(address);
      break;
    case channel::push:
      s.provider = "fcm";
      s.subscription_id = std::move(address);
      break;
    case channel::telegram_bot:
      s.cc_id = std::move(address);
      break;
    case channel::leadconverter:
      s.subscriber_id = std::move(address);
      break;
  }
  return s;
}

class ProfilesMatching : public ProfilesRedis {
 protected:
  void SetUp() override {
    ProfilesRedis::SetUp();
    // Three profiles, created in this order, whose keys overlap on purpose.
    profile p1;
    p1.fields = {{"email", std::string("a@x.com")},
                 {"phones", tag_list{"+10000000001"}},
                 {"CRM_ID", std::string("0002")},
                 {"score", std::int64_t{7}},
                 {"vip", true},
                 {"interests", tag_list{"books", "music"}},
                 {"labels", tag_list{"tag_1"}}};
    p1.subscriptions = {sub(channel::email, 1, "sub-a@x.com"), sub(channel::email, 5, "d@x.com"),
                        sub(channel::sms, 2, "+10000000009"), sub(channel::push, 3, "push-1"),
                        sub(channel::telegram_bot, 4, "tg-1")};
    profile p2;
    p2.fields = {{"email", std::string("b@x.com")},
                 {"phones", tag_list{"+10000000002", "+10000000003"}},
                 {"CRM_ID", std::string("0003")},
                 {"note", std::string("a, b")},
                 {"interests", tag_list{"books", "sport"}},
                 {"labels", tag_list{"tag_1", "tag_2"}}};
    subscription lc_user;
    lc_user.ch = channel::leadconverter;
    lc_user.resource_id = 2;
    lc_user.user_id = "u1";
    lc_user.channel_id = "c1";
    p2.subscriptions = {sub(channel::email, 2, "a@x.com"), sub(channel::sms, 1, "+10000000001"),
                        sub(channel::push, 1, "push-1"), sub(channel::leadconverter, 1, "lc-1"),
                        lc_user};
    profile p3;
    p3.fields = {{"email", std::string("d@x.com")},
                 {"phones", tag_list{"+10000000004"}},
                 {"CRM_ID", std::string("0002")},
                 {"interests", tag_list{"music", "books", "sport"}},
                 {"labels", tag_list{"tag_2", "tag_1"}}};
    subscription tg_phone;
    tg_phone.ch = channel::telegram_bot;
    tg_phone.resource_id = 6;
    tg_phone.phone = "+10000000007";
    p3.subscriptions = {sub(channel::email, 1, "b@x.com"), sub(channel::sms, 3, "+10000000002"),
                        tg_phone};
    ids_ = {"", create(p1), create(p2), create(p3)};
  }

  std::vector<std::string> ids_;  // ids_[n]: profile Pn; ids_[0] is "" (no match)
};

struct match_case {
  match_mode mode;
  std::optional<std::int64_t> resource;
  std::string email;
  std::vector<std::string> phones;
  std::string other;  // profile_id: "P<n>" or an id; push_sub: subscription id; custom:
                      // "field=value"; custom_sub: "channel=id"
  int expected;       // the profile number, 0: none
};

match_query query_of(const match_case& c, const std::vector<std::string>& ids) {
  match_query q;
  q.mode = c.mode;
  q.resource_id = c.resource;
  q.keys.email = c.email;
  q.keys.phones = c.phones;
  auto eq = c.other.find('=');
  switch (c.mode) {
    case match_mode::profile_id:
      q.keys.profile_id = c.other.size() == 2 ? ids.at(c.other[1] - '0') : c.other;
      break;
    case match_mode::push_sub:
      q.keys.subscription_id = c.other;
      break;
    case match_mode::custom:
      q.field_name = c.other.substr(0, eq);
      q.keys.field_value = c.other.substr(eq + 1);
      break;
    case match_mode::custom_sub:
      q.keys.sub_channel = parse_channel(c.other.substr(0, eq));
      q.keys.sub_id = c.other.substr(eq + 1);
      break;
    default:
      break;
  }
  return q;
}

TEST_F(ProfilesMatching, EveryModeFindsTheEarliestCreatedProfileItShould) {
  using m = match_mode;
  const std::optional<std::int64_t> any;
  const std::vector<match_case> cases = {
      // email: the profile's email or an email subscription, the earliest created winning.
      {m::email, any, "a@x.com", {}, "", 1},  // P1's email, P2's subscription
      {m::email, any, "d@x.com", {}, "", 1},  // P1's subscription beats P3's (later) email
      {m::email, 5, "d@x.com", {}, "", 1},
      {m::email, 6, "d@x.com", {}, "", 3},  // the resource restricts subscriptions only
      {m::email, any, "b@x.com", {}, "", 2},
      {m::email, any, "sub-a@x.com", {}, "", 1},
      {m::email, 2, "sub-a@x.com", {}, "", 0},
      {m::email, any, "zz@x.com", {}, "", 0},
      // email_profile: the profile's email only.
      {m::email_profile, any, "a@x.com", {}, "", 1},
      {m::email_profile, any, "d@x.com", {}, "", 3},
      {m::email_profile, any, "sub-a@x.com", {}, "", 0},
      // email_sub: email subscriptions only.
      {m::email_sub, any, "a@x.com", {}, "", 2},
      {m::email_sub, 2, "a@x.com", {}, "", 2},
      {m::email_sub, 1, "a@x.com", {}, "", 0},
      {m::email_sub, any, "d@x.com", {}, "", 1},
      {m::email_sub, any, "b@x.com", {}, "", 3},
      {m::email_sub, 1, "b@x.com", {}, "", 3},
      {m::email_sub, 2, "b@x.com", {}, "", 0},
      // phone: the profile's phones or sms subscriptions.
      {m::phone, any, "", {"+10000000001"}, "", 1},  // P1's phone, P2's subscription
      {m::phone, any, "", {"+10000000003"}, "", 2},  // P2's second phone
      {m::phone, any, "", {"+10000000009"}, "", 1},  // P1's sms subscription
      {m::phone, 1, "", {"+10000000009"}, "", 0},
      {m::phone, 2, "", {"+10000000009"}, "", 1},
      {m::phone, any, "", {"+10000000002"}, "", 2},  // P2's phone, P3's subscription
      {m::phone, any, "", {"+10000000004"}, "", 3},
      {m::phone, any, "", {"+10000000004", "+10000000003"}, "", 2},  // each phone
      {m::phone, any, "", {"+19999999999"}, "", 0},
      // phone_sub: sms subscriptions only.
      {m::phone_sub, any, "", {"+10000000001"}, "", 2},
      {m::phone_sub, 1, "", {"+10000000001"}, "", 2},
      {m::phone_sub, 2, "", {"+10000000001"}, "", 0},
      {m::phone_sub, any, "", {"+10000000002"}, "", 3},
      {m::phone_sub, any, "", {"+10000000003"}, "", 0},
      // profile_id
      {m::profile_id, any, "", {}, "P2", 2},
      {m::profile_id, any, "", {}, "ffffffffffffffffffffffff", 0},
      {m::profile_id, any, "", {}, "not-an-id", 0},
      // push_sub
      {m::push_sub, any, "", {}, "push-1", 1},
      {m::push_sub, 1, "", {}, "push-1", 2},
      {m::push_sub, 3, "", {}, "push-1", 1},
      {m::push_sub, 9, "", {}, "push-1", 0},
      {m::push_sub, any, "", {}, "push-2", 0},
      // custom: a scalar field's value, or every tag of "tag_1, tag_2".
      {m::custom, any, "", {}, "CRM_ID=0002", 1},  // P1 and P3
      {m::custom, any, "", {}, "CRM_ID=0003", 2},
      {m::custom, any, "", {}, "CRM_ID= 0003 ", 2},
      {m::custom, any, "", {}, "CRM_ID=0009", 0},
      {m::custom, any, "", {}, "score=7", 1},
      {m::custom, any, "", {}, "vip=true", 1},
      {m::custom, any, "", {}, "note=a, b", 2},  // a scalar holding a comma
      {m::custom, any, "", {}, "interests=books", 1},
      {m::custom, any, "", {}, "interests=sport", 2},
      {m::custom, any, "", {}, "interests=music, sport", 3},
      {m::custom, any, "", {}, "interests=sport, books", 2},
      {m::custom, any, "", {}, "interests=books, music, sport", 3},
      {m::custom, any, "", {}, "interests=music,books", 1},
      {m::custom, any, "", {}, "interests=chess", 0},
      {m::custom, any, "", {}, "interests=books, chess", 0},
      {m::custom, any, "", {}, "labels=tag_1", 1},
      {m::custom, any, "", {}, "labels=tag_1, tag_2", 2},
      {m::custom, any, "", {}, "labels=tag_2", 2},
      {m::custom, any, "", {}, "CRM_ID=books", 0},  // another field's value
      // custom_sub: a subscription by its channel and address.
      {m::custom_sub, any, "", {}, "telegram_bot=tg-1", 1},
      {m::custom_sub, 4, "", {}, "telegram_bot=tg-1", 1},
      {m::custom_sub, 5, "", {}, "telegram_bot=tg-1", 0},
      {m::custom_sub, any, "", {}, "leadconverter=lc-1", 2},
      {m::custom_sub, any, "", {}, "leadconverter=u1/c1", 2},
      {m::custom_sub, any, "", {}, "email=sub-a@x.com", 1},
      {m::custom_sub, any, "", {}, "sms=+10000000001", 2},
      {m::custom_sub, any, "", {}, "push=push-1", 1},
      {m::custom_sub, any, "", {}, "telegram_bot=lc-1", 0},
      {m::custom_sub, any, "", {}, "telegram_bot=+10000000007", 3},
      {m::custom_sub, 6, "", {}, "telegram_bot=+1 (000) 000-00-07", 3},  // read as E.164
      {m::custom_sub, 4, "", {}, "telegram_bot=+1 (000) 000-00-07", 0},
      // email_phone: the profile's email or phones, no subscriptions.
      {m::email_phone, any, "zz@x.com", {"+10000000002"}, "", 2},
      {m::email_phone, any, "d@x.com", {"+10000000001"}, "", 1},
      {m::email_phone, any, "d@x.com", {}, "", 3},
      {m::email_phone, any, "sub-a@x.com", {}, "", 0},
      {m::email_phone, any, "", {"+10000000009"}, "", 0},
      // email_phone_sub: email or sms subscriptions.
      {m::email_phone_sub, any, "sub-a@x.com", {}, "", 1},
      {m::email_phone_sub, any, "", {"+10000000001"}, "", 2},
      {m::email_phone_sub, any, "b@x.com", {"+10000000001"}, "", 2},
      {m::email_phone_sub, 2, "sub-a@x.com", {}, "", 0},
      {m::email_phone_sub, 2, "a@x.com", {"+10000000009"}, "", 1},
      {m::email_phone_sub, any, "a@x.com", {}, "", 2},
  };
  std::set<match_mode> covered;
  for (const auto& c : cases) {
    covered.insert(c.mode);
    auto found = find_id(query_of(c, ids_));
    std::string what = std::string(to_string(c.mode)) + " R="
                       + (c.resource ? std::to_string(*c.resource) : "*") + " email=" + c.email
                       + " phones=" + (c.phones.empty() ? "" : c.phones.front()) + " " + c.other;
    if (c.expected == 0)
      EXPECT_FALSE(found) << what << ": found " << *found;
    else
      EXPECT_EQ(found.value_or("none"), ids_[c.expected]) << what << ": expected P" << c.expected;
  }
  EXPECT_EQ(covered.size(), 11u);
}

TEST_F(ProfilesMatching, EachModesMissingKeyThrowsNamingIt) {
  const std::vector<std::pair<match_mode, std::string>> modes = {
      {match_mode::email, "email"},
      {match_mode::email_profile, "email"},
      {match_mode::email_sub, "email"},
      {match_mode::phone, "phone"},
      {match_mode::phone_sub, "phone"},
      {match_mode::profile_id, "profile_id"},
      {match_mode::push_sub, "subscription_id"},
      {match_mode::custom, "field_value"},
      {match_mode::custom_sub, "channel"},
      {match_mode::email_phone, "email or phone"},
      {match_mode::email_phone_sub, "email or phone"},
  };
  for (const auto& [mode, key] : modes) {
    match_query q;
    q.mode = mode;
    q.field_name = "CRM_ID";
    q.keys.field_value = "  ";  // blank is missing
    try {
      find(q);
      ADD_FAILURE() << to_string(mode) << ": no error";
    } catch (const std::invalid_argument& e) {
      EXPECT_TRUE(contains(e.what(), "needs " + key)) << to_string(mode) << ": " << e.what();
    }
  }
  match_query no_field;
  no_field.mode = match_mode::custom;
  no_field.keys.field_value = "0002";
  EXPECT_THROW(find(no_field), std::invalid_argument);
  match_query no_id;
  no_id.mode = match_mode::custom_sub;
  no_id.keys.sub_channel = channel::telegram_bot;
  EXPECT_THROW(find(no_id), std::invalid_argument);
}

TEST_F(ProfilesMatching, TheEarliestWinsWhateverTheIdsOrder) {
  // Ids begin with the creation second; the sequence, not the id, decides.
  profile late;
  late.fields = {{"email", std::string("dup@x.com")}};
  late.id = "000000000000000000000001";  // sorts before every other id
  late.created_at = late.updated_at = 1;
  ASSERT_TRUE(run_awaitable(io_, store_->create(late, {})).ok);
  profile later;
  later.fields = {{"email", std::string("dup@x.com")}};
  later.id = "000000000000000000000000";
  ASSERT_TRUE(run_awaitable(io_, store_->create(later, {})).ok);
  match_query q;
  q.keys.email = "dup@x.com";
  EXPECT_EQ(find_id(q), late.id);
  // A create decided on a lookup is refused once that lookup finds a profile.
  profile third;
  third.id = new_profile_id();
  third.fields = {{"email", std::string("dup@x.com")}};
  auto w = run_awaitable(io_, store_->create(third, plan_lookup(q)));
  EXPECT_FALSE(w.ok);
  EXPECT_EQ(w.conflict, "match");
  EXPECT_EQ(w.matched_id, late.id);
  w = run_awaitable(io_, store_->create(later, {}));
  EXPECT_FALSE(w.ok);
  EXPECT_EQ(w.conflict, "exists");
  // An update from a stale read is refused.
  auto before = get(late.id);
  auto after = before.p;
  after.fields["x"] = std::int64_t{1};
  ASSERT_TRUE(run_awaitable(io_, store_->update(before, after)).ok);
  w = run_awaitable(io_, store_->update(before, after));
  EXPECT_FALSE(w.ok);
  EXPECT_EQ(w.conflict, "version");
  EXPECT_EQ(get(late.id).version, 2u);
}

// --- import through the handler ----------------------------------------------------------

TEST_F(ProfilesRedis, ImportCreatesThenUpdatesOrLeavesUnchanged) {
  auto r = import(R"({"data": [{"data": {"email": "Ann@X.com", "_fname": "Ann"}}]})");
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].outcome, queue::item_outcome::kind::processed);
  EXPECT_EQ(r.items[0].code, "created");
  const auto id = r.items[0].profile_id;
  EXPECT_TRUE(is_profile_id(id)) << id;
  auto p = get(id);
  EXPECT_EQ(p.version, 1u);
  EXPECT_EQ(p.seq, 1u);
  EXPECT_EQ(p.p.fields.at("email"), field_value(std::string("ann@x.com")));
  EXPECT_EQ(p.p.fields.at("_fname"), field_value(std::string("Ann")));
  EXPECT_GT(p.p.created_at, 0);

  r = import(R"({"data": [{"data": {"email": "ann@x.com", "_fname": "Ann"}}]})");
  EXPECT_EQ(r.at(0).code, "unchanged");
  EXPECT_EQ(r.at(0).profile_id, id);
  EXPECT_EQ(get(id).version, 1u) << "nothing written";

  r = import(R"({"data": [{"email": "ANN@x.com", "data": {"_fname": "Anna"}}]})");
  EXPECT_EQ(r.at(0).code, "updated");
  EXPECT_EQ(r.at(0).profile_id, id);
  p = get(id);
  EXPECT_EQ(p.version, 2u);
  EXPECT_EQ(p.p.fields.at("_fname"), field_value(std::string("Anna")));
  EXPECT_GE(p.p.updated_at, p.p.created_at);
  EXPECT_EQ(profile_ids(keys_).size(), 1u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.processed, 1u);
}

TEST_F(ProfilesRedis, ANewProfileHoldsTheKeyItWasLookedUpBy) {
  // The item's own key, absent from its data: the profile created holds it, so the same item
  // finds that profile the next time instead of creating another.
  struct key_case {
    std::string body;
    std::string field;
    field_value value;
  };
  const std::vector<key_case> cases = {
      {R"({"data": [{"email": " Key@X.com", "data": {"_fname": "K"}}]})", "email",
       std::string("key@x.com")},
      {R"({"matching": "email_profile", "data": [{"email": "ep@x.com", "data": {}}]})", "email",
       std::string("ep@x.com")},
      {R"({"matching": "phone", "data": [{"phone": "+7 900 000-00-05", "data": {"_fname": "P"}}]})",
       "phones", tag_list{"+79000000005"}},
      {R"({"matching": "custom", "field_name": "CRM_ID", "data": [{"field_value": " 0042 ",
           "data": {"_fname": "C"}}]})",
       "CRM_ID", std::string("0042")},
      {R"({"matching": "email_phone", "data": [{"email": "both@x.com", "phone": "79000000006",
           "data": {}}]})",
       "phones", tag_list{"+79000000006"}},
  };
  for (const auto& c : cases) {
    auto first = import(c.body);
    ASSERT_EQ(first.at(0).code, "created") << c.body << first.at(0).message;
    const auto id = first.at(0).profile_id;
    EXPECT_EQ(get(id).p.fields[c.field], c.value) << c.body;
    EXPECT_EQ(first.at(0).message, "") << c.body;
    auto again = import(c.body);
    EXPECT_EQ(again.at(0).profile_id, id) << c.body;
    EXPECT_EQ(again.at(0).code, "unchanged") << c.body;
  }
  EXPECT_EQ(get(import(R"({"matching": "email_phone", "data": [{"email": "both@x.com",
      "phone": "79000000006", "data": {}}]})")
                    .at(0)
                    .profile_id)
                .p.fields.at("email"),
            field_value(std::string("both@x.com")));
  EXPECT_EQ(profile_ids(keys_).size(), cases.size());

  // What the data says about the key wins: here the data names another email.
  auto r = import(R"({"data": [{"email": "was@x.com", "data": {"email": "is@x.com"}}]})");
  ASSERT_EQ(r.at(0).code, "created");
  EXPECT_EQ(get(r.at(0).profile_id).p.fields.at("email"), field_value(std::string("is@x.com")));
  r = import(R"({"data": [{"email": "none@x.com", "data": {"email": null}}]})");
  ASSERT_EQ(r.at(0).code, "created");
  EXPECT_FALSE(get(r.at(0).profile_id).p.fields.contains("email"));

  // A subscription mode whose data gives no such subscription cannot find its new profile
  // again: the item says so.
  r = import(R"({"matching": "email_sub", "data": [{"email": "sub@x.com", "data": {}}]})");
  ASSERT_EQ(r.at(0).code, "created");
  EXPECT_TRUE(contains(r.at(0).message, "cannot be found")) << r.at(0).message;
  r = import(R"({"matching": "email_sub", "resource_id": 3, "data": [{"data": {"subscriptions": [
      {"channel": "email", "resource_id": 3, "email": "sub2@x.com"}]}}]})");
  ASSERT_EQ(r.at(0).code, "created");
  EXPECT_EQ(r.at(0).message, "");
  const auto sub2 = r.at(0).profile_id;
  r = import(R"({"matching": "email_sub", "resource_id": 3, "data": [{"email": "sub2@x.com",
      "data": {"_fname": "S"}}]})");
  EXPECT_EQ(r.at(0).profile_id, sub2);
  EXPECT_EQ(r.at(0).code, "updated");
}

TEST_F(ProfilesRedis, EachUpdateFunctionIsStoredAndIndexed) {
  auto r = import(R"({"data": [{"data": {"email": "f@x.com", "visits": 1, "ratio": 1.5,
      "tags": ["a", "b"], "phones": "+79000000000", "city": "Paris", "flag": true,
      "level": "gold"}}]})");
  ASSERT_EQ(r.at(0).code, "created") << r.at(0).message;
  const auto id = r.at(0).profile_id;
  EXPECT_EQ(members("c:4:city:Paris"), std::set<std::string>{id});
  EXPECT_EQ(members("t:4:tags:a"), std::set<std::string>{id});

  r = import(R"({"data": [{"email": "f@x.com", "data": {
      "visits": {"action": "incr", "value": 2}, "ratio": {"action": "decr", "value": 0.5},
      "score": {"action": "decr"}, "tags": {"action": "add_tags", "value": "c, a"},
      "city": null, "flag": {"action": "unset"}, "level": {"action": "set", "value": "silver"},
      "phones": {"action": "add_tags", "value": ["+7 900 000 00 01"]}}}]})");
  ASSERT_EQ(r.at(0).code, "updated") << r.at(0).message;
  auto p = get(id).p;
  EXPECT_EQ(p.fields.at("visits"), field_value(std::int64_t{3}));
  // 1.5 - 0.5: the document writes 1, as JSON does, and reads it back as the integer.
  EXPECT_EQ(p.fields.at("ratio"), field_value(std::int64_t{1}));
  EXPECT_EQ(p.fields.at("score"), field_value(std::int64_t{-1}));
  EXPECT_EQ(p.fields.at("tags"), field_value(tag_list{"a", "b", "c"}));
  EXPECT_FALSE(p.fields.contains("city"));
  EXPECT_FALSE(p.fields.contains("flag"));
  EXPECT_EQ(p.fields.at("level"), field_value(std::string("silver")));
  EXPECT_EQ(p.fields.at("phones"), field_value(tag_list{"+79000000000", "+79000000001"}));
  EXPECT_TRUE(members("c:4:city:Paris").empty());
  EXPECT_TRUE(members("c:4:flag:true").empty());
  EXPECT_TRUE(members("c:5:level:gold").empty());
  EXPECT_EQ(members("c:5:level:silver"), std::set<std::string>{id});
  EXPECT_EQ(members("c:6:visits:3"), std::set<std::string>{id});
  EXPECT_EQ(members("t:4:tags:c"), std::set<std::string>{id});
  EXPECT_EQ(members("p:+79000000001"), std::set<std::string>{id});

  r = import(R"({"data": [{"email": "f@x.com", "data": {
      "tags": {"action": "remove_tags", "value": ["a", "b", "c"]},
      "phones": {"action": "remove_tags", "value": "+79000000000"}}}]})");
  ASSERT_EQ(r.at(0).code, "updated") << r.at(0).message;
  p = get(id).p;
  EXPECT_FALSE(p.fields.contains("tags"));
  EXPECT_EQ(p.fields.at("phones"), field_value(tag_list{"+79000000001"}));
  EXPECT_TRUE(members("t:4:tags:a").empty());
  EXPECT_TRUE(members("p:+79000000000").empty());
  match_query by_phone;
  by_phone.mode = match_mode::phone;
  by_phone.keys.phones = {"+79000000000"};
  EXPECT_FALSE(find(by_phone));
  by_phone.keys.phones = {"+79000000001"};
  EXPECT_EQ(find_id(by_phone), id);

  // A function that does not fit the value fails the item and writes nothing.
  r = import(R"({"data": [{"email": "f@x.com", "data": {"_fname": "X",
      "level": {"action": "incr"}}}]})");
  EXPECT_EQ(r.at(0).outcome, queue::item_outcome::kind::failed);
  EXPECT_EQ(r.at(0).code, "invalid_update");
  EXPECT_TRUE(contains(r.at(0).message, "data[0].data.level")) << r.at(0).message;
  EXPECT_EQ(r.failed, 1u);
  EXPECT_FALSE(get(id).p.fields.contains("_fname"));
  expect_index_follows_documents(keys_);
}

TEST_F(ProfilesRedis, SubscriptionsMergeThroughTheImport) {
  auto r = import(R"({"data": [{"data": {"email": "s@x.com", "subscriptions": [
      {"channel": "email", "resource_id": 1, "email": "s@x.com", "status": "blocked"},
      {"channel": "phone", "resource_id": 1, "phone": "+79000000000"}]}}]})");
  ASSERT_EQ(r.at(0).code, "created") << r.at(0).message;
  const auto id = r.at(0).profile_id;
  EXPECT_EQ(members("s:sms:1:+79000000000"), std::set<std::string>{id}) << "phone is sms";

  r = import(R"({"data": [{"email": "s@x.com", "data": {"subscriptions": [
      {"channel": "email", "resource_id": 1, "email": "S@x.com", "source": "form"},
      {"channel": "email", "resource_id": 2, "email": "s@x.com"},
      {"channel": "sms", "resource_id": 1, "phone": "+79000000000", "action": "delete"},
      {"channel": "telegram_bot", "resource_id": 3, "cc_data": {"id": 42}}]}}]})");
  ASSERT_EQ(r.at(0).code, "updated") << r.at(0).message;
  auto p = get(id).p;
  ASSERT_EQ(p.subscriptions.size(), 3u);
  EXPECT_EQ(p.subscriptions[0].resource_id, 1);
  EXPECT_EQ(p.subscriptions[0].status, subscription_status::blocked) << "kept: none given";
  EXPECT_EQ(p.subscriptions[0].fields.at("source"), field_value(std::string("form")));
  EXPECT_EQ(p.subscriptions[1].resource_id, 2);
  EXPECT_EQ(p.subscriptions[1].status, subscription_status::active);
  EXPECT_EQ(p.subscriptions[2].cc_id, "42");
  EXPECT_TRUE(members("s:sms:1:+79000000000").empty());
  EXPECT_TRUE(members("s:sms:*:+79000000000").empty());
  EXPECT_EQ(members("s:telegram_bot:3:42"), std::set<std::string>{id});
  EXPECT_EQ(members("s:email:*:s@x.com"), std::set<std::string>{id});

  r = import(R"({"data": [{"email": "s@x.com", "data": {"subscriptions": [
      {"channel": "email", "resource_id": 1, "email": "s@x.com", "status": "active"}]}}]})");
  EXPECT_EQ(get(id).p.subscriptions[0].status, subscription_status::active);
  r = import(R"({"data": [{"email": "s@x.com", "data": {"subscriptions": {"action": "set",
      "value": [{"channel": "push", "resource_id": 1, "provider": "fcm",
                 "subscription_id": "tok"}]}}}]})");
  p = get(id).p;
  ASSERT_EQ(p.subscriptions.size(), 1u);
  EXPECT_EQ(p.subscriptions[0].ch, channel::push);
  EXPECT_TRUE(members("s:email:*:s@x.com").empty());
  expect_index_follows_documents(keys_);
}

TEST_F(ProfilesRedis, SkipInvalidSubscriptionsBothWays) {
  const std::string items = R"("data": [{"data": {"email": "v@x.com", "subscriptions": [
      {"channel": "email", "resource_id": 1, "email": "v@x.com"},
      {"channel": "email", "resource_id": 1, "email": "not-an-address"}]}}])";
  auto r = import("{" + items + "}");
  EXPECT_EQ(r.at(0).outcome, queue::item_outcome::kind::failed);
  EXPECT_EQ(r.at(0).code, "invalid_subscription");
  EXPECT_TRUE(contains(r.at(0).message, "data[0].data.subscriptions[1].email")) << r.at(0).message;
  EXPECT_TRUE(profile_ids(keys_).empty()) << "a failed item writes nothing";
  EXPECT_TRUE(index_in_redis(keys_).empty());

  r = import(R"({"skip_invalid_subscriptions": true, )" + items + "}");
  EXPECT_EQ(r.at(0).outcome, queue::item_outcome::kind::processed);
  EXPECT_EQ(r.at(0).code, "created");
  EXPECT_TRUE(contains(r.at(0).message, "data[0].data.subscriptions[1].email")) << r.at(0).message;
  auto p = get(r.at(0).profile_id).p;
  ASSERT_EQ(p.subscriptions.size(), 1u);
  EXPECT_EQ(p.subscriptions[0].email, "v@x.com");
}

TEST_F(ProfilesRedis, ProfileIdMatchingNeverCreates) {
  profile known;
  known.fields = {{"_fname", std::string("Old")}};
  const auto id = create(known);
  auto r = import(R"({"matching": "profile_id", "data": [
      {"profile_id": "ffffffffffffffffffffffff", "data": {"_fname": "Ghost"}},
      {"profile_id": ")"
                  + id + R"(", "data": {"_fname": "New"}},
      {"data": {"profile_id": ")"
                  + id + R"(", "_lname": "Doe"}}]})");
  EXPECT_EQ(r.at(0).outcome, queue::item_outcome::kind::failed);
  EXPECT_EQ(r.at(0).code, "profile_not_found");
  EXPECT_TRUE(contains(r.at(0).message, "data[0].profile_id")) << r.at(0).message;
  EXPECT_EQ(r.at(1).code, "updated");
  EXPECT_EQ(r.at(1).profile_id, id);
  EXPECT_EQ(r.at(2).code, "updated");
  EXPECT_EQ(profile_ids(keys_), std::vector<std::string>{id});
  auto p = get(id).p;
  EXPECT_EQ(p.fields.at("_fname"), field_value(std::string("New")));
  EXPECT_EQ(p.fields.at("_lname"), field_value(std::string("Doe")));
  EXPECT_FALSE(p.fields.contains("profile_id"));
}

TEST_F(ProfilesRedis, DetectGeoFillsTheCountryFromTheRegistrationOrLastIp) {
  import_settings settings;
  settings.geo = geo::locator::open();  // Debian's GeoIP country database
  auto r = import(R"({"detect_geo": true, "data": [
      {"data": {"email": "g1@x.com", "_ip": "8.8.8.8"}},
      {"data": {"email": "g2@x.com", "_regip": "8.8.8.8", "_ip": "77.88.8.8"}},
      {"data": {"email": "g3@x.com", "_ip": "10.0.0.1"}}]})",
                  100, settings);
  auto g1 = get(r.at(0).profile_id).p;
  EXPECT_EQ(g1.fields.at("_country"), field_value(std::string("US")));
  auto g2 = get(r.at(1).profile_id).p;
  EXPECT_EQ(g2.fields.at("_country"), field_value(std::string("US"))) << "_regip first";
  EXPECT_FALSE(get(r.at(2).profile_id).p.fields.contains("_country"));
  EXPECT_TRUE(contains(r.at(2).message, "10.0.0.1")) << r.at(2).message;

  // Without an address in the item, the profile's own.
  r = import(R"({"data": [{"data": {"email": "g4@x.com", "_ip": "77.88.8.8"}}]})");
  const auto g4 = r.at(0).profile_id;
  EXPECT_FALSE(get(g4).p.fields.contains("_country")) << "detect_geo not asked";
  r = import(R"({"detect_geo": true, "data": [{"data": {"email": "g4@x.com", "_fname": "G"}}]})",
             100, settings);
  EXPECT_EQ(r.at(0).code, "updated");
  EXPECT_EQ(get(g4).p.fields.at("_country"), field_value(std::string("RU")));

  // A region and a city stay within the same country, and go with a move abroad.
  r = import(
      R"({"data": [{"data": {"email": "g4@x.com", "_region": "Moscow", "_city": "Moscow"}}]})");
  r = import(R"({"detect_geo": true, "data": [{"data": {"email": "g4@x.com", "_fname": "H"}}]})",
             100, settings);
  EXPECT_EQ(get(g4).p.fields.at("_city"), field_value(std::string("Moscow")));
  r = import(R"({"detect_geo": true, "data": [{"data": {"email": "g4@x.com", "_ip": "8.8.8.8"}}]})",
             100, settings);
  EXPECT_EQ(r.at(0).code, "updated");
  const auto moved = get(g4).p;
  EXPECT_EQ(moved.fields.at("_country"), field_value(std::string("US")));
  EXPECT_FALSE(moved.fields.contains("_region"));
  EXPECT_FALSE(moved.fields.contains("_city"));

  // No database configured: a warning, and the rest of the item imported.
  r = import(
      R"({"detect_geo": true, "data": [{"data": {"email": "g5@x.com", "_ip": "8.8.8.8"}}]})");
  EXPECT_EQ(r.at(0).code, "created");
  EXPECT_TRUE(contains(r.at(0).message, "detect_geo")) << r.at(0).message;
  EXPECT_FALSE(get(r.at(0).profile_id).p.fields.contains("_country"));
}

TEST_F(ProfilesRedis, CustomDataAtTheRootAndPerItemIsNotAProfileField) {
  auto r = import(R"({"custom_data": {"campaign": "root", "a": 1}, "data": [
      {"custom_data": {"campaign": "item"}, "data": {"email": "c1@x.com"}},
      {"data": {"email": "c2@x.com", "custom_data": {"campaign": "data"}}}]})");
  ASSERT_EQ(r.items.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.at(i).code, "created") << r.at(i).message;
    auto p = get(r.at(i).profile_id).p;
    EXPECT_FALSE(p.fields.contains("custom_data"));
    EXPECT_FALSE(p.fields.contains("campaign"));
  }
  EXPECT_FALSE(profile_ids(keys_).empty());
}

TEST_F(ProfilesRedis, AChangedEmailLeavesNoStaleIndexEntry) {
  auto r = import(R"({"data": [{"data": {"email": "old@x.com", "CRM_ID": "7"}}]})");
  const auto id = r.at(0).profile_id;
  EXPECT_EQ(members("e:old@x.com"), std::set<std::string>{id});
  r = import(R"({"data": [{"email": "old@x.com", "data": {"email": "New@x.com"}}]})");
  EXPECT_EQ(r.at(0).code, "updated");
  EXPECT_EQ(r.at(0).profile_id, id);
  EXPECT_EQ(exec(redis::command("EXISTS", keys_.index("e:old@x.com"))).as_integer(), 0);
  EXPECT_EQ(members("e:new@x.com"), std::set<std::string>{id});
  match_query q;
  q.keys.email = "old@x.com";
  EXPECT_FALSE(find(q));
  q.keys.email = "new@x.com";
  EXPECT_EQ(find_id(q), id);
  // Importing the old address again creates a new profile; the renamed one is left alone.
  r = import(R"({"data": [{"data": {"email": "old@x.com"}}]})");
  EXPECT_EQ(r.at(0).code, "created");
  EXPECT_NE(r.at(0).profile_id, id);
  // Unsetting the email removes its entry too.
  r = import(R"({"data": [{"email": "new@x.com", "data": {"email": null}}]})");
  EXPECT_EQ(r.at(0).code, "updated");
  EXPECT_EQ(exec(redis::command("EXISTS", keys_.index("e:new@x.com"))).as_integer(), 0);
  expect_index_follows_documents(keys_);
}

TEST_F(ProfilesRedis, ItemsOfOneChunkSeeTheWritesOfTheItemsBeforeThem) {
  auto r = import(R"({"data": [
      {"data": {"email": "same@x.com", "_fname": "A", "visits": {"action": "incr"}}},
      {"data": {"email": " SAME@x.com", "_lname": "B", "visits": {"action": "incr"}}},
      {"data": {"email": "other@x.com", "subscriptions": [
          {"channel": "email", "resource_id": 1, "email": "sub@x.com"}]}},
      {"data": {"email": "sub@x.com", "visits": {"action": "incr"}}},
      {"email": "same@x.com", "data": {"email": "renamed@x.com"}},
      {"data": {"email": "same@x.com"}}]})");
  ASSERT_EQ(r.items.size(), 6u);
  EXPECT_EQ(r.at(0).code, "created");
  EXPECT_EQ(r.at(1).code, "updated");
  EXPECT_EQ(r.at(1).profile_id, r.at(0).profile_id) << "one profile for one email";
  EXPECT_EQ(r.at(2).code, "created");
  EXPECT_EQ(r.at(3).code, "updated") << "found through item 2's subscription";
  EXPECT_EQ(r.at(3).profile_id, r.at(2).profile_id);
  EXPECT_EQ(r.at(4).profile_id, r.at(0).profile_id);
  EXPECT_EQ(r.at(5).code, "created") << "same@ was renamed by item 4";
  EXPECT_NE(r.at(5).profile_id, r.at(0).profile_id);
  auto p = get(r.at(0).profile_id).p;
  EXPECT_EQ(p.fields.at("visits"), field_value(std::int64_t{2}));
  EXPECT_EQ(p.fields.at("_fname"), field_value(std::string("A")));
  EXPECT_EQ(p.fields.at("_lname"), field_value(std::string("B")));
  EXPECT_EQ(p.fields.at("email"), field_value(std::string("renamed@x.com")));
  EXPECT_EQ(profile_ids(keys_).size(), 3u);
  expect_index_follows_documents(keys_);
}

TEST_F(ProfilesRedis, AnEntryAddedByAnEarlierItemRedirectsALaterOne) {
  auto r = import(R"({"data": [{"data": {"email": "early@x.com"}},
      {"data": {"email": "late@x.com", "subscriptions": [
          {"channel": "email", "resource_id": 1, "email": "shared@x.com"}]}}]})");
  const auto early = r.at(0).profile_id, late = r.at(1).profile_id;
  // Before the job, shared@ finds `late`; its first item gives `early` (created first) the
  // address, so its second item must find `early`.
  r = import(R"({"data": [
      {"email": "early@x.com", "data": {"subscriptions": [
          {"channel": "email", "resource_id": 2, "email": "shared@x.com"}]}},
      {"email": "shared@x.com", "data": {"_fname": "Shared"}}]})");
  EXPECT_EQ(r.at(0).profile_id, early);
  EXPECT_EQ(r.at(1).profile_id, early);
  EXPECT_EQ(r.at(1).code, "updated");
  EXPECT_TRUE(get(early).p.fields.contains("_fname"));
  EXPECT_FALSE(get(late).p.fields.contains("_fname"));
}

TEST_F(ProfilesRedis, CreatesOfOneChunkWithDifferentKeysGoInOneRound) {
  // 100 new profiles in one chunk: a round per item would send 100 lookups for the first, 99 for
  // the second... The commands sent stay proportional to the items.
  std::string body = R"({"data": [)";
  for (int i = 0; i < 100; ++i)
    body += (i ? "," : "") + std::string(R"({"data": {"email": "n)") + std::to_string(i)
            + R"(@x.com"}})";
  body += "]}";
  const auto before = client_->stats().commands;
  auto r = import(body, 100);
  const auto sent = client_->stats().commands - before;
  EXPECT_EQ(profile_ids(keys_).size(), 100u);
  for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(r.at(i).code, "created");
  EXPECT_LE(sent, 400u) << "commands for 100 creates";
}

TEST_F(ProfilesRedis, AccountsAndDatabasesAreApart) {
  auto r = import(R"({"db_id": 2, "data": [{"data": {"email": "x@x.com"}}]})");
  const auto id = r.at(0).profile_id;
  EXPECT_TRUE(profile_ids(keys_).empty());
  EXPECT_EQ(profile_ids(profile_keys("herald", "acme", 2)), std::vector<std::string>{id});
  auto other = run_awaitable(
      io_, run_import(*client_, R"({"db_id": 2, "data": [{"data": {"email": "x@x.com"}}]})", 100,
                      {}, "globex"));
  EXPECT_EQ(other.at(0).code, "created");
  EXPECT_NE(other.at(0).profile_id, id);
}

// Two importers of overlapping emails at once: each email gets one profile, and each profile
// holds the fields of both (no update lost to the other writer).
std::string overlapping_body(const std::string& field, int from, int to, unsigned seed, int db_id) {
  std::vector<int> order;
  for (int i = from; i < to; ++i) order.push_back(i);
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  std::string body = R"({"db_id": )" + std::to_string(db_id) + R"(, "data": [)";
  for (std::size_t n = 0; n < order.size(); ++n) {
    const auto i = std::to_string(order[n]);
    body += (n ? "," : "") + std::string(R"({"data": {"email": "c)") + i + R"(@x.com", ")" + field
            + R"(": )" + i + R"(, "hits": {"action": "incr"}}})";
  }
  return body + "]}";
}

void expect_merged(ProfilesRedis& t, redis::client& client, asio::io_context& io, int db_id,
                   const std::vector<import_result>& results) {
  profile_keys keys("herald", "acme", db_id);
  profile_store store(client, keys);
  for (const auto& r : results) EXPECT_EQ(r.failed, 0u);
  std::set<std::string> ids;
  for (int i = 0; i < 75; ++i) {
    match_query q;
    q.keys.email = "c" + std::to_string(i) + "@x.com";
    auto entry = keys.index(email_entry(q.keys.email));
    auto n = run_awaitable(io, client.exec("ZCARD", entry)).as_integer();
    EXPECT_EQ(n, 1) << q.keys.email << " in db " << db_id;
    auto p = run_awaitable(io, store.find(q));
    ASSERT_TRUE(p) << q.keys.email;
    ids.insert(p->p.id);
    const bool in_a = i < 50, in_b = i >= 25;
    EXPECT_EQ(p->p.fields.contains("a"), in_a) << q.keys.email;
    EXPECT_EQ(p->p.fields.contains("b"), in_b) << q.keys.email;
    EXPECT_EQ(p->p.fields.at("hits"), field_value(std::int64_t{in_a + in_b})) << q.keys.email;
  }
  EXPECT_EQ(ids.size(), 75u);
  EXPECT_EQ(t.profile_ids(keys).size(), 75u);
}

TEST_F(ProfilesRedis, TwoImportersOnOneConnectionNeverDuplicate) {
  for (int round = 1; round <= 5; ++round) {
    auto a = overlapping_body("a", 0, 50, round, round);
    auto b = overlapping_body("b", 25, 75, round + 100, round);
    std::vector<asio::awaitable<import_result>> both;
    both.push_back(run_import(*client_, a, 7, {}));
    both.push_back(run_import(*client_, b, 5, {}));
    auto results = run_awaitable(io_, gather(std::move(both)));
    std::vector<import_result> done;
    for (auto& r : results) {
      if (r.error) std::rethrow_exception(r.error);
      done.push_back(std::move(*r.value));
    }
    expect_merged(*this, *client_, io_, round, done);
  }
}

TEST_F(ProfilesRedis, TwoImportersInParallelThreadsNeverDuplicate) {
  for (int round = 1; round <= 5; ++round) {
    auto a = overlapping_body("a", 0, 50, round, round);
    auto b = overlapping_body("b", 25, 75, round + 100, round);
    import_result ra, rb;
    std::exception_ptr ea, eb;
    std::thread ta([&] {
      try {
        ra = import_on_own_connection(server_.url(), a, 3);
      } catch (...) {
        ea = std::current_exception();
      }
    });
    std::thread tb([&] {
      try {
        rb = import_on_own_connection(server_.url(), b, 4);
      } catch (...) {
        eb = std::current_exception();
      }
    });
    ta.join();
    tb.join();
    if (ea) std::rethrow_exception(ea);
    if (eb) std::rethrow_exception(eb);
    expect_merged(*this, *client_, io_, round, {ra, rb});
  }
}

}  // namespace
}  // namespace herald::profiles
