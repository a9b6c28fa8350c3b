#include "herald/http/server.hpp"

#include "herald/http/request_checks.hpp"
#include "herald/metrics/registry.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <deque>

namespace herald::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Bytes asked of the socket when waiting for the first byte of a request.
constexpr std::size_t first_read_size = 4096;

// How long a client refused over a connection cap has to send its request's header: a probe
// of a health path is answered, anything else gets 503.
constexpr std::chrono::milliseconds refusal_read_timeout{1000};

using clock_type = std::chrono::steady_clock;

// The route label of a request no route has (a 404, or one refused before it could be routed).
constexpr std::string_view unrouted = "other";

struct connection {
  connection(tcp::socket socket, asio::ip::address address, bool refused, const router& routes)
      : executor_(socket.get_executor()),
        stream_(std::move(socket)),
        address_(std::move(address)),
        refused_(refused),
        routes_(routes) {}
  const asio::any_io_executor executor_;  // a strand of its own, on its lane's executor
  beast::tcp_stream stream_;
  const asio::ip::address address_;
  const bool refused_;    // accepted over a cap only to be answered 503 (or a health probe)
  const router& routes_;  // its lane's
  // Waiting for the first byte of a request, or draining before close: nothing the client awaits
  // an answer to is in progress, so stop() or a newcomer over a cap may cut the connection at
  // once. Written on the connection's strand, read on the server's.
  std::atomic<bool> idle_{false};
  std::atomic<clock_type::rep> idle_since_{0};
  bool evicting_ = false;  // the server's strand only: already chosen to make room

  void set_idle(bool idle) {
    if (idle) idle_since_ = clock_type::now().time_since_epoch().count();
    idle_ = idle;
  }
};

// The bytes of request bodies one request holds, counted in the server's total for as long as
// this lives.
class body_hold {
 public:
  body_hold(std::atomic<std::size_t>& total, std::size_t limit) : total_(total), limit_(limit) {}
  ~body_hold() { total_ -= bytes_; }
  body_hold(const body_hold&) = delete;
  body_hold& operator=(const body_hold&) = delete;

  // Counts `n` more bytes; false, counting nothing, when the total would pass the limit.
  bool add(std::size_t n) {
    std::size_t current = total_.load();
    do {
      if (limit_ != 0 && (n > limit_ || current > limit_ - n)) return false;
    } while (!total_.compare_exchange_weak(current, current + n));
    bytes_ += n;
    return true;
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::atomic<std::size_t>& total_;
  const std::size_t limit_;
  std::size_t bytes_ = 0;
};

std::string_view buffered(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// A line ending without its CR: left for the parser to name.
bool has_bare_lf(std::string_view data) {
  for (auto lf = data.find('\n'); lf != std::string_view::npos; lf = data.find('\n', lf + 1)) {
    if (lf == 0 || data[lf - 1] != '\r') return true;
  }
  return false;
}

response bad_header_reply(const request_refusal& refusal) {
  const bool unsupported = refusal.status == bhttp::status::not_implemented;
  return error_reply(refusal.status, unsupported ? 501 : 400,
                     unsupported ? "Not implemented" : "Invalid request", refusal.reason);
}

response too_large_header_reply() {
  return error_reply(bhttp::status::request_header_fields_too_large, 400, "Invalid request",
                     "http: request header too large");
}

response busy_reply(std::string_view why) {
  response res = error_reply(bhttp::status::service_unavailable, 503, "Service unavailable", why);
  res.set(bhttp::field::retry_after, "1");
  return res;
}

constexpr std::string_view bodies_busy =
    "http: too many request bodies are being read at once; retry later";

// The answer to a request that could not be read, or nothing when the connection should just
// close (the client went away, was too slow, or the server is stopping).
std::optional<response> read_error_reply(const beast::error_code& ec) {
  if (ec == bhttp::error::body_limit) {
    return error_reply(bhttp::status::payload_too_large, 400, "Invalid request",
                       "http: request body too large");
  }
  if (ec == bhttp::error::header_limit) return too_large_header_reply();
  if (ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category()) {
    return std::nullopt;  // a socket error or a timeout
  }
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message
      || ec == bhttp::error::short_read) {
    return std::nullopt;
  }
  return error_reply(bhttp::status::bad_request, 400, "Invalid request", "http: " + ec.message());
}

// Sets what the handler cannot know: the request's HTTP version, whether the connection stays
// open, the payload headers; and keeps the body off the wire for HEAD.
void finalize(const request& req, response& res, bool keep_alive) {
  const bool handler_keeps_alive = res.keep_alive();
  res.version(req.version());
  res.keep_alive(keep_alive && handler_keeps_alive);
  res.prepare_payload();
  if (req.method() == bhttp::verb::head) {
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
}

}  // namespace

// The server's series in the registry: requests by route, method and status, their latency by
// route, and the connections served.
struct server_metrics {
  explicit server_metrics(metrics::registry& r)
      : requests(r.counter_family("herald_http_requests_total",
                                  "HTTP requests answered, by route pattern, method and status.",
                                  {"route", "method", "status"})),
        duration(r.histogram_family("herald_http_request_duration_seconds",
                                    "HTTP request latency by route pattern, from the request "
                                    "header read to the response written, in seconds.",
                                    {"route"}, metrics::latency_buckets())),
        connections(r.add_gauge("herald_http_connections", "HTTP connections served now.")) {}
  metrics::family<metrics::counter>& requests;
  metrics::family<metrics::histogram>& duration;
  metrics::gauge& connections;
};

struct server::state {
  state(asio::any_io_executor ex, server_config cfg, router routes, header_check check,
        metrics::registry* registry)
      : executor_(std::move(ex)),
        strand_(asio::make_strand(executor_)),
        acceptor_(strand_),
        gate_(strand_),
        cfg_(std::move(cfg)),
        routes_(std::move(routes)),
        check_(std::move(check)),
        body_memory_limit_(
            cfg_.body_memory_limit == 0 ? 0 : std::max(cfg_.body_memory_limit, cfg_.body_limit)) {
    if (registry) metrics_.emplace(*registry);
  }

