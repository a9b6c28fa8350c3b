// Reading profiles from the built binaries: an import_and_start job run by heraldd creates a
// profile, then `herald profiles get` (each kind of key, human and JSON output, the exit codes)
// and heraldd's POST /api/v1.1/profiles/get find it, for its own account only.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <string>
#include <vector>

#include "herald/auth/tokens.hpp"
#include "herald/cli/target.hpp"
#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/process.hpp"
#include "support/secrets.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

constexpr auto default_token = "tok-default";
constexpr auto other_token = "tok-other";

// The tokens file of the accounts "default" and "other", written before heraldd starts.
std::filesystem::path write_tokens(const temp_dir& dir) {
  const auto path = dir / "tokens";
  std::ofstream(path) << "default " << auth::hash_token_hex(secret(default_token)) << "\n"
                      << "other " << auth::hash_token_hex(secret(other_token)) << "\n";
  return path;
}

class ProfilesGet : public ::testing::Test {
 protected:
  ProfilesGet()
      : dir_("herald-profiles-e2e"),
        heraldd_({.redis_url = "",
                  .extra_env = {"HERALD_TOKENS_FILE=" + write_tokens(dir_).string()},
                  .extra_args = {},
                  .wait_until_listening = true}) {}
  // SIGTERM, so that heraldd stops and reaps its redis-server.
  ~ProfilesGet() override { EXPECT_EQ(heraldd_.terminate(), 0) << heraldd_.log(); }

  cli_result herald(std::vector<std::string> args) { return cli_.run(std::move(args)); }

  // Imports `items` (the data of an import_and_start body) and waits until the task is done:
  // the profile ids it reports, in item order.
  std::vector<std::string> import(const std::string& items) {
    const auto status =
        cli_.enqueue_and_wait(R"({"type": "import_and_start", "body": {"data": )" + items + "}}",
                              heraldd_)
            .status;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::array result;
    EXPECT_EQ(parser.parse(status.out).get(doc), simdjson::SUCCESS) << status.out;
    EXPECT_EQ(doc.at_pointer("/data/status").get_string().value_unsafe(), "completed")
        << status.out;
    std::vector<std::string> ids;
    if (doc.at_pointer("/data/result/result").get(result) == simdjson::SUCCESS)
      for (auto r : result) ids.emplace_back(r["profile_id"].get_string().value_unsafe());
    return ids;
  }

