// The trigger store against a real redis-server: versions that only grow and never change once
// written, a task's version readable while the trigger is edited and after its delete, accounts
// kept apart, the keys of proto/triggers.md with their hash tags.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "herald/redis/client.hpp"
#include "herald/triggers/store.hpp"
#include "support/redis_server.hpp"
#include "support/run_awaitable.hpp"

namespace herald::triggers {
namespace {

using test::run_awaitable;

trigger make(std::uint64_t id, std::string text) {
  trigger t;
  t.id = id;
  t.name = "welcome";
  t.provider = "sandbox";
  t.message.text = std::move(text);
  return t;
}

class TriggerStore : public ::testing::Test {
 protected:
  void SetUp() override {
    redis::client_config cfg;
    cfg.url = redis_.url();
    client_.emplace(io_.get_executor(), cfg);
    client_->start();
    store_.emplace(*client_, store_config{.prefix = "herald",
                                          .versions_kept = 3,
                                          .deleted_ttl = std::chrono::seconds(60)});
  }
  void TearDown() override { client_->stop(); }

  template <class T>
  T run(boost::asio::awaitable<T> w) {
    return run_awaitable(io_, std::move(w));
  }

  test::redis_server redis_;
  boost::asio::io_context io_{1};
  std::optional<redis::client> client_;
  std::optional<trigger_store> store_;
};

TEST_F(TriggerStore, VersionsGrowAndStayAsWritten) {
  auto a = run(store_->add("acme", make(7, "v1 {lead._fname}")));
  EXPECT_EQ(a.outcome, save_outcome::created);
  EXPECT_EQ(a.version, 1u);
  EXPECT_EQ(run(store_->add("acme", make(7, "again"))).outcome, save_outcome::exists);
  auto u = run(store_->update("acme", make(7, "v2")));
  EXPECT_EQ(u.outcome, save_outcome::updated);
  EXPECT_EQ(u.version, 2u);

  auto current = run(store_->get("acme", 7));
  ASSERT_TRUE(current);
  EXPECT_EQ(current->version, 2u);
  EXPECT_EQ(current->definition.message.text, "v2");
  EXPECT_GT(current->created_at, 0);
  // The task that started on version 1 still reads version 1.
  auto v1 = run(store_->get_version("acme", 7, 1));
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->definition.message.text, "v1 {lead._fname}");
  EXPECT_EQ(v1->current_version, 2u);
  EXPECT_FALSE(run(store_->get_version("acme", 7, 3)));

  // upsert: the same definition saves nothing; a change saves a version.
  auto same = run(store_->upsert("acme", make(7, "v2")));
  EXPECT_EQ(same.outcome, save_outcome::unchanged);
  EXPECT_EQ(same.version, 2u);
  EXPECT_EQ(run(store_->upsert("acme", make(7, "v3"))).version, 3u);
  EXPECT_EQ(run(store_->upsert("acme", make(8, "new"))).outcome, save_outcome::created);