  asio::any_io_executor executor_;
  // Serialises the acceptor, the connection registry and the gate.
  asio::strand<asio::any_io_executor> strand_;
  tcp::acceptor acceptor_;
  // Cancelled when the last connection coroutine ends; run() waits on it.
  asio::steady_timer gate_;
  const server_config cfg_;
  const router routes_;
  // Event loops besides executor_ that connections are dealt to, each with its own router.
  struct lane {
    asio::any_io_executor executor;
    router routes;
  };
  std::deque<lane> lanes_;     // a deque: connections hold references to its routers
  std::size_t next_lane_ = 0;  // of lanes_.size() + 1; 0 is executor_ with routes_
  const header_check check_;
  const std::size_t body_memory_limit_;  // 0: none; else room for one whole body at least
  std::optional<server_metrics> metrics_;

  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> active_{0};      // connections being served (not those refused)
  std::atomic<std::size_t> body_bytes_{0};  // request bodies held now, across connections
  std::size_t running_ = 0;                 // connection coroutines not yet ended, refused too
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<connection>> connections_;
  std::map<asio::ip::address, std::size_t> per_address_;  // connections served, by client

  // The served connection that has waited longest for a request (from `address` when given)
  // and is not chosen already; null when every one is busy.
  std::shared_ptr<connection> longest_idle(const asio::ip::address* address) const;
  // Closes `c` to make room, unless a request has come on it meanwhile.
  static void evict(const std::shared_ptr<connection>& c);
  bool is_health_probe(const request_header& header) const;
  // The route label of a request: the pattern of the route its path matches, never the path
  // itself (a LeadConverter path holds a token).
  std::string_view route_of(const request_header& header) const;
  void record(std::string_view route, bhttp::verb method, bhttp::status status,
              clock_type::time_point started) const;
  void record(const request_header* header, const response& res,
              clock_type::time_point started) const;

