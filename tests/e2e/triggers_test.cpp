// Triggers through the built binaries: heraldd loads triggers_dir at start and on SIGHUP (a bad
// trigger logged with its file and field, the others saved; an unchanged file saves no new
// version), the embedded default's demo triggers, `herald triggers` with its exit codes, and the
// HTTP routes keeping accounts apart.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include "herald/auth/tokens.hpp"
#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"
#include "support/secrets.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

constexpr auto default_token = "tok-default";
constexpr auto other_token = "tok-other";

std::filesystem::path write_tokens(const temp_dir& dir) {
  const auto path = dir / "tokens";
  std::ofstream(path) << "default " << auth::hash_token_hex(secret(default_token)) << "\n"
                      << "other " << auth::hash_token_hex(secret(other_token)) << "\n";
  return path;
}

std::string trigger(const std::string& account, int id, const std::string& text) {
  return R"({"account": ")" + account + R"(", "id": )" + std::to_string(id)
         + R"(, "name": "t", "channel": "email", "provider": "sandbox", "message": {"text": ")"
         + text + R"("}})";
}

std::filesystem::path triggers_dir(const temp_dir& dir) {
  const auto d = dir / "triggers";
  std::filesystem::create_directories(d);
  std::ofstream(d / "a.json") << "[" << trigger("default", 1, "one {lead._fname}") << ", "
                              << trigger("default", 2, "Hello {lead.x | uper}") << ", "
                              << trigger("default", 3, "three") << "]";
  std::ofstream(d / "b.json") << trigger("other", 1, "other's one");
  std::ofstream(d / "broken.json") << "{\"id\": ";
  std::ofstream(d / "notes.txt") << "not a trigger file";
  return d;
}

class Triggers : public ::testing::Test {
 protected:
  Triggers()
      : dir_("herald-triggers-e2e"),
        heraldd_({.redis_url = "",
                  .extra_env = {"HERALD_TOKENS_FILE=" + write_tokens(dir_).string(),
                                "HERALD_TRIGGERS_DIR=" + triggers_dir(dir_).string()},
                  .extra_args = {},
                  .wait_until_listening = true}) {}
  ~Triggers() override { EXPECT_EQ(heraldd_.terminate(), 0) << heraldd_.log(); }

  http_response api(const std::string& route, const std::string& body,
                    const std::string& token = default_token) {
    return heraldd_.post("/api/v1.1/campaigns/triggers/" + route, body,
                         {{"Authorization", std::string("Bearer ") + token}});
  }

  cli_result herald(std::vector<std::string> args) { return cli_.run(std::move(args)); }

  std::filesystem::path file(const std::string& text) {
    auto p = cli_.new_path("trigger", ".json");
    std::ofstream(p) << text;
    return p;
  }

  temp_dir dir_;
  heraldd_process heraldd_;
  // The built herald on heraldd's embedded Redis, reading heraldd's (default) configuration.
  herald_cli cli_{
      dir_,
      {"HERALD_CONFIG=/dev/null", "HERALD_STATE_DIR=" + heraldd_.state_dir().path().string(),
       "HERALD_ACCOUNT=default"}};
};

TEST_F(Triggers, DirectoryLoadedAtStartAndOnSighup) {
  ASSERT_TRUE(wait_until([&] { return contains(heraldd_.log(), " created, "); }, 10s))
      << heraldd_.log();
  const auto log = heraldd_.log();
  EXPECT_TRUE(contains(log, "a.json[1]: message.text: line 1, column 17: unknown filter `uper`"))
      << log;
  EXPECT_TRUE(contains(log, "broken.json: not valid JSON")) << log;
  EXPECT_TRUE(contains(log, "3 created, 0 updated, 0 unchanged, 2 refused")) << log;

  auto one = api("get", R"({"id": 1})");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json_doc(one.body).str("/trigger/message/text"), "one {lead._fname}");
  EXPECT_EQ(api("get", R"({"id": 2})").status, 404);  // refused, not saved
  EXPECT_EQ(api("get", R"({"id": 3})").status, 200);
  EXPECT_EQ(json_doc(api("get", R"({"id": 1})", other_token).body).str("/trigger/message/text"),
            "other's one");
  EXPECT_EQ(json_doc(api("list", "{}", other_token).body).array_size("/triggers"), 1u);
  // No demo triggers when a triggers_dir is configured.
  EXPECT_EQ(api("get", R"({"id": 13})").status, 404);

  // Changed on disk: SIGHUP saves a new version of what changed, and nothing of the rest.
  std::ofstream(dir_ / "triggers" / "a.json") << "[" << trigger("default", 1, "one, edited") << ", "
                                              << trigger("default", 3, "three") << "]";
  heraldd_.process().signal(SIGHUP);
  ASSERT_TRUE(wait_until(
      [&] { return contains(heraldd_.log(), "0 created, 1 updated, 2 unchanged, 1 refused"); },
      10s))
      << heraldd_.log();
  auto edited = json_doc(api("get", R"({"id": 1})").body);
  EXPECT_EQ(edited.str("/trigger/message/text"), "one, edited");
  EXPECT_EQ(edited.integer("/trigger/version"), 2);
  EXPECT_EQ(json_doc(api("get", R"({"id": 3})").body).integer("/trigger/version"), 1);
  EXPECT_EQ(json_doc(api("get", R"({"id": 1, "version": 1})").body).str("/trigger/message/text"),
            "one {lead._fname}");
}

