// Following a failover as Sentinel announces it: one subscription to `+switch-master` per process
// and Sentinel endpoint (a thread of its own with a blocking hiredis connection, on one sentinel
// at a time, the next one when it fails), which tells every connection registered for that
// endpoint where the primary is now. Each connection then moves there on its own executor. On
// every (re)subscription the watch also asks where the primary is, so that a switch announced
// while it was not subscribed is not missed. The thread ends about a second after the last
// connection is removed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "herald/redis/url.hpp"

namespace herald::redis {

class sentinel_watch {
 public:
  // Called on the watch's thread, with the watch's lock held: it must only post (not block, and
  // not call add or remove).
  using listener = std::function<void(const std::string& host, unsigned short port)>;

  // The watch for `ep` (a sentinel endpoint), shared by the process; lives as long as it.
  static sentinel_watch& for_endpoint(const endpoint& ep);

  // Registers `l`; returns its id for remove(). Starts the thread when it is not running.
  std::uint64_t add(listener l);
  // Once this returns, `id`'s listener is not running and will not be called again.
  void remove(std::uint64_t id);

 private:
  explicit sentinel_watch(endpoint ep);
  void run();
  void notify(const std::string& host, unsigned short port);
  bool wanted();

  endpoint ep_;
  std::mutex mutex_;
  std::map<std::uint64_t, listener> listeners_;
  std::uint64_t next_id_ = 1;
  bool running_ = false;
};

}  // namespace herald::redis
