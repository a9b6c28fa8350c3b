// The profile store against a model: 20,000 random import items (profiles created and updated
// by emails from a small pool, phones changed and removed, custom fields and tags, subscriptions
// added, changed and deleted, emails changed) go both through the import_and_start handler on a
// real redis-server and into a plain in-memory model written here from proto/profiles.md. After
// every item the outcome and the profile it names must agree; every few hundred items, every
// index key in Redis and its members (with their scores) must be exactly those the model's
// profiles imply, and every stored document must hold the model's fields and subscriptions.
//
// The seed is fixed and printed; HERALD_MODEL_SEED=<n> replays another.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <variant>

#include "herald/profiles/import_handler.hpp"
#include "herald/profiles/store.hpp"
#include "herald/queue/handler.hpp"
#include "herald/redis/client.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using herald::test::run_awaitable;

// --- the model ------------------------------------------------------------------------------

// Numbers are kept as doubles: JSON does not tell 2 from 2.0, and neither should the model.
using value = std::variant<bool, double, std::string, std::vector<std::string>>;

struct model_subscription {
  std::string channel;  // "email" or "sms"
  std::int64_t resource = 0;
  std::string address;  // normalised
  std::string status = "active";
  bool operator==(const model_subscription&) const = default;
};

struct model_profile {
  std::string id;
  std::uint64_t seq = 0;
  std::map<std::string, value> fields;  // "email" a string, "phones" a list
  std::vector<model_subscription> subscriptions;
  bool operator==(const model_profile&) const = default;
};

// One change of an item's data to one field.
struct field_op {
  enum kind { set, unset, incr, decr, add_tags, remove_tags } what = set;
  std::string name;       // as the model keeps it
  std::string json_name;  // as the item writes it ("phone" is read as "phones"); empty: name
  value v;                // set: the value; incr/decr: the step; tags: the tags
  std::string json;       // how the item writes the change
};

struct subscription_op {
  model_subscription sub;
  bool status_given = false;
  bool remove = false;
  std::string json;
};

struct item {
  std::optional<std::string> key;  // the item-level "email", normalised
  std::vector<field_op> fields;    // distinct names
  std::vector<subscription_op> subscriptions;
  std::string json;
};

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// How an index writes a number: as JSON does, the shortest text that reads back the same.
std::string number_text(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, end);
}

struct model {
  std::vector<model_profile> profiles;  // in creation order
  std::uint64_t last_seq = 0;

  // Matching "email": the profile's email or any email subscription; the earliest created wins.
  const model_profile* match(const std::string& email) const {
    for (const auto& p : profiles) {
      auto it = p.fields.find("email");
      if (it != p.fields.end() && std::get<std::string>(it->second) == email) return &p;
      for (const auto& s : p.subscriptions)
        if (s.channel == "email" && s.address == email) return &p;
    }
    return nullptr;
  }
  model_profile* match(const std::string& email) {
    return const_cast<model_profile*>(std::as_const(*this).match(email));
  }

  // The item's changes on `p`; false when one of them does not fit (the item then fails).
  static bool change(model_profile& p, const item& it) {
    for (const auto& op : it.fields) {
      auto found = p.fields.find(op.name);
      switch (op.what) {
        case field_op::set:
          p.fields[op.name] = op.v;
          break;
        case field_op::unset:
          p.fields.erase(op.name);
          break;
        case field_op::incr:
        case field_op::decr: {
          double current = 0;
          if (found != p.fields.end()) {
            if (!std::holds_alternative<double>(found->second)) return false;
            current = std::get<double>(found->second);
          }
          const double step = std::get<double>(op.v);
          p.fields[op.name] = op.what == field_op::incr ? current + step : current - step;
          break;
        }
        case field_op::add_tags:
        case field_op::remove_tags: {
          std::vector<std::string> tags;
          if (found != p.fields.end()) {
            if (!std::holds_alternative<std::vector<std::string>>(found->second)) return false;
            tags = std::get<std::vector<std::string>>(found->second);
          }
          for (const auto& t : std::get<std::vector<std::string>>(op.v)) {
            auto at = std::find(tags.begin(), tags.end(), t);
            if (op.what == field_op::add_tags && at == tags.end()) tags.push_back(t);
            if (op.what == field_op::remove_tags && at != tags.end()) tags.erase(at);
          }
          if (tags.empty())
            p.fields.erase(op.name);  // the last tag removed removes the field
          else
            p.fields[op.name] = tags;
          break;
        }
      }
    }
    for (const auto& op : it.subscriptions) {
      auto at = std::find_if(p.subscriptions.begin(), p.subscriptions.end(), [&](const auto& s) {
        return s.channel == op.sub.channel && s.resource == op.sub.resource
               && s.address == op.sub.address;
      });
      if (op.remove) {
        if (at != p.subscriptions.end()) p.subscriptions.erase(at);
      } else if (at == p.subscriptions.end()) {
        p.subscriptions.push_back(op.sub);
      } else if (op.status_given) {
        at->status = op.sub.status;
      }
    }
    return true;
  }

