// Herald's outbound HTTP client: the one client every messenger provider sends through.
//
// libcurl's multi interface driven by an Asio executor: TLS verified against the system's store
// (with SNI and host-name checks), HTTPS_PROXY/NO_PROXY from the environment, keep-alive pools
// and HTTP/2 come from curl; the event loop, the concurrency cap and the completions are ours.
// One client per event-loop thread and per provider: its settings are the provider's.
//
// Expected network failures (a refused connection, a timeout, a dropped connection, a response
// too large) are not exceptions: they come back as an http_response whose `error` is set, with
// curl's own words in `error_message`. A response of any status, 5xx and 429 included, is a
// response; deciding whether to retry is the caller's business.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace herald::outbound {

struct http_client_config {
  // Establishing a connection (TCP, and TLS for https) gives up after this.
  std::chrono::milliseconds connect_timeout{5000};
  // The whole request, connecting included, from the moment it leaves the queue: a request that
  // has not completed within it fails with errc::timeout (or errc::connect_timeout).
  std::chrono::milliseconds request_timeout{30000};
  // Requests in flight at once. Further requests wait, in the order they came, for one to
  // finish; they do not fail. Their time in the queue does not count against request_timeout.
  std::size_t max_concurrent_requests = 64;
  // Idle connections kept open for reuse (curl's connection cache). 0: as many as
  // max_concurrent_requests.
  std::size_t max_idle_connections = 0;
  // Connections open at once to one host. 0: no limit beyond max_concurrent_requests.
  std::size_t max_host_connections = 0;
  // A response body larger than this fails the request with errc::too_large, as soon as its
  // Content-Length announces it or once that many bytes arrived: a hostile server cannot make
  // the client hold more.
  std::size_t max_response_body = 1024 * 1024;
  // Likewise for the status line and header fields together.
  std::size_t max_response_headers = 64 * 1024;
  // PEM file of the certificate authorities to trust instead of the system's store (tests).
  // Empty: the system's store. Certificates and host names are always verified.
  std::string ca_file;
  // Proxy URL for every request. Empty: curl's own reading of the environment (http_proxy,
  // HTTPS_PROXY, NO_PROXY...), which is what operators behind an egress proxy expect.
  std::string proxy;
  // Sent as User-Agent unless a request sets its own. Empty: none.
  std::string user_agent = "herald";
};

// Why a request got no (complete) response.
enum class errc {
  stopped = 1,         // the client was stopped before the request completed
  invalid_request,     // a URL that does not parse, or a scheme other than http and https
  dns,                 // the host name (or the proxy's) did not resolve
  connect_failed,      // no connection: refused, unreachable, or the proxy refused
  connect_timeout,     // no connection within connect_timeout (or request_timeout)
  tls,                 // the TLS handshake failed: certificate not trusted, wrong host name...
  timeout,             // the request was sent but no whole response came within request_timeout
  connection_dropped,  // the connection closed or broke before a whole response arrived
  too_large,           // the response is over max_response_body or max_response_headers
  protocol,            // the server's answer is not valid HTTP
  other,               // anything else curl reports (out of memory, ...)
};
inline constexpr std::size_t errc_count = static_cast<std::size_t>(errc::other) + 1;

const boost::system::error_category& category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// A short name of the kind ("connect_failed"), for logs and metrics labels.
std::string_view name(errc e) noexcept;

struct http_header {
  std::string name;
  std::string value;
};

struct http_request {
  std::string method = "GET";  // any token: GET, POST, PUT, PATCH, DELETE, HEAD...
  std::string url;             // http:// or https://
  // Sent as given, after curl's own (Host, Content-Length). A Content-Type is only sent when
  // given here; "Expect: 100-continue" never is unless given.
  std::vector<http_header> headers;
  std::string body;  // sent with a Content-Length when not empty (or the method is POST or PUT)
};

struct http_response {
  // Empty when a whole response arrived, whatever its status; otherwise an errc.
  boost::system::error_code error;
  // curl's own description of the failure (empty without one).
  std::string error_message;
  // Whether any of the request may have reached the server: false only when it certainly did
  // not (no connection, DNS or TLS failure). A caller deciding whether a retry could send a
  // message twice reads this.
  bool request_sent = false;

  int status = 0;  // 0 when no status line arrived
  // In the order received; the status line of an interim (1xx) response starts them afresh.
  std::vector<http_header> headers;
  std::string body;
  // From the start of the transfer to its end.
  std::chrono::microseconds elapsed{0};

  bool ok() const { return !error; }
  // The first value of header `name` (any case), or nothing.
  std::optional<std::string_view> header(std::string_view name) const;
  std::string_view content_type() const { return header("Content-Type").value_or(""); }
  std::optional<std::string_view> retry_after() const { return header("Retry-After"); }
};

class http_client {
 public:
  using request_signature = void(http_response);

  // `ex` must not run handlers concurrently (an io_context run by one thread); callers may be on
  // any executor (whose context keeps running while they wait: the client holds no work on it).
  // Throws std::invalid_argument naming the field of a config it cannot use.
  http_client(boost::asio::any_io_executor ex, http_client_config config);
  // Fails what is still outstanding with errc::stopped and frees every curl handle and socket.
  // Destroy the client on its executor's thread, or while its io_context is not running, and
  // before that io_context.
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sends one request; completes with its response (or failure). Never throws for network
  // failures.
  template <class CompletionToken>
  auto async_request(http_request req, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, request_signature>(
        [this](auto handler, http_request req) {
          initiate_request(std::move(req), std::move(handler));
        },
        token, std::move(req));
  }
  boost::asio::awaitable<http_response> request(http_request req);

  // Stops the client, from any thread: queued and in-flight requests complete with
  // errc::stopped, connections are closed, and later requests fail at once. Idempotent.
  void stop();
  // stop(), then resumes once every outstanding request has been completed.
  boost::asio::awaitable<void> shutdown();

  // Counters, readable from any thread.
  struct statistics {
    std::uint64_t requests = 0;            // taken (queued or sent)
    std::uint64_t responses = 0;           // completed with a whole response, any status
    std::uint64_t connections_opened = 0;  // new connections (curl's CURLINFO_NUM_CONNECTS)
    std::uint64_t in_flight = 0;           // now
    std::uint64_t queued = 0;              // now, waiting for the concurrency cap
    std::uint64_t peak_in_flight = 0;
    std::array<std::uint64_t, errc_count> errors{};  // by errc, index static_cast<int>(e) - 1

    std::uint64_t errors_of(errc e) const { return errors[static_cast<std::size_t>(e) - 1]; }
    std::uint64_t total_errors() const;
  };
  statistics stats() const;

  const http_client_config& config() const;
  boost::asio::any_io_executor get_executor() const;

 private:
  using handler_type = boost::asio::any_completion_handler<request_signature>;
  void initiate_request(http_request req, handler_type handler);

  class engine;
  std::shared_ptr<engine> impl_;
};

}  // namespace herald::outbound

template <>
struct boost::system::is_error_code_enum<herald::outbound::errc> : std::true_type {};
