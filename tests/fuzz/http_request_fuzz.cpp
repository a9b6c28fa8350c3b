// libFuzzer target for the HTTP request path up to routing: the bytes of a request go through
// what heraldd's server does with them before a handler runs: the end of the header block, the
// block's checks (NUL, obs-fold), Beast's parser with the server's header and body limits, the
// framing checks (CL+TE, duplicate Content-Length, Transfer-Encoding), the route match (path
// parameters, the query string left out). Every input must be answered: refused, incomplete, or
// parsed and matched, never a crash, a leak or undefined behaviour.
//
// Built and run by tests/fuzz/run.sh http_request (ctest -L fuzz).
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "herald/http/request_checks.hpp"
#include "herald/http/router.hpp"

namespace {

namespace bhttp = boost::beast::http;

const herald::http::router& routes() {
  static const herald::http::router r = [] {
    herald::http::router r;
    auto none = [](const herald::http::request&) -> boost::asio::awaitable<herald::http::response> {
      co_return herald::http::response{};
    };
    for (const char* path : {"/api/v1.1/tasks/status", "/api/v1.1/campaigns/triggers/add",
                             "/api/v1/{token}/broadcasting.sendMessageBatch", "/healthz"})
      r.add(bhttp::verb::post, path, none);
    return r;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald::http;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto end = header_block_end(bytes);
  if (!end) return 0;  // the server waits for more
  if (*end > bytes.size()) std::abort();
  if (check_header_block(bytes.substr(0, *end))) return 0;  // refused: 400
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (!ec && used < bytes.size() && !parser.is_done()) {
    auto n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (n == 0 && !ec) break;
    used += n;
  }
  if (ec || !parser.is_header_done()) return 0;
  if (check_request_header(parser.get())) return 0;
  const auto& req = parser.get();
  auto m = routes().match(req.method(), req.target());
  if (m.handler && !m.path_known) std::abort();
  (void)target_path(req.target());
  (void)path_params("/api/v1/{token}/broadcasting.sendMessageBatch", target_path(req.target()));
  return 0;
}