  // Every index key the model's profiles imply (proto/profiles.md, "Indexes"), with its members
  // and their scores.
  std::map<std::string, std::map<std::string, std::uint64_t>> index(
      const std::string& prefix) const {
    std::map<std::string, std::map<std::string, std::uint64_t>> out;
    for (const auto& p : profiles) {
      auto add = [&](const std::string& entry) { out[prefix + entry][p.id] = p.seq; };
      for (const auto& [name, v] : p.fields) {
        if (name == "email") {
          add("e:" + std::get<std::string>(v));
        } else if (name == "phones") {
          for (const auto& phone : std::get<std::vector<std::string>>(v)) add("p:" + phone);
        } else if (name[0] != '_') {
          const std::string head = std::to_string(name.size()) + ":" + name + ":";
          if (const auto* tags = std::get_if<std::vector<std::string>>(&v)) {
            for (const auto& t : *tags) add("t:" + head + t);
          } else {
            std::string text =
                std::holds_alternative<bool>(v)     ? (std::get<bool>(v) ? "true" : "false")
                : std::holds_alternative<double>(v) ? number_text(std::get<double>(v))
                                                    : trim(std::get<std::string>(v));
            if (!text.empty()) add("c:" + head + text);
          }
        }
      }
      for (const auto& s : p.subscriptions) {
        add("s:" + s.channel + ":" + std::to_string(s.resource) + ":" + s.address);
        add("s:" + s.channel + ":*:" + s.address);
      }
    }
    return out;
  }
};

// --- random items -----------------------------------------------------------------------------

class item_maker {
 public:
  explicit item_maker(unsigned seed) : random_(seed) {}