  static asio::awaitable<void> accept_loop(std::shared_ptr<state> self);
  static void start(const std::shared_ptr<state>& self, tcp::socket socket, const router& routes);
  static asio::awaitable<void> serve(std::shared_ptr<state> self, std::shared_ptr<connection> c);
  static asio::awaitable<void> serve_requests(state& st, connection& c);
  static asio::awaitable<void> refuse(std::shared_ptr<state> self, std::shared_ptr<connection> c);
  // `route`: set to the route label of the request.
  static asio::awaitable<response> answer(const state& st, const router& routes, const request& req,
                                          bool keep_alive, std::string_view& route);
  static asio::awaitable<bool> write(const state& st, connection& c, response& res);
  // Answers with Connection: close, counts the answer (`header`: the request's, when it was
  // read), then closes.
  static asio::awaitable<void> refuse_request(const state& st, connection& c, response& res,
                                              const request_header* header,
                                              clock_type::time_point started);
  static asio::awaitable<void> close_after_answer(const state& st, connection& c);
};

server::server(asio::any_io_executor ex, server_config cfg, router routes, header_check check,
               metrics::registry* metrics)
    : state_(std::make_shared<state>(std::move(ex), std::move(cfg), std::move(routes),
                                     std::move(check), metrics)) {}

server::~server() = default;

tcp::endpoint server::bind() {
  state& st = *state_;
  if (st.acceptor_.is_open()) throw std::logic_error("http::server::bind() called twice");
  listen_address address;
  try {
    address = parse_listen_address(st.cfg_.listen);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  tcp::resolver resolver(st.executor_);
  boost::system::error_code ec;
  const auto endpoints = resolver.resolve(
      address.host.empty() ? "0.0.0.0" : address.host, std::to_string(address.port),
      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) {
    throw std::system_error(std::error_code(ec), "cannot resolve listen address " + st.cfg_.listen);
  }
  boost::system::error_code last = asio::error::host_not_found;
  for (const auto& entry : endpoints) {
    const tcp::endpoint endpoint = entry.endpoint();
    st.acceptor_.open(endpoint.protocol(), ec);
    if (!ec) st.acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) st.acceptor_.bind(endpoint, ec);
    if (!ec) st.acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) return st.acceptor_.local_endpoint();
    last = ec;
    st.acceptor_.close(ec);
  }
  throw std::system_error(std::error_code(last), "cannot listen on " + st.cfg_.listen);
}

asio::awaitable<void> server::run() {
  auto self = state_;
  co_await asio::co_spawn(self->strand_, state::accept_loop(self), asio::use_awaitable);
}

void server::stop() {
  auto self = state_;
  self->stopping_ = true;
  asio::post(self->strand_, [self] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
    for (const auto& [id, c] : self->connections_) {
      asio::post(c->executor_, [c] {
        if (c->idle_) c->stream_.cancel();
      });
    }
  });
}

void server::add_lane(asio::any_io_executor ex, router routes) {
  state& st = *state_;
  if (st.acceptor_.is_open())
    throw std::logic_error("http::server::add_lane() called after bind()");
  st.lanes_.push_back({std::move(ex), std::move(routes)});
}

std::size_t server::active_connections() const {
  return state_->active_.load();
}

std::size_t server::body_bytes_held() const {
  return state_->body_bytes_.load();
}

std::shared_ptr<connection> server::state::longest_idle(const asio::ip::address* address) const {
  std::shared_ptr<connection> oldest;
  for (const auto& [id, c] : connections_) {
    if (c->refused_ || c->evicting_ || !c->idle_) continue;
    if (address != nullptr && c->address_ != *address) continue;
    if (!oldest || c->idle_since_ < oldest->idle_since_) oldest = c;
  }
  return oldest;
}

void server::state::evict(const std::shared_ptr<connection>& c) {
  c->evicting_ = true;
  asio::post(c->executor_, [c] {
    if (c->idle_) c->stream_.cancel();
  });
}

bool server::state::is_health_probe(const request_header& header) const {
  if (header.method() != bhttp::verb::get && header.method() != bhttp::verb::head) return false;
  const std::string_view path = target_path({header.target().data(), header.target().size()});
  return std::find(cfg_.health_paths.begin(), cfg_.health_paths.end(), path)
         != cfg_.health_paths.end();
}

std::string_view server::state::route_of(const request_header& header) const {
  const auto m = routes_.match(header.method(), {header.target().data(), header.target().size()});
  return m.path_known ? m.pattern : unrouted;
}

void server::state::record(std::string_view route, bhttp::verb method, bhttp::status status,
                           clock_type::time_point started) const {
  if (!metrics_) return;
  char code[8];
  auto [end, ec] = std::to_chars(code, code + sizeof code, static_cast<unsigned>(status));
  std::string_view verb = unrouted;
  if (method != bhttp::verb::unknown) {
    const auto name = bhttp::to_string(method);
    verb = std::string_view(name.data(), name.size());
  }
  metrics_->requests.with({route, verb, std::string_view(code, end - code)}).inc();
  metrics_->duration.with({route}).observe(clock_type::now() - started);
}

