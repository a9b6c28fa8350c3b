// API tokens and the accounts they belong to: the tokens file holds only SHA-256 hashes of the
// tokens, and a presented token is checked against every entry in constant time.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace herald::auth {

class request_limit;

enum class errc {
  unreadable_file = 1,  // the tokens file cannot be opened or read
  malformed_line,       // a line is not "ACCOUNT SHA256_HEX [read]"
  conflicting_hash,     // one token hash is listed for two accounts
};

const std::error_category& category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// A tokens file that cannot be used. what() names the file and, for a bad line, its number
// ("/etc/herald/tokens:3: ..."); it never quotes a hash field, which might be a token written
// there by mistake.
class tokens_error : public std::system_error {
 public:
  tokens_error(errc e, std::filesystem::path file, std::size_t line, const std::string& reason);

  const std::filesystem::path& file() const { return file_; }
  std::size_t line() const { return line_; }  // 1-based; 0 when the error is not about one line

 private:
  std::filesystem::path file_;
  std::size_t line_ = 0;
};

using token_hash = std::array<unsigned char, 32>;

// SHA-256 of `token`.
token_hash hash_token(std::string_view token);
// The same as 64 lowercase hex characters: the form a tokens file takes.
std::string hash_token_hex(std::string_view token);

// Whether `account` can be an account name: 1 to 64 characters of A-Za-z0-9_.-
bool valid_account_name(std::string_view account);

struct token_entry {
  std::string account;
  token_hash hash{};
  bool read_only = false;  // may read the account's tasks, triggers and profiles, not change them
};

// What a valid token may do: act for `account`, and change things unless `read_only`.
struct token_grant {
  std::string account;
  bool read_only = false;
};

// Parses the text of a tokens file: one "ACCOUNT SHA256_HEX [read]" a line (separated by spaces
// or tabs, the hash in either case; `read` marks a token that may only read, such as a
// dashboard's or a poller's), '#' starting a comment, blank lines ignored. An account may
// have several tokens; a hash listed for two accounts is an error. Throws tokens_error naming
// `source` and the line.
std::vector<token_entry> parse_tokens(std::string_view text, const std::filesystem::path& source);

// The accounts' tokens, loaded from the tokens file (config key `tokens_file`). Safe to use
// from several threads, reload() included.
class token_table {
 public:
  // No file, no tokens: every token is refused.
  token_table();
  // Loads `file`; throws tokens_error when it cannot be read or has a bad line.
  explicit token_table(std::filesystem::path file);
  // A table of these entries, without a file (reload() keeps them).
  explicit token_table(std::vector<token_entry> entries);
  token_table(const token_table&) = delete;
  token_table& operator=(const token_table&) = delete;

  // The account `token` belongs to, or nothing. Hashes the token and compares the hash with
  // every entry, without stopping at a match, in constant time per entry.
  std::optional<std::string> account_for(std::string_view token) const;
  // The same, with whether the token may only read.
  std::optional<token_grant> grant_for(std::string_view token) const;

  // Reads the file again. When it cannot be read or has a bad line, the table keeps its current
  // tokens and the error is returned; nothing on success (and when the table has no file).
  std::optional<tokens_error> reload();

  const std::filesystem::path& file() const { return file_; }
  std::size_t size() const;  // entries loaded

  // Each account's request limit, asked by api::authenticate once a token names its account;
  // null: none. Set before the table is shared between threads.
  void set_request_limit(std::shared_ptr<request_limit> limit) { limit_ = std::move(limit); }
  request_limit* requests() const { return limit_.get(); }

 private:
  using entries = std::vector<token_entry>;
  std::shared_ptr<const entries> current() const;

  std::filesystem::path file_;
  mutable std::mutex mutex_;  // guards entries_ (the pointer, not what it points to)
  std::shared_ptr<const entries> entries_;
  std::shared_ptr<request_limit> limit_;
};

// Reads and parses a tokens file; throws tokens_error.
std::vector<token_entry> load_tokens_file(const std::filesystem::path& file);

}  // namespace herald::auth

template <>
struct std::is_error_code_enum<herald::auth::errc> : std::true_type {};
