// The engine behind herald::outbound::http_client: one curl multi handle driven by an Asio
// executor, after curl's docs/examples/asiohiper.cpp, with the pitfalls of that example handled:
//
// - Sockets are ours: curl opens and closes them through open_socket / close_socket, and each is
//   an Asio descriptor registered with the reactor until close_socket deregisters it.
// - CURL_POLL_REMOVE only means "no interest for now": the connection goes back to curl's pool,
//   so the descriptor stays open and registered. Only close_socket closes it.
// - A REMOVE for a descriptor already closed is ignored; an event for a closed descriptor (curl
//   issues #5090, #14976) is ignored too: the wait handlers hold a weak_ptr to the watched
//   socket, which close_socket destroys, and check `closed` after every call into curl.
// - Descriptors curl did not open through us (the threaded resolver's wake-up socket pair) are
//   watched through a duplicate, so curl closing its number, before the REMOVE arrives or not,
//   never disturbs a registration of ours.
// - Asio's epoll reactor is edge-triggered: after curl handled a read event and still wants to
//   read, a zero-timeout poll tells whether bytes are left, and if so curl is called again
//   instead of waiting for an edge that would not come.
// - Nothing is called back from inside curl: curl's callbacks only record and arm waits, and
//   every completion is posted to the caller's executor after curl has returned.
#include "herald/outbound/http_client.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <strings.h>
#include <boost/asio/append.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <stdexcept>
#include <unordered_map>

namespace herald::outbound {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

void curl_global() {
  // curl_global_init is not thread-safe; a function-local static runs it once, before any use.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    throw std::runtime_error(std::string("http client: curl_global_init failed: ")
                             + curl_easy_strerror(rc));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty()
         && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// `sent`: curl had a connection and was about to send the request (CURLOPT_PREREQFUNCTION ran).
errc classify(CURLcode code, bool too_large, bool sent) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
      return errc::invalid_request;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return errc::dns;
    case CURLE_COULDNT_CONNECT:
    case CURLE_PROXY:
      return errc::connect_failed;
    case CURLE_OPERATION_TIMEDOUT:
      return sent ? errc::timeout : errc::connect_timeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return errc::tls;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
      return errc::connection_dropped;
    case CURLE_FILESIZE_EXCEEDED:
      return errc::too_large;
    case CURLE_WRITE_ERROR:
      return too_large ? errc::too_large : errc::other;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
      return errc::protocol;
    default:
      return too_large ? errc::too_large : errc::other;
  }
}

bool has_header(const std::vector<http_header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return true;
  return false;
}

bool clean_field(std::string_view s) {
  return s.find_first_of("\r\n", 0) == std::string_view::npos
         && s.find('\0') == std::string_view::npos;
}

}  // namespace