  item make(const model& m) {
    item it;
    // Mostly an item-level key; else the key is the email the data sets.
    const bool item_key = chance(85);
    if (item_key) it.key = pick(emails_);
    std::set<std::string> names;
    auto add_field = [&](field_op op) {
      if (names.insert(op.name).second) it.fields.push_back(std::move(op));
    };
    const int kind = uniform(0, 99);
    if (kind < 25) {
      add_field(set_string("_fname", pick(names_)));
      if (chance(50)) add_field(city());
      if (chance(40)) add_field(level());
    } else if (kind < 35) {
      add_field(set_phones());
    } else if (kind < 40) {
      add_field(remove_phone());
    } else if (kind < 55) {
      add_field(chance(50) ? tags() : level());
      if (chance(30)) add_field(city());
    } else if (kind < 70) {
      it.subscriptions.push_back(subscription(false));
      if (chance(30)) it.subscriptions.push_back(subscription(false));
    } else if (kind < 80) {
      it.subscriptions.push_back(status_change(m, it.key));
    } else if (kind < 87) {
      it.subscriptions.push_back(removal(m, it.key));
    } else if (kind < 95) {
      // An email change: matched by an email a profile has, given a new one.
      if (!m.profiles.empty()) {
        const auto& p = m.profiles[uniform(0, int(m.profiles.size()) - 1)];
        auto e = p.fields.find("email");
        if (e != p.fields.end()) it.key = std::get<std::string>(e->second);
      }
      if (!it.key) it.key = pick(emails_);
      add_field(set_email(pick(emails_)));
    } else {
      if (!it.key) it.key = pick(emails_);
      field_op op;
      op.what = field_op::unset;
      op.name = "email";
      op.json = "null";
      add_field(op);
    }
    if (!it.key) {
      // No item-level key: the data's email is the key.
      auto email = pick(emails_);
      it.fields.erase(std::remove_if(it.fields.begin(), it.fields.end(),
                                     [](const field_op& f) { return f.name == "email"; }),
                      it.fields.end());
      it.fields.insert(it.fields.begin(), set_email(email));
    }
    it.json = "{";
    if (it.key) it.json += R"("email": ")" + spell_email(*it.key) + R"(", )";
    it.json += R"("data": {)";
    bool first = true;
    for (const auto& f : it.fields) {
      it.json += (first ? "" : ", ") + std::string("\"")
                 + (f.json_name.empty() ? f.name : f.json_name) + "\": " + f.json;
      first = false;
    }
    if (!it.subscriptions.empty()) {
      it.json += std::string(first ? "" : ", ") + R"("subscriptions": [)";
      for (std::size_t i = 0; i < it.subscriptions.size(); ++i)
        it.json += (i ? ", " : "") + it.subscriptions[i].json;
      it.json += "]";
    }
    it.json += "}}";
    return it;
  }

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(random_); }
  bool chance(int percent) { return uniform(0, 99) < percent; }

 private:
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[uniform(0, int(v.size()) - 1)];
  }

  // The same address as a person might type it: any case, spaces around.
  std::string spell_email(const std::string& e) {
    std::string out = e;
    if (chance(30)) out[0] = char(std::toupper(static_cast<unsigned char>(out[0])));
    if (chance(20)) out = " " + out + " ";
    return out;
  }
  std::string spell_phone(const std::string& p) {  // "+1555000000N"
    switch (uniform(0, 3)) {
      case 0:
        return p;
      case 1:
        return p.substr(1);
      case 2:
        return "+1 (555) 000-000" + p.substr(11);
      default:
        return "+1.555.000.000" + p.substr(11);
    }
  }

  field_op set_string(std::string name, std::string v) {
    field_op op;
    op.name = std::move(name);
    op.json = "\"" + v + "\"";
    op.v = std::move(v);
    return op;
  }
  field_op set_email(const std::string& e) {
    field_op op;
    op.name = "email";
    op.v = e;
    op.json = "\"" + spell_email(e) + "\"";
    if (chance(20)) op.json = R"({"action": "set", "value": )" + op.json + "}";
    return op;
  }
  field_op city() {
    if (chance(20)) {
      field_op op;
      op.what = field_op::unset;
      op.name = "city";
      op.json = chance(50) ? "null" : R"({"action": "unset"})";
      return op;
    }
    return set_string("city", pick(cities_));  // some with spaces around: trimmed in the index
  }
  field_op level() {
    field_op op;
    op.name = "level";
    switch (uniform(0, 6)) {
      case 0:
        op.v = double(uniform(-3, 20));
        op.json = number_text(std::get<double>(op.v));
        break;
      case 1:
        op.v = uniform(0, 40) / 4.0;  // quarters: exact in binary
        op.json = R"({"action": "set", "value": )" + number_text(std::get<double>(op.v)) + "}";
        break;
      case 2:
        op.v = std::string(chance(50) ? "gold" : "silver");
        op.json = "\"" + std::get<std::string>(op.v) + "\"";
        break;
      case 3:
        op.v = chance(50);
        op.json = std::get<bool>(op.v) ? "true" : "false";
        break;
      case 4:
      case 5: {
        op.what = chance(50) ? field_op::incr : field_op::decr;
        const char* action = op.what == field_op::incr ? "incr" : "decr";
        if (chance(40)) {
          op.v = 1.0;
          op.json = std::string(R"({"action": ")") + action + R"("})";
        } else {
          op.v = chance(70) ? double(uniform(1, 5)) : 0.5;
          op.json = std::string(R"({"action": ")") + action + R"(", "value": )"
                    + number_text(std::get<double>(op.v)) + "}";
        }
        break;
      }
      default:
        op.what = field_op::unset;
        op.json = "null";
    }
    return op;
  }
  field_op tags() {
    field_op op;
    op.name = "interests";
    std::vector<std::string> chosen;
    for (const auto& t : tags_)
      if (chance(35)) chosen.push_back(t);
    const int kind = uniform(0, 9);
    if (kind < 2) {
      op.what = field_op::set;
      op.json = "[";
      for (std::size_t i = 0; i < chosen.size(); ++i)
        op.json += (i ? ", " : "") + std::string("\"") + chosen[i] + "\"";
      op.json += "]";
      op.v = chosen;
      return op;
    }
    op.what = kind < 6 ? field_op::add_tags : field_op::remove_tags;
    std::string list;
    if (chance(50)) {
      list = "\"";
      for (std::size_t i = 0; i < chosen.size(); ++i) list += (i ? ", " : "") + chosen[i];
      list += "\"";
    } else {
      list = "[";
      for (std::size_t i = 0; i < chosen.size(); ++i)
        list += (i ? ", " : "") + std::string("\"") + chosen[i] + "\"";
      list += "]";
    }
    op.json = std::string(R"({"action": ")") + (kind < 6 ? "add_tags" : "remove_tags")
              + R"(", "value": )" + list + "}";
    op.v = chosen;
    return op;
  }
  field_op set_phones() {
    field_op op;
    op.name = "phones";
    if (chance(20)) op.json_name = "phone";
    std::vector<std::string> phones;
    const int n = uniform(1, 2);
    std::string json = n == 1 && chance(50) ? "" : "[";
    for (int i = 0; i < n; ++i) {
      auto p = pick(phones_);
      json += (i ? ", " : "") + std::string("\"") + spell_phone(p) + "\"";
      if (std::find(phones.begin(), phones.end(), p) == phones.end()) phones.push_back(p);
    }
    if (json[0] == '[') json += "]";
    op.json = json;
    if (chance(20)) {
      op.what = field_op::add_tags;
      op.json = R"({"action": "add_tags", "value": )" + json + "}";
    }
    op.v = phones;
    return op;
  }
  field_op remove_phone() {
    field_op op;
    op.name = "phones";
    if (chance(30)) {
      op.what = field_op::unset;
      op.json = chance(50) ? "null" : R"({"action": "unset"})";
      return op;
    }
    op.what = field_op::remove_tags;
    auto p = pick(phones_);
    op.v = std::vector<std::string>{p};
    op.json = R"({"action": "remove_tags", "value": ")" + spell_phone(p) + R"("})";
    return op;
  }

  subscription_op subscription(bool status_always) {
    subscription_op op;
    const bool email = chance(60);
    op.sub.channel = email ? "email" : "sms";
    op.sub.resource = uniform(1, 3);
    op.sub.address = email ? pick(emails_) : pick(phones_);
    op.status_given = status_always || chance(50);
    if (op.status_given) op.sub.status = pick(statuses_);
    op.json = describe(op, email ? spell_email(op.sub.address) : spell_phone(op.sub.address));
    return op;
  }

  // A subscription the matched profile has, if the model can tell which; else a random one.
  const model_subscription* existing(const model& m, const std::optional<std::string>& key) {
    if (!key) return nullptr;
    const auto* p = m.match(*key);
    if (!p || p->subscriptions.empty()) return nullptr;
    return &p->subscriptions[uniform(0, int(p->subscriptions.size()) - 1)];
  }

  subscription_op status_change(const model& m, const std::optional<std::string>& key) {
    const auto* s = existing(m, key);
    if (!s) return subscription(true);
    subscription_op op;
    op.sub = *s;
    op.status_given = true;
    op.sub.status = pick(statuses_);
    op.json = describe(op, op.sub.address);
    return op;
  }

  subscription_op removal(const model& m, const std::optional<std::string>& key) {
    const auto* s = existing(m, key);
    subscription_op op = s ? subscription_op{*s, false, true, {}} : subscription(false);
    op.remove = true;
    op.status_given = false;
    op.json = describe(
        op, op.sub.channel == "email" ? spell_email(op.sub.address) : spell_phone(op.sub.address));
    return op;
  }

  std::string describe(const subscription_op& op, const std::string& spelled) {
    // "phone" is the seeds' name for sms.
    std::string ch = op.sub.channel == "sms" && chance(50) ? "phone" : op.sub.channel;
    std::string out = R"({"channel": ")" + ch + R"(", "resource_id": )"
                      + std::to_string(op.sub.resource) + ", \""
                      + (op.sub.channel == "email" ? "email" : "phone") + "\": \"" + spelled + "\"";
    if (op.status_given) out += R"(, "status": ")" + op.sub.status + "\"";
    if (op.remove) out += R"(, "action": "delete")";
    return out + "}";
  }

  std::mt19937 random_;
  const std::vector<std::string> emails_ = {
      "u0@x.com",  "u1@x.com",  "u2@x.com",  "u3@x.com",  "u4@x.com",  "u5@x.com",  "u6@x.com",
      "u7@x.com",  "u8@x.com",  "u9@x.com",  "u10@x.com", "u11@x.com", "u12@x.com", "u13@x.com",
      "u14@x.com", "u15@x.com", "u16@y.org", "u17@y.org", "u18@y.org", "u19@y.org"};
  const std::vector<std::string> phones_ = {"+15550000000", "+15550000001", "+15550000002",
                                            "+15550000003", "+15550000004", "+15550000005",
                                            "+15550000006", "+15550000007"};
  const std::vector<std::string> names_ = {"Ann", "Bob", "Cid", "Dee"};
  const std::vector<std::string> cities_ = {"Paris", " Oslo ", "Rome", "New York", "  "};
  const std::vector<std::string> tags_ = {"books", "music", "sport", "travel", "food"};
  const std::vector<std::string> statuses_ = {"active", "unsubscribed", "blocked"};
};

