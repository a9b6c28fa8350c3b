#include "redis/sentinel_watch.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

namespace herald::redis {

namespace {

using namespace std::chrono_literals;

// A blocking connection to one sentinel; AUTH done when the endpoint has a sentinel password.
struct sentinel_conn {
  redisContext* c = nullptr;
  ~sentinel_conn() {
    if (c) redisFree(c);
  }

  // A command and its reply (nullptr on a connection failure); the caller frees the reply.
  redisReply* run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  }

  bool open(const endpoint::address& at, const std::string& password) {
    timeval tv{0, 500'000};
    c = redisConnectWithTimeout(at.host.c_str(), at.port, tv);
    if (!c || c->err) return false;
    redisSetTimeout(c, tv);
    if (password.empty()) return true;
    redisReply* r = run({"AUTH", password});
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    return ok;
  }
};

}  // namespace

std::optional<std::pair<std::string, unsigned short>> parse_switch_master(
    std::string_view message, std::string_view master_name) {
  std::vector<std::string_view> words;
  while (!message.empty()) {
    auto space = message.find(' ');
    auto word = message.substr(0, space);
    if (!word.empty()) words.push_back(word);
    if (space == std::string_view::npos) break;
    message.remove_prefix(space + 1);
  }
  if (words.size() != 5 || words[0] != master_name) return std::nullopt;
  unsigned short port = 0;
  auto [end, ec] = std::from_chars(words[4].data(), words[4].data() + words[4].size(), port);
  if (ec != std::errc() || end != words[4].data() + words[4].size() || port == 0)
    return std::nullopt;
  return std::pair(std::string(words[3]), port);
}

sentinel_watch::sentinel_watch(endpoint ep) : ep_(std::move(ep)) {}

sentinel_watch& sentinel_watch::for_endpoint(const endpoint& ep) {
  // Leaked on purpose: a watch's thread may still be winding down when the process exits.
  static auto* mutex = new std::mutex;
  static auto* watches = new std::map<std::string, sentinel_watch*>;
  std::lock_guard lock(*mutex);
  auto& slot = (*watches)[ep.redacted() + "\n" + ep.sentinel_password];
  if (!slot) slot = new sentinel_watch(ep);
  return *slot;
}

std::uint64_t sentinel_watch::add(listener l) {
  std::lock_guard lock(mutex_);
  auto id = next_id_++;
  listeners_.emplace(id, std::move(l));
  if (!running_) {
    running_ = true;
    std::thread([this] { run(); }).detach();
  }
  return id;
}

void sentinel_watch::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  listeners_.erase(id);
}

bool sentinel_watch::wanted() {
  std::lock_guard lock(mutex_);
  if (listeners_.empty()) running_ = false;
  return running_;
}

void sentinel_watch::notify(const std::string& host, unsigned short port) {
  std::lock_guard lock(mutex_);
  for (auto& [id, l] : listeners_) l(host, port);
}

void sentinel_watch::run() {
  const auto n = ep_.sentinels.size();
  std::size_t turn = 0;
  std::string last_failure;
  while (wanted()) {
    const auto& at = ep_.sentinels[turn++ % n];
    const std::string where = at.host + ":" + std::to_string(at.port);
    sentinel_conn sub;
    redisReply* r = nullptr;
    if (sub.open(at, ep_.sentinel_password) && (r = sub.run({"SUBSCRIBE", "+switch-master"}))) {
      freeReplyObject(r);
      last_failure.clear();
      // Where the primary is now: a switch may have happened while nobody listened.
      sentinel_conn ask;
      if (ask.open(at, ep_.sentinel_password)) {
        if (auto* a = ask.run({"SENTINEL", "get-master-addr-by-name", ep_.master_name})) {
          if (a->type == REDIS_REPLY_ARRAY && a->elements == 2) {
            unsigned short port = 0;
            std::string p(a->element[1]->str, a->element[1]->len);
            std::from_chars(p.data(), p.data() + p.size(), port);
            if (port) notify(std::string(a->element[0]->str, a->element[0]->len), port);
          }
          freeReplyObject(a);
        }
      }
      spdlog::debug("redis: following +switch-master of {} on sentinel {}", ep_.master_name, where);
      // Reads what the sentinel publishes; polls so that it notices when nobody listens any more.
      for (;;) {
        // Once wanted() said no, this thread ends at once: a later add() starts another.
        if (!wanted()) return;
        pollfd p{sub.c->fd, POLLIN, 0};
        int ready = ::poll(&p, 1, 1000);
        if (ready == 0) continue;
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0 || redisBufferRead(sub.c) != REDIS_OK) break;
        void* got = nullptr;
        bool broken = false;
        while (!broken) {
          if (redisGetReplyFromReader(sub.c, &got) != REDIS_OK) {
            broken = true;
            break;
          }
          if (!got) break;
          auto* m = static_cast<redisReply*>(got);
          if (m->type == REDIS_REPLY_ARRAY && m->elements == 3
              && m->element[2]->type == REDIS_REPLY_STRING) {
            auto to = parse_switch_master(std::string_view(m->element[2]->str, m->element[2]->len),
                                          ep_.master_name);
            if (to) {
              spdlog::info("redis: Sentinel {} says {} is now at {}:{}", where, ep_.master_name,
                           to->first, to->second);
              notify(to->first, to->second);
            }
          }
          freeReplyObject(m);
        }
        if (broken) break;
      }
    } else {
      std::string why = sub.c && sub.c->err ? sub.c->errstr : "no answer";
      if (why != last_failure)
        spdlog::debug("redis: cannot follow +switch-master on sentinel {}: {}", where, why);
      last_failure = why;
    }
    // The next sentinel, after a pause (not when another one is likely to answer at once).
    if (turn % n == 0) std::this_thread::sleep_for(500ms);
  }
}

}  // namespace herald::redis
