#include "support/secrets.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <sstream>

#include "herald/auth/tokens.hpp"

namespace herald::test {
namespace {

const std::filesystem::path archive{HERALD_TEST_ARCHIVE};

// One line per secret, appended with O_APPEND so that parallel test processes do not interleave
// within a line.
void append_line(const std::string& line) {
  std::filesystem::create_directories(archive);
  const int fd =
      ::open((archive / "secrets.txt").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const std::string text = line + "\n";
  [[maybe_unused]] auto n = ::write(fd, text.data(), text.size());
  ::close(fd);
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

bool named_like_a_secret(std::string_view name) {
  const auto n = upper(name);
  for (const char* word : {"TOKEN", "PASSWORD", "SECRET", "PASS"})
    if (n.find(word) != std::string::npos) return true;
  return false;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

void record_tokens_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string account, digest;
    if (words >> account >> digest && account[0] != '#') append_line(digest);
  }
}

void record_config_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos || line.starts_with('#') || line.starts_with(';')) continue;
    const auto key = trim(std::string_view(line).substr(0, eq));
    const auto value = trim(std::string_view(line).substr(eq + 1));
    if (key == "tokens_file")
      record_tokens_file(value);
    else if (named_like_a_secret(key) && !value.empty())
      secret(value);
  }
}

}  // namespace

std::string secret(std::string_view clear) {
  if (!clear.empty()) {
    append_line(std::string(clear));
    append_line(auth::hash_token_hex(clear));
  }
  return std::string(clear);
}

void record_secrets(const std::vector<std::string>& env, const std::vector<std::string>& argv) {
  for (const auto& entry : env) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string_view name(entry.data(), eq);
    const std::string_view value(entry.data() + eq + 1, entry.size() - eq - 1);
    if (!name.starts_with("HERALD_") || value.empty()) continue;
    if (name == "HERALD_TOKENS_FILE")
      record_tokens_file(value);
    else if (named_like_a_secret(name))
      secret(value);
  }
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "--config") record_config_file(argv[i + 1]);
}

void archive_heraldd_log(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  const auto dir = archive / "logs";
  std::filesystem::create_directories(dir, ec);
  const auto name =
      "heraldd-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".log";
  std::filesystem::copy_file(path, dir / name, std::filesystem::copy_options::overwrite_existing,
                             ec);
}

}  // namespace herald::test
