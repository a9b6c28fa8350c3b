// The connection behind herald::redis::client: hiredis's async context driven by Asio.
//
// Every hiredis entry point (redisAsyncHandleRead/Write, redisAsyncFree) is called from our own
// handlers, never from a coroutine. hiredis's callbacks only record what happened (a reply, a
// closed socket); the completions they produce are delivered after hiredis has returned, so no
// coroutine ever runs inside hiredis. Commands are pipelined: every command appended in one turn
// of the event loop leaves in one write, and a write is forced every `flush_every` commands so
// that client and server work at the same time.
#include "herald/redis/client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <deque>
#include <mutex>
#include <random>

#include "herald/common/backoff.hpp"
#include "herald/metrics/registry.hpp"
#include "herald/redis/outage.hpp"
#include "herald/redis/url.hpp"
#include "redis/sentinel_watch.hpp"

namespace herald::redis {

namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;
using handler_type = asio::any_completion_handler<client::exec_signature>;

namespace {

reply convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
      return reply::make_string(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS:
      return reply::make_status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return reply::make_error(std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return reply::make_integer(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<reply> elements;
      elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) elements.push_back(convert(r->element[i]));
      return reply::make_array(std::move(elements));
    }
    default:
      return reply::make_nil();
  }
}

}  // namespace

class client::connection : public std::enable_shared_from_this<connection> {
 public:
  connection(asio::any_io_executor ex, client_config config, endpoint ep)
      : ex_(std::move(ex)),
        config_(std::move(config)),
        endpoint_(std::move(ep)),
        socket_(ex_),
        resolver_(ex_),
        deadline_timer_(ex_),
        retry_timer_(ex_),
        connect_timer_(ex_),
        ping_timer_(ex_),
        backoff_({config_.reconnect_min, config_.reconnect_max, backoff_policy::jitter::equal}),
        random_(std::random_device{}()),
        outage_(&outage_log::for_endpoint(endpoint_.redacted())) {}

  ~connection() {
    unwatch();
    outage_->forget(id());
    for (auto* p : free_) delete p;
  }

  void start() {
    asio::dispatch(ex_, [self = shared_from_this()] {
      if (self->state_ == connection_state::disconnected && !self->ctx_) self->connect();
    });
  }

  void stop() {
    unwatch();
    asio::dispatch(ex_, [self = shared_from_this()] { self->stop_now(); });
  }

  // Under Sentinel: follows +switch-master (sentinel_watch), from any thread. A switch reaches
  // on_switch() on the connection's executor.
  void watch() {
    if (endpoint_.kind != endpoint::transport::sentinel) return;
    std::lock_guard lock(watch_mutex_);
    if (watch_id_ != 0 || unwatched_) return;
    watch_id_ = sentinel_watch::for_endpoint(endpoint_).add(
        [weak = weak_from_this(), ex = ex_](const std::string& host, unsigned short port) {
          asio::post(ex, [weak, host, port] {
            if (auto self = weak.lock()) self->on_switch(host, port);
          });
        });
  }

  // Synchronous: once this returns, the watch posts nothing more to this connection's executor.
  void unwatch() {
    std::lock_guard lock(watch_mutex_);
    unwatched_ = true;
    if (watch_id_ == 0) return;
    sentinel_watch::for_endpoint(endpoint_).remove(watch_id_);
    watch_id_ = 0;
  }

  void submit(command cmd, handler_type handler) {
    if (state_ == connection_state::stopped) return fail_later(std::move(handler), errc::stopped);
    if (!ctx_) return fail_later(std::move(handler), errc::not_connected);
    append(cmd, std::move(handler), config_.command_timeout);
  }

  // True when the caller runs on this connection's executor, so it may touch the connection.
  bool on_own_executor() const {
    if (auto* io = ex_.target<asio::io_context::executor_type>())
      return io->running_in_this_thread();
    return false;
  }

  connection_state state() const { return state_; }
  const client_config& config() const { return config_; }
  const asio::any_io_executor& executor() const { return ex_; }
  client::statistics stats() const { return stats_; }