// --- Herald's side --------------------------------------------------------------------------

asio::awaitable<void> wait_connected(herald::redis::client& c) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto [ec, r] =
        co_await c.async_exec(herald::redis::command("PING"), asio::as_tuple(asio::use_awaitable));
    if (!ec && r.str() == "PONG") co_return;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("redis did not answer: " + ec.message());
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// A stored document's fields as the model keeps them.
std::map<std::string, value> model_fields(const herald::profiles::profile& p) {
  std::map<std::string, value> out;
  for (const auto& [name, v] : p.fields) {
    std::visit(
        [&, name = name](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::int64_t>)
            out[name] = double(x);
          else
            out[name] = x;
        },
        v);
  }
  return out;
}

std::string describe(const model_profile& p) {
  std::string out = p.id + " seq " + std::to_string(p.seq) + " {";
  for (const auto& [k, v] : p.fields) {
    out += k + "=";
    if (const auto* s = std::get_if<std::string>(&v)) out += "\"" + *s + "\"";
    if (const auto* d = std::get_if<double>(&v)) out += number_text(*d);
    if (const auto* b = std::get_if<bool>(&v)) out += *b ? "true" : "false";
    if (const auto* t = std::get_if<std::vector<std::string>>(&v)) {
      out += "[";
      for (const auto& x : *t) out += x + ",";
      out += "]";
    }
    out += " ";
  }
  out += "} subs [";
  for (const auto& s : p.subscriptions)
    out += s.channel + ":" + std::to_string(s.resource) + ":" + s.address + ":" + s.status + " ";
  return out + "]";
}