class http_client::engine : public std::enable_shared_from_this<engine> {
 public:
  engine(asio::any_io_executor ex, http_client_config config)
      : ex_(std::move(ex)), config_(std::move(config)), timer_(ex_) {
    curl_global();
    multi_ = curl_multi_init();
    if (!multi_) throw std::runtime_error("http client: curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &engine::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &engine::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    std::size_t idle = config_.max_idle_connections ? config_.max_idle_connections
                                                    : config_.max_concurrent_requests;
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(idle));
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(config_.max_host_connections));
  }

  ~engine() { teardown(); }
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  const asio::any_io_executor& executor() const { return ex_; }
  const http_client_config& config() const { return config_; }

  bool on_own_executor() const {
    if (auto* io = ex_.target<asio::io_context::executor_type>())
      return io->running_in_this_thread();
    return false;
  }

  void submit(http_request req, handler_type handler) {
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    if (!multi_) return fail(std::move(handler), errc::stopped, false, {});
    if (active_.size() < config_.max_concurrent_requests && queue_.empty())
      return start(std::move(req), std::move(handler));
    queue_.emplace_back(std::move(req), std::move(handler));
    counters_.queued.store(queue_.size(), std::memory_order_relaxed);
  }

  // Fails everything outstanding with errc::stopped and frees every handle and socket. After
  // this the engine only refuses. Idempotent.
  void teardown() {
    if (!multi_) return;
    CURLM* multi = multi_;
    multi_ = nullptr;  // from here on, late handlers and new requests see a stopped engine
    timer_.cancel();
    auto queued = std::move(queue_);
    queue_.clear();
    counters_.queued.store(0, std::memory_order_relaxed);
    auto active = std::move(active_);
    active_.clear();
    for (transfer* t : active) {
      curl_multi_remove_handle(multi, t->easy);
      fail(std::move(t->handler), errc::stopped, t->sent, {});
      destroy(t);
    }
    counters_.in_flight.store(0, std::memory_order_relaxed);
    for (auto& q : queued) fail(std::move(q.handler), errc::stopped, false, {});
    for (transfer* t : free_) destroy(t);
    free_.clear();
    curl_multi_cleanup(multi);  // closes the pooled connections, through close_socket
    for (auto& [fd, s] : sockets_) {
      s->closed = true;
      error_code ignored;
      s->desc.close(ignored);
    }
    sockets_.clear();
  }

  http_client::statistics stats() const {
    http_client::statistics s;
    s.requests = counters_.requests.load(std::memory_order_relaxed);
    s.responses = counters_.responses.load(std::memory_order_relaxed);
    s.connections_opened = counters_.connections.load(std::memory_order_relaxed);
    s.in_flight = counters_.in_flight.load(std::memory_order_relaxed);
    s.queued = counters_.queued.load(std::memory_order_relaxed);
    s.peak_in_flight = counters_.peak.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < errc_count; ++i)
      s.errors[i] = counters_.errors[i].load(std::memory_order_relaxed);
    return s;
  }

 private:
  // One request handed to curl. Its request strings stay here while curl uses them.
  struct transfer {
    engine* owner = nullptr;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    http_request request;
    http_response response;
    handler_type handler;
    std::size_t index = 0;  // in active_
    std::size_t header_bytes = 0;
    bool sent = false;
    bool too_large = false;
    char error[CURL_ERROR_SIZE] = {};
  };

  // A descriptor curl asked us to watch. For ours, `desc` owns curl's descriptor; for a foreign
  // one, a duplicate of it.
  struct watched_socket {
    watched_socket(engine* e, curl_socket_t n, const asio::any_io_executor& ex, bool mine)
        : owner(e), fd(n), desc(ex), owned(mine) {}
    engine* owner;
    curl_socket_t fd;  // curl's number
    asio::posix::stream_descriptor desc;
    bool owned;
    bool closed = false;
    int want = 0;  // CURL_POLL_IN/OUT/INOUT, or 0
    bool reading = false, writing = false;
    int rereads = 0;  // calls in a row on bytes left unread (see on_ready)
  };

  struct queued_request {
    queued_request(http_request r, handler_type h) : req(std::move(r)) { handler.swap(h); }
    http_request req;
    handler_type handler;
  };

  struct counters {
    std::atomic<std::uint64_t> requests{0}, responses{0}, connections{0}, in_flight{0}, queued{0},
        peak{0};
    std::array<std::atomic<std::uint64_t>, errc_count> errors{};
  };

  // --- requests --------------------------------------------------------------------------------

  void start(http_request req, handler_type handler) {
    for (const auto& h : req.headers) {
      if (h.name.empty() || !clean_field(h.name) || !clean_field(h.value)
          || h.name.find(':') != std::string::npos)
        return fail(std::move(handler), errc::invalid_request, false,
                    "header \"" + h.name + "\": a name or value with a colon, CR, LF or NUL");
    }
    if (!clean_field(req.url) || !clean_field(req.method) || req.method.empty())
      return fail(std::move(handler), errc::invalid_request, false, "bad URL or method");

    transfer* t = acquire();
    t->request = std::move(req);
    t->handler.swap(handler);  // not operator=: Boost 1.81's move assignment recurses
    if (!configure(t)) {
      handler.swap(t->handler);
      release(t);
      return fail(std::move(handler), errc::other, false, "cannot set up the request");
    }
    CURLMcode rc = curl_multi_add_handle(multi_, t->easy);
    if (rc != CURLM_OK) {
      handler.swap(t->handler);
      release(t);
      return fail(std::move(handler), errc::other, false, curl_multi_strerror(rc));
    }
    t->index = active_.size();
    active_.push_back(t);
    auto n = active_.size();
    counters_.in_flight.store(n, std::memory_order_relaxed);
    if (n > counters_.peak.load(std::memory_order_relaxed))
      counters_.peak.store(n, std::memory_order_relaxed);
  }

  bool configure(transfer* t) {
    CURL* e = t->easy;
    const auto& r = t->request;
    bool ok = true;
    auto set = [&](CURLoption opt, auto value) {
      if (curl_easy_setopt(e, opt, value) != CURLE_OK) ok = false;
    };
    set(CURLOPT_PRIVATE, static_cast<void*>(t));
    set(CURLOPT_URL, r.url.c_str());
    set(CURLOPT_ERRORBUFFER, t->error);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout.count()));
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(config_.request_timeout.count()));
    set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(config_.max_response_body));
    set(CURLOPT_WRITEFUNCTION, &engine::on_body);
    set(CURLOPT_WRITEDATA, static_cast<void*>(t));
    set(CURLOPT_HEADERFUNCTION, &engine::on_header);
    set(CURLOPT_HEADERDATA, static_cast<void*>(t));
    set(CURLOPT_PREREQFUNCTION, &engine::on_prereq);
    set(CURLOPT_PREREQDATA, static_cast<void*>(t));
    set(CURLOPT_OPENSOCKETFUNCTION, &engine::open_socket);
    set(CURLOPT_OPENSOCKETDATA, static_cast<void*>(this));
    set(CURLOPT_CLOSESOCKETFUNCTION, &engine::close_socket);
    set(CURLOPT_CLOSESOCKETDATA, static_cast<void*>(this));
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    if (!config_.ca_file.empty()) set(CURLOPT_CAINFO, config_.ca_file.c_str());
    if (!config_.proxy.empty()) set(CURLOPT_PROXY, config_.proxy.c_str());
    if (!config_.user_agent.empty() && !has_header(r.headers, "User-Agent"))
      set(CURLOPT_USERAGENT, config_.user_agent.c_str());

    bool with_body = !r.body.empty() || iequals(r.method, "POST") || iequals(r.method, "PUT")
                     || iequals(r.method, "PATCH");
    if (iequals(r.method, "HEAD")) {
      set(CURLOPT_NOBODY, 1L);
    } else if (with_body) {
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      set(CURLOPT_POSTFIELDS, r.body.data());
      if (r.method != "POST") set(CURLOPT_CUSTOMREQUEST, r.method.c_str());
    } else if (r.method == "GET") {
      set(CURLOPT_HTTPGET, 1L);
    } else {
      set(CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }

    auto append = [&](const std::string& line) {
      curl_slist* next = curl_slist_append(t->headers, line.c_str());
      if (!next) {
        ok = false;
        return;
      }
      t->headers = next;
    };
    for (const auto& h : r.headers)
      append(h.value.empty() ? h.name + ";" : h.name + ": " + h.value);
    // curl would add "Content-Type: application/x-www-form-urlencoded" to a body, and
    // "Expect: 100-continue" to a large one (a round trip of delay); neither unless asked.
    if (with_body && !has_header(r.headers, "Content-Type")) append("Content-Type:");
    if (with_body && !has_header(r.headers, "Expect")) append("Expect:");
    if (t->headers) set(CURLOPT_HTTPHEADER, t->headers);
    return ok;
  }

  // The response is recorded by the time curl reports the transfer done; the caller's handler
  // runs later, on its own executor.
  void finish(transfer* t, CURLcode code) {
    CURL* e = t->easy;
    auto& res = t->response;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    long connects = 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    curl_off_t total_us = 0;
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total_us);
    res.status = static_cast<int>(status);
    res.elapsed = std::chrono::microseconds(total_us);
    res.request_sent = t->sent;
    if (connects > 0) counters_.connections.fetch_add(connects, std::memory_order_relaxed);
    if (code == CURLE_OK) {
      counters_.responses.fetch_add(1, std::memory_order_relaxed);
    } else {
      errc kind = classify(code, t->too_large, t->sent);
      res.error = make_error_code(kind);
      res.error_message = t->error[0] ? std::string(t->error) : curl_easy_strerror(code);
      if (t->too_large && res.error_message.empty()) res.error_message = "response too large";
      count_error(kind);
      if (kind == errc::too_large) res.body.clear();
    }
    curl_multi_remove_handle(multi_, e);
    remove_active(t);
    complete(std::move(t->handler), std::move(res));
    release(t);
  }

  void remove_active(transfer* t) {
    transfer* last = active_.back();
    active_[t->index] = last;
    last->index = t->index;
    active_.pop_back();
    counters_.in_flight.store(active_.size(), std::memory_order_relaxed);
  }

  // Reads what curl finished, then lets queued requests take the freed places.
  void drain() {
    if (!multi_) return;
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL* e = m->easy_handle;
      CURLcode code = m->data.result;
      char* p = nullptr;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, &p);
      finish(reinterpret_cast<transfer*>(p), code);
    }
    while (multi_ && !queue_.empty() && active_.size() < config_.max_concurrent_requests) {
      queued_request q = std::move(queue_.front());
      queue_.pop_front();
      counters_.queued.store(queue_.size(), std::memory_order_relaxed);
      start(std::move(q.req), std::move(q.handler));
    }
  }

  void count_error(errc kind) {
    counters_.errors[static_cast<std::size_t>(kind) - 1].fetch_add(1, std::memory_order_relaxed);
  }

  void fail(handler_type handler, errc kind, bool sent, std::string message) {
    count_error(kind);
    http_response res;
    res.error = make_error_code(kind);
    res.error_message = message.empty() ? res.error.message() : std::move(message);
    res.request_sent = sent;
    complete(std::move(handler), std::move(res));
  }

  // Never inline: the caller may be resumed only after curl and this engine have returned.
  // From a fresh turn of this executor, the handler runs on its own (at once when that is this
  // thread's io_context).
  void complete(handler_type handler, http_response res) {
    asio::post(ex_, [h = std::move(handler), r = std::move(res)]() mutable {
      asio::dispatch(asio::append(std::move(h), std::move(r)));
    });
  }

  transfer* acquire() {
    if (!free_.empty()) {
      transfer* t = free_.back();
      free_.pop_back();
      return t;
    }
    auto* t = new transfer;
    t->owner = this;
    t->easy = curl_easy_init();
    if (!t->easy) {
      delete t;
      throw std::bad_alloc();
    }
    return t;
  }

  void release(transfer* t) {
    curl_slist_free_all(t->headers);
    t->headers = nullptr;
    t->request = {};
    t->response = {};
    t->header_bytes = 0;
    t->sent = t->too_large = false;
    t->error[0] = '\0';
    if (free_.size() >= config_.max_concurrent_requests) return destroy(t);
    curl_easy_reset(t->easy);  // keeps the connection pool, DNS and TLS session caches
    free_.push_back(t);
  }

  static void destroy(transfer* t) {
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    delete t;
  }

  // --- curl's callbacks: they record, never complete anything ---------------------------------

  static size_t on_body(char* data, size_t size, size_t n, void* userdata) noexcept {
    auto* t = static_cast<transfer*>(userdata);
    std::size_t len = size * n;
    auto& body = t->response.body;
    if (len > t->owner->config_.max_response_body - body.size()) {
      t->too_large = true;
      return 0;  // != len: curl fails the transfer with CURLE_WRITE_ERROR
    }
    try {
      if (body.empty()) {
        curl_off_t expected = -1;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
        if (expected > 0) body.reserve(static_cast<std::size_t>(expected));
      }
      body.append(data, len);
    } catch (...) {
      return 0;
    }
    return len;
  }

  static size_t on_header(char* data, size_t size, size_t n, void* userdata) noexcept {
    auto* t = static_cast<transfer*>(userdata);
    std::size_t len = size * n;
    t->header_bytes += len;
    if (t->header_bytes > t->owner->config_.max_response_headers) {
      t->too_large = true;
      return 0;
    }
    try {
      std::string_view line(data, len);
      auto& headers = t->response.headers;
      if (line.starts_with("HTTP/")) {
        headers.clear();  // a new response: the final one after a 1xx
      } else if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
        auto more = trim(line);
        if (!headers.empty() && !more.empty()) {
          headers.back().value += ' ';
          headers.back().value += more;
        }
      } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
        headers.push_back(
            {std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
      }
    } catch (...) {
      return 0;
    }
    return len;
  }

  static int on_prereq(void* userdata, char*, char*, int, int) noexcept {
    static_cast<transfer*>(userdata)->sent = true;
    return CURL_PREREQFUNC_OK;
  }

  static curl_socket_t open_socket(void* clientp, curlsocktype, curl_sockaddr* address) noexcept {
    auto* self = static_cast<engine*>(clientp);
    int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    try {
      // A foreign descriptor that had this number is closed by now: forget its duplicate.
      if (auto it = self->sockets_.find(fd); it != self->sockets_.end()) self->forget(it);
      auto s = std::make_shared<watched_socket>(self, fd, self->ex_, true);
      s->desc.assign(fd);
      self->sockets_.emplace(fd, std::move(s));
    } catch (...) {
      ::close(fd);
      return CURL_SOCKET_BAD;
    }
    return fd;
  }

  static int close_socket(void* clientp, curl_socket_t fd) noexcept {
    auto* self = static_cast<engine*>(clientp);
    auto it = self->sockets_.find(fd);
    if (it == self->sockets_.end() || !it->second->owned) {
      ::close(fd);  // not registered with us (should not happen): curl still wants it closed
      return 0;
    }
    auto s = std::move(it->second);
    self->sockets_.erase(it);
    s->closed = true;
    s->want = 0;
    error_code ignored;
    s->desc.close(ignored);  // deregisters, then closes; pending waits end with operation_aborted
    return 0;
  }

  static int on_socket(CURL*, curl_socket_t fd, int what, void* clientp, void*) noexcept {
    try {
      static_cast<engine*>(clientp)->watch(fd, what);
    } catch (const std::exception& e) {
      spdlog::error("http client: cannot watch descriptor {}: {}", fd, e.what());
      return -1;
    }
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* clientp) noexcept {
    auto* self = static_cast<engine*>(clientp);
    if (timeout_ms < 0) {
      self->timer_.cancel();
      return 0;
    }
    if (timeout_ms == 0) {
      // "Act at once" (curl asks it on every curl_multi_add_handle): posted, not a timer. A
      // timer due now becomes the reactor's earliest and costs two timerfd_settime calls, which
      // was a fifth of heraldd's CPU at one request per message. One post serves every "at
      // once" asked before it runs.
      self->timer_.cancel();
      if (!self->act_posted_) {
        self->act_posted_ = true;
        asio::post(self->ex_, [w = self->weak_from_this()] {
          auto live = w.lock();
          if (!live) return;
          live->act_posted_ = false;
          if (!live->multi_) return;
          live->act(CURL_SOCKET_TIMEOUT, 0);
          live->drain();
        });
      }
      return 0;
    }
    self->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    self->timer_.async_wait([w = self->weak_from_this()](error_code ec) {
      if (ec) return;
      auto live = w.lock();
      if (!live || !live->multi_) return;
      live->act(CURL_SOCKET_TIMEOUT, 0);
      live->drain();
    });
    return 0;
  }

  // --- readiness -------------------------------------------------------------------------------

  void watch(curl_socket_t fd, int what) {
    auto it = sockets_.find(fd);
    if (what == CURL_POLL_REMOVE) {
      if (it == sockets_.end()) return;  // closed already: the REMOVE came after close_socket
      it->second->want = 0;
      // Ours stays open and registered: the connection went back to curl's pool.
      if (!it->second->owned) forget(it);
      return;
    }
    std::shared_ptr<watched_socket> s;
    if (it != sockets_.end() && !it->second->owned && !same_file(fd, it->second->desc)) {
      forget(it);  // a foreign number closed and reused without a REMOVE between
      it = sockets_.end();
    }
    if (it == sockets_.end()) {
      int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) throw std::runtime_error("cannot duplicate curl's descriptor");
      s = std::make_shared<watched_socket>(this, fd, ex_, false);
      error_code ec;
      s->desc.assign(copy, ec);
      if (ec) {
        ::close(copy);
        throw boost::system::system_error(ec);
      }
      sockets_.emplace(fd, s);
    } else {
      s = it->second;
    }
    s->want = what;
    arm(s);
  }

  static bool same_file(curl_socket_t fd, asio::posix::stream_descriptor& desc) {
    struct stat a {
    }, b{};
    if (::fstat(fd, &a) != 0 || ::fstat(desc.native_handle(), &b) != 0) return false;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  }

  void forget(std::unordered_map<curl_socket_t, std::shared_ptr<watched_socket>>::iterator it) {
    auto s = std::move(it->second);
    sockets_.erase(it);
    s->closed = true;
    s->want = 0;
    error_code ignored;
    s->desc.close(ignored);
  }

  void arm(const std::shared_ptr<watched_socket>& s) {
    if ((s->want & CURL_POLL_IN) && !s->reading) {
      s->reading = true;
      s->desc.async_wait(asio::posix::descriptor_base::wait_read,
                         [w = std::weak_ptr<watched_socket>(s)](error_code ec) {
                           if (auto live = w.lock())
                             live->owner->on_ready(live, CURL_CSELECT_IN, ec);
                         });
    }
    if ((s->want & CURL_POLL_OUT) && !s->writing) {
      s->writing = true;
      s->desc.async_wait(asio::posix::descriptor_base::wait_write,
                         [w = std::weak_ptr<watched_socket>(s)](error_code ec) {
                           if (auto live = w.lock())
                             live->owner->on_ready(live, CURL_CSELECT_OUT, ec);
                         });
    }
  }

  void on_ready(std::shared_ptr<watched_socket> s, int direction, error_code ec) {
    (direction == CURL_CSELECT_IN ? s->reading : s->writing) = false;
    if (s->closed || !multi_ || ec == asio::error::operation_aborted) return;
    int wanted = direction == CURL_CSELECT_IN ? CURL_POLL_IN : CURL_POLL_OUT;
    if (!(s->want & wanted)) return;  // curl lost interest meanwhile; it re-asks when it needs
    act(s->fd, ec ? CURL_CSELECT_ERR : direction);
    if (!s->closed) {
      // Edge-triggered: bytes curl left unread would raise no new event. Call it again for them
      // (a few times in a row at most), after whatever else is ready.
      if (direction == CURL_CSELECT_IN && (s->want & CURL_POLL_IN) && !s->reading && s->rereads < 8
          && readable(*s)) {
        ++s->rereads;
        s->reading = true;
        asio::post(ex_, [w = std::weak_ptr<watched_socket>(s)] {
          if (auto live = w.lock()) live->owner->on_ready(live, CURL_CSELECT_IN, {});
        });
      } else {
        if (direction == CURL_CSELECT_IN) s->rereads = 0;
        arm(s);
      }
    }
    drain();
  }

  static bool readable(watched_socket& s) {
    pollfd p{s.desc.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
  }

  void act(curl_socket_t fd, int flags) {
    int running = 0;
    CURLMcode rc = curl_multi_socket_action(multi_, fd, flags, &running);
    if (rc != CURLM_OK && rc != CURLM_BAD_SOCKET)
      spdlog::error("http client: curl_multi_socket_action: {}", curl_multi_strerror(rc));
  }

  asio::any_io_executor ex_;
  http_client_config config_;
  asio::steady_timer timer_;
  bool act_posted_ = false;  // an "act at once" (a zero timeout) is posted
  CURLM* multi_ = nullptr;   // null once stopped
  std::unordered_map<curl_socket_t, std::shared_ptr<watched_socket>> sockets_;
  std::vector<transfer*> active_;
  std::vector<transfer*> free_;
  std::deque<queued_request> queue_;
  counters counters_;
};

