// A Lua script run by EVALSHA; the client loads it on NOSCRIPT without the caller noticing.
#pragma once

#include <string>
#include <string_view>

namespace herald::redis {

class script {
 public:
  explicit script(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }  // 40 lowercase hex characters

 private:
  std::string source_;
  std::string sha1_;
};

}  // namespace herald::redis
