#include "support/fake_http_server.hpp"

#include <strings.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <stdexcept>

namespace herald::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

std::string received_request::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n.size() == name.size() && ::strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
  return {};
}

struct fake_http_server::state {
  explicit state(unsigned threads) : io(static_cast<int>(threads)), acceptor(io) {}

  asio::awaitable<void> accept_loop(fake_http_server* server) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        continue;  // EMFILE and the like: keep serving the connections we have
      }
      socket.set_option(tcp::no_delay(true));
      auto id = ++server->connections_;
      asio::co_spawn(acceptor.get_executor(), session(server, std::move(socket), id),
                     asio::detached);
    }
  }

  static asio::awaitable<void> session(fake_http_server* server, tcp::socket socket,
                                       std::uint64_t id) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, tuple_awaitable);
      if (ec) break;
      auto req = parser.release();
      ++server->requests_;
      server->note_in_flight(+1);

      received_request got;
      got.method = std::string(req.method_string());
      got.target = std::string(req.target());
      for (const auto& f : req) got.headers.emplace_back(f.name_string(), f.value());
      got.body = std::move(req.body());
      got.connection = id;
      canned_response c = server->respond_(got);
      if (server->record_) {
        std::lock_guard lock(server->mutex_);
        server->received_.push_back(std::move(got));
      }
      if (c.delay.count() > 0) {
        asio::steady_timer timer(stream.get_executor(), c.delay);
        co_await timer.async_wait(tuple_awaitable);
      }

      using behaviour = canned_response::behaviour;
      if (c.what == behaviour::never_respond) {
        // Read (and drop) until the client gives up and closes.
        char sink[512];
        for (;;) {
          auto [rec, m] =
              co_await stream.socket().async_read_some(asio::buffer(sink), tuple_awaitable);
          if (rec) break;
        }
        server->note_in_flight(-1);
        break;
      }
      if (c.what == behaviour::close_without_response) {
        server->note_in_flight(-1);
        break;
      }
      if (c.what == behaviour::close_mid_body) {
        std::string head = "HTTP/1.1 " + std::to_string(c.status)
                           + " OK\r\nContent-Length: " + std::to_string(c.body.size()) + "\r\n";
        for (const auto& [k, v] : c.headers) head += k + ": " + v + "\r\n";
        head += "\r\n";
        head.append(c.body, 0, c.body.size() / 2);
        co_await asio::async_write(stream.socket(), asio::buffer(head), tuple_awaitable);
        server->note_in_flight(-1);
        break;
      }

      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(c.status), req.version()};
      for (const auto& [k, v] : c.headers) res.insert(k, v);
      res.body() = std::move(c.body);
      bool keep = req.keep_alive() && !c.close;
      res.keep_alive(keep);
      if (c.chunked)
        res.chunked(true);
      else
        res.prepare_payload();
      auto [wec, w] = co_await bhttp::async_write(stream, res, tuple_awaitable);
      server->note_in_flight(-1);
      if (wec || !keep || c.close_unannounced) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
  }

  asio::io_context io;
  tcp::acceptor acceptor;
};

fake_http_server::fake_http_server(responder respond, unsigned threads, bool record)
    : respond_(std::move(respond)), record_(record), state_(std::make_unique<state>(threads)) {
  tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
  state_->acceptor.open(at.protocol());
  state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  state_->acceptor.bind(at);
  state_->acceptor.listen(1024);
  port_ = state_->acceptor.local_endpoint().port();
  asio::co_spawn(state_->io, state_->accept_loop(this), asio::detached);
  for (unsigned i = 0; i < std::max(threads, 1u); ++i)
    threads_.emplace_back([this] { state_->io.run(); });
}

fake_http_server::~fake_http_server() {
  stop();
}

std::string fake_http_server::url(std::string_view target) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(target);
}

void fake_http_server::stop() {
  if (threads_.empty()) return;
  state_->io.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Destroying the io_context destroys every session's frame, closing its socket.
  state_.reset();
}

void fake_http_server::note_in_flight(int delta) {
  auto now = in_flight_.fetch_add(delta) + delta;
  auto peak = peak_in_flight_.load();
  while (now > peak && !peak_in_flight_.compare_exchange_weak(peak, now)) {
  }
}

std::vector<received_request> fake_http_server::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

}  // namespace herald::test