 private:
  // One command in flight. hiredis holds it as the callback's privdata until it calls back, even
  // after the command has been completed by its deadline (then `abandoned` is set).
  struct pending {
    handler_type handler;
    clock_type::time_point sent;  // appended (for command_latency)
    clock_type::time_point deadline;
    connection* owner = nullptr;
    bool abandoned = false;
  };
  struct completion {
    handler_type handler;
    error_code ec;
    reply result;
  };

  // --- commands --------------------------------------------------------------------------------

  void append(command& cmd, handler_type handler, std::chrono::milliseconds timeout) {
    pending* p = acquire();
    p->handler.swap(handler);  // not operator=: Boost 1.81's move assignment recurses
    p->sent = clock_type::now();
    p->deadline = p->sent + timeout;
    auto wire = cmd.wire();
    if (redisAsyncFormattedCommand(ctx_, &connection::on_reply, p, wire.data(), wire.size())
        != REDIS_OK) {
      handler.swap(p->handler);
      release(p);
      return fail_later(std::move(handler), errc::connection_lost);
    }
    in_flight_.push_back(p);
    ++stats_.commands;
    arm_deadline(p->deadline);
    if (++unflushed_ >= config_.flush_every && state_ == connection_state::connected) flush();
  }

  // Writes what is buffered now instead of at the next write-readiness.
  void flush() {
    unflushed_ = 0;
    redisAsyncHandleWrite(ctx_);
    if (!done_.empty()) schedule_drain();  // the write failed and the connection went down
  }

  // Completes a command that never reached hiredis, never from inside its initiation.
  void fail_later(handler_type handler, errc e) {
    asio::post(ex_, [h = std::move(handler), e]() mutable {
      asio::dispatch(asio::append(std::move(h), make_error_code(e), reply()));
    });
  }

  pending* acquire() {
    if (free_.empty()) return new pending{{}, {}, {}, this, false};
    pending* p = free_.back();
    free_.pop_back();
    return p;
  }

  void release(pending* p) {
    p->abandoned = false;
    if (free_.size() < 4096)
      free_.push_back(p);
    else
      delete p;
  }

  // hiredis calls this for every reply, and with r == nullptr for commands dropped by a
  // disconnect. It only records; drain() completes the callers once hiredis has returned.
  static void on_reply(redisAsyncContext* ac, void* r, void* privdata) noexcept {
    auto* p = static_cast<pending*>(privdata);
    auto* self = p->owner;
    (void)ac;
    if (!self->in_flight_.empty() && self->in_flight_.front() == p) {
      self->in_flight_.pop_front();
    } else {
      std::erase(self->in_flight_, p);
    }
    if (p->abandoned) return self->release(p);
    if (r && self->config_.command_latency)
      self->config_.command_latency->observe(clock_type::now() - p->sent);
    completion c{std::move(p->handler), {}, {}};
    self->release(p);
    if (!r) {
      c.ec = self->state_ == connection_state::stopped ? errc::stopped : errc::connection_lost;
    } else {
      c.result = convert(static_cast<const redisReply*>(r));
      if (c.result.is_error()) {
        c.ec = errc::server_error;
        // Under Sentinel, a server that became a replica, or one loading its data: ask again.
        if (self->endpoint_.kind == endpoint::transport::sentinel
            && (c.result.str().starts_with("READONLY") || c.result.str().starts_with("LOADING")))
          self->reresolve(c.result.str());
      }
    }
    self->done_.push_back(std::move(c));
  }

  // Delivers recorded completions. Callers are resumed here, outside hiredis; they may send new
  // commands (appended to the connection) and even complete more, hence the loop.
  void drain() {
    while (!done_.empty()) {
      spare_.swap(done_);
      for (auto& c : spare_) {
        // A caller on this thread's io_context (the usual case) is resumed right here, which is
        // what dispatch would do, without its type-erased detour and allocation.
        auto ex = asio::get_associated_executor(c.handler);  // must outlive `io`
        auto* io = ex.template target<asio::io_context::executor_type>();
        if (io && io->running_in_this_thread())
          std::move(c.handler)(c.ec, std::move(c.result));
        else
          asio::dispatch(asio::append(std::move(c.handler), c.ec, std::move(c.result)));
      }
      spare_.clear();
    }
  }