  // The profile_id of `herald profiles get ... --json`, checking its reply is a profile.
  std::string found_id(std::vector<std::string> args) {
    args.insert(args.begin(), {"profiles", "get"});
    args.push_back("--json");
    const auto r = herald(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string_view id;
    if (parser.parse(r.out).get(doc) != simdjson::SUCCESS || doc["profile_id"].get(id)) {
      ADD_FAILURE() << "not a profile: " << r.out;
      return {};
    }
    return std::string(id);
  }

  temp_dir dir_;
  heraldd_process heraldd_;
  // The built herald against heraldd's embedded Redis.
  herald_cli cli_{
      dir_,
      {"HERALD_CONFIG=/dev/null", "HERALD_STATE_DIR=" + heraldd_.state_dir().path().string(),
       "HERALD_REDIS_URL=" + cli::embedded_redis_url(heraldd_.state_dir().path()),
       "HERALD_ACCOUNT=default"}};
};

TEST_F(ProfilesGet, AnImportedProfileIsFoundByTheCliAndOverHttp) {
  const auto ids = import(R"([{"data": {"email": "Ann@Example.com", "_fname": "Ann",
      "phone": "+7 900 000-00-01", "CRM_ID": "7", "subscriptions": [
        {"channel": "telegram_bot", "resource_id": 2, "cc_data": {"id": "4242"}}]}}])");
  ASSERT_EQ(ids.size(), 1u);
  const auto& id = ids[0];

  // Each kind of key; the mode implied by the key.
  EXPECT_EQ(found_id({"--email", "ann@example.com"}), id);
  EXPECT_EQ(found_id({"--phone", "+79000000001"}), id);
  EXPECT_EQ(found_id({"--profile-id", id}), id);
  EXPECT_EQ(found_id({"--field-name", "CRM_ID", "--field-value", "7"}), id);
  EXPECT_EQ(found_id({"--channel", "telegram_bot", "--id", "4242", "--resource-id", "2"}), id);
  EXPECT_EQ(found_id({"--db", "1", "--matching", "email_profile", "--email", "ANN@example.com"}),
            id);

  // The JSON form is the profile object, the human one a summary of it.
  const auto json = herald({"profiles", "get", "--email", "ann@example.com", "--json"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json.out).get(doc), simdjson::SUCCESS) << json.out;
  EXPECT_EQ(doc["db_id"].get_int64().value_unsafe(), 1);
  EXPECT_EQ(doc.at_pointer("/fields/_fname").get_string().value_unsafe(), "Ann");
  EXPECT_EQ(doc.at_pointer("/fields/phones/0").get_string().value_unsafe(), "+79000000001");
  EXPECT_EQ(doc.at_pointer("/subscriptions/0/cc_data/id").get_string().value_unsafe(), "4242");
  const auto human = herald({"profiles", "get", "--email", "ann@example.com"});
  EXPECT_EQ(human.code, 0) << human.err;
  EXPECT_TRUE(human.out.starts_with("profile:  " + id + "\n")) << human.out;
  EXPECT_TRUE(contains(human.out, "  _fname  Ann\n")) << human.out;
  EXPECT_TRUE(contains(human.out, "  email   ann@example.com\n")) << human.out;
  EXPECT_TRUE(contains(human.out, "telegram_bot  2         active  cc_data.id=4242")) << human.out;

  // heraldd's route answers with the same profile, for its account only.
  const auto http = heraldd_.post("/api/v1.1/profiles/get", R"({"email": "ann@example.com"})",
                                  {{"Authorization", std::string("Bearer ") + default_token}});
  ASSERT_EQ(http.status, 200) << http.body;
  simdjson::dom::parser reply_parser;  // `doc` lives in `parser`
  simdjson::dom::element reply;
  ASSERT_EQ(reply_parser.parse(http.body).get(reply), simdjson::SUCCESS) << http.body;
  EXPECT_EQ(reply["error"].get_int64().value_unsafe(), 0);
  EXPECT_EQ(reply.at_pointer("/profile/profile_id").get_string().value_unsafe(), id);
  EXPECT_EQ(simdjson::minify(reply["profile"]), simdjson::minify(doc));
  const auto foreign =
      heraldd_.post("/api/v1.1/profiles/get", std::string(R"({"token": ")") + other_token
                                                  + R"(", "email": "ann@example.com"})");
  EXPECT_EQ(foreign.status, 404) << foreign.body;
  EXPECT_TRUE(contains(foreign.body, "\"Profile not found\"")) << foreign.body;
  EXPECT_EQ(heraldd_.post("/api/v1.1/profiles/get", R"({"email": "ann@example.com"})").status, 401);
}

TEST_F(ProfilesGet, NotFoundExits3AndBadInputExits2) {
  ASSERT_EQ(import(R"([{"data": {"email": "bob@example.com"}}])").size(), 1u);

  for (const std::vector<std::string>& args : {
           std::vector<std::string>{"profiles", "get", "--email", "nobody@example.com"},
           std::vector<std::string>{"profiles", "get", "--db", "2", "--email", "bob@example.com"},
           std::vector<std::string>{"profiles", "get", "--account", "other", "--email",
                                    "bob@example.com"},
           std::vector<std::string>{"profiles", "get", "--profile-id", "000000000000000000000000"},
       }) {
    const auto r = herald(args);
    EXPECT_EQ(r.code, 3) << args[3] << ": " << r.out << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_TRUE(contains(r.err, "herald: no profile matches")) << r.err;
  }
  const auto bad = herald({"profiles", "get", "--email", "bob.example.com"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(contains(bad.err, "--email: \"bob.example.com\" is not a valid email address"))
      << bad.err;
  const auto no_key = herald({"profiles", "get"});
  EXPECT_EQ(no_key.code, 2);
  EXPECT_TRUE(contains(no_key.err, "needs a key")) << no_key.err;
  // Still there for its own account.
  EXPECT_FALSE(found_id({"--email", "bob@example.com"}).empty());
}

}  // namespace
}  // namespace herald::test
