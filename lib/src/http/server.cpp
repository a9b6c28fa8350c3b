#include "herald/http/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
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

namespace herald::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Bytes asked of the socket when waiting for the first byte of a request.
constexpr std::size_t first_read_size = 4096;

struct connection {
  explicit connection(tcp::socket socket)
      : executor_(socket.get_executor()), stream_(std::move(socket)) {}
  const asio::any_io_executor executor_;  // a strand of its own
  beast::tcp_stream stream_;
  // Waiting for the first byte of a request, or draining before close: nothing the client awaits
  // an answer to is in progress, so stop() may cut the connection at once.
  bool idle_ = false;
};

// The answer to a request that could not be read, or nothing when the connection should just
// close (the client went away, was too slow, or the server is stopping).
std::optional<response> read_error_reply(const beast::error_code& ec) {
  if (ec == bhttp::error::body_limit) {
    return error_reply(bhttp::status::payload_too_large, 400, "Invalid request",
                       "http: request body too large");
  }
  if (ec == bhttp::error::header_limit) {
    return error_reply(bhttp::status::request_header_fields_too_large, 400, "Invalid request",
                       "http: request header too large");
  }
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

struct server::state {
  state(asio::any_io_executor ex, server_config cfg, router routes)
      : executor_(std::move(ex)),
        strand_(asio::make_strand(executor_)),
        acceptor_(strand_),
        gate_(strand_),
        cfg_(std::move(cfg)),
        routes_(std::move(routes)) {}

  asio::any_io_executor executor_;
  // Serialises the acceptor, the connection registry and the gate.
  asio::strand<asio::any_io_executor> strand_;
  tcp::acceptor acceptor_;
  // Cancelled when the last connection coroutine ends; run() waits on it.
  asio::steady_timer gate_;
  const server_config cfg_;
  const router routes_;

  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> active_{0};  // connections being served (not those refused)
  std::size_t running_ = 0;             // connection coroutines not yet ended, refused ones too
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<connection>> connections_;

  static asio::awaitable<void> accept_loop(std::shared_ptr<state> self);
  static void start(const std::shared_ptr<state>& self, tcp::socket socket);
  static asio::awaitable<void> serve(std::shared_ptr<state> self, std::shared_ptr<connection> c);
  static asio::awaitable<void> serve_requests(state& st, connection& c);
  static asio::awaitable<void> refuse(std::shared_ptr<state> self, std::shared_ptr<connection> c);
  static asio::awaitable<response> answer(const state& st, const request& req, bool keep_alive);
  static asio::awaitable<bool> write(const state& st, connection& c, response& res);
  static asio::awaitable<void> close_after_answer(const state& st, connection& c);
};

server::server(asio::any_io_executor ex, server_config cfg, router routes)
    : state_(std::make_shared<state>(std::move(ex), std::move(cfg), std::move(routes))) {}

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

std::size_t server::active_connections() const {
  return state_->active_.load();
}

asio::awaitable<void> server::state::accept_loop(std::shared_ptr<state> self) {
  state& st = *self;
  if (!st.stopping_ && !st.acceptor_.is_open()) {
    throw std::logic_error("http::server::run() called before bind()");
  }
  while (!st.stopping_) {
    auto [ec, socket] = co_await st.acceptor_.async_accept(
        asio::any_io_executor(asio::make_strand(st.executor_)), use_tuple);
    if (st.stopping_ || ec == asio::error::operation_aborted) break;
    if (ec) {
      // Out of file descriptors, say: pause instead of spinning, and keep serving.
      spdlog::warn("http: accepting a connection failed: {}", ec.message());
      asio::steady_timer pause(st.strand_, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    start(self, std::move(socket));
  }
  while (st.running_ > 0) {
    st.gate_.expires_at(asio::steady_timer::time_point::max());
    co_await st.gate_.async_wait(use_tuple);
  }
}

void server::state::start(const std::shared_ptr<state>& self, tcp::socket socket) {
  state& st = *self;
  auto c = std::make_shared<connection>(std::move(socket));
  const std::uint64_t id = st.next_id_++;
  const std::size_t cap = st.cfg_.max_connections;
  const bool refused = cap != 0 && st.active_ >= cap;
  if (refused && st.running_ - st.active_ >= cap) {
    // A flood: answering each refusal would cost as much as serving it.
    beast::error_code ec;
    c->stream_.socket().close(ec);
    return;
  }
  st.connections_.emplace(id, c);
  ++st.running_;
  if (!refused) ++st.active_;
  auto ended = asio::bind_executor(st.strand_, [self, id, refused](std::exception_ptr e) {
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
    if (!refused) --self->active_;
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
      c.idle_ = true;
      c.stream_.expires_after(served == 0 ? cfg.read_timeout : cfg.idle_timeout);
      auto [ec, n] = co_await c.stream_.async_read_some(buffer.prepare(first_read_size), use_tuple);
      c.idle_ = false;
      if (ec) co_return;  // closed, timed out, or stopped: nobody waits for an answer
      buffer.commit(n);
      if (served > 0) c.stream_.expires_after(cfg.read_timeout);
    } else {
      c.stream_.expires_after(cfg.read_timeout);  // pipelined: its bytes are already here
    }

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(cfg.header_limit, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(cfg.body_limit);
    // The header first, so that a Content-Length over the limit is refused before the body.
    auto [header_ec, header_n] =
        co_await bhttp::async_read_header(c.stream_, buffer, parser, use_tuple);
    beast::error_code ec = header_ec;
    if (!ec && !parser.is_done()) {
      const auto& header = parser.get();
      if (header.version() >= 11 && beast::iequals(header[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
        auto [continue_ec, continue_n] = co_await bhttp::async_write(c.stream_, go_on, use_tuple);
        if (continue_ec) co_return;
      }
      auto [body_ec, body_n] = co_await bhttp::async_read(c.stream_, buffer, parser, use_tuple);
      ec = body_ec;
    }
    if (ec) {
      if (auto reply = read_error_reply(ec)) {
        reply->keep_alive(false);
        if (co_await write(st, c, *reply)) co_await close_after_answer(st, c);
      }
      co_return;
    }

    ++served;
    const request req = parser.release();
    const bool last =
        cfg.max_requests_per_connection != 0 && served >= cfg.max_requests_per_connection;
    response res = co_await answer(st, req, req.keep_alive() && !last);
    if (!co_await write(st, c, res)) co_return;
    if (!res.keep_alive()) {
      co_await close_after_answer(st, c);
      co_return;
    }
  }
}

asio::awaitable<void> server::state::refuse(std::shared_ptr<state> self,
                                            std::shared_ptr<connection> c) {
  response res = error_reply(bhttp::status::service_unavailable, 503, "Service unavailable",
                             "http: too many connections");
  res.set(bhttp::field::retry_after, "1");
  res.keep_alive(false);
  if (co_await write(*self, *c, res)) co_await close_after_answer(*self, *c);
  beast::error_code ec;
  c->stream_.socket().close(ec);
}

asio::awaitable<response> server::state::answer(const state& st, const request& req,
                                                bool keep_alive) {
  // Decided after the handler ran: stop() may have come meanwhile.
  const auto keeps_alive = [&] { return keep_alive && !st.stopping_; };
  try {
    response res = co_await st.routes_.dispatch(req);
    finalize(req, res, keeps_alive());
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

asio::awaitable<void> server::state::close_after_answer(const state& st, connection& c) {
  beast::error_code ec;
  c.stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec || st.stopping_) co_return;
  // Read and drop what the client still sends until it closes too: closing with unread bytes
  // would send a reset, which can destroy our answer before the client reads it.
  c.idle_ = true;
  c.stream_.expires_after(st.cfg_.linger_timeout);
  std::array<char, 4096> discard;
  for (;;) {
    auto [read_ec, n] = co_await c.stream_.async_read_some(asio::buffer(discard), use_tuple);
    if (read_ec) break;
  }
}

}  // namespace herald::http
