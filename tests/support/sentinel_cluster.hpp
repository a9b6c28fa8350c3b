// Redis under Sentinel for one test: a primary, replicas and sentinels on loopback, each
// sentinel with a config file of its own (which it rewrites), short down-after-milliseconds and
// failover-timeout so that a failover takes a few seconds.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace herald::test {

class sentinel_cluster {
 public:
  struct options {
    int replicas = 2;
    int sentinels = 3;
    std::string master_name = "mymaster";
    std::chrono::milliseconds down_after{1000};
    std::chrono::milliseconds failover_timeout{3000};
    std::vector<std::string> server_args;  // for every redis-server (e.g. --appendonly yes)
  };

  sentinel_cluster();
  explicit sentinel_cluster(options opts);
  ~sentinel_cluster();

  // redis-sentinel://127.0.0.1:P1,127.0.0.1:P2,.../MASTER_NAME
  std::string url() const;
  // The primary's port as the first sentinel that answers names it; 0 when none answers.
  int primary_port() const;
  // The server listening on `port` (nullptr when none of them does).
  redis_server* server_at(int port);
  std::vector<std::unique_ptr<redis_server>>& servers() { return servers_; }
  // Every sentinel knows every replica and every other sentinel, and every replica replicates.
  bool settled() const;
  // Waits until settled(); false after `timeout`.
  bool wait_settled(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // kill -9 of the primary; returns it (to start() again later).
  redis_server* kill_primary();
  // Waits until the sentinels name a primary other than `old_port` and it says ROLE master.
  bool wait_failover(int old_port, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // One command to 127.0.0.1:port, the reply's elements (or its text); empty on failure.
  static std::vector<std::string> ask(int port, const std::vector<std::string>& args);

 private:
  struct sentinel {
    int port = 0;
    std::unique_ptr<child_process> process;
  };
  options opts_;
  temp_dir dir_;
  std::vector<std::unique_ptr<redis_server>> servers_;
  std::vector<sentinel> sentinels_;
};

}  // namespace herald::test