  void schedule_drain() {
    if (drain_posted_) return;
    drain_posted_ = true;
    asio::post(ex_, [self = shared_from_this()] {
      self->drain_posted_ = false;
      self->drain();
    });
  }

  // --- deadlines -------------------------------------------------------------------------------

  void arm_deadline(clock_type::time_point at) {
    if (deadline_armed_ && at >= deadline_at_) return;
    deadline_armed_ = true;
    deadline_at_ = at;
    deadline_timer_.expires_at(at);
    deadline_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec == asio::error::operation_aborted) return;
      self->deadline_armed_ = false;
      self->expire_overdue();
    });
  }

  // A connection that received bytes within ping_timeout is alive, however long the reply it is
  // receiving (a read of large jobs) keeps the commands behind it waiting: their deadlines, and
  // the watchdog's, wait for it.
  bool receiving(clock_type::time_point now) const {
    return ctx_ && now - last_read_ < config_.ping_timeout;
  }

  void expire_overdue() {
    auto now = clock_type::now();
    if (receiving(now)) {
      arm_deadline(last_read_ + config_.ping_timeout);
      return;
    }
    auto next = clock_type::time_point::max();
    for (pending* p : in_flight_) {
      if (p->abandoned) continue;
      if (p->deadline <= now) {
        p->abandoned = true;
        ++stats_.timeouts;
        if (config_.command_latency) config_.command_latency->observe(now - p->sent);
        done_.push_back({std::move(p->handler), make_error_code(errc::timeout), {}});
      } else if (p->deadline < next) {
        next = p->deadline;
      }
    }
    if (next != clock_type::time_point::max()) arm_deadline(next);
    drain();
  }

  // --- connection ------------------------------------------------------------------------------

  void connect() {
    state_ = connection_state::connecting;
    if (endpoint_.kind == endpoint::transport::unix_socket) return open(endpoint_.path);
    if (endpoint_.kind == endpoint::transport::sentinel) {
      std::string why;
      if (!ask_sentinels(why)) {
        report_failure(why);
        state_ = connection_state::disconnected;
        return retry_later();
      }
      return open(primary_host_);
    }
    error_code ec;
    (void)asio::ip::make_address(endpoint_.host, ec);
    if (!ec) return open(endpoint_.host);
    // A host name: hiredis would resolve it with a blocking getaddrinfo on this thread, which
    // also serves every other caller; Asio resolves it off the loop. IPv4 first, as hiredis.
    resolver_.async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [self = shared_from_this()](error_code ec, asio::ip::tcp::resolver::results_type found) {
          if (self->state_ != connection_state::connecting) return;  // stopped meanwhile
          if (ec || found.empty()) {
            self->report_failure("cannot resolve " + self->endpoint_.host + ": "
                                 + (ec ? ec.message() : "no address"));
            self->state_ = connection_state::disconnected;
            return self->retry_later();
          }
          auto chosen = found.begin()->endpoint().address();
          for (const auto& e : found) {
            if (e.endpoint().address().is_v4()) {
              chosen = e.endpoint().address();
              break;
            }
          }
          self->open(chosen.to_string());
        });
  }

  // Asks the sentinels, in turn (the one that answered last first), where the primary is, until
  // a majority of them answered (or all were asked), and believes the answer of the highest
  // config epoch: a sentinel that has not yet heard of a failover names the old primary, which
  // may be back, empty, as a primary for a moment (writes there would be lost). Sets
  // primary_host_ and primary_port_. Synchronous, each sentinel given at most 500 ms (or the
  // connect timeout when shorter): this runs only when (re)connecting.
  bool ask_sentinels(std::string& why) {
    auto limit = std::min<std::chrono::milliseconds>(config_.connect_timeout,
                                                     std::chrono::milliseconds(500));
    timeval tv{static_cast<time_t>(limit.count() / 1000),
               static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
    const auto n = endpoint_.sentinels.size();
    std::size_t answered = 0, best_sentinel = 0;
    bool found = false;
    long long best_epoch = 0;
    std::string best_host;
    unsigned short best_port = 0;
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t i = (sentinel_first_ + k) % n;
      const auto& s = endpoint_.sentinels[i];
      std::string where = s.host + ":" + std::to_string(s.port);
      redisContext* c = redisConnectWithTimeout(s.host.c_str(), s.port, tv);
      auto fail = [&](const std::string& what) {
        why += (why.empty() ? "" : "; ") + std::string("sentinel ") + where + ": " + what;
      };
      if (!c || c->err) {
        fail(c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        continue;
      }
      redisSetTimeout(c, tv);
      auto run = [&](std::vector<std::string> args) -> redisReply* {
        std::vector<const char*> argv;
        std::vector<size_t> lens;
        for (const auto& a : args) {
          argv.push_back(a.data());
          lens.push_back(a.size());
        }
        return static_cast<redisReply*>(
            redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
      };
      bool ok = true;
      if (!endpoint_.sentinel_password.empty()) {
        redisReply* r = run({"AUTH", endpoint_.sentinel_password});
        if (!r || r->type == REDIS_REPLY_ERROR) {
          fail(r ? std::string("AUTH: ") + r->str : c->errstr);
          ok = false;
        }
        if (r) freeReplyObject(r);
      }
      if (ok) {
        // SENTINEL MASTER: field, value, ... with ip, port and config-epoch among them.
        redisReply* r = run({"SENTINEL", "MASTER", endpoint_.master_name});
        if (!r) {
          fail(c->errstr);
        } else if (r->type == REDIS_REPLY_ARRAY) {
          std::string ip, port, epoch;
          for (std::size_t f = 0; f + 1 < r->elements; f += 2) {
            std::string_view name(r->element[f]->str ? r->element[f]->str : "",
                                  r->element[f]->str ? r->element[f]->len : 0);
            const redisReply* v = r->element[f + 1];
            std::string value = v->str ? std::string(v->str, v->len) : std::string();
            if (name == "ip")
              ip = value;
            else if (name == "port")
              port = value;
            else if (name == "config-epoch")
              epoch = value;
          }
          if (ip.empty() || port.empty()) {
            fail("knows no primary named \"" + endpoint_.master_name + "\"");
          } else {
            long long e = std::atoll(epoch.c_str());
            if (!found || e > best_epoch) {
              found = true;
              best_epoch = e;
              best_host = ip;
              best_port = static_cast<unsigned short>(std::atoi(port.c_str()));
              best_sentinel = i;
            }
            ++answered;
          }
        } else if (r->type == REDIS_REPLY_ERROR) {
          std::string text(r->str, r->len);
          fail(text.find("No such master") != std::string::npos
                   ? "knows no primary named \"" + endpoint_.master_name + "\""
                   : text);
        } else {
          fail("knows no primary named \"" + endpoint_.master_name + "\"");
        }
        if (r) freeReplyObject(r);
      }
      redisFree(c);
      if (answered > n / 2) break;
    }
    if (!found) return false;
    primary_host_ = best_host;
    primary_port_ = best_port;
    sentinel_first_ = best_sentinel;
    return true;
  }

  // Connects to `address`: an IP literal, or the unix socket's path.
  void open(const std::string& address) {
    const unsigned short port =
        endpoint_.kind == endpoint::transport::sentinel ? primary_port_ : endpoint_.port;
    redisAsyncContext* ac = endpoint_.kind == endpoint::transport::unix_socket
                                ? redisAsyncConnectUnix(address.c_str())
                                : redisAsyncConnect(address.c_str(), port);
    if (!ac || ac->err) {
      report_failure(ac ? ac->errstr : "out of memory");
      if (ac) redisAsyncFree(ac);
      state_ = connection_state::disconnected;
      return retry_later();
    }
    ctx_ = ac;
    ++generation_;
    reading_ = writing_ = false;
    unflushed_ = 0;
    ac->data = this;
    socket_.assign(ac->c.fd);
    ac->ev.data = this;
    ac->ev.addRead = [](void* self) { static_cast<connection*>(self)->want_read(); };
    ac->ev.delRead = [](void*) {};
    ac->ev.addWrite = [](void* self) { static_cast<connection*>(self)->want_write(); };
    ac->ev.delWrite = [](void*) {};
    ac->ev.cleanup = [](void* self) { static_cast<connection*>(self)->on_cleanup(); };
    // The hooks must be in place first: this asks for write-readiness at once.
    redisAsyncSetConnectCallback(ac, &connection::on_connect);
    handshake();

    connect_timer_.expires_after(config_.connect_timeout);
    connect_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
      if (ec || gen != self->generation_ || self->state_ != connection_state::connecting) return;
      self->report_failure("no answer within "
                           + std::to_string(self->config_.connect_timeout.count())
                           + " ms of connecting");
      self->drop();
    });
  }

  // AUTH, SELECT and CLIENT SETNAME go first; the connection counts as up once they answered.
  void handshake() {
    std::vector<command> steps;
    if (!endpoint_.password.empty()) {
      steps.push_back(endpoint_.user.empty() ? command("AUTH", endpoint_.password)
                                             : command("AUTH", endpoint_.user, endpoint_.password));
    }
    if (endpoint_.db != 0) steps.push_back(command("SELECT", endpoint_.db));
    if (!config_.client_name.empty())
      steps.push_back(command("CLIENT", "SETNAME", config_.client_name));
    // Under Sentinel: the server it named must be the primary still (a failover may be under way).
    const bool sentinel = endpoint_.kind == endpoint::transport::sentinel;
    steps.push_back(sentinel ? command("ROLE") : command("PING"));
    auto gen = generation_;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      bool last = i + 1 == steps.size();
      std::string what(steps[i].name());
      append(
          steps[i],
          [self = shared_from_this(), gen, last, what](error_code ec, reply r) {
            if (gen != self->generation_) return;
            if (ec) {
              if (self->state_ == connection_state::connecting && self->ctx_) {
                self->report_failure(
                    what + " failed: " + (ec == errc::server_error ? r.str() : ec.message()));
                self->drop();
              }
              return;
            }
            if (last && what == "ROLE") {
              std::string role = r.is_array() && !r.as_array().empty() ? r.as_array()[0].str() : "";
              if (role != "master") {
                self->report_failure(self->primary_host_ + ":" + std::to_string(self->primary_port_)
                                     + ", which Sentinel named, is not the primary (ROLE " + role
                                     + ")");
                return self->drop();
              }
            }
            if (last) self->on_ready();
          },
          config_.connect_timeout);
    }
  }

  void on_ready() {
    state_ = connection_state::connected;
    if (ever_connected_) ++stats_.reconnects;
    if (auto note = outage_->connected(id(), clock_type::now()))
      log(*note);
    else if (!ever_connected_)
      spdlog::info("redis: connected to {}", endpoint_.redacted());
    if (endpoint_.kind == endpoint::transport::sentinel) {
      std::string primary = primary_host_ + ":" + std::to_string(primary_port_);
      if (primary != connected_primary_) {
        spdlog::info("redis: {} is at {}, as Sentinel says{}", endpoint_.master_name, primary,
                     connected_primary_.empty() ? "" : " (was " + connected_primary_ + ")");
        connected_primary_ = primary;
      }
    }
    ever_connected_ = true;
    backoff_.reset();
    connect_timer_.cancel();
    schedule_ping();
  }

  static void on_connect(const redisAsyncContext* ac, int status) noexcept {
    auto* self = static_cast<connection*>(ac->data);
    if (status != REDIS_OK) self->report_failure(ac->errstr);
    // On failure hiredis frees the context right after this returns; cleanup notices.
  }

  // hiredis is about to free the context: after this, nothing may touch ctx_ or the descriptor.
  void on_cleanup() {
    if (ctx_ && state_ == connection_state::connected) {
      report_failure("connection lost: "
                     + (ctx_->err              ? std::string(ctx_->errstr)
                        : drop_reason_.empty() ? "closed"
                                               : drop_reason_));
    }
    drop_reason_.clear();
    socket_.release();  // hiredis closes the fd itself; our waits end with operation_aborted
    ctx_ = nullptr;
    ++generation_;
    reading_ = writing_ = false;
    connect_timer_.cancel();
    ping_timer_.cancel();
    ping_in_flight_ = false;
    if (state_ != connection_state::stopped) {
      state_ = connection_state::disconnected;
      retry_later();
    }
  }

  // Frees the context: every command in flight fails at once with connection_lost.
  void drop() {
    if (!ctx_) return;
    redisAsyncFree(ctx_);
    schedule_drain();
  }

  void retry_later() {
    auto delay = backoff_.next(random_());
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && self->state_ == connection_state::disconnected && !self->ctx_) self->connect();
    });
  }

  void stop_now() {
    if (state_ == connection_state::stopped) return;
    state_ = connection_state::stopped;
    outage_->forget(id());
    resolver_.cancel();
    retry_timer_.cancel();
    connect_timer_.cancel();
    ping_timer_.cancel();
    deadline_timer_.cancel();
    deadline_armed_ = false;
    if (ctx_) redisAsyncFree(ctx_);
    // Commands abandoned by their deadline were already answered; any left are failed above.
    schedule_drain();
  }

  // Sentinel announced (or, asked, named) the primary at host:port. A connection to another
  // server drops, and the next one asks the sentinels again; one waiting to reconnect tries now.
  void on_switch(const std::string& host, unsigned short port) {
    if (state_ == connection_state::stopped) return;
    const std::string named = host + ":" + std::to_string(port);
    if (state_ == connection_state::connected) {
      if (named == connected_primary_) return;
      drop_reason_ = "Sentinel moved " + endpoint_.master_name + " to " + named;
      return drop();
    }
    if (state_ == connection_state::disconnected && !ctx_) {
      retry_timer_.cancel();
      backoff_.reset();
      connect();
    }
    // Connecting: ROLE checks the server it is connecting to.
  }

  // Drops the connection (soon, outside hiredis), so that the next one asks the sentinels again.
  void reresolve(const std::string& why) {
    asio::post(ex_, [self = shared_from_this(), gen = generation_, why] {
      if (gen != self->generation_ || self->state_ != connection_state::connected) return;
      self->drop_reason_ = why.substr(0, why.find(' ')) + " from " + self->primary_host_ + ":"
                           + std::to_string(self->primary_port_) + "; asking Sentinel again";
      self->drop();
    });
  }

  // --- outages: one line when Redis goes, a few while it stays away, one when it is back --------

  std::uintptr_t id() const { return reinterpret_cast<std::uintptr_t>(this); }

  void report_failure(const std::string& error) {
    if (auto note = outage_->failed(id(), clock_type::now(), error)) log(*note);
  }

  static void log(const outage_log::note& note) {
    if (note.severity == outage_log::note::level::warn)
      spdlog::warn("{}", note.text);
    else
      spdlog::info("{}", note.text);
  }

  // --- the watchdog ----------------------------------------------------------------------------

  void schedule_ping() {
    ping_timer_.expires_after(config_.ping_interval);
    ping_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
      if (ec || gen != self->generation_ || !self->ctx_) return;
      self->ping();
    });
  }

  void ping() {
    if (ping_in_flight_) return schedule_ping();
    ping_in_flight_ = true;
    command cmd("PING");
    append(
        cmd,
        [self = shared_from_this(), gen = generation_](error_code ec, reply) {
          if (gen != self->generation_) return;
          self->ping_in_flight_ = false;
          if (ec == errc::timeout && !self->receiving(clock_type::now())) {
            self->drop_reason_ = "no answer to PING within "
                                 + std::to_string(self->config_.ping_timeout.count()) + " ms";
            return self->drop();
          }
          self->schedule_ping();
        },
        config_.ping_timeout);
  }

  // --- readiness -------------------------------------------------------------------------------

  void want_read() {
    if (reading_ || !ctx_) return;
    reading_ = true;
    socket_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this(), gen = generation_](error_code ec) {
                         if (gen != self->generation_) return;
                         self->reading_ = false;
                         if (ec || !self->ctx_) return;
                         self->last_read_ = clock_type::now();
                         redisAsyncHandleRead(self->ctx_);
                         self->drain();
                       });
  }

  void want_write() {
    if (writing_ || !ctx_) return;
    writing_ = true;
    socket_.async_wait(asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this(), gen = generation_](error_code ec) {
                         if (gen != self->generation_) return;
                         self->writing_ = false;
                         if (ec || !self->ctx_) return;
                         self->unflushed_ = 0;
                         redisAsyncHandleWrite(self->ctx_);
                         self->drain();
                       });
  }

  asio::any_io_executor ex_;
  client_config config_;
  endpoint endpoint_;
  asio::posix::stream_descriptor socket_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer deadline_timer_, retry_timer_, connect_timer_, ping_timer_;
  backoff backoff_;
  std::mt19937_64 random_;
  outage_log* outage_;
  std::string drop_reason_;  // why drop() was called, for the outage's log
  // Sentinel: the primary it named last, and the sentinel that answered last.
  std::string primary_host_;
  unsigned short primary_port_ = 0;
  std::size_t sentinel_first_ = 0;
  std::string connected_primary_;
  std::mutex watch_mutex_;
  std::uint64_t watch_id_ = 0;  // the sentinel_watch listener; 0: none
  bool unwatched_ = false;      // stopped: never watch again

  redisAsyncContext* ctx_ = nullptr;
  std::uint64_t generation_ = 0;  // bumped with every context; stale handlers compare it
  connection_state state_ = connection_state::disconnected;
  bool ever_connected_ = false;
  bool reading_ = false, writing_ = false;
  bool drain_posted_ = false;
  bool deadline_armed_ = false;
  bool ping_in_flight_ = false;
  clock_type::time_point deadline_at_{};
  clock_type::time_point last_read_{};
  std::size_t unflushed_ = 0;

  std::deque<pending*> in_flight_;  // in the order sent, which is the order answered
  std::vector<completion> done_, spare_;
  std::vector<pending*> free_;
  client::statistics stats_;
};