TEST_F(Triggers, CliAddUpdateGetListDelete) {
  const auto t = file(R"({"id": 40, "name": "cli", "channel": "sms", "provider": "sandbox",
                          "message": {"text": "Привет, {lead._fname | capitalize}"}})");
  auto added = herald({"triggers", "add", t.string()});
  ASSERT_EQ(added.code, 0) << added.err;
  EXPECT_EQ(added.out, "trigger 40 version 1 created\n");
  auto again = herald({"triggers", "add", t.string()});
  EXPECT_EQ(again.code, 2);
  EXPECT_TRUE(contains(again.err, "trigger 40 exists")) << again.err;

  // A bad template: exit 2, the file, field and position named, nothing saved.
  const auto bad = file(R"({"id": 40, "name": "cli", "channel": "sms", "provider": "sandbox",
                            "message": {"text": "x {lead.a | nope}"}})");
  auto refused = herald({"triggers", "update", bad.string()});
  EXPECT_EQ(refused.code, 2);
  EXPECT_TRUE(contains(refused.err, bad.string()
                                        + ": message.text: line 1, column 13: unknown "
                                          "filter `nope`"))
      << refused.err;
  const auto unknown_provider = file(
      R"({"id": 41, "name": "x", "channel": "sms", "provider": "lc", "message": {"text": "x"}})");
  auto no_provider = herald({"triggers", "add", unknown_provider.string()});
  EXPECT_EQ(no_provider.code, 2);
  EXPECT_TRUE(contains(no_provider.err, "provider: \"lc\" is not a configured provider"))
      << no_provider.err;

  const auto v2 = file(R"({"id": 40, "name": "cli", "channel": "sms", "provider": "sandbox",
                           "message": {"text": "v2"}})");
  auto updated = herald({"triggers", "update", v2.string()});
  ASSERT_EQ(updated.code, 0) << updated.err;
  EXPECT_EQ(updated.out, "trigger 40 version 2 updated\n");

  auto got = herald({"triggers", "get", "40", "--json"});
  ASSERT_EQ(got.code, 0) << got.err;
  json_doc doc(got.out);
  EXPECT_EQ(doc.str("/message/text"), "v2");
  EXPECT_EQ(doc.integer("/version"), 2);
  auto human = herald({"triggers", "get", "40"});
  EXPECT_TRUE(contains(human.out, "trigger 40 version 2")) << human.out;
  EXPECT_TRUE(contains(human.out, "sms via sandbox")) << human.out;

  auto list = herald({"triggers", "list", "--json"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_TRUE(contains(list.out, "\"id\": 40")) << list.out;
  EXPECT_TRUE(contains(herald({"triggers", "list"}).out, "40\tv2\tenabled\tsms\tsandbox\tcli"));
  // Another account does not see it.
  EXPECT_EQ(herald({"triggers", "get", "40", "--account", "other"}).code, 3);
  EXPECT_EQ(herald({"triggers", "delete", "40", "--account", "other"}).code, 3);
  EXPECT_EQ(api("get", R"({"id": 40})", other_token).status, 404);
  // Added with the CLI, seen over HTTP.
  EXPECT_EQ(json_doc(api("get", R"({"id": 40})").body).integer("/trigger/version"), 2);

  auto deleted = herald({"triggers", "delete", "40"});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "trigger 40 deleted\n");
  EXPECT_EQ(herald({"triggers", "delete", "40"}).code, 3);
  auto gone = herald({"triggers", "get", "40"});
  EXPECT_EQ(gone.code, 3);
  EXPECT_TRUE(contains(gone.err, "no trigger 40 in account \"default\"")) << gone.err;

  // Bad input and no Redis.
  EXPECT_EQ(herald({"triggers", "get", "x"}).code, 2);
  EXPECT_EQ(herald({"triggers", "add"}).code, 2);
  EXPECT_EQ(herald({"triggers", "list", "--redis-url", "unix:///nonexistent/redis.sock"}).code, 4);
}

TEST(TriggersDemo, EmbeddedDefaultLoadsTheDemoTriggers) {
  temp_dir dir("herald-triggers-demo");
  heraldd_process heraldd({.redis_url = "",
                           .extra_env = {"HERALD_TOKENS_FILE=" + write_tokens(dir).string()},
                           .extra_args = {},
                           .wait_until_listening = true});
  ASSERT_TRUE(wait_until([&] { return contains(heraldd.log(), " created, "); }, 10s))
      << heraldd.log();
  EXPECT_TRUE(contains(heraldd.log(), "2 created, 0 updated, 0 unchanged, 0 refused"))
      << heraldd.log();
  auto r = heraldd.post("/api/v1.1/campaigns/triggers/get", R"({"id": 13})",
                        {{"Authorization", std::string("Bearer ") + default_token}});
  ASSERT_EQ(r.status, 200) << r.body;
  json_doc doc(r.body);
  EXPECT_EQ(doc.str("/trigger/provider"), "sandbox");
  EXPECT_EQ(doc.str("/trigger/channel"), "email");
  EXPECT_EQ(heraldd.terminate(), 0);
}

}  // namespace
}  // namespace herald::test
