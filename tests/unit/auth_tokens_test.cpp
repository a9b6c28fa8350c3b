// The tokens file and herald::auth::token_table: parsing, errors naming file and line, lookup by
// hash, and reload keeping the old table when the new file is bad.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "herald/auth/request_limit.hpp"
#include "herald/auth/tokens.hpp"
#include "support/process.hpp"

namespace {

using herald::auth::errc;
using herald::auth::hash_token_hex;
using herald::auth::parse_tokens;
using herald::auth::token_table;
using herald::auth::tokens_error;

// SHA-256 of "secret", "s3cr3t-token" and "other" (printf %s TOKEN | sha256sum).
const std::string secret_hash = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
const std::string s3cr3t_hash = "fb07916a0e7daf7f3f4823b7773f85a839a8dd46fbf3858b8f53d3fa463c8ef3";
const std::string other_hash = "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa";

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// The error parse_tokens throws for `text`; fails the test when it throws none.
tokens_error parse_error(const std::string& text) {
  try {
    parse_tokens(text, "/etc/herald/tokens");
  } catch (const tokens_error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for: " << text;
  return tokens_error(errc::malformed_line, {}, 0, "none");
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

TEST(auth_hash, is_the_sha256_of_the_token_in_lowercase_hex) {
  EXPECT_EQ(hash_token_hex("secret"), secret_hash);
  EXPECT_EQ(hash_token_hex("s3cr3t-token"), s3cr3t_hash);
  EXPECT_EQ(herald::auth::hash_token("secret").size(), 32u);
}

TEST(auth_account_name, allows_1_to_64_of_the_account_alphabet) {
  EXPECT_TRUE(herald::auth::valid_account_name("acme"));
  EXPECT_TRUE(herald::auth::valid_account_name("Acme_Corp.eu-1"));
  EXPECT_TRUE(herald::auth::valid_account_name(std::string(64, 'a')));
  EXPECT_FALSE(herald::auth::valid_account_name(""));
  EXPECT_FALSE(herald::auth::valid_account_name(std::string(65, 'a')));
  EXPECT_FALSE(herald::auth::valid_account_name("acme corp"));
  EXPECT_FALSE(herald::auth::valid_account_name("acme/corp"));
  EXPECT_FALSE(herald::auth::valid_account_name("acmé"));
}

TEST(auth_parse_tokens, reads_accounts_and_hashes_skipping_comments_and_blank_lines) {
  const std::string text = "# Herald API tokens\n"
                           "\n"
                           "acme " + secret_hash + "\n"
                           "   \t\n"
                           "  globex\t" + upper(s3cr3t_hash) + "   # the CRM's token\r\n"
                           "acme " + other_hash;  // no final newline
  const auto entries = parse_tokens(text, "tokens");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].account, "acme");
  EXPECT_EQ(entries[0].hash, herald::auth::hash_token("secret"));
  EXPECT_EQ(entries[1].account, "globex");
  EXPECT_EQ(entries[1].hash, herald::auth::hash_token("s3cr3t-token"));
  EXPECT_EQ(entries[2].account, "acme");
  EXPECT_EQ(entries[2].hash, herald::auth::hash_token("other"));
}

TEST(auth_parse_tokens, empty_and_comment_only_files_have_no_entries) {
  EXPECT_TRUE(parse_tokens("", "tokens").empty());
  EXPECT_TRUE(parse_tokens("\n\n# nothing yet\n", "tokens").empty());
}

TEST(auth_parse_tokens, the_same_line_twice_is_one_entry) {
  const auto entries =
      parse_tokens("acme " + secret_hash + "\nacme " + upper(secret_hash) + "\n", "tokens");
  EXPECT_EQ(entries.size(), 1u);
}

TEST(auth_parse_tokens, a_bad_line_names_the_file_and_line_without_quoting_the_hash_field) {
  {
    // A token written in clear where its hash belongs: the message must not repeat it.
    const auto e = parse_error("# tokens\nacme " + secret_hash + "\nglobex my-clear-token\n");
    EXPECT_EQ(e.code(), errc::malformed_line);
    EXPECT_EQ(e.line(), 3u);
    EXPECT_EQ(e.file(), "/etc/herald/tokens");
    const std::string what = e.what();
    EXPECT_TRUE(what.starts_with("/etc/herald/tokens:3: ")) << what;
    EXPECT_NE(what.find("64 hex characters"), std::string::npos) << what;
    EXPECT_NE(what.find("globex"), std::string::npos) << what;
    EXPECT_EQ(what.find("my-clear-token"), std::string::npos) << what;
  }
  {
    // A lone token on a line: neither quoted nor taken for an account.
    const auto e = parse_error("\nbare-token-value\n");
    EXPECT_EQ(e.line(), 2u);
    EXPECT_EQ(std::string(e.what()).find("bare-token-value"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ACCOUNT SHA256_HEX"), std::string::npos) << e.what();
  }
  {
    const auto e = parse_error("acme " + secret_hash + " extra\n");
    EXPECT_EQ(e.line(), 1u);
    EXPECT_NE(std::string(e.what()).find("must be \"read\""), std::string::npos) << e.what();
    const auto more = parse_error("acme " + secret_hash + " read extra\n");
    EXPECT_NE(std::string(more.what()).find("more than three fields"), std::string::npos)
        << more.what();
  }
  {
    const auto e = parse_error("acme/corp " + secret_hash + "\n");
    EXPECT_NE(std::string(e.what()).find("A-Za-z0-9_.-"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("acme/corp"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_error(std::string(65, 'a') + " " + secret_hash).line(), 1u);
  // 63 characters, and 64 that are not all hex.
  EXPECT_EQ(parse_error("acme " + secret_hash.substr(1)).code(), errc::malformed_line);
  const auto e = parse_error("acme " + secret_hash.substr(1) + "g");
  EXPECT_NE(std::string(e.what()).find("not all hex digits"), std::string::npos) << e.what();
}

TEST(auth_parse_tokens, a_hash_listed_for_two_accounts_is_refused) {
  const auto e = parse_error("acme " + secret_hash + "\n\nglobex " + secret_hash + "\n");
  EXPECT_EQ(e.code(), errc::conflicting_hash);
  EXPECT_EQ(e.line(), 3u);
  const std::string what = e.what();
  EXPECT_NE(what.find("\"acme\" on line 1"), std::string::npos) << what;
}

TEST(auth_token_table, finds_the_account_of_a_token) {
  herald::test::temp_dir dir;
  write_file(dir / "tokens",
             "acme " + secret_hash + "\nglobex " + s3cr3t_hash + "\nacme " + other_hash + "\n");
  const token_table tokens(dir / "tokens");
  EXPECT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens.file(), dir / "tokens");
  EXPECT_EQ(tokens.account_for("secret"), "acme");
  EXPECT_EQ(tokens.account_for("other"), "acme");
  EXPECT_EQ(tokens.account_for("s3cr3t-token"), "globex");
  EXPECT_EQ(tokens.account_for("Secret"), std::nullopt);
  EXPECT_EQ(tokens.account_for("secret "), std::nullopt);
  EXPECT_EQ(tokens.account_for(""), std::nullopt);
  // The hash itself is not a token.
  EXPECT_EQ(tokens.account_for(secret_hash), std::nullopt);
}

// A third field `read` marks a token that may only read (a dashboard's, a poller's).
TEST(auth_token_table, a_read_only_token_is_granted_its_account_marked_read_only) {
  herald::test::temp_dir dir;
  write_file(dir / "tokens", "acme " + secret_hash + "\nacme " + other_hash + "  read # poller\n");
  const token_table tokens(dir / "tokens");
  const auto full = tokens.grant_for("secret");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->account, "acme");
  EXPECT_FALSE(full->read_only);
  const auto reader = tokens.grant_for("other");
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->account, "acme");
  EXPECT_TRUE(reader->read_only);
  EXPECT_EQ(tokens.account_for("other"), "acme");
  EXPECT_FALSE(tokens.grant_for("nobody's"));
}

TEST(auth_token_table, without_a_file_refuses_every_token) {
  token_table tokens;
  EXPECT_EQ(tokens.size(), 0u);
  EXPECT_EQ(tokens.account_for("secret"), std::nullopt);
  EXPECT_EQ(tokens.reload(), std::nullopt);

  const token_table given({{"acme", herald::auth::hash_token("secret")}});
  EXPECT_EQ(given.account_for("secret"), "acme");
}

TEST(auth_token_table, a_missing_or_bad_file_fails_construction_with_the_reason) {
  herald::test::temp_dir dir;
  try {
    token_table tokens(dir / "missing");
    FAIL() << "no error for a missing file";
  } catch (const tokens_error& e) {
    EXPECT_EQ(e.code(), errc::unreadable_file);
    EXPECT_EQ(e.line(), 0u);
    const std::string what = e.what();
    EXPECT_NE(what.find((dir / "missing").string()), std::string::npos) << what;
    EXPECT_NE(what.find("No such file"), std::string::npos) << what;
  }
  write_file(dir / "tokens", "acme " + secret_hash + "\nacme\n");
  try {
    token_table tokens(dir / "tokens");
    FAIL() << "no error for a bad line";
  } catch (const tokens_error& e) {
    EXPECT_EQ(e.code(), errc::malformed_line);
    EXPECT_TRUE(std::string(e.what()).starts_with((dir / "tokens").string() + ":2: ")) << e.what();
  }
}

TEST(auth_token_table, reload_takes_the_new_file_and_keeps_the_old_table_when_it_is_bad) {
  herald::test::temp_dir dir;
  const auto path = dir / "tokens";
  write_file(path, "acme " + secret_hash + "\n");
  token_table tokens(path);
  EXPECT_EQ(tokens.account_for("secret"), "acme");

  write_file(path, "globex " + s3cr3t_hash + "\n");
  EXPECT_EQ(tokens.reload(), std::nullopt);
  EXPECT_EQ(tokens.account_for("secret"), std::nullopt);
  EXPECT_EQ(tokens.account_for("s3cr3t-token"), "globex");

  write_file(path, "acme " + secret_hash + "\nbroken line here\n");
  const auto error = tokens.reload();
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), errc::malformed_line);
  EXPECT_EQ(error->line(), 2u);
  EXPECT_EQ(tokens.account_for("s3cr3t-token"), "globex");
  EXPECT_EQ(tokens.account_for("secret"), std::nullopt);

  std::filesystem::remove(path);
  const auto gone = tokens.reload();
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->code(), errc::unreadable_file);
  EXPECT_EQ(tokens.account_for("s3cr3t-token"), "globex");
  EXPECT_EQ(tokens.size(), 1u);
}

