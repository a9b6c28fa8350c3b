// Routes a request by method and path to the coroutine that answers it; an unknown path is
// answered 404 and a known path asked with another method 405 with Allow, both as JSON envelopes.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include "herald/http/message.hpp"

namespace herald::http {

using route_handler = std::function<boost::asio::awaitable<response>(const request&)>;

class router {
 public:
  // A route for `method` on `path` (which starts with '/'). The request target is matched without
  // its query string; a segment written {name} matches any one non-empty segment (read it back
  // with path_params). Throws std::invalid_argument for a malformed path or a duplicate route.
  void add(boost::beast::http::verb method, std::string path, route_handler handler);

  struct match_result {
    const route_handler* handler = nullptr;  // the route's handler; null when none matched
    bool path_known = false;                 // some route has this path (whatever its method)
    std::string allow;                       // those routes' methods, as an Allow header value
  };
  match_result match(boost::beast::http::verb method, std::string_view target) const;

  // The handler's response, or the 404/405 envelope. A handler's exception propagates.
  boost::asio::awaitable<response> dispatch(const request& req) const;

  struct route_key {
    boost::beast::http::verb method;
    std::string path;  // the pattern as added, {name} segments and all
    bool operator==(const route_key&) const = default;
  };
  // Every route, in the order added: what the contract test compares with proto/openapi.yaml.
  std::vector<route_key> routes() const;

 private:
  struct route {
    boost::beast::http::verb method;
    std::string path;
    route_handler handler;
  };
  std::vector<route> routes_;
};

// The path part of a request target: without its query string and fragment.
std::string_view target_path(std::string_view target);

// The path of `target` as a log line may show it: without its query string and fragment (a query
// may carry a secret), and with the token of a LeadConverter-style path written ***
// (/api/v1/TOKEN/bot.startWithVariables -> /api/v1/***/bot.startWithVariables). Control bytes
// are written '?' and a path over 200 bytes is cut.
std::string loggable_path(std::string_view target);

// When the path of `target` matches `pattern`, the value of each {name} segment (as sent, not
// percent-decoded); nothing when it does not match.
std::optional<std::map<std::string, std::string, std::less<>>> path_params(std::string_view pattern,
                                                                           std::string_view target);

}  // namespace herald::http