void server::state::record(const request_header* header, const response& res,
                           clock_type::time_point started) const {
  if (!metrics_) return;
  if (header)
    record(route_of(*header), header->method(), res.result(), started);
  else
    record(unrouted, bhttp::verb::unknown, res.result(), started);
}

asio::awaitable<void> server::state::accept_loop(std::shared_ptr<state> self) {
  state& st = *self;
  if (!st.stopping_ && !st.acceptor_.is_open()) {
    throw std::logic_error("http::server::run() called before bind()");
  }
  while (!st.stopping_) {
    // Dealt in turn to the event loops: the socket is opened on its lane's, and served there.
    const std::size_t lane = st.next_lane_;
    st.next_lane_ = (st.next_lane_ + 1) % (st.lanes_.size() + 1);
    const auto& lane_executor = lane == 0 ? st.executor_ : st.lanes_[lane - 1].executor;
    const router& routes = lane == 0 ? st.routes_ : st.lanes_[lane - 1].routes;
    auto [ec, socket] = co_await st.acceptor_.async_accept(
        asio::any_io_executor(asio::make_strand(lane_executor)), use_tuple);
    if (st.stopping_ || ec == asio::error::operation_aborted) break;
    if (ec) {
      // Out of file descriptors, say: pause instead of spinning, and keep serving.
      spdlog::warn("http: accepting a connection failed: {}", ec.message());
      asio::steady_timer pause(st.strand_, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    start(self, std::move(socket), routes);
  }
  while (st.running_ > 0) {
    st.gate_.expires_at(asio::steady_timer::time_point::max());
    co_await st.gate_.async_wait(use_tuple);
  }
}

void server::state::start(const std::shared_ptr<state>& self, tcp::socket socket,
                          const router& routes) {
  state& st = *self;
  beast::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) {  // gone already
    socket.close(ec);
    return;
  }
  const asio::ip::address address = peer.address();
  const std::size_t cap = st.cfg_.max_connections;
  const std::size_t address_cap = st.cfg_.max_connections_per_address;
  const auto same_address = st.per_address_.find(address);
  const bool over_address = address_cap != 0 && same_address != st.per_address_.end()
                            && same_address->second >= address_cap;
  const bool over_total = cap != 0 && st.active_ >= cap;
  bool refused = false;
  if (over_address || over_total) {
    // Room is made by closing the connection that has waited longest for a request: one of
    // this client's own when it is at its cap.
    if (auto victim = st.longest_idle(over_address ? &address : nullptr)) {
      evict(victim);
    } else {
      refused = true;
    }
  }
  const std::size_t max_refusals = cap != 0 ? cap : 1024;
  if (refused && st.running_ - st.active_ >= max_refusals) {
    // A flood: answering each refusal would cost as much as serving it.
    socket.close(ec);
    return;
  }
  auto c = std::make_shared<connection>(std::move(socket), address, refused, routes);
  const std::uint64_t id = st.next_id_++;
  st.connections_.emplace(id, c);
  ++st.running_;
  if (!refused) {
    ++st.active_;
    ++st.per_address_[address];
    if (st.metrics_) st.metrics_->connections.set(static_cast<double>(st.active_.load()));
  }
  auto ended = asio::bind_executor(st.strand_, [self, id, refused, address](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& error) {
        spdlog::error("http: a connection failed: {}", error.what());
      } catch (...) {
        spdlog::error("http: a connection failed");
      }
    }
    self->connections_.erase(id);
    if (!refused) {
      --self->active_;
      if (self->metrics_)
        self->metrics_->connections.set(static_cast<double>(self->active_.load()));
      if (auto it = self->per_address_.find(address); it != self->per_address_.end()) {
        if (--it->second == 0) self->per_address_.erase(it);
      }
    }
    if (--self->running_ == 0) self->gate_.cancel();
  });
  if (refused) {
    asio::co_spawn(c->executor_, refuse(self, c), std::move(ended));
  } else {
    asio::co_spawn(c->executor_, serve(self, c), std::move(ended));
  }
}

asio::awaitable<void> server::state::serve(std::shared_ptr<state> self,
                                           std::shared_ptr<connection> c) {
  co_await serve_requests(*self, *c);
  beast::error_code ec;
  c->stream_.socket().close(ec);
}

