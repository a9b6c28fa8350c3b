#include "support/sentinel_cluster.hpp"

#include <hiredis/hiredis.h>

#include <fstream>

namespace herald::test {

using namespace std::chrono_literals;

sentinel_cluster::sentinel_cluster() : sentinel_cluster(options{}) {}

sentinel_cluster::sentinel_cluster(options opts) : opts_(std::move(opts)), dir_("herald-sentinel") {
  servers_.push_back(std::make_unique<redis_server>(
      redis_server::options{.tcp = true, .password = "", .extra_args = opts_.server_args}));
  const int first = servers_[0]->port();
  for (int i = 0; i < opts_.replicas; ++i) {
    auto args = opts_.server_args;
    args.insert(args.end(), {"--replicaof", "127.0.0.1", std::to_string(first)});
    servers_.push_back(std::make_unique<redis_server>(
        redis_server::options{.tcp = true, .password = "", .extra_args = args}));
  }
  const int quorum = opts_.sentinels / 2 + 1;
  for (int i = 0; i < opts_.sentinels; ++i) {
    sentinel s;
    s.port = free_tcp_port();
    auto conf = dir_ / ("sentinel-" + std::to_string(i) + ".conf");
    const auto& m = opts_.master_name;
    std::ofstream(conf) << "port " << s.port << "\nbind 127.0.0.1\ndaemonize no\n"
                        << "protected-mode no\ndir " << dir_.path().string() << "\n"
                        << "sentinel monitor " << m << " 127.0.0.1 " << first << " " << quorum
                        << "\nsentinel down-after-milliseconds " << m << " "
                        << opts_.down_after.count() << "\nsentinel failover-timeout " << m << " "
                        << opts_.failover_timeout.count() << "\nsentinel parallel-syncs " << m
                        << " 2\n";
    s.process = std::make_unique<child_process>(
        std::vector<std::string>{HERALD_REDIS_SERVER, conf.string(), "--sentinel"},
        std::vector<std::string>{}, dir_ / ("sentinel-" + std::to_string(i) + ".log"));
    sentinels_.push_back(std::move(s));
  }
}

sentinel_cluster::~sentinel_cluster() = default;

std::string sentinel_cluster::url() const {
  std::string url = "redis-sentinel://";
  for (std::size_t i = 0; i < sentinels_.size(); ++i)
    url += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(sentinels_[i].port);
  return url + "/" + opts_.master_name;
}

std::vector<std::string> sentinel_cluster::ask(int port, const std::vector<std::string>& args) {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  std::vector<std::string> out;
  if (!c || c->err) {
    if (c) redisFree(c);
    return out;
  }
  redisSetTimeout(c, tv);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (r) {
    if (r->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i < r->elements; ++i)
        out.push_back(r->element[i]->str ? std::string(r->element[i]->str, r->element[i]->len)
                                         : std::to_string(r->element[i]->integer));
    } else if (r->str) {
      out.emplace_back(r->str, r->len);
    }
    freeReplyObject(r);
  }
  redisFree(c);
  return out;
}

int sentinel_cluster::primary_port() const {
  for (const auto& s : sentinels_) {
    auto named = ask(s.port, {"SENTINEL", "get-master-addr-by-name", opts_.master_name});
    if (named.size() == 2) return std::stoi(named[1]);
  }
  return 0;
}

redis_server* sentinel_cluster::server_at(int port) {
  for (auto& s : servers_)
    if (s->port() == port) return s.get();
  return nullptr;
}

bool sentinel_cluster::settled() const {
  const auto others = std::to_string(sentinels_.size() - 1);
  for (const auto& s : sentinels_) {
    if (ask(s.port, {"SENTINEL", "replicas", opts_.master_name}).size()
        != static_cast<std::size_t>(opts_.replicas))
      return false;
    if (ask(s.port, {"SENTINEL", "sentinels", opts_.master_name}).size() != sentinels_.size() - 1)
      return false;
  }
  int p = primary_port();
  for (const auto& srv : servers_) {
    auto role = ask(srv->port(), {"ROLE"});
    if (srv->port() == p) {
      if (role.empty() || role[0] != "master") return false;
      continue;
    }
    if (role.empty() || role[0] != "slave") return false;
    auto info = ask(srv->port(), {"INFO", "replication"});
    if (info.empty() || info[0].find("master_link_status:up") == std::string::npos) return false;
    if (info[0].find("master_port:" + std::to_string(p) + "\r") == std::string::npos) return false;
  }
  return true;
}

bool sentinel_cluster::wait_settled(std::chrono::milliseconds timeout) const {
  return wait_until([&] { return settled(); }, timeout, 100ms);
}

redis_server* sentinel_cluster::kill_primary() {
  auto* victim = server_at(primary_port());
  if (victim) victim->kill9();
  return victim;
}

bool sentinel_cluster::wait_failover(int old_port, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        int now = primary_port();
        if (now == 0 || now == old_port) return false;
        auto role = ask(now, {"ROLE"});
        return !role.empty() && role[0] == "master";
      },
      timeout, 50ms);
}

}  // namespace herald::test