// --- http_client ---------------------------------------------------------------------------------

namespace {

http_client_config checked(http_client_config c) {
  auto bad = [](const char* field, const char* why) {
    throw std::invalid_argument(std::string("http client: ") + field + " " + why);
  };
  if (c.connect_timeout.count() <= 0) bad("connect_timeout", "must be positive");
  if (c.request_timeout.count() <= 0) bad("request_timeout", "must be positive");
  if (c.max_concurrent_requests == 0) bad("max_concurrent_requests", "must be at least 1");
  if (c.max_response_body == 0) bad("max_response_body", "must be at least 1");
  if (c.max_response_headers == 0) bad("max_response_headers", "must be at least 1");
  return c;
}

}  // namespace

http_client::http_client(asio::any_io_executor ex, http_client_config config)
    : impl_(std::make_shared<engine>(std::move(ex), checked(std::move(config)))) {}

http_client::~http_client() {
  impl_->teardown();
}

void http_client::initiate_request(http_request req, handler_type handler) {
  if (impl_->on_own_executor()) return impl_->submit(std::move(req), std::move(handler));
  asio::post(impl_->executor(),
             [impl = impl_, req = std::move(req), h = std::move(handler)]() mutable {
               impl->submit(std::move(req), std::move(h));
             });
}

// request() and shutdown() return the awaitable instead of awaiting it in a coroutine of their
// own: GCC 12 destroys some temporaries of a co_await expression twice (a lambda capturing a
// shared_ptr, here), which ASan caught as a use after free.
asio::awaitable<http_response> http_client::request(http_request req) {
  return async_request(std::move(req), asio::use_awaitable);
}

void http_client::stop() {
  if (impl_->on_own_executor()) return impl_->teardown();
  asio::post(impl_->executor(), [impl = impl_] { impl->teardown(); });
}

namespace {

template <class Engine>
struct shutdown_initiation {
  std::shared_ptr<Engine> impl;
  template <class Handler>
  void operator()(Handler handler) {
    auto ex = impl->executor();
    asio::post(ex, [e = std::move(impl), h = std::move(handler)]() mutable {
      e->teardown();
      // Posted after the completions teardown posted, so it resumes after them.
      asio::post(std::move(h));
    });
  }
};

}  // namespace

asio::awaitable<void> http_client::shutdown() {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      shutdown_initiation<engine>{impl_}, asio::use_awaitable);
}

http_client::statistics http_client::stats() const {
  return impl_->stats();
}

const http_client_config& http_client::config() const {
  return impl_->config();
}

asio::any_io_executor http_client::get_executor() const {
  return impl_->executor();
}

}  // namespace herald::outbound