asio::awaitable<void> server::state::serve_requests(state& st, connection& c) {
  const server_config& cfg = st.cfg_;
  beast::flat_buffer buffer;
  for (unsigned served = 0;;) {
    if (st.stopping_) co_return;
    // The first byte of the request. A connection's first request has read_timeout from accept;
    // a later one may wait idle_timeout for its first byte, then has read_timeout.
    if (buffer.size() == 0) {
      c.set_idle(true);
      c.stream_.expires_after(served == 0 ? cfg.read_timeout : cfg.idle_timeout);
      auto [ec, n] = co_await c.stream_.async_read_some(buffer.prepare(first_read_size), use_tuple);
      c.set_idle(false);
      if (ec) co_return;  // closed, timed out, stopped or evicted: nobody waits for an answer
      buffer.commit(n);
      if (served > 0) c.stream_.expires_after(cfg.read_timeout);
    } else {
      c.stream_.expires_after(cfg.read_timeout);  // pipelined: its bytes are already here
    }

    // The whole header block, checked as it came: the parser would unfold an obs-fold line
    // silently, which a proxy in front may read otherwise.
    for (;;) {
      const std::string_view data = buffered(buffer);
      if (const auto end = header_block_end(data)) {
        if (auto bad = check_header_block(data.substr(0, *end))) {
          response reply = bad_header_reply(*bad);
          co_await refuse_request(st, c, reply, nullptr, clock_type::now());
          co_return;
        }
        break;
      }
      if (data.size() >= cfg.header_limit) {
        response reply = too_large_header_reply();
        co_await refuse_request(st, c, reply, nullptr, clock_type::now());
        co_return;
      }
      if (has_bare_lf(data)) break;
      auto [ec, n] = co_await c.stream_.async_read_some(buffer.prepare(first_read_size), use_tuple);
      if (ec) co_return;
      buffer.commit(n);
    }

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(cfg.header_limit, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(cfg.body_limit);
    // The header first, so that a Content-Length over the limit is refused before the body.
    auto [header_ec, header_n] =
        co_await bhttp::async_read_header(c.stream_, buffer, parser, use_tuple);
    const auto started = clock_type::now();  // what herald_http_request_duration_seconds times
    beast::error_code ec = header_ec;
    if (!ec) {
      if (auto bad = check_request_header(parser.get())) {
        response reply = bad_header_reply(*bad);
        co_await refuse_request(st, c, reply, &parser.get(), started);
        co_return;
      }
    }
    body_hold hold(st.body_bytes_, st.body_memory_limit_);  // until the request is answered
    if (!ec && !parser.is_done()) {
      const auto& header = parser.get();
      if (st.check_) {
        if (auto early = st.check_(header)) {
          response reply = std::move(*early);
          spdlog::debug("http: {} {} {} (before the body)", header.method_string(),
                        loggable_path({header.target().data(), header.target().size()}),
                        reply.result_int());
          co_await refuse_request(st, c, reply, &header, started);
          co_return;
        }
      }
      // A body announced by its length counts whole at once: the parser reserves it whole.
      const auto length = parser.content_length();
      if (length && !hold.add(*length)) {
        response reply = busy_reply(bodies_busy);
        co_await refuse_request(st, c, reply, &header, started);
        co_return;
      }
      if (header.version() >= 11 && beast::iequals(header[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
        auto [continue_ec, continue_n] = co_await bhttp::async_write(c.stream_, go_on, use_tuple);
        if (continue_ec) co_return;
      }
      while (!ec && !parser.is_done()) {
        auto [body_ec, body_n] =
            co_await bhttp::async_read_some(c.stream_, buffer, parser, use_tuple);
        ec = body_ec;
        // A chunked body counts as it grows.
        const std::size_t size = parser.get().body().size();
        if (!ec && !length && size > hold.bytes() && !hold.add(size - hold.bytes())) {
          response reply = busy_reply(bodies_busy);
          co_await refuse_request(st, c, reply, &header, started);
          co_return;
        }
      }
    }
    if (ec) {
      if (auto reply = read_error_reply(ec)) {
        // A Content-Length over the limit stops the parser within the header, after its request
        // line: the route is known.
        const bool routable = parser.is_header_done() || !parser.get().target().empty();
        co_await refuse_request(st, c, *reply, routable ? &parser.get() : nullptr, started);
      }
      co_return;
    }

    ++served;
    const request req = parser.release();
    const bool last =
        cfg.max_requests_per_connection != 0 && served >= cfg.max_requests_per_connection;
    std::string_view route;
    response res = co_await answer(st, c.routes_, req, req.keep_alive() && !last, route);
    const bool written = co_await write(st, c, res);
    st.record(route, req.method(), res.result(), started);
    if (!written) co_return;
    if (!res.keep_alive()) {
      co_await close_after_answer(st, c);
      co_return;
    }
  }
}

asio::awaitable<void> server::state::refuse(std::shared_ptr<state> self,
                                            std::shared_ptr<connection> c) {
  state& st = *self;
  std::optional<response> res;
  auto started = clock_type::now();
  std::string_view route = unrouted;
  bhttp::verb method = bhttp::verb::unknown;
  {
    // The header, within a short wait of its own. A timer cancels the read, not the stream's
    // deadline: that would close the socket before the 503 is written.
    asio::steady_timer wait(c->executor_, std::min(st.cfg_.read_timeout, refusal_read_timeout));
    wait.async_wait([c](const boost::system::error_code& ec) {
      if (!ec) c->stream_.socket().cancel();
    });
    c->set_idle(true);  // stop() may cut it
    beast::flat_buffer buffer;
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(st.cfg_.header_limit, std::numeric_limits<std::uint32_t>::max())));
    auto [ec, n] = co_await bhttp::async_read_header(c->stream_, buffer, parser, use_tuple);
    c->set_idle(false);
    wait.cancel();
    started = clock_type::now();
    if (!ec && parser.is_header_done()) {
      route = st.route_of(parser.get());
      method = parser.get().method();
    }
    if (!ec && parser.is_done() && !st.stopping_ && st.is_health_probe(parser.get())
        && !check_request_header(parser.get())) {
      const request req(std::move(parser.release().base()));
      res = co_await answer(st, c->routes_, req, false, route);
    }
  }
  if (!res) res = busy_reply("http: too many connections");
  res->keep_alive(false);
  const bool written = co_await write(st, *c, *res);
  st.record(route, method, res->result(), started);
  if (written) co_await close_after_answer(st, *c);
  beast::error_code ec;
  c->stream_.socket().close(ec);
}

asio::awaitable<response> server::state::answer(const state& st, const router& routes,
                                                const request& req, bool keep_alive,
                                                std::string_view& route) {
  // Decided after the handler ran: stop() may have come meanwhile.
  const auto keeps_alive = [&] { return keep_alive && !st.stopping_; };
  const auto m = routes.match(req.method(), req.target());
  route = m.path_known ? m.pattern : unrouted;
  try {
    response res = co_await routes.dispatch(req, m);
    finalize(req, res, keeps_alive());
    if (spdlog::should_log(spdlog::level::debug))
      spdlog::debug("http: {} {} {}", req.method_string(),
                    loggable_path({req.target().data(), req.target().size()}), res.result_int());
    co_return res;
  } catch (const std::exception& e) {
    // Not the target: it may carry a token.
    spdlog::error("http: {} request failed: {}", req.method_string(), e.what());
  } catch (...) {
    spdlog::error("http: {} request failed with an unknown exception", req.method_string());
  }
  response res = error_reply(bhttp::status::internal_server_error, 500, "Internal error",
                             "http: the request failed; the server log has the reason");
  finalize(req, res, keeps_alive());
  co_return res;
}

asio::awaitable<bool> server::state::write(const state& st, connection& c, response& res) {
  c.stream_.expires_after(st.cfg_.write_timeout);
  auto [ec, n] = co_await bhttp::async_write(c.stream_, res, use_tuple);
  co_return !ec;
}

asio::awaitable<void> server::state::refuse_request(const state& st, connection& c, response& res,
                                                    const request_header* header,
                                                    clock_type::time_point started) {
  // Counted once written, before the lingering close.
  res.keep_alive(false);
  const bool written = co_await write(st, c, res);
  st.record(header, res, started);
  if (written) co_await close_after_answer(st, c);
}

asio::awaitable<void> server::state::close_after_answer(const state& st, connection& c) {
  beast::error_code ec;
  c.stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec || st.stopping_) co_return;
  // Read and drop what the client still sends until it closes too: closing with unread bytes
  // would send a reset, which can destroy our answer before the client reads it.
  c.set_idle(true);
  c.stream_.expires_after(st.cfg_.linger_timeout);
  std::array<char, 4096> discard;
  for (;;) {
    auto [read_ec, n] = co_await c.stream_.async_read_some(asio::buffer(discard), use_tuple);
    if (read_ec) break;
  }
}

}  // namespace herald::http