class ProfilesModel : public ::testing::Test {
 protected:
  void SetUp() override {
    herald::redis::client_config cfg;
    cfg.url = server_.url();
    client_ = std::make_unique<herald::redis::client>(io_.get_executor(), cfg);
    client_->start();
    run_awaitable(io_, wait_connected(*client_));
    herald::profiles::add_import_handler(handlers_, {});
  }
  void TearDown() override {
    client_->stop();
    io_.restart();
    io_.run_for(50ms);
  }

  herald::redis::reply exec(herald::redis::command cmd) {
    return run_awaitable(io_, client_->exec(std::move(cmd)));
  }

  std::vector<std::string> scan(const std::string& pattern) {
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
      auto r = exec(herald::redis::command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000));
      cursor = r.as_array().at(0).as_string();
      for (const auto& k : r.as_array().at(1).as_array()) keys.push_back(k.as_string());
    } while (cursor != "0");
    return keys;
  }

  // Every `*:ix:*` key in Redis with its members and scores.
  std::map<std::string, std::map<std::string, std::uint64_t>> index_in_redis() {
    std::map<std::string, std::map<std::string, std::uint64_t>> out;
    for (const auto& key : scan("*:ix:*")) {
      auto r = exec(herald::redis::command("ZRANGE", key, 0, -1, "WITHSCORES"));
      const auto& a = r.as_array();
      for (std::size_t i = 0; i + 1 < a.size(); i += 2)
        out[key][a[i].as_string()] = std::stoull(a[i + 1].as_string());
    }
    return out;
  }

  // Compares everything Redis holds with the model; false (with failures added) on a difference.
  bool same_as_model(const model& m, std::size_t after_items) {
    bool same = true;
    auto actual = index_in_redis();
    auto expected = m.index(keys_.index_prefix());
    if (actual != expected) {
      same = false;
      int shown = 0;
      for (const auto& [key, members] : expected) {
        auto it = actual.find(key);
        if ((it == actual.end() || it->second != members) && shown++ < 10)
          ADD_FAILURE() << "after " << after_items << " items: " << key << " is "
                        << (it == actual.end() ? "missing" : "wrong");
      }
      for (const auto& [key, members] : actual)
        if (!expected.contains(key) && shown++ < 20)
          ADD_FAILURE() << "after " << after_items << " items: stale " << key << " ("
                        << members.size() << " members)";
    }
    auto stored = scan(keys_.profile_prefix() + "*");
    if (stored.size() != m.profiles.size()) {
      same = false;
      ADD_FAILURE() << "after " << after_items << " items: " << stored.size()
                    << " profiles in Redis, " << m.profiles.size() << " in the model";
    }
    herald::profiles::profile_store store(*client_, keys_);
    for (const auto& p : m.profiles) {
      auto s = run_awaitable(io_, store.get(p.id));
      if (!s) {
        same = false;
        ADD_FAILURE() << "after " << after_items << " items: no profile " << p.id;
        continue;
      }
      model_profile got;
      got.id = s->p.id;
      got.seq = s->seq;
      got.fields = model_fields(s->p);
      for (const auto& sub : s->p.subscriptions)
        got.subscriptions.push_back(
            {std::string(herald::profiles::to_string(sub.ch)), sub.resource_id,
             sub.ch == herald::profiles::channel::email ? sub.email : sub.phone,
             std::string(herald::profiles::to_string(sub.status))});
      if (got != p) {
        same = false;
        ADD_FAILURE() << "after " << after_items << " items:\n  redis " << describe(got)
                      << "\n  model " << describe(p);
      }
    }
    const auto seq = exec(herald::redis::command("GET", keys_.seq()));
    if (m.last_seq && seq.as_string() != std::to_string(m.last_seq)) {
      same = false;
      ADD_FAILURE() << "sequence " << seq.as_string() << ", model " << m.last_seq;
    }
    return same;
  }

  herald::test::redis_server server_;
  asio::io_context io_{1};
  std::unique_ptr<herald::redis::client> client_;
  herald::queue::handler_registry handlers_;
  herald::profiles::profile_keys keys_{"herald", "acme", 1};
};

