// The built heraldd as a child process of a test: its own state directory, HTTP on a free port,
// its log kept in a file, and killed (with everything it started) when the test ends.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/process.hpp"

namespace herald::test {

class heraldd_process {
 public:
  struct options {
    std::string redis_url;                // empty: the embedded default
    std::vector<std::string> extra_env;   // "NAME=value"
    std::vector<std::string> extra_args;  // flags after the binary
    bool wait_until_listening = true;     // start() returns once the HTTP port is known
  };

  heraldd_process();
  explicit heraldd_process(options opts);
  ~heraldd_process();

  void start();
  // SIGTERM, then the exit code within `timeout` (or -1 when it still runs).
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  child_process& process() { return *process_; }
  const temp_dir& state_dir() const { return state_; }
  unsigned short port() const { return port_; }
  std::string log() const { return process_ ? process_->log() : std::string(); }

  http_response get(const std::string& target,
                    std::vector<std::pair<std::string, std::string>> headers = {});
  http_response post(const std::string& target, std::string body,
                     std::vector<std::pair<std::string, std::string>> headers = {});

 private:
  options opts_;
  temp_dir state_;
  std::unique_ptr<child_process> process_;
  unsigned short port_ = 0;
};

}  // namespace herald::test