// --- client --------------------------------------------------------------------------------------

client::client(asio::any_io_executor ex, client_config config) {
  // hiredis writes with plain write(): a server gone away must give EPIPE, not kill the process.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  auto ep = parse_url(config.url);
  if (!ep)
    throw error(errc::invalid_url,
                "invalid Redis URL (expected redis://[[user]:password@]"
                "host:port[/db], unix:///path[?db=N] or redis-sentinel://[user:password@]"
                "host:port,host:port/MASTER_NAME[?db=N&sentinel_password=...])");
  impl_ = std::make_shared<connection>(std::move(ex), std::move(config), std::move(*ep));
}

client::~client() {
  impl_->stop();
}

void client::start() {
  impl_->watch();
  impl_->start();
}
void client::stop() {
  impl_->stop();
}

void client::initiate_exec(command cmd, handler_type handler) {
  if (impl_->on_own_executor()) return impl_->submit(std::move(cmd), std::move(handler));
  asio::post(impl_->executor(),
             [impl = impl_, cmd = std::move(cmd), h = std::move(handler)]() mutable {
               impl->submit(std::move(cmd), std::move(h));
             });
}

asio::awaitable<reply> client::exec(command cmd) {
  auto [ec, r] = co_await async_exec(std::move(cmd), asio::as_tuple(asio::use_awaitable));
  if (ec == errc::server_error) throw error(errc::server_error, r.str());
  if (ec) throw error(ec);
  co_return std::move(r);
}

asio::awaitable<reply> client::eval(const script& s, std::span<const std::string> keys,
                                    std::span<const std::string> args) {
  auto make = [&](std::string_view verb, const std::string& what) {
    command cmd(verb, what, keys.size());
    cmd.args(keys);
    cmd.args(args);
    return cmd;
  };
  auto [ec, r] =
      co_await async_exec(make("EVALSHA", s.sha1()), asio::as_tuple(asio::use_awaitable));
  if (ec == errc::server_error && r.str().starts_with("NOSCRIPT")) {
    std::tie(ec, r) =
        co_await async_exec(make("EVAL", s.source()), asio::as_tuple(asio::use_awaitable));
  }
  if (ec == errc::server_error) throw error(errc::server_error, r.str());
  if (ec) throw error(ec);
  co_return std::move(r);
}

connection_state client::state() const {
  return impl_->state();
}
const client_config& client::config() const {
  return impl_->config();
}
asio::any_io_executor client::get_executor() const {
  return impl_->executor();
}
client::statistics client::stats() const {
  return impl_->stats();
}

}  // namespace herald::redis
