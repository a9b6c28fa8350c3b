// A real redis-server for one test: its own temporary directory, a unix socket or a free TCP
// port, no persistence unless asked, stopped (and reaped) when the object goes.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace herald::test {

class redis_server {
 public:
  struct options {
    bool tcp = false;  // listen on 127.0.0.1:<free port> instead of a unix socket
    std::string password;
    std::vector<std::string> extra_args;
  };

  redis_server();
  explicit redis_server(options opts);
  ~redis_server();

  // The URL Herald's client takes: unix:///.../redis.sock or redis://[:password@]127.0.0.1:PORT
  std::string url() const;
  const std::string& socket_path() const { return socket_; }
  int port() const { return port_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  const temp_dir& dir() const { return dir_; }

  void kill9();          // SIGKILL, reaped at once
  void pause();          // SIGSTOP
  void resume();         // SIGCONT
  void start();          // (re)start on the same socket or port; waits until it answers
  bool answers() const;  // a PING answered by PONG

  // One command over a fresh blocking connection; the reply flattened to text (arrays joined
  // by '\n', nil as "(nil)", integers in decimal). Throws on a connection failure.
  std::string command(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;
  long long integer(const std::vector<std::string>& args) const;

 private:
  options opts_;
  temp_dir dir_;
  std::string socket_;
  int port_ = 0;
  std::unique_ptr<child_process> process_;
};

}  // namespace herald::test
