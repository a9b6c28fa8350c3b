// A real HTTP/1.1 server on loopback, for tests and benchmarks of outbound HTTP (the base of the
// fake messenger providers): Beast on threads of its own, bound to a free port, answering each
// request as the test's function says, including the ways a provider misbehaves (never
// answering, closing before or in the middle of a response). It counts connections, requests
// and requests in flight, and records every request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace herald::test {

struct received_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::uint64_t connection = 0;  // the connection it came on: 1 for the first accepted, ...

  // The first value of header `name` (any case), or "".
  std::string header(std::string_view name) const;
};

struct canned_response {
  enum class behaviour {
    respond,                 // the response below, after `delay`
    never_respond,           // read the request, then wait until the client closes
    close_without_response,  // close the connection after `delay`, sending nothing
    close_mid_body,          // send the head (Content-Length of the whole body) and half the body
  };
  behaviour what = behaviour::respond;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;            // Transfer-Encoding: chunked instead of Content-Length
  bool close = false;              // Connection: close, and close after it
  bool close_unannounced = false;  // close after it without saying so (an idle timeout's way)
  std::chrono::milliseconds delay{0};
};

class fake_http_server {
 public:
  // Called for every request, on one of the server's threads (make it thread-safe when
  // `threads` > 1).
  using responder = std::function<canned_response(const received_request&)>;

  // Listens on 127.0.0.1 on a free port and serves on `threads` threads. `record`: keep every
  // request for received() (off for benchmarks).
  explicit fake_http_server(responder respond, unsigned threads = 1, bool record = true);
  ~fake_http_server();
  fake_http_server(const fake_http_server&) = delete;
  fake_http_server& operator=(const fake_http_server&) = delete;

  unsigned short port() const { return port_; }
  // http://127.0.0.1:PORT followed by `target`.
  std::string url(std::string_view target = "/") const;

  // Stops serving and closes every connection. Idempotent; the destructor does it.
  void stop();

  std::uint64_t connections() const { return connections_.load(); }  // accepted
  std::uint64_t requests() const { return requests_.load(); }        // read whole
  std::int64_t in_flight() const { return in_flight_.load(); }       // read, not yet answered
  std::int64_t peak_in_flight() const { return peak_in_flight_.load(); }
  std::vector<received_request> received() const;

 private:
  struct state;
  friend struct state;
  void note_in_flight(int delta);

  responder respond_;
  bool record_;
  std::unique_ptr<state> state_;
  unsigned short port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> connections_{0}, requests_{0};
  std::atomic<std::int64_t> in_flight_{0}, peak_in_flight_{0};
  mutable std::mutex mutex_;
  std::vector<received_request> received_;
};

}  // namespace herald::test
