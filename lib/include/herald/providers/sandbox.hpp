// The sandbox provider: each delivery appended as one JSON line to a file, for demos and tests.
// Each line goes in one write() on a descriptor opened with O_APPEND, so that lines of several
// threads or processes never interleave.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "herald/providers/message.hpp"

namespace herald::providers {

class sandbox_file {
 public:
  // Opens (creating) `path`, and its directory; throws std::system_error naming the path.
  explicit sandbox_file(std::filesystem::path path);
  ~sandbox_file();
  sandbox_file(const sandbox_file&) = delete;
  sandbox_file& operator=(const sandbox_file&) = delete;

  // Appends {"provider": ..., "at": <ms since the epoch>, "message": message_json(m)}; the
  // error in words on an I/O failure.
  std::optional<std::string> append(std::string_view provider, const message& m);

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace herald::providers