TEST_F(ProfilesModel, TwentyThousandRandomItemsLeaveTheIndexesExactlyAsTheModelSays) {
  unsigned seed = 20261123;
  if (const char* s = std::getenv("HERALD_MODEL_SEED")) seed = unsigned(std::stoul(s));
  std::cout << "ProfilesModel seed " << seed << " (HERALD_MODEL_SEED=" << seed << " replays it)\n";
  RecordProperty("seed", std::to_string(seed));
  item_maker maker(seed);
  model m;
  const auto* handler = handlers_.find("import_and_start");
  ASSERT_TRUE(handler);
  herald::queue::job_context ctx;
  ctx.task_id = "model";
  ctx.type = "import_and_start";
  ctx.account = "acme";
  ctx.redis = client_.get();

  constexpr std::size_t total_items = 20'000;
  std::size_t done = 0, created = 0, updated = 0, unchanged = 0, failed = 0, jobs = 0;
  std::size_t next_check = 500;
  const auto started = std::chrono::steady_clock::now();
  while (done < total_items) {
    // A job of 1 to 8 items, run in chunks of 1 to 8: items of one chunk depend on each other.
    const std::size_t n = std::min<std::size_t>(total_items - done, maker.uniform(1, 8));
    const std::size_t chunk = maker.uniform(1, 8);
    std::vector<item> items;
    std::string body = R"({"matching": "email", "data": [)";
    // Items are generated against the model as it will be when they run.
    model ahead = m;
    std::vector<std::optional<std::string>> expected_ids;  // "" for a creation
    std::vector<std::string> expected_codes;
    for (std::size_t i = 0; i < n; ++i) {
      items.push_back(maker.make(ahead));
      const auto& it = items.back();
      body += (i ? ", " : "") + it.json;
      // The model's run of the item.
      std::string key = it.key ? *it.key : std::get<std::string>(it.fields.front().v);
      auto* found = ahead.match(key);
      model_profile next = found ? *found : model_profile{};
      // A new profile holds the email it was looked up by, unless the data says otherwise.
      if (!found && std::none_of(it.fields.begin(), it.fields.end(), [](const field_op& f) {
            return f.name == "email";
          }))
        next.fields["email"] = key;
      if (!model::change(next, it)) {
        expected_codes.push_back("invalid_update");
        expected_ids.push_back(std::nullopt);
        continue;
      }
      if (!found) {
        next.seq = ++ahead.last_seq;
        next.id = "(new " + std::to_string(next.seq) + ")";  // the id Herald gives it, below
        ahead.profiles.push_back(next);
        expected_codes.push_back("created");
        expected_ids.push_back("");
      } else {
        expected_codes.push_back(next == *found ? "unchanged" : "updated");
        expected_ids.push_back(found->id);
        *found = next;
      }
    }
    body += "]}";
    auto job = handler->prepare(body);
    ASSERT_EQ(job->total(), n);
    std::vector<herald::queue::item_outcome> outcomes;
    for (std::uint64_t begin = 0; begin < n; begin += chunk) {
      auto r = run_awaitable(io_, job->run(ctx, begin, std::min<std::uint64_t>(n, begin + chunk)));
      for (auto& o : r.outcomes) outcomes.push_back(std::move(o));
    }
    std::sort(outcomes.begin(), outcomes.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    ASSERT_EQ(outcomes.size(), n) << body;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& o = outcomes[i];
      ASSERT_EQ(o.code, expected_codes[i]) << "item " << i << " of job " << jobs << " (" << done
                                           << " items before): " << items[i].json << "\n"
                                           << o.message << "\nbody " << body;
      if (expected_ids[i] && expected_ids[i]->empty()) {
        // Give the model's new profile the id Herald chose.
        for (auto& p : ahead.profiles)
          if (p.id.starts_with("(new ") && p.seq == std::stoull(p.id.substr(5))) {
            p.id = o.profile_id;
            break;
          }
      } else if (expected_ids[i]) {
        std::string expected_id = *expected_ids[i];
        if (expected_id.starts_with("(new ")) {
          // Created earlier in this job: by now it has its id.
          auto seq = std::stoull(expected_id.substr(5));
          for (const auto& p : ahead.profiles)
            if (p.seq == seq) expected_id = p.id;
        }
        ASSERT_EQ(o.profile_id, expected_id)
            << "item " << i << " of job " << jobs << ": " << items[i].json;
      }
    }
    m = std::move(ahead);
    for (const auto& c : expected_codes) {
      created += c == "created";
      updated += c == "updated";
      unchanged += c == "unchanged";
      failed += c == "invalid_update";
    }
    done += n;
    ++jobs;
    if (done >= next_check || done == total_items) {
      ASSERT_TRUE(same_as_model(m, done)) << "seed " << seed;
      next_check += 500;
    }
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  std::cout << "ProfilesModel: " << done << " items in " << jobs << " jobs, " << took.count()
            << " ms: " << created << " created, " << updated << " updated, " << unchanged
            << " unchanged, " << failed << " failed; " << m.profiles.size() << " profiles, "
            << m.index(keys_.index_prefix()).size() << " index keys\n";
  // The run exercised what it is meant to.
  EXPECT_GE(created, 20u);  // every address of the pool had a profile at some point
  EXPECT_GT(updated, 10'000u);
  EXPECT_GT(unchanged, 100u);
  EXPECT_GT(failed, 10u);
}

}  // namespace
