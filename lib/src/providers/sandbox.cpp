#include "herald/providers/sandbox.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "herald/common/json.hpp"
#include "herald/providers/provider.hpp"

namespace herald::providers {

sandbox_file::sandbox_file(std::filesystem::path path) : path_(std::move(path)) {
  if (path_.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "sandbox file " + path_.string());
}

sandbox_file::~sandbox_file() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> sandbox_file::append(std::string_view provider, const message& m) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::string line = "{\"provider\":" + json_quote(provider) + ",\"at\":" + std::to_string(now)
                     + ",\"message\":" + message_json(m) + "}\n";
  for (;;) {
    const ssize_t n = ::write(fd_, line.data(), line.size());
    if (n == static_cast<ssize_t>(line.size())) return std::nullopt;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "writing " + path_.string() + ": " + std::strerror(errno);
    return "writing " + path_.string() + ": short write";
  }
}

}  // namespace herald::providers