TEST(auth_token_table, lookups_go_on_while_another_thread_reloads) {
  herald::test::temp_dir dir;
  const auto path = dir / "tokens";
  write_file(path, "acme " + secret_hash + "\n");
  token_table tokens(path);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread reader([&] {
    while (!stop) {
      if (tokens.account_for("secret") != "acme") ++wrong;
    }
  });
  for (int i = 0; i < 200; ++i) {
    write_file(path, "acme " + secret_hash + "\nacme " + other_hash + "\n");
    EXPECT_EQ(tokens.reload(), std::nullopt);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(wrong, 0);
}

}  // namespace

namespace {

// Each account's allowance: the burst at once, then one request every 1/rate, on a fake clock.
TEST(auth_request_limit, allows_the_burst_then_the_rate_and_keeps_accounts_apart) {
  herald::auth::request_limit limit(10.0, 3);
  const std::int64_t t0 = 1'000'000'000;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limit.admit("acme", t0)) << i;
  const auto wait = limit.admit("acme", t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(wait->count(), 100'000);  // the next slot is 1/10 s away
  EXPECT_FALSE(limit.admit("globex", t0));
  EXPECT_TRUE(limit.admit("acme", t0 + 99'999));
  EXPECT_FALSE(limit.admit("acme", t0 + 100'000));
  EXPECT_TRUE(limit.admit("acme", t0 + 100'000));
  // After a quiet second the whole burst is back, not more.
  const std::int64_t t1 = t0 + 2'000'000;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limit.admit("acme", t1)) << i;
  EXPECT_TRUE(limit.admit("acme", t1));
}

TEST(auth_request_limit, refuses_a_rate_or_burst_of_zero) {
  EXPECT_THROW(herald::auth::request_limit(0.0, 1), std::invalid_argument);
  EXPECT_THROW(herald::auth::request_limit(1.0, 0), std::invalid_argument);
}

}  // namespace
