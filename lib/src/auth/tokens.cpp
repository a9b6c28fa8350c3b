#include "herald/auth/tokens.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>

namespace herald::auth {

namespace {

class auth_category : public std::error_category {
 public:
  const char* name() const noexcept override { return "herald.auth"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::unreadable_file:
        return "the tokens file cannot be read";
      case errc::malformed_line:
        return "a line of the tokens file is not \"ACCOUNT SHA256_HEX\"";
      case errc::conflicting_hash:
        return "a token hash is listed for two accounts";
    }
    return "unknown auth error";
  }
};

std::string describe(const std::filesystem::path& file, std::size_t line,
                     const std::string& reason) {
  std::string out = file.empty() ? std::string("tokens") : file.string();
  if (line != 0) out += ":" + std::to_string(line);
  return out + ": " + reason;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The next run of non-blank characters of `rest`, which it leaves after it.
std::string_view next_field(std::string_view& rest) {
  std::size_t begin = 0;
  while (begin < rest.size() && is_blank(rest[begin])) ++begin;
  std::size_t end = begin;
  while (end < rest.size() && !is_blank(rest[end])) ++end;
  const std::string_view field = rest.substr(begin, end - begin);
  rest.remove_prefix(end);
  return field;
}

}  // namespace

const std::error_category& category() noexcept {
  static const auth_category instance;
  return instance;
}

tokens_error::tokens_error(errc e, std::filesystem::path file, std::size_t line,
                           const std::string& reason)
    : std::system_error(make_error_code(e), describe(file, line, reason)),
      file_(std::move(file)),
      line_(line) {}

token_hash hash_token(std::string_view token) {
  token_hash out{};
  unsigned int size = 0;
  if (EVP_Digest(token.data(), token.size(), out.data(), &size, EVP_sha256(), nullptr) != 1
      || size != out.size()) {
    throw std::runtime_error("auth: OpenSSL could not compute a SHA-256 digest");
  }
  return out;
}

std::string hash_token_hex(std::string_view token) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char byte : hash_token(token)) {
    out += digits[byte >> 4];
    out += digits[byte & 0xF];
  }
  return out;
}

bool valid_account_name(std::string_view account) {
  if (account.empty() || account.size() > 64) return false;
  for (char c : account) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::vector<token_entry> parse_tokens(std::string_view text, const std::filesystem::path& source) {
  std::vector<token_entry> out;
  std::map<token_hash, std::pair<std::string, std::size_t>> seen;  // hash → account, line
  std::size_t number = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    ++number;
    const auto newline = text.find('\n', pos);
    const auto end = newline == std::string_view::npos ? text.size() : newline;
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // Neither an account nor a hash holds '#': whatever follows one is a comment.
    line = line.substr(0, line.find('#'));

    const auto bad = [&](const std::string& reason) {
      return tokens_error(errc::malformed_line, source, number, reason);
    };
    std::string_view rest = line;
    const std::string_view account = next_field(rest);
    if (account.empty()) continue;
    const std::string_view hex = next_field(rest);
    const std::string_view scope = next_field(rest);
    const std::string_view extra = next_field(rest);
    if (hex.empty()) {
      throw bad(
          "expected \"ACCOUNT SHA256_HEX\", found one field (a token is listed by its "
          "SHA-256: `printf %s TOKEN | sha256sum`)");
    }
    if (!extra.empty())
      throw bad("expected \"ACCOUNT SHA256_HEX [read]\", found more than three fields");
    if (!scope.empty() && scope != "read")
      throw bad("the third field, when given, must be \"read\" (a token that may only read)");
    if (!valid_account_name(account)) {
      throw bad("the account must be 1 to 64 characters of A-Za-z0-9_.-");
    }
    token_entry entry{std::string(account), {}, scope == "read"};
    bool hex_ok = hex.size() == 64;
    for (std::size_t i = 0; hex_ok && i < 32; ++i) {
      const int high = hex_value(hex[2 * i]);
      const int low = hex_value(hex[2 * i + 1]);
      hex_ok = high >= 0 && low >= 0;
      if (hex_ok) entry.hash[i] = static_cast<unsigned char>(high << 4 | low);
    }
    if (!hex_ok) {
      throw bad("the hash of account \"" + entry.account + "\" must be 64 hex characters (the "
                "SHA-256 of the token, never the token itself), found "
                + std::to_string(hex.size()) + " characters"
                + (hex.size() == 64 ? " that are not all hex digits" : ""));
    }
    if (auto [it, inserted] = seen.try_emplace(entry.hash, entry.account, number); !inserted) {
      if (it->second.first != entry.account) {
        throw tokens_error(errc::conflicting_hash, source, number,
                           "this token hash is also listed for account \"" + it->second.first
                               + "\" on line " + std::to_string(it->second.second)
                               + "; a token belongs to one account");
      }
      continue;  // the same line twice: harmless
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<token_entry> load_tokens_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw tokens_error(errc::unreadable_file, file, 0,
                       std::string("cannot open the tokens file: ") + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw tokens_error(errc::unreadable_file, file, 0,
                       std::string("cannot read the tokens file: ") + std::strerror(errno));
  }
  return parse_tokens(text.str(), file);
}

token_table::token_table() : entries_(std::make_shared<const entries>()) {}

token_table::token_table(std::filesystem::path file)
    : file_(std::move(file)), entries_(std::make_shared<const entries>(load_tokens_file(file_))) {}

token_table::token_table(std::vector<token_entry> list)
    : entries_(std::make_shared<const entries>(std::move(list))) {}

std::shared_ptr<const token_table::entries> token_table::current() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

std::optional<std::string> token_table::account_for(std::string_view token) const {
  auto grant = grant_for(token);
  if (!grant) return std::nullopt;
  return std::move(grant->account);
}

std::optional<token_grant> token_table::grant_for(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  const token_hash presented = hash_token(token);
  const auto table = current();
  const token_entry* found = nullptr;
  for (const auto& entry : *table) {
    // No early exit: the time taken does not depend on where (or whether) the token matches.
    const bool equal = CRYPTO_memcmp(presented.data(), entry.hash.data(), presented.size()) == 0;
    if (equal && found == nullptr) found = &entry;
  }
  if (found == nullptr) return std::nullopt;
  return token_grant{found->account, found->read_only};
}

std::optional<tokens_error> token_table::reload() {
  if (file_.empty()) return std::nullopt;
  try {
    auto fresh = std::make_shared<const entries>(load_tokens_file(file_));
    std::lock_guard lock(mutex_);
    entries_ = std::move(fresh);
  } catch (const tokens_error& e) {
    return e;
  }
  return std::nullopt;
}

std::size_t token_table::size() const {
  return current()->size();
}

}  // namespace herald::auth