  // Only the newest versions_kept (3) stay.
  EXPECT_EQ(run(store_->update("acme", make(7, "v4"))).version, 4u);
  EXPECT_FALSE(run(store_->get_version("acme", 7, 1)));
  EXPECT_TRUE(run(store_->get_version("acme", 7, 2)));
}

TEST_F(TriggerStore, UpdateOfUnknownWritesNothing) {
  auto u = run(store_->update("acme", make(9, "x")));
  EXPECT_EQ(u.outcome, save_outcome::not_found);
  EXPECT_FALSE(run(store_->get("acme", 9)));
  EXPECT_EQ(redis_.integer({"EXISTS", "herald:{trg:acme}:t:9"}), 0);
}

TEST_F(TriggerStore, ListAndDelete) {
  run(store_->add("acme", make(20, "b")));
  run(store_->add("acme", make(3, "a")));
  auto list = run(store_->list("acme"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].definition.id, 3u);  // by id
  EXPECT_EQ(list[1].definition.id, 20u);

  EXPECT_TRUE(run(store_->remove("acme", 3)));
  EXPECT_FALSE(run(store_->remove("acme", 3)));
  EXPECT_FALSE(run(store_->get("acme", 3)));
  EXPECT_EQ(run(store_->list("acme")).size(), 1u);
  EXPECT_EQ(run(store_->update("acme", make(3, "x"))).outcome, save_outcome::not_found);
  // A running task still reads the version it started with, until the hash expires.
  auto kept = run(store_->get_version("acme", 3, 1));
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->deleted);
  EXPECT_GT(redis_.integer({"PTTL", "herald:{trg:acme}:t:3"}), 0);
  // Added again: the numbering goes on, so no version number means two definitions.
  auto again = run(store_->add("acme", make(3, "reborn")));
  EXPECT_EQ(again.outcome, save_outcome::created);
  EXPECT_EQ(again.version, 2u);
  EXPECT_EQ(redis_.integer({"PTTL", "herald:{trg:acme}:t:3"}), -1);
  EXPECT_EQ(run(store_->get("acme", 3))->definition.message.text, "reborn");
}

TEST_F(TriggerStore, AccountsApart) {
  run(store_->add("acme", make(1, "acme's")));
  EXPECT_FALSE(run(store_->get("globex", 1)));
  EXPECT_TRUE(run(store_->list("globex")).empty());
  EXPECT_FALSE(run(store_->remove("globex", 1)));
  EXPECT_EQ(run(store_->update("globex", make(1, "x"))).outcome, save_outcome::not_found);
  EXPECT_EQ(run(store_->add("globex", make(1, "globex's"))).version, 1u);
  EXPECT_EQ(run(store_->get("acme", 1))->definition.message.text, "acme's");
  EXPECT_EQ(run(store_->get("globex", 1))->definition.message.text, "globex's");
}

TEST_F(TriggerStore, AnAccountHoldsAtMostMaxTriggers) {
  trigger_store small(*client_, store_config{.prefix = "herald", .max_triggers = 2});
  EXPECT_EQ(run(small.add("acme", make(1, "a"))).outcome, save_outcome::created);
  EXPECT_EQ(run(small.add("acme", make(2, "b"))).outcome, save_outcome::created);
  EXPECT_EQ(run(small.add("acme", make(3, "c"))).outcome, save_outcome::full);
  EXPECT_EQ(run(small.upsert("acme", make(3, "c"))).outcome, save_outcome::full);
  EXPECT_FALSE(run(small.get("acme", 3)));
  EXPECT_EQ(redis_.integer({"EXISTS", "herald:{trg:acme}:t:3"}), 0);
  // Updates of the ones it has still go; another account has its own room.
  EXPECT_EQ(run(small.update("acme", make(2, "b2"))).outcome, save_outcome::updated);
  EXPECT_EQ(run(small.add("globex", make(3, "c"))).outcome, save_outcome::created);
  EXPECT_TRUE(run(small.remove("acme", 1)));
  EXPECT_EQ(run(small.add("acme", make(3, "c"))).outcome, save_outcome::created);
}

TEST_F(TriggerStore, KeysAsDocumented) {
  run(store_->add("acme", make(5, "x")));
  EXPECT_EQ(redis_.command({"TYPE", "herald:{trg:acme}:t:5"}), "hash");
  EXPECT_EQ(redis_.command({"TYPE", "herald:{trg:acme}:ids"}), "zset");
  EXPECT_EQ(redis_.command({"HGET", "herald:{trg:acme}:t:5", "v"}), "1");
  EXPECT_EQ(redis_.command({"HGET", "herald:{trg:acme}:t:5", "j:1"}), to_json(make(5, "x")));
  EXPECT_EQ(redis_.command({"ZSCORE", "herald:{trg:acme}:ids", "5"}), "5");
}

}  // namespace
}  // namespace herald::triggers
